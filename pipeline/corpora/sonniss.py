"""Sonniss Game Audio GDC bundles [`sonniss`] (CORPORA.md "Sound libraries").

Layout: `Sonniss.com - GDC <year> - Game Audio Bundle Part NofM/<Publisher> - <Library>/<file>.wav`,
often with deeper sub-folders. The bundle folder carries no meaning and is skipped; publisher and
library become labels. Most files carry a BWF bext description; the rest follow UCS-like names.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from pipeline.corpora.base import register
from pipeline.corpora.library import read_library
from pipeline.manifest import ManifestRow, Reject

CORPUS = "sonniss"
DEFAULTS: dict[str, Any] = {
    "license": "Sonniss GDC bundle license (royalty-free)",
}


@register(CORPUS)
def read(root: Path, options: dict[str, Any]) -> Iterator[ManifestRow | Reject]:
    return read_library(CORPUS, root, options, DEFAULTS)
