"""Match rows of the YouTube-based corpora (AudioSet, AudioCaps, VGGSound) to audio files.

These corpora ship metadata only; users fetch the audio themselves and name the files by YouTube
id in many spellings (CORPORA.md "YouTube file names"): `<id>`, `Y<id>`, `<id>_<start>`,
`<id>_<start>_<end>`, `Y<id>_<start>[_<end>]`, with times as integer or decimal seconds (`30`,
`30.000`), zero-padded integers (`000030`) or milliseconds (`30000_40000`), any audio extension in
any case, anywhere under the corpus root. `YouTubeIndex.build` walks the root once and files every
name by id, so that matching a 2M-row CSV costs one dict look-up per row.

A YouTube id is 11 characters of `[A-Za-z0-9_-]`; it may itself start with `-` or `Y` and contain
`_`, so names are split by position (the id is always 11 characters), never by searching for `_`.
"""
from __future__ import annotations

import csv
import logging
import math
import os
import re
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from pipeline.corpora.base import VIDEO_EXTENSIONS, is_video, missing_audio, walk_files
from pipeline.manifest import Reject

log = logging.getLogger("audiogen")

YOUTUBE_ID = re.compile(r"[A-Za-z0-9_-]{11}")
_NUMBER = r"\d+(?:\.\d+)?"
_TIMES = re.compile(rf"_({_NUMBER})(?:_({_NUMBER}))?")
_FIELDS = ("id", "start", "end", "start_ms", "end_ms")
# Keys of a corpus' params.yaml section that belong to ingest, not to the adapter.


def is_youtube_id(text: str) -> bool:
    return YOUTUBE_ID.fullmatch(text) is not None


def format_seconds(seconds: float) -> str:
    """`30.0` → "30", `30.5` → "30.5": the compact spelling used in source ids and messages."""
    return f"{seconds:.3f}".rstrip("0").rstrip(".")


@dataclass(frozen=True)
class NamedFile:
    """One file whose name carries a YouTube id.

    `start`/`end` are the numbers as written in the name (None when absent); `scales` the units
    they may be in (1.0: seconds, 0.001: milliseconds): a bare integer may be either.
    """

    path: Path
    youtube_id: str
    start: float | None = None
    end: float | None = None
    scales: tuple[float, ...] = (1.0,)
    integral: bool = False
    video: bool = False

    @property
    def timed(self) -> bool:
        return self.start is not None

    def times_match(self, start_s: float, end_s: float | None) -> bool:
        """Whether the name's times are the row's: the start within 1 ms (or truncated to whole
        seconds, as many download scripts write `int(start)`), the end within a second."""
        if self.start is None:
            return False
        for scale in self.scales:
            if not _close(self.start * scale, start_s, self.integral and scale == 1.0):
                continue
            # The end only confirms: scripts truncate or round it (`174.000` for 174.666), and a
            # file whose start is the row's is that segment.
            if self.end is None or end_s is None or abs(self.end * scale - end_s) < 1.0:
                return True
        return False


def _close(value: float, target: float, truncated_ok: bool) -> bool:
    if abs(value - target) < 1e-3:
        return True
    return truncated_ok and value == math.floor(target + 1e-6)


def _number(token: str) -> tuple[float, bool]:
    return float(token), "." not in token


def parse_name(stem: str) -> list[tuple[str, float | None, float | None, tuple[float, ...], bool]]:
    """Every reading of a file stem under the built-in patterns: (id, start, end, scales, integral).

    Both readings (with and without a `Y` prefix) are tried; for real names at most one succeeds,
    because the id is 11 characters and must be followed by nothing or by `_<time>`.
    """
    readings = []
    for prefix in ("", "Y"):
        if prefix and not stem.startswith(prefix):
            continue
        body = stem[len(prefix):]
        ytid, rest = body[:11], body[11:]
        if not is_youtube_id(ytid):
            continue
        if not rest:
            readings.append((ytid, None, None, (1.0,), False))
            continue
        m = _TIMES.fullmatch(rest)
        if m is None:
            continue
        start, start_int = _number(m.group(1))
        end, end_int = _number(m.group(2)) if m.group(2) else (None, True)
        integral = start_int and end_int
        # A bare integer may be seconds (`000030`) or milliseconds (`30000_40000`).
        scales = (1.0, 0.001) if integral else (1.0,)
        readings.append((ytid, start, end, scales, integral))
    return readings


