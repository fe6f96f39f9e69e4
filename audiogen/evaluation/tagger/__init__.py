"""The in-domain tagger, the metric backend trained on the corpus itself: the model (`model`), its
label/caption vocabulary (`vocab`) and its trainer (`train`, a DVC stage). May import: io, text, codec.losses."""
