"""The evaluation's outputs: the files (`build`: metrics.json, per_clip.csv, plots, WAVs) and the
HTML page with spectrograms (`page`). May import: io, codec.losses, evaluation.metrics."""