class FilenamePattern:
    """A user's `filename_pattern`: a regex with named groups (`id`, and optionally `start`,
    `end`, `start_ms`, `end_ms`), or a Python format string with the same fields, e.g.
    "{id}_{start:06d}" or "Y{id}". Matched against the file name without its extension (then
    with it); the format spec only documents the spelling: any number matches a time field."""

    def __init__(self, pattern: str):
        self.pattern = pattern
        if "(?P<" in pattern:
            try:
                self.regex = re.compile(pattern)
            except re.error as err:
                raise ValueError(f"filename_pattern {pattern!r} is not a valid regex: {err}") from err
            names = set(self.regex.groupindex)
        else:
            parts: list[str] = []
            names = set()
            try:
                parsed = list(string.Formatter().parse(pattern))
            except ValueError as err:
                raise ValueError(f"filename_pattern {pattern!r} is not a valid format string: {err}") from err
            for literal, field, _spec, _conv in parsed:
                parts.append(re.escape(literal))
                if field is None:
                    continue
                if field not in _FIELDS:
                    raise ValueError(f"filename_pattern {pattern!r}: unknown field {{{field}}}; use {_FIELDS}")
                if field in names:
                    parts.append(f"(?P={field})")
                    continue
                names.add(field)
                parts.append(f"(?P<{field}>{YOUTUBE_ID.pattern if field == 'id' else _NUMBER})")
            self.regex = re.compile("".join(parts))
        unknown = names - set(_FIELDS)
        if "id" not in names or unknown:
            raise ValueError(f"filename_pattern {pattern!r} needs an `id` field and only {_FIELDS}")
        if {"start", "start_ms"} <= names or {"end", "end_ms"} <= names:
            raise ValueError(f"filename_pattern {pattern!r}: give each time in seconds or in ms, not both")

    def parse(self, name: str) -> list[tuple[str, float | None, float | None, tuple[float, ...], bool]]:
        stem = os.path.splitext(name)[0]
        m = self.regex.fullmatch(stem) or self.regex.fullmatch(name)
        if m is None:
            return []
        groups = m.groupdict()
        ytid = groups.get("id") or ""
        if not is_youtube_id(ytid):
            return []
        ms = groups.get("start_ms") is not None or groups.get("end_ms") is not None
        start_tok = groups.get("start_ms") if ms else groups.get("start")
        end_tok = groups.get("end_ms") if ms else groups.get("end")
        try:
            start, start_int = _number(start_tok) if start_tok else (None, True)
            end, end_int = _number(end_tok) if end_tok else (None, True)
        except ValueError:
            return []
        if start is None and end is not None:
            return []
        return [(ytid, start, end, (0.001,) if ms else (1.0,), start_int and end_int and not ms)]


@dataclass(frozen=True)
class Match:
    """The file chosen for a row. `cut`: its name carried the row's times, so it is the segment
    itself (offset 0); otherwise it may be the whole video (offset decided by ingest)."""

    path: Path
    cut: bool
    video: bool

    @property
    def offset_s(self) -> float | None:
        return 0.0 if self.cut else None


class YouTubeIndex:
    """Audio (and video) files under a corpus root, by YouTube id."""

    def __init__(self, root: Path, by_id: dict[str, list[NamedFile]], n_files: int, pattern: str | None = None):
        self.root = root
        self.by_id = by_id
        self.n_files = n_files
        self.pattern = pattern

    @classmethod
    def build(cls, root: Path, filename_pattern: str | None = None, audio_dir: str | None = None) -> "YouTubeIndex":
        """Walk `root` (or `root/audio_dir`) once. Files whose name carries no YouTube id are ignored."""
        custom = FilenamePattern(filename_pattern) if filename_pattern else None
        top = root / audio_dir if audio_dir else root
        if not top.is_dir():
            raise FileNotFoundError(f"audio folder {top} does not exist")
        by_id: dict[str, list[NamedFile]] = {}
        n = 0
        for path in walk_files(top):
            name = path.name
            readings = custom.parse(name) if custom else parse_name(os.path.splitext(name)[0])
            for ytid, start, end, scales, integral in readings:
                by_id.setdefault(ytid, []).append(
                    NamedFile(path, ytid, start, end, scales, integral, is_video(path))
                )
            n += bool(readings)
        log.info("indexed %d files by YouTube id (%d ids) under %s", n, len(by_id), top)
        return cls(root, by_id, n, filename_pattern)

    def candidates(self, youtube_id: str, start_s: float, end_s: float | None = None) -> list[tuple[NamedFile, bool]]:
        """Files that may hold the row, with whether their name carries the row's times. A name
        with *other* times is a different segment of the video and never a candidate."""
        found = []
        for f in self.by_id.get(youtube_id, ()):
            if not f.timed:
                found.append((f, False))
            elif f.times_match(start_s, end_s):
                found.append((f, True))
        return found

    def match(
        self, youtube_id: str, start_s: float, end_s: float | None = None, prefer_dirs: Sequence[str] = ()
    ) -> Match | None:
        """The best file for a row: audio before video, then a name with the row's times before a
        bare id, then one inside a folder named in `prefer_dirs` (e.g. the split), then by path."""
        prefer = {d.lower() for d in prefer_dirs}

        def rank(item: tuple[NamedFile, bool]) -> tuple[bool, bool, bool, str]:
            f, cut = item
            parts = f.path.parent.relative_to(self.root).parts if f.path.is_relative_to(self.root) else ()
            in_preferred = any(p.lower() in prefer for p in parts)
            return (f.video, not cut, not in_preferred, str(f.path))

        found = self.candidates(youtube_id, start_s, end_s)
        if not found:
            return None
        best, cut = min(found, key=rank)
        return Match(best.path, cut, best.video)

    def explain_missing(self, youtube_id: str, start_s: float, end_s: float | None = None) -> str:
        """The `missing_audio` detail: what was looked for, and near misses."""
        times = format_seconds(start_s) + (f"-{format_seconds(end_s)}" if end_s is not None else "")
        if self.pattern:
            looked = f"names matching filename_pattern {self.pattern!r}"
        else:
            looked = (f"{youtube_id}, Y{youtube_id}, {youtube_id}_<start>[_<end>] or Y{youtube_id}_<start>[_<end>] "
                      "(seconds, zero-padded or ms)")
        detail = f"no audio file for YouTube id {youtube_id} at {times} s under {self.root}: looked for {looked}"
        others = [str(f.path) for f in self.by_id.get(youtube_id, ())]
        if others:
            detail += f"; files of this id with other times: {', '.join(others[:3])}"
        return detail


