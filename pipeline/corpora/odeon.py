"""Paramount Motion — Odeon Cinematic Sound Effects [`odeon`] (CORPORA.md "Sound libraries").

Nested pack folders of cinematic effects (WAV, some FLAC), named loosely (CamelCase, `_`/`-`
separated, take numbers). Folder names become labels; the text comes from the files' tags or names.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from pipeline.corpora.base import register
from pipeline.corpora.library import read_library
from pipeline.manifest import ManifestRow, Reject

CORPUS = "odeon"
DEFAULTS: dict[str, Any] = {
    "license": "Paramount Motion Odeon Cinematic Sound Effects license (royalty-free)",
}


@register(CORPUS)
def read(root: Path, options: dict[str, Any]) -> Iterator[ManifestRow | Reject]:
    return read_library(CORPUS, root, options, DEFAULTS)
