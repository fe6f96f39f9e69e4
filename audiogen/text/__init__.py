"""Text: caption normalisation (`normalize`) and the frozen text encoders that condition the LM
(`encoders`: T5, MiniLM, any Hugging Face encoder). May import: audiogen.io."""
