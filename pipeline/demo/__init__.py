"""The embedded demo corpora: `python -m pipeline.demo --out DIR [--seed 0]` (see build.py).

    build.py      the entry point: every corpus, the planted cases, demo_expectations.json
    catalog.py    the sound kinds and the words that describe them      sounds.py  their synthesisers
    writer.py     audio files and tags as the corpora ship them         voice.py   spoken plants (espeak-ng)
    youtube.py freesound.py libraries.py   one writer per family of official layouts
"""
from pipeline.demo.build import CORPORA, EXPECTATIONS, main, write_demo

__all__ = ["CORPORA", "EXPECTATIONS", "main", "write_demo"]
