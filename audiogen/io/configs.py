"""Typed dataclass configs from plain dicts (config.json, params.yaml sections): a key the dataclass
does not know is an error that names it and lists the known ones (a typo never passes silently)."""
from __future__ import annotations

from dataclasses import fields
from typing import Any, Mapping


def check_keys(cls: type, d: Mapping[str, Any], what: str) -> None:
    """Raise `ValueError("<what>: unknown key(s) [...]; known: [...]")` if `d` has keys that the
    dataclass `cls` has no field for."""
    known = {f.name for f in fields(cls)}
    unknown = set(d) - known
    if unknown:
        raise ValueError(f"{what}: unknown key(s) {sorted(unknown)}; known: {sorted(known)}")
