"""WeSoundEffects [`wesoundeffects`] (CORPORA.md "Sound libraries").

Nested pack folders (`<Pack>/<Sub-pack>/<file>.wav`) of WAV files, sometimes with MP3 previews
beside them (skipped). Pack folder names become labels; the text comes from the files' tags or names.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from pipeline.corpora.base import register
from pipeline.corpora.library import read_library
from pipeline.manifest import ManifestRow, Reject

CORPUS = "wesoundeffects"
DEFAULTS: dict[str, Any] = {
    "license": "WeSoundEffects license (royalty-free)",
}


@register(CORPUS)
def read(root: Path, options: dict[str, Any]) -> Iterator[ManifestRow | Reject]:
    return read_library(CORPUS, root, options, DEFAULTS)
