"""`python -m audiogen.convert ...` (see audiogen/convert/cli.py)."""
from audiogen.convert.cli import main

main()
