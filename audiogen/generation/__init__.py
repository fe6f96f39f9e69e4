"""Text → sound with a trained LM: `AudioGen` (`pipeline`), the files it reads and writes (`files`)
and the CLI (`cli`, `python -m audiogen.generate`). May import: io, text, codec, lm, training.config."""
from audiogen.generation.pipeline import AudioGen, GenerationError

__all__ = ["AudioGen", "GenerationError"]
