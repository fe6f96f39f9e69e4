"""Free To Use Sounds [`free_to_use_sounds`] (CORPORA.md "Sound libraries").

Packs of field recordings as unpacked from the vendor's archives, one folder per pack. File names
put a UCS-style category code and the channel layout first, then the place and description:
`RAINMetl-L,R,Ls,Rs_Australia-Rain, Metal Roof Shed, Wind Driven Rain, 13.WAV` →
"australia rain, metal roof shed, wind driven rain" (label "rain").
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from pipeline.corpora.base import register
from pipeline.corpora.library import read_library
from pipeline.manifest import ManifestRow, Reject

CORPUS = "free_to_use_sounds"
DEFAULTS: dict[str, Any] = {
    "license": "Free To Use Sounds license (royalty-free)",
}


@register(CORPUS)
def read(root: Path, options: dict[str, Any]) -> Iterator[ManifestRow | Reject]:
    return read_library(CORPUS, root, options, DEFAULTS)