def locate(
    index: YouTubeIndex,
    *,
    corpus: str,
    key: str,
    source: str,
    youtube_id: str,
    start_s: float,
    end_s: float | None = None,
    prefer_dirs: Sequence[str] = (),
) -> Match | Reject:
    """The matched audio file, or the row's Reject (`missing_audio`, `unsupported_container`)."""
    m = index.match(youtube_id, start_s, end_s, prefer_dirs)
    if m is None:
        return missing_audio(corpus, key, source, index.explain_missing(youtube_id, start_s, end_s),
                             youtube_id=youtube_id)
    if m.video:
        name = m.path.name
        flac = os.path.splitext(name)[0] + ".flac"
        return Reject(
            stage="ingest", reason="unsupported_container", source=source, key=key, corpus=corpus,
            youtube_id=youtube_id, audio_path=str(m.path),
            detail=(f"only a video container matched: {m.path}; soundfile cannot decode "
                    f"{', '.join(VIDEO_EXTENSIONS)}: extract the audio track keeping the stem, "
                    f"e.g. `ffmpeg -i {name} -vn {flac}`"),
        )
    return m


def duplicate_row(corpus: str, key: str, source: str, first: str, youtube_id: str | None = None) -> Reject:
    return Reject(stage="ingest", reason="duplicate_row", source=source, key=key, corpus=corpus,
                  detail=f"the same clip is listed first at {first}", youtube_id=youtube_id)


def written_id(fields: Sequence[str], index: int = 0) -> str | None:
    """The YouTube id as a malformed row writes it (for its reject line), or None."""
    value = fields[index].strip() if 0 <= index < len(fields) else ""
    return value or None


def csv_lines(path: Path) -> Iterator[tuple[int, list[str] | None, str | None]]:
    """(1-based line number, stripped fields or None, error or None) per non-blank line of a
    line-oriented CSV, skipping `#` comment lines. Each physical line is parsed on its own, so an
    unbalanced quote or a bad byte spoils only its own row. Fields may be separated by `, `."""
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            try:
                text = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as err:
                yield number, None, f"not UTF-8: {err}"
                continue
            if not text.strip() or text.lstrip().startswith("#"):
                continue
            try:
                fields = next(csv.reader([text], skipinitialspace=True))
            except csv.Error as err:
                yield number, None, f"CSV error: {err}"
                continue
            yield number, [field.strip() for field in fields], None


def parse_start(text: str) -> float:
    """A start/end time in seconds; raises ValueError for anything but a finite number >= 0."""
    value = float(text)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"time {text!r} is not a number of seconds >= 0")
    return value




def metadata_path(root: Path, metadata_dir: str, name: str) -> tuple[Path, str]:
    """(path on disk, path relative to root as written in `source`) of a metadata file."""
    rel = f"{metadata_dir.strip('/')}/{name}" if metadata_dir and metadata_dir.strip("/") else name
    return root / rel, rel


def select_metadata(root: Path, metadata_dir: str, files: dict[str, tuple], wanted: list[str] | None,
                    option: str, label: str, what: str) -> list[tuple[str, Path, str]]:
    """(name, path, path relative to root) of each metadata CSV to read, in the fixed order of
    `files` (name → (file name, ...)) whatever the option's order, for stable output.

    `wanted` None reads every file present (at least one must be); a list names the files that
    must exist. `option`, `label` and `what` only word the errors (`corpora.audioset.subsets`,
    "AudioSet", "segment CSV").
    """
    names = list(wanted) if wanted is not None else list(files)
    unknown = [s for s in names if s not in files]
    if unknown:
        raise ValueError(f"{option}: unknown {unknown}; choose from {list(files)}")
    found = []
    for name, entry in files.items():
        if name not in names:
            continue
        path, rel = metadata_path(root, metadata_dir, entry[0])
        if path.is_file():
            found.append((name, path, rel))
        elif wanted is not None:
            raise FileNotFoundError(f"{label} {name!r}: expected {path}")
    if not found:
        expected = ", ".join(str(metadata_path(root, metadata_dir, files[s][0])[0]) for s in names)
        raise FileNotFoundError(f"{label}: no {what} found; expected one of {expected}")
    return found
