"""Evaluation: the metrics (`metrics`: FAD, KL, CLAP), the embedding/classifier `backends`, the
in-domain `tagger`, the HTML `report` and the stage (`run`, `python -m audiogen.evaluate`). May import every other room."""
