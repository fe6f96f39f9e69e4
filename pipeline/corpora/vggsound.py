"""VGGSound: 10 s YouTube clips in 309 classes (CORPORA.md "VGGSound").

Reads `vggsound.csv`, which has no header: `youtube_id,start_seconds,label,split` (labels quoted
when they hold commas; split `train` or `test`). VGGSound is distributed as video named
`<id>_<start:06d>.mp4`; users extract the audio keeping the stem. Rows whose only file is a video
container become `unsupported_container` rejects with an ffmpeg hint. The caption is the label.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from pipeline.corpora.base import make_key, malformed_row, nfc, options_from_dict, register
from pipeline.corpora.youtube import (
    YouTubeIndex, csv_lines, duplicate_row, is_youtube_id, locate, metadata_path,
    parse_start, written_id,
)
from pipeline.manifest import ManifestRow, Reject

CORPUS = "vggsound"
CLIP_SECONDS = 10.0
SPLITS = {"train": "train", "test": "test"}


@dataclass
class VGGSoundOptions:
    """`corpora.vggsound` in params.yaml (besides `root`, `enabled`)."""

    csv: str = "vggsound.csv"
    # Overrides the built-in YouTube file names, e.g. "{id}_{start:06d}" (see youtube.py).
    filename_pattern: str | None = None
    metadata_dir: str = ""
    audio_dir: str = ""


def parse_clip(fields: list[str]) -> tuple[str, float, str, str]:
    """(id, start, label, split) of one row; ValueError says what is wrong."""
    if len(fields) < 4:
        raise ValueError(f"expected `youtube_id,start_seconds,label,split`, got {len(fields)} field(s)")
    if len(fields) > 4:  # an unquoted label with commas (hand-edited copies): rejoin it
        fields = [fields[0], fields[1], ", ".join(fields[2:-1]), fields[-1]]
    ytid, start_text, label, split = fields
    if not is_youtube_id(ytid):
        raise ValueError(f"YouTube id {ytid!r} is not 11 characters of [A-Za-z0-9_-]")
    start = parse_start(start_text)
    if not label:
        raise ValueError("empty label")
    if split.lower() not in SPLITS:
        raise ValueError(f"split {split!r} is not one of {sorted(SPLITS)}")
    return ytid, start, nfc(label), SPLITS[split.lower()]


def clip_name(ytid: str, start: float) -> str:
    """VGGSound's own clip name, `<id>_<start:06d>` (a decimal start keeps its digits)."""
    return f"{ytid}_{int(start):06d}" if start == int(start) else f"{ytid}_{start:010.3f}"


@register(CORPUS)
def read(root: Path, options: dict[str, Any]) -> Iterator[ManifestRow | Reject]:
    """One row per clip whose audio is on disk, in CSV order."""
    root = Path(root)
    opts = options_from_dict(VGGSoundOptions, options, CORPUS)
    path, rel = metadata_path(root, opts.metadata_dir, opts.csv)
    if not path.is_file():
        raise FileNotFoundError(f"VGGSound: expected {path}")
    index = YouTubeIndex.build(root, opts.filename_pattern, opts.audio_dir)
    first_seen: dict[tuple[str, int], str] = {}
    first = True
    for line, fields, error in csv_lines(path):
        source = f"{rel}:{line}"
        if error is not None:
            yield malformed_row(CORPUS, source, error)
            continue
        if first and fields[0].lower().lstrip("# ").replace(" ", "_") in ("youtube_id", "ytid"):
            first = False
            continue  # a header some copies add
        first = False
        try:
            ytid, start, label, split = parse_clip(fields)
        except ValueError as err:
            yield malformed_row(CORPUS, source, str(err), youtube_id=written_id(fields))
            continue
        key = make_key(CORPUS, clip_name(ytid, start))
        clip = (ytid, round(start * 1000))
        if clip in first_seen:
            yield duplicate_row(CORPUS, key, source, first_seen[clip], ytid)
            continue
        first_seen[clip] = source
        found = locate(index, corpus=CORPUS, key=key, source=source, youtube_id=ytid, start_s=start)
        if isinstance(found, Reject):
            yield found
            continue
        yield ManifestRow(
            key=key, corpus=CORPUS, split=split, audio_path=str(found.path), source=source,
            offset_s=found.offset_s, duration_s=CLIP_SECONDS, captions=[label], caption=label,
            labels=[label], label_ids=[label], youtube_id=ytid, youtube_start_s=start,
        )
