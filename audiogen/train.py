"""`python -m audiogen.train`: train the text-conditioned LM. The trainer lives in audiogen/training/."""
from audiogen.training.loop import main, train_loop

__all__ = ["main", "train_loop"]

if __name__ == "__main__":
    from audiogen.io.atomic import run_cli

    run_cli(main, "train")  # a failed checkpoint write: one line
