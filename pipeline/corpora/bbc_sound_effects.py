"""BBC Sound Effects [`bbc_sound_effects`]: ~33k professional effects with descriptions.

Reads `BBCSoundEffects.csv` (`location,description,secs,category,CDNumber,CDName,tracknum`, every
field quoted; found at the root or anywhere below it). `location` is the WAV name (`07070130.wav`);
the audio is matched by that stem anywhere under the root, which covers both layouts in use: flat
`<location>` files and the downloader's `sounds/<CDName>/<sanitised description>.<location>`.
The tree is indexed once.

`captions` keeps the raw description; `caption` is the description with trailing provenance
removed (`clean_description`). `labels` = [category] when the category is not empty. Every row is
split train. `duration_s` is left to ingest (the catalogue's `secs` is often rounded or stale).

Options: `license` (default "BBC RemArc Licence"), `metadata` (the CSV name, default
BBCSoundEffects.csv), `encoding` ("auto": UTF-8, else Windows-1252/Latin-1).
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Iterator

from pipeline.corpora.base import (
    AUDIO_EXTENSIONS, find_file, make_key, malformed_row, missing_audio, register, walk_files,
)
from pipeline.corpora.csvutil import read_table
from pipeline.manifest import ManifestRow, Reject

CORPUS = "bbc_sound_effects"
METADATA = "BBCSoundEffects.csv"
DEFAULT_LICENSE = "BBC RemArc Licence"

_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
_YEAR = r"(?:'?(?:18|19|20)\d\d|'\d\d)s?"
# "- Sept '1967", ", 1936", "- Early 1950s", "- c. 1920", "- May '67"
_DATE_TAIL = re.compile(
    rf"\s*[-–—,]\s*(?:(?:early|mid|late|circa|c\.|approx\.?)\s*)?(?:{_MONTH}\s*)?{_YEAR}\.?\s*$", re.I
)
# A bare year after a sentence end: "Thunder, heavy rumbles. 1963"
_YEAR_AFTER_STOP = re.compile(rf"(?<=[.!?])\s+{_YEAR}\s*$", re.I)
# Catalogue noise: "- 1", "- 12", "-2" at the very end, unless it ends a run of numbers
# ("Countdown 3 - 2 - 1" is content)
_NUMBER_TAIL = re.compile(r"(?<=[^\d\s])\s*[-–—]\s*\d{1,2}\s*$")
# A trailing parenthetical, possibly followed by a full stop
_PAREN_TAIL = re.compile(r"\s*[\(\[]([^()\[\]]*)[\)\]]\s*\.?\s*$")
# What marks a parenthetical as provenance rather than description ("(Turdus merula)" stays)
_PROVENANCE = re.compile(
    r"reprocess|technical note|low level|record(?:ed|ing)\b|approx|circa|\bstereo\b|\bmono\b|"
    r"digital|master|\bedit(?:ed)?\b|version|\bcd\s*\d|\bdisc\b|\btake\s*\d|\btrack\s*\d|"
    r"\b(?:18|19|20)\d\d\b|'\d\d\b|\bbbc\b|archive|\bcopy\b|\bno\.?\s*\d|\bcut\s*\d|"
    rf"\b{_MONTH}\s*'?\d|"
    r"(?-i:\b\d{1,3}[A-Z]{1,2}\b)|^\s*\d+\s*$",
    re.I,
)
_TRAILING_PUNCT = re.compile(r"[\s\-–—,;:/]+$")


def clean_description(text: str) -> str:
    """A BBC catalogue description → a caption without trailing provenance.

    Removes, repeatedly from the end: parentheticals that hold provenance (`(23F,reprocessed)`,
    `(technical note - for use at low level)`, `(Recorded 1978)`, `(Stereo)`, `(2)`), dates
    (`- Sept '1967`, `- 1936`), and catalogue numbering (`- 1`); then dangling separators.
    Descriptive parentheticals (`(Turdus merula)`, `(close)`) stay. Never returns an empty string:
    a description that is all provenance comes back stripped but otherwise unchanged.
    """
    original = text.strip()
    out = original
    while True:
        before = out
        m = _PAREN_TAIL.search(out)
        if m and _PROVENANCE.search(m.group(1)):
            out = out[: m.start()]
        out = _DATE_TAIL.sub("", out)
        out = _YEAR_AFTER_STOP.sub("", out)
        out = _NUMBER_TAIL.sub("", out)
        out = _TRAILING_PUNCT.sub("", out)
        if out == before:
            break
    return out if out.strip() else original


def _file_ids(path: Path) -> set[str]:
    """The ids a file can be matched by: `07070130.wav` → {07070130};
    `Steam train passing.07070130.wav` → {07070130}; a trailing 8-digit run also counts."""
    stem = os.path.splitext(path.name)[0]
    ids = {stem.rsplit(".", 1)[-1].strip().lower()}
    m = re.search(r"(?<!\d)(\d{8})$", stem)
    if m:
        ids.add(m.group(1))
    return ids


def _rank(path: Path) -> tuple[int, int, str]:
    """Prefer WAV, then the shortest path (the flat layout), then a stable order."""
    return (0 if path.suffix.lower() == ".wav" else 1, len(path.parts), str(path))


def _audio_index(root: Path) -> dict[str, Path]:
    index: dict[str, Path] = {}
    for path in walk_files(root, AUDIO_EXTENSIONS):
        for fid in _file_ids(path):
            if fid not in index or _rank(path) < _rank(index[fid]):
                index[fid] = path
    return index


def _find_metadata(root: Path, name: str) -> Path:
    found = find_file(root, name)
    if found is not None:
        return found
    direct = root / name
    raise FileNotFoundError(f"bbc_sound_effects: expected the catalogue {direct} (or {name} below {root})")


@register(CORPUS)
def read(root: Path, options: dict[str, Any]) -> Iterator[ManifestRow | Reject]:
    root = Path(root)
    meta_path = _find_metadata(root, str(options.get("metadata") or METADATA))
    license_ = options.get("license", DEFAULT_LICENSE)
    encoding = str(options.get("encoding") or "auto")
    rel = meta_path.relative_to(root).as_posix()
    index = _audio_index(root)
    seen: dict[str, str] = {}
    for rec in read_table(meta_path, ("location", "description"), encoding=encoding):
        source = f"{rel}:{rec.line}"
        if rec.error is not None:
            yield malformed_row(CORPUS, source, rec.error)
            continue
        location = rec.values["location"].strip()
        sid = os.path.splitext(os.path.basename(location))[0].strip()
        if not sid:
            yield malformed_row(CORPUS, source, f"empty location {rec.values['location']!r}")
            continue
        key = make_key(CORPUS, sid)
        if key in seen:
            yield malformed_row(CORPUS, source, f"duplicate location {location!r} (first at {seen[key]})", key,
                                source_id=sid)
            continue
        seen[key] = source
        raw = rec.values["description"]
        if not raw.strip():
            yield Reject(stage="ingest", reason="missing_caption", source=source, key=key,
                         detail="empty description", corpus=CORPUS, source_id=sid)
            continue
        path = index.get(sid.lower())
        if path is None:
            yield missing_audio(CORPUS, key, source,
                                f"{location} or <folder>/<description>.{location} under {root}", source_id=sid)
            continue
        category = rec.values.get("category", "").strip()
        yield ManifestRow(
            key=key,
            corpus=CORPUS,
            split="train",
            audio_path=str(path),
            source=source,
            offset_s=0.0,
            duration_s=None,
            captions=[raw],
            caption=clean_description(raw),
            labels=[category] if category else [],
            label_ids=[],
            license=license_,
        )
