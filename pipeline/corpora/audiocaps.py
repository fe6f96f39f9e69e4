"""AudioCaps: AudioSet clips with human captions (CORPORA.md "AudioCaps").

Reads `train.csv`, `val.csv`, `test.csv` (`audiocap_id,youtube_id,start_time,caption`; captions
quoted when they hold commas, quotes doubled). Rows of the same clip (val/test list five captions
per clip) become one manifest row with every caption, ordered by `audiocap_id`. Each clip is the
10 s window at `start_time` of a YouTube video, matched to the user's files by id and start (see
`youtube.py`); files may sit in `train/`, `val/`, `test/` folders or anywhere under the root.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from pipeline.corpora.base import make_key, malformed_row, nfc, options_from_dict, register
from pipeline.corpora.youtube import (
    YouTubeIndex, duplicate_row, format_seconds, is_youtube_id, locate, metadata_path,
    parse_start, select_metadata, written_id,
)
from pipeline.manifest import ManifestRow, Reject

CORPUS = "audiocaps"
CLIP_SECONDS = 10.0
COLUMNS = ("audiocap_id", "youtube_id", "start_time", "caption")
# Split name → (CSV file, manifest split, folder names that hint at the split). Read held-out
# splits first: should a clip be listed twice, it stays in the held-out split.
SPLITS = {
    "test": ("test.csv", "test", ("test",)),
    "val": ("val.csv", "valid", ("val", "valid", "validation")),
    "train": ("train.csv", "train", ("train",)),
}


@dataclass
class AudioCapsOptions:
    """`corpora.audiocaps` in params.yaml (besides `root`, `enabled`)."""

    # Which CSVs to read (train, val, test); None: every one present (at least one must be).
    splits: list[str] | None = None
    # Overrides the built-in YouTube file names, e.g. "{id}_{start}" (see youtube.py).
    filename_pattern: str | None = None
    metadata_dir: str = ""
    audio_dir: str = ""


@dataclass
class _Caption:
    audiocap_id: int
    line: int
    text: str


def split_files(root: Path, opts: AudioCapsOptions) -> list[tuple[str, Path, str]]:
    """(split, path, path relative to root) of each caption CSV to read."""
    return select_metadata(root, opts.metadata_dir, SPLITS, opts.splits,
                           "corpora.audiocaps.splits", "AudioCaps", "caption CSV")


def _lines(path: Path, bad: set[int]) -> Iterator[str]:
    """Decoded lines; a line that is not UTF-8 is decoded with replacement and noted in `bad`."""
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError:
                bad.add(number)
                yield raw.decode("utf-8", "replace")


def csv_records(path: Path) -> Iterator[tuple[int, list[str], str | None]]:
    """(first physical line, fields, error) per CSV record; a quoted caption may span lines."""
    bad: set[int] = set()
    reader = csv.reader(_lines(path, bad))
    end = 0
    while True:
        start = end + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            end = reader.line_num
            yield start, [], f"CSV error: {err}"
            continue
        end = reader.line_num
        if not fields or not any(f.strip() for f in fields):
            continue
        error = "not UTF-8" if any(n in bad for n in range(start, end + 1)) else None
        yield start, fields, error


def parse_record(fields: list[str], cols: dict[str, int]) -> tuple[int, str, float, str]:
    """(audiocap_id, youtube_id, start, caption); ValueError says what is wrong."""
    need = max(cols.values()) + 1
    if len(fields) < need:
        raise ValueError(f"expected {need} fields ({','.join(COLUMNS)}), got {len(fields)}")
    if len(fields) > need and cols["caption"] == need - 1:
        # An unquoted caption with commas (hand-edited copies) spills into extra fields.
        fields = fields[: need - 1] + [",".join(fields[need - 1:])]
    try:
        cap_id = int(fields[cols["audiocap_id"]].strip())
    except ValueError:
        raise ValueError(f"audiocap_id {fields[cols['audiocap_id']]!r} is not an integer") from None
    ytid = fields[cols["youtube_id"]].strip()
    if not is_youtube_id(ytid):
        raise ValueError(f"YouTube id {ytid!r} is not 11 characters of [A-Za-z0-9_-]")
    start = parse_start(fields[cols["start_time"]].strip())
    caption = nfc(fields[cols["caption"]])
    if not caption.strip():
        raise ValueError("empty caption")
    return cap_id, ytid, start, caption


@register(CORPUS)
def read(root: Path, options: dict[str, Any]) -> Iterator[ManifestRow | Reject]:
    """One row per clip (all its captions) whose audio is on disk; splits test, val, train."""
    root = Path(root)
    opts = options_from_dict(AudioCapsOptions, options, CORPUS)
    files = split_files(root, opts)
    index = YouTubeIndex.build(root, opts.filename_pattern, opts.audio_dir)
    first_seen: dict[tuple[str, int], str] = {}
    for name, path, rel in files:
        _, split, folders = SPLITS[name]
        clips: dict[tuple[str, int], list[_Caption]] = {}
        starts: dict[tuple[str, int], float] = {}
        cols = dict(zip(COLUMNS, range(len(COLUMNS))))
        first = True
        for line, fields, error in csv_records(path):
            source = f"{rel}:{line}"
            if first:
                first = False
                header = [f.strip().lower() for f in fields]
                if "youtube_id" in header:
                    missing = [c for c in COLUMNS if c not in header]
                    if missing:
                        raise ValueError(f"{rel}:{line}: header lacks column(s) {missing}: {fields}")
                    cols = {c: header.index(c) for c in COLUMNS}
                    continue
            if error is not None:
                yield malformed_row(CORPUS, source, error)
                continue
            try:
                cap_id, ytid, start, caption = parse_record(fields, cols)
            except ValueError as err:
                yield malformed_row(CORPUS, source, str(err), youtube_id=written_id(fields, cols["youtube_id"]))
                continue
            clip = (ytid, round(start * 1000))
            clips.setdefault(clip, []).append(_Caption(cap_id, line, caption))
            starts[clip] = start
        for clip, caps in clips.items():  # first-appearance order
            ytid, start = clip[0], starts[clip]
            caps.sort(key=lambda c: (c.audiocap_id, c.line))
            source = f"{rel}:{min(c.line for c in caps)}"
            key = make_key(CORPUS, f"{ytid}_{format_seconds(start)}")
            if clip in first_seen:
                yield duplicate_row(CORPUS, key, source, first_seen[clip], ytid)
                continue
            first_seen[clip] = source
            found = locate(index, corpus=CORPUS, key=key, source=source, youtube_id=ytid, start_s=start,
                           prefer_dirs=folders)
            if isinstance(found, Reject):
                yield found
                continue
            captions = [c.text for c in caps]
            yield ManifestRow(
                key=key, corpus=CORPUS, split=split, audio_path=str(found.path), source=source,
                offset_s=found.offset_s, duration_s=CLIP_SECONDS, captions=captions, caption=captions[0],
                youtube_id=ytid, youtube_start_s=start,
            )
