"""Embedding and classifier backends for the metrics, by name or path (`registry.load_backend`):
VGGish (`vggish`), AST and CLAP (`hf`), the in-domain tagger. May import: io, codec, evaluation.metrics, evaluation.tagger."""
