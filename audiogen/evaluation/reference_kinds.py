"""The sound kinds of the demo's clips (siren, rain, footsteps...), for the judge's kind figures.

The demo writes them in `demo_expectations.json` (`corpora.<name>.clips[].kinds`, with each clip's
`source` and `audio` path); the audio shards carry each clip's `corpus`, `source` and `audio_path`
from its manifest row, so a reference is matched by (corpus, source) and its audio path must end
with the clip's `audio` (a real corpus with a row named like a demo row never borrows its kinds).
Real data has no such file: every reference then has no kind and the kind figures are left out.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any


class DemoKinds:
    """`lookup(corpus, source, audio_path)` → the clip's kinds (empty tuple when unknown)."""

    def __init__(self, by_source: dict[tuple[str, str], tuple[str, tuple[str, ...]]]):
        self._by_source = by_source

    @classmethod
    def read(cls, path: str | Path) -> "DemoKinds":
        """Kinds from a demo_expectations.json; a missing path gives an empty table. A file that is
        not one raises ValueError naming it."""
        path = Path(path)
        if not str(path) or not path.is_file():
            return cls({})
        try:
            doc: Any = json.loads(path.read_text(encoding="utf-8"))
            table = {(str(name), str(c["source"])): (str(c["audio"]), tuple(str(k) for k in c.get("kinds") or ()))
                     for name, corpus in doc["corpora"].items() for c in corpus["clips"]}
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            raise ValueError(f"{path}: not a demo_expectations.json with corpora.<name>.clips[].kinds "
                             f"({type(err).__name__}: {err})") from None
        return cls(table)

    def __len__(self) -> int:
        return len(self._by_source)

    def lookup(self, corpus: str | None, source: str | None, audio_path: str | None) -> tuple[str, ...]:
        hit = self._by_source.get((str(corpus), str(source)))
        if hit is None:
            return ()
        audio, kinds = hit
        return kinds if str(audio_path or "").replace("\\", "/").endswith(audio) else ()
