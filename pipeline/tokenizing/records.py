"""Bookkeeping of the tokenize stage: which shards to do, writing a finished token shard, resuming,
and the outputs beside the shards (`shards.json`, `stats.json`, `rejects.jsonl`).

A token shard is complete when `<out>/<name>` and `<out>/_parts/<name>.json` both exist and the
record names the same source shard sha256 and codec sha256 as this run and the tar's own sha256.
The tar is written first (atomically, audiogen.io.shards.ShardWriter), the record second, so a run
killed in between simply rebuilds that shard, with the same bytes.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.manifest import reject_ids
from pipeline.shard_records import read_part, tar_matches, write_part
from pipeline.tokenizing.config import STAGE, CodecInfo, TokenizeConfig

FORMAT = {"codes": "npy", "dtype": "int16", "shape": "[K, T]", "meta": "json"}


@dataclass(frozen=True)
class ShardJob:
    """One audio shard to tokenize."""

    name: str
    path: str
    split: str
    corpus: str
    source_sha256: str
    clips: int | None  # from the audio index; None when the index does not say


def plan_shards(shards_dir: Path) -> list[ShardJob]:
    """Every audio shard in `shards_dir`, sorted by name, with its sha256 (from `shards.json` when it
    lists the shard, else computed)."""
    from audiogen.io.shards import INDEX_NAME, SHARD_RE, list_shards, read_index, sha256_file

    if not shards_dir.is_dir():
        raise SystemExit(f"tokenize: audio shards directory {shards_dir} does not exist (run prepare first)")
    indexed = {}
    if (shards_dir / INDEX_NAME).exists():
        indexed = {s["name"]: s for s in read_index(shards_dir).get("shards", [])}
    jobs = []
    for path in list_shards(shards_dir):
        m = SHARD_RE.match(path.name)
        entry = indexed.get(path.name) or {}
        sha = entry.get("sha256") or sha256_file(path)
        jobs.append(ShardJob(path.name, str(path.resolve()), m["split"], m["corpus"], sha, entry.get("clips")))
    return jobs


def is_complete(out: Path, job: ShardJob, codec_sha256: str) -> bool:
    """True when the shard's record matches this source shard and codec and the tar's checksum."""
    part = read_part(out, job.name)
    if not part or part.get("source_sha256") != job.source_sha256 or part.get("codec_sha256") != codec_sha256:
        return False
    return tar_matches(out, job.name, part)


def _reject(job: ShardJob, key: str | None, error: str, meta_json: bytes | None = None) -> dict[str, Any]:
    """A clip (or, with key None, a whole shard) that was not encoded; the clip's json names it as the
    user knows it (YouTube id, original audio path)."""
    reason, _, detail = error.partition(": ")
    try:
        meta = json.loads(meta_json or b"{}")
    except ValueError:
        meta = {}
    return {"stage": STAGE, "reason": reason, "key": key, "source": job.name, "detail": detail,
            "corpus": job.corpus, **reject_ids(meta if isinstance(meta, dict) else {})}


def write_token_shard(out: Path, job: ShardJob, rows: list[dict[str, Any]], codec: CodecInfo) -> dict[str, Any]:
    """Write one token shard from the encoder's rows of one audio shard (any order: sorted here by
    their position in the audio shard), then its record; returns the record."""
    from audiogen.io.shards import ShardWriter

    record: dict[str, Any] = {"name": job.name, "split": job.split, "corpus": job.corpus,
                              "source_sha256": job.source_sha256, "codec_sha256": codec.sha256, "clips": 0,
                              "seconds": 0.0, "frames": 0, "bytes": 0, "sha256": None, "rejects": []}
    rows = sorted(rows, key=lambda r: int(r["index"]))
    path = out / job.name
    writer: ShardWriter | None = None
    try:
        for r in rows:
            if r["error"]:
                record["rejects"].append(_reject(job, r["key"] or None, str(r["error"]), r["json"]))
                continue
            meta = json.loads(r["json"] or b"{}")
            meta.update(frame_rate=codec.frame_rate, num_codebooks=codec.num_codebooks,
                        codec_sha256=codec.sha256, num_frames=int(r["frames"]))
            writer = writer or ShardWriter(path)
            writer.write(str(r["key"]), {"codes.npy": bytes(r["codes"]),
                                         "json": json.dumps(meta, sort_keys=True, ensure_ascii=False).encode("utf-8")})
            record["clips"] += 1
            record["frames"] += int(r["frames"])
            record["seconds"] += int(r["num_samples"]) / codec.sample_rate
        if writer is not None:
            record["sha256"] = writer.close()
            record["bytes"] = path.stat().st_size
        else:
            path.unlink(missing_ok=True)
    except BaseException:
        if writer is not None and writer.sha256 is None:
            writer.abort()
        raise
    record["seconds"] = round(record["seconds"], 6)
    write_part(out, record)
    return record


def build_index(parts: list[dict], codec: CodecInfo, cfg: TokenizeConfig) -> dict[str, Any]:
    """`shards.json`: the shards (name, split, corpus, clips, seconds, frames, bytes, sha256 and the
    audio shard's sha256), the codec (sha256, frame rate, K, ...). Only params that change the bytes
    are recorded (batching and placement do not)."""
    del cfg  # codes do not depend on any tokenize param; kept in the signature for symmetry with prepare
    keys = ("name", "split", "corpus", "clips", "seconds", "frames", "bytes", "sha256", "source_sha256")
    return {
        "shards": [{k: p[k] for k in keys} for p in parts if p["clips"] > 0],
        "codec_sha256": codec.sha256,
        "frame_rate": codec.frame_rate,
        "num_codebooks": codec.num_codebooks,
        "codec": codec.summary(),
        "format": FORMAT,
    }


def summarise(parts: list[dict], codec: CodecInfo) -> dict[str, Any]:
    """stats.json: counts per split/corpus and reject reasons. Deterministic: what one run built or
    skipped goes to the log line, not here, so a resumed run writes the same file."""
    groups: dict[str, dict[str, Any]] = {}
    for p in parts:
        g = groups.setdefault(f"{p['split']}/{p['corpus']}", {"clips": 0, "hours": 0.0, "frames": 0, "shards": 0})
        g["clips"] += p["clips"]
        g["hours"] += p["seconds"] / 3600
        g["frames"] += p["frames"]
        g["shards"] += p["clips"] > 0
    for g in groups.values():
        g["hours"] = round(g["hours"], 4)
    rejects = [r for p in parts for r in p["rejects"]]
    return {
        "clips": sum(p["clips"] for p in parts),
        "clips_in": sum(p["clips"] for p in parts) + sum(r["key"] is not None for r in rejects),
        "seconds": round(sum(p["seconds"] for p in parts), 3),
        "hours": round(sum(p["seconds"] for p in parts) / 3600, 4),
        "frames": sum(p["frames"] for p in parts),
        "shards": sum(p["clips"] > 0 for p in parts),
        "shards_in": len(parts),
        "shards_rejected": sum(any(r["key"] is None for r in p["rejects"]) for p in parts),
        "bytes": sum(p["bytes"] for p in parts),
        "by_split_corpus": groups,
        "rejects": dict(sorted(Counter(r["reason"] for r in rejects).items())),
        "codec_sha256": codec.sha256,
        "frame_rate": codec.frame_rate,
        "num_codebooks": codec.num_codebooks,
    }
