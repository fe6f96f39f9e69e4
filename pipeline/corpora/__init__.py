"""Corpus adapters: one module per corpus, each registering itself by name (see `base.py`)."""
from __future__ import annotations

import importlib

_MODULES = (
    "audioset", "audiocaps", "clotho", "vggsound", "fsd50k", "bbc_sound_effects",
    "free_to_use_sounds", "sonniss", "wesoundeffects", "odeon", "folder", "hf",
)

for _name in _MODULES:
    try:
        importlib.import_module(f"pipeline.corpora.{_name}")
    except ModuleNotFoundError as err:  # a module not written yet must not break the others
        if err.name != f"pipeline.corpora.{_name}":
            raise

from pipeline.corpora.base import corpus_names, get_adapter, make_key, register  # noqa: E402

__all__ = ["corpus_names", "get_adapter", "make_key", "register"]
