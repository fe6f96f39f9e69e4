"""The AudioSet ontology: class names and the `child_ids` hierarchy (CORPORA.md "AudioSet").

`ontology.json` is a list of classes `{id, name, child_ids, ...}`. The speech filter needs "Speech
and everything below it": AudioSet's CSVs do not propagate labels to parents, so a clip tagged only
`Conversation` must be found by walking the tree down from `/m/09x0r`, not by looking for the
Speech id itself. When no ontology.json is at hand, `FALLBACK_SPEECH_SUBTREE` (the real subtree of
the published ontology) stands in.
"""
from __future__ import annotations

import json
import logging
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

log = logging.getLogger("audiogen")

SPEECH_ID = "/m/09x0r"
HUBBUB_ID = "/m/07qfr4h"

# Speech (/m/09x0r) and every class below it in the published AudioSet ontology.
FALLBACK_SPEECH_SUBTREE: dict[str, str] = {
    "/m/09x0r": "Speech",
    "/m/05zppz": "Male speech, man speaking",
    "/m/02zsn": "Female speech, woman speaking",
    "/m/0ytgt": "Child speech, kid speaking",
    "/m/01h8n0": "Conversation",
    "/m/02qldy": "Narration, monologue",
    "/m/0261r1": "Babbling",
    "/m/0brhx": "Speech synthesizer",
}
# Speech-bearing classes outside the subtree (names for reasons when no ontology is loaded).
FALLBACK_NAMES: dict[str, str] = {**FALLBACK_SPEECH_SUBTREE, HUBBUB_ID: "Hubbub, speech noise, speech babble"}


@dataclass
class Ontology:
    """Class id → name, and id → child ids (in file order)."""

    names: dict[str, str] = field(default_factory=dict)
    children: dict[str, list[str]] = field(default_factory=dict)
    path: str | None = None

    def subtree(self, roots: Iterable[str]) -> list[str]:
        """`roots` and every descendant, breadth first, each once (the file may hold cycles or
        repeated children; both are tolerated). Ids absent from the ontology are kept as given."""
        seen: list[str] = []
        done: set[str] = set()
        queue = deque(roots)
        while queue:
            node = queue.popleft()
            if node in done:
                continue
            done.add(node)
            seen.append(node)
            queue.extend(self.children.get(node, ()))
        return seen

    def name(self, class_id: str) -> str | None:
        return self.names.get(class_id) or FALLBACK_NAMES.get(class_id)


def load_ontology(path: str | Path) -> Ontology:
    """Read `ontology.json`. A malformed file is an error naming the file and the entry."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: cannot read the AudioSet ontology: {err}") from err
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of classes, got {type(data).__name__}")
    onto = Ontology(path=str(path))
    for i, entry in enumerate(data):
        if not isinstance(entry, dict) or "id" not in entry:
            raise ValueError(f"{path}: entry {i} has no 'id'")
        cid = str(entry["id"])
        onto.names[cid] = str(entry.get("name", cid))
        onto.children[cid] = [str(c) for c in entry.get("child_ids", []) or []]
    return onto


def fallback_ontology() -> Ontology:
    """The bundled speech subtree, flat below Speech (enough for the speech filter)."""
    children = {SPEECH_ID: [c for c in FALLBACK_SPEECH_SUBTREE if c != SPEECH_ID]}
    return Ontology(names=dict(FALLBACK_NAMES), children=children, path=None)


def find_ontology(explicit: str | Path | None, audioset_root: str | Path | None) -> Path | None:
    """Where to read the ontology from: the explicit param if given (it must exist), else
    `<audioset root>/ontology.json` when present, else None (use the fallback)."""
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise FileNotFoundError(f"filter.ontology: {path} does not exist")
        return path
    if audioset_root:
        candidate = Path(audioset_root) / "ontology.json"
        if candidate.is_file():
            return candidate
    return None


def resolve_ontology(explicit: str | Path | None, audioset_root: str | Path | None) -> Ontology:
    path = find_ontology(explicit, audioset_root)
    if path is None:
        log.info("ontology: no ontology.json found; using the bundled Speech subtree")
        return fallback_ontology()
    return load_ontology(path)
