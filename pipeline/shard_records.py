"""Bookkeeping of resumable shard stages (prepare, tokenize): one record per finished shard.

A stage writes each shard under a temporary name, renames it, then writes its record
`<out>/_parts/<shard>.json` (name, sha256, bytes, and whatever says what the shard was built from).
A re-run trusts a shard only when its record matches the work planned now and the tar on disk
still has the recorded size and checksum; anything else is rebuilt.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

PARTS_DIR = "_parts"


def part_path(out: str | Path, name: str) -> Path:
    return Path(out) / PARTS_DIR / f"{name}.json"


def write_part(out: str | Path, record: dict) -> None:
    """Write a shard's record atomically (temporary file per process, then rename)."""
    path = part_path(out, record["name"])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(record, sort_keys=True, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def read_part(out: str | Path, name: str) -> dict | None:
    try:
        return json.loads(part_path(out, name).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def tar_matches(out: str | Path, name: str, record: dict) -> bool:
    """Whether the tar on disk is the one the record describes. A record with no sha256 means
    every clip was rejected: complete then means no tar under that name."""
    from audiogen.io.shards import sha256_file

    tar = Path(out) / name
    if record.get("sha256") is None:
        return not tar.exists()
    return tar.exists() and tar.stat().st_size == record["bytes"] and sha256_file(tar) == record["sha256"]


def clean_stale(out: str | Path, names: set[str]) -> int:
    """Remove temporaries of killed runs, and shards/records not in `names`; returns how many."""
    from audiogen.io.shards import SHARD_RE

    out = Path(out)
    removed = 0
    for p in list(out.glob("*.tmp")) + list((out / PARTS_DIR).glob("*.tmp")):
        p.unlink(missing_ok=True)
        removed += 1
    for p in out.glob("*.tar"):
        if SHARD_RE.match(p.name) and p.name not in names:
            p.unlink()
            removed += 1
    for p in (out / PARTS_DIR).glob("*.json"):
        if p.name[: -len(".json")] not in names:
            p.unlink()
            removed += 1
    return removed
