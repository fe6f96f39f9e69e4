"""`python -m audiogen.generate "a dog barks" -o dog.wav`, and `from audiogen.generate import AudioGen`.
Generation lives in audiogen/generation/."""
from audiogen.generation.cli import main
from audiogen.generation.pipeline import AudioGen, GenerationError

__all__ = ["AudioGen", "GenerationError", "main"]

if __name__ == "__main__":
    main()
