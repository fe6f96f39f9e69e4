"""AudioSet: 10 s YouTube segments tagged with ontology classes (CORPORA.md "AudioSet").

Reads `balanced_train_segments.csv`, `unbalanced_train_segments.csv` and `eval_segments.csv`
(`# ` header lines, then `YTID, start_seconds, end_seconds, "mid,mid"`), maps the mids to display
names with `class_labels_indices.csv` (or `ontology.json`), and matches each row to the user's
downloaded audio by YouTube id and start time (see `youtube.py`). The caption is the label names
joined with ", ". Balanced and unbalanced train → `train`, eval → `test`.
"""
from __future__ import annotations

import csv
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from pipeline.corpora.base import make_key, malformed_row, nfc, options_from_dict, register
from pipeline.corpora.youtube import (
    YouTubeIndex, csv_lines, duplicate_row, format_seconds, is_youtube_id, locate, metadata_path,
    parse_start, select_metadata, written_id,
)
from pipeline.manifest import ManifestRow, Reject

log = logging.getLogger("audiogen")

CORPUS = "audioset"
# Subset name → (CSV file, manifest split), in reading order.
SUBSETS = {
    "balanced_train": ("balanced_train_segments.csv", "train"),
    "unbalanced_train": ("unbalanced_train_segments.csv", "train"),
    "eval": ("eval_segments.csv", "test"),
}
CLASS_FILE = "class_labels_indices.csv"
ONTOLOGY_FILE = "ontology.json"


@dataclass
class AudioSetOptions:
    """`corpora.audioset` in params.yaml (besides `root`, `enabled`)."""

    # Which segment CSVs to read; None: every one present (at least one must be).
    subsets: list[str] | None = None
    # Overrides the built-in YouTube file names, e.g. "Y{id}" or "{id}_{start:06d}" (see youtube.py).
    filename_pattern: str | None = None
    # Where the CSVs / audio live, relative to root ("" = root itself; audio: searched recursively).
    metadata_dir: str = ""
    audio_dir: str = ""


def segment_files(root: Path, opts: AudioSetOptions) -> list[tuple[str, Path, str]]:
    """(subset, path, path relative to root) of each segment CSV to read."""
    return select_metadata(root, opts.metadata_dir, SUBSETS, opts.subsets,
                           "corpora.audioset.subsets", "AudioSet", "segment CSV")


def load_label_names(root: Path, metadata_dir: str = "") -> dict[str, str]:
    """mid → display name, from `class_labels_indices.csv` (`index,mid,display_name`, names quoted
    when they hold commas), else from `ontology.json`."""
    path, rel = metadata_path(root, metadata_dir, CLASS_FILE)
    if path.is_file():
        names: dict[str, str] = {}
        with open(path, encoding="utf-8-sig", newline="") as f:
            for row in csv.reader(f):
                if len(row) < 3 or row[0].strip().lower() == "index":
                    continue
                mid, name = row[1].strip(), row[2].strip()
                if mid and name:
                    names[mid] = nfc(name)
        if not names:
            raise ValueError(f"{rel}: no `index,mid,display_name` rows")
        return names
    onto, _ = metadata_path(root, metadata_dir, ONTOLOGY_FILE)
    if onto.is_file():
        with open(onto, encoding="utf-8") as f:
            return {c["id"]: nfc(c["name"]) for c in json.load(f) if "id" in c and "name" in c}
    raise FileNotFoundError(f"AudioSet: label names not found; expected {path} (or {onto})")


def parse_segment(fields: list[str]) -> tuple[str, float, float, list[str]]:
    """(id, start, end, mids) of one segment row; ValueError says what is wrong."""
    if len(fields) < 4:
        raise ValueError(f"expected `YTID, start_seconds, end_seconds, \"labels\"`, got {len(fields)} field(s)")
    ytid = fields[0]
    if not is_youtube_id(ytid):
        raise ValueError(f"YouTube id {ytid!r} is not 11 characters of [A-Za-z0-9_-] (edited by a spreadsheet?)")
    try:
        start, end = parse_start(fields[1]), parse_start(fields[2])
    except ValueError as err:
        raise ValueError(f"bad start/end {fields[1]!r}, {fields[2]!r}: {err}") from None
    if end <= start:
        raise ValueError(f"end {fields[2]} is not after start {fields[1]}")
    # An unquoted label list (edited copies) arrives as several fields: rejoin them.
    mids = list(dict.fromkeys(m.strip() for m in ",".join(fields[3:]).split(",") if m.strip()))
    if not mids:
        raise ValueError("no labels")
    return ytid, start, end, mids


@register(CORPUS)
def read(root: Path, options: dict[str, Any]) -> Iterator[ManifestRow | Reject]:
    """One row per segment whose audio is on disk, in CSV order (balanced, unbalanced, eval)."""
    root = Path(root)
    opts = options_from_dict(AudioSetOptions, options, CORPUS)
    files = segment_files(root, opts)
    names = load_label_names(root, opts.metadata_dir)
    index = YouTubeIndex.build(root, opts.filename_pattern, opts.audio_dir)
    first_seen: dict[tuple[str, int], str] = {}
    unknown_mids: set[str] = set()
    for subset, path, rel in files:
        split = SUBSETS[subset][1]
        for line, fields, error in csv_lines(path):
            source = f"{rel}:{line}"
            if error is not None:
                yield malformed_row(CORPUS, source, error)
                continue
            if fields and fields[0].lower() == "ytid":  # the column header of a copy without `#` lines
                continue
            try:
                ytid, start, end, mids = parse_segment(fields)
            except ValueError as err:
                yield malformed_row(CORPUS, source, str(err), youtube_id=written_id(fields))
                continue
            key = make_key(CORPUS, f"{ytid}_{format_seconds(start)}")
            clip = (ytid, round(start * 1000))
            if clip in first_seen:
                yield duplicate_row(CORPUS, key, source, first_seen[clip], ytid)
                continue
            first_seen[clip] = source
            found = locate(index, corpus=CORPUS, key=key, source=source, youtube_id=ytid, start_s=start, end_s=end)
            if isinstance(found, Reject):
                yield found
                continue
            unknown_mids.update(m for m in mids if m not in names)
            labels = [names.get(m, m) for m in mids]  # an unknown mid keeps its id as its name
            caption = ", ".join(labels)
            yield ManifestRow(
                key=key, corpus=CORPUS, split=split, audio_path=str(found.path), source=source,
                offset_s=found.offset_s, duration_s=round(end - start, 6), captions=[caption], caption=caption,
                labels=labels, label_ids=mids, youtube_id=ytid, youtube_start_s=start,
            )
    if unknown_mids:
        log.warning("audioset: %d label id(s) not in %s kept as names: %s",
                    len(unknown_mids), CLASS_FILE, ", ".join(sorted(unknown_mids)[:10]))
