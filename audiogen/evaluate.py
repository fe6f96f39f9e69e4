"""`python -m audiogen.evaluate --lm models/lm --out reports/eval`: score an LM the way the paper does.
Evaluation lives in audiogen/evaluation/."""
from audiogen.evaluation.run import main

__all__ = ["main"]

if __name__ == "__main__":
    main()
