"""The manifest contract: one row per clip, Parquet via pyarrow (DESIGN.md "Manifest").

Stages add columns, never rename. Every writer here is deterministic: rows sorted by key, a fixed
schema, no pandas index, no timestamps, so the same rows always give byte-identical files.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

import pyarrow as pa
import pyarrow.parquet as pq

from audiogen.io.atomic import OutputError, OutputSet, write_text

SPLITS = ("train", "valid", "test")

# The DESIGN.md columns, in order, then the columns ingest and filter add.
MANIFEST_SCHEMA = pa.schema(
    [
        ("key", pa.string()),
        ("corpus", pa.string()),
        ("split", pa.string()),
        ("audio_path", pa.string()),
        ("offset_s", pa.float64()),
        ("duration_s", pa.float64()),
        ("captions", pa.list_(pa.string())),
        ("caption", pa.string()),
        ("labels", pa.list_(pa.string())),
        ("label_ids", pa.list_(pa.string())),
        ("youtube_id", pa.string()),
        ("license", pa.string()),
        ("is_speech", pa.bool_()),
        ("speech_reason", pa.string()),
        ("source", pa.string()),
        # Added by the adapters, for the duplicate merge (null where not applicable).
        ("youtube_start_s", pa.float64()),
        ("freesound_id", pa.string()),
        # Added by ingest's header probe.
        ("sample_rate", pa.int64()),
        ("channels", pa.int64()),
        ("audio_format", pa.string()),
        ("file_duration_s", pa.float64()),
        # Added by filter: every (corpus, source) a merged row came from.
        ("corpora", pa.list_(pa.string())),
        ("sources", pa.list_(pa.string())),
        # Added by filter: whether prepare drops the row's clips whose audio is speech (filter.speech_mode).
        ("speech_by_audio", pa.bool_()),
    ]
)
COLUMNS = tuple(MANIFEST_SCHEMA.names)


@dataclass
class ManifestRow:
    """One clip as an adapter yields it. `offset_s=None` means "decide from the file's length"
    (YouTube corpora: a whole video holds the window at its start time, a cut file starts at 0)."""

    key: str
    corpus: str
    split: str
    audio_path: str
    source: str
    offset_s: float | None = 0.0
    duration_s: float | None = None
    captions: list[str] = field(default_factory=list)
    caption: str = ""
    labels: list[str] = field(default_factory=list)
    label_ids: list[str] = field(default_factory=list)
    youtube_id: str | None = None
    license: str | None = None
    is_speech: bool = False
    speech_reason: str | None = None
    youtube_start_s: float | None = None
    freesound_id: str | None = None

    def __post_init__(self) -> None:
        if self.split not in SPLITS:
            raise ValueError(f"{self.source}: split must be one of {SPLITS}, got {self.split!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class Reject:
    """A dropped row or file: `rejects.jsonl` holds one of these per line (DESIGN.md "Rejects")."""

    stage: str
    reason: str
    source: str
    key: str | None = None
    detail: str | None = None
    corpus: str | None = None
    # The clip as its user knows it (see reject_ids), so that `grep <id> rejects.jsonl` finds the line.
    youtube_id: str | None = None
    audio_path: str | None = None
    source_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


def reject_ids(row: Mapping[str, Any] | None) -> dict[str, str]:
    """The names a person knows a clip by, for a reject line: `youtube_id` (as written in the
    metadata, case kept), `audio_path` (the file ingest found or looked for) and `source_id` (the
    corpus's own id where it has one besides the file: a Freesound id). Only those set; `row` is a
    manifest row, a clip's shard json, or None."""
    if not row:
        return {}
    ids = {"youtube_id": row.get("youtube_id"), "audio_path": row.get("audio_path"),
           "source_id": row.get("source_id") or row.get("freesound_id")}
    return {k: str(v) for k, v in ids.items() if v not in (None, "")}


def rows_to_table(rows: Iterable[dict[str, Any]]) -> pa.Table:
    """Rows (dicts, missing columns filled with null) → a table with the manifest schema, sorted by key."""
    rows = sorted(rows, key=lambda r: r["key"])
    columns = {name: [r.get(name) for r in rows] for name in COLUMNS}
    return pa.table(columns, schema=MANIFEST_SCHEMA)


def write_manifest(rows: Iterable[dict[str, Any]], path: str | Path, outputs: OutputSet | None = None) -> pa.Table:
    """Write rows as a deterministic Parquet file (sorted by key, fixed schema, no statistics drift),
    atomically; with `outputs`, as one of a set of files made visible together."""
    table = rows_to_table(rows)
    path = Path(path)
    with _output(path, outputs) as tmp:
        pq.write_table(table, tmp, compression="zstd", write_statistics=False, use_dictionary=False)
    return table


def read_manifest(path: str | Path) -> list[dict[str, Any]]:
    """Read a manifest back as a list of dicts; columns a file lacks come back as null."""
    table = pq.read_table(path)
    rows = table.to_pylist()
    for row in rows:
        for name in COLUMNS:
            row.setdefault(name, None)
    return rows


def write_rejects(rejects: Iterable[Reject | dict[str, Any]], path: str | Path,
                  outputs: OutputSet | None = None) -> int:
    """Write rejects as JSON lines in a stable order (atomically, or as part of `outputs`); returns how many."""
    records = [r.to_dict() if isinstance(r, Reject) else dict(r) for r in rejects]
    records.sort(key=lambda r: (r.get("corpus") or "", r.get("key") or "", r.get("source") or "", r["reason"]))
    text = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in records)
    _write_text(Path(path), text, outputs)
    return len(records)


def write_json(obj: Any, path: str | Path, outputs: OutputSet | None = None) -> None:
    """Deterministic JSON (sorted keys, fixed indent) for stats and indexes, written atomically (or as
    part of `outputs`)."""
    _write_text(Path(path), json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n", outputs)


def _write_text(path: Path, text: str, outputs: OutputSet | None) -> None:
    if outputs is not None:
        outputs.write_text(path, text)
    else:
        write_text(path, text)


@contextlib.contextmanager
def _output(path: Path, outputs: OutputSet | None) -> Iterator[Path]:
    """A temporary path to write `path` through: part of `outputs`, or a set of its own."""
    own = OutputSet() if outputs is None else None
    target = outputs if outputs is not None else own
    try:
        yield target.tmp(path)
    except OSError as err:
        if own is not None:
            own.abort()
        if isinstance(err, OutputError):
            raise
        cause = (err.strerror or str(err)).replace(str(target.tmp(path)), str(path)).splitlines()[0]
        raise OutputError(err.errno, f"cannot write {path}: {cause}") from err
    if own is not None:
        own.commit()
