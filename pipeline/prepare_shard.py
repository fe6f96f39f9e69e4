"""One shard of the prepare stage: decode, gate, resample, encode every row of a plan, write the tar.

Runs inside a Ray task (or plainly, in tests and benchmarks). Output, in this order:
`<out>/<name>` (atomic, see audiogen.shards.ShardWriter), then `<out>/_parts/<name>.json`, the
shard's record (counts, sha256, its rejects, the plan hash). A shard is complete when both exist
and agree; a run killed in between simply rebuilds that shard (same bytes).
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from audiogen import audio
from audiogen.shards import ShardWriter
from audiogen.text import normalize_caption, normalize_captions
from pipeline.prepare_plan import STAGE, PrepareConfig
from pipeline.shard_records import write_part

# Manifest columns copied into each clip's json (offset/duration are replaced by the clip's own).
META_COLUMNS = ("corpus", "split", "audio_path", "labels", "label_ids", "youtube_id", "license", "source")


def _reject(row: dict, reason: str, detail: str, key: str | None = None) -> dict:
    return {"stage": STAGE, "reason": reason, "source": row.get("source") or row.get("audio_path") or "?",
            "key": key or row.get("key"), "detail": detail, "corpus": row.get("corpus")}


def clip_meta(row: dict, cfg: PrepareConfig, index: int, offset_s: float, pcm: np.ndarray,
              src_rate: int, src_channels: int, levels: tuple[float, float]) -> dict[str, Any]:
    """The json of one clip: the manifest row (as a clip of its own) plus rate, length, PCM sha256."""
    raw = [c for c in (row.get("captions") or []) if c]
    primary = row.get("caption") or (raw[0] if raw else "")
    meta = {c: row.get(c) for c in META_COLUMNS}
    meta.update(
        key=f"{row['key']}-{index}", source_key=row["key"], segment=index,
        offset_s=round(offset_s, 6), duration_s=round(len(pcm) / cfg.sample_rate, 6),
        captions=raw, caption=normalize_caption(primary, cfg.captions),
        captions_norm=normalize_captions(raw or [primary], cfg.captions),
        sample_rate=cfg.sample_rate, num_samples=int(len(pcm)),
        sha256=hashlib.sha256(pcm.astype("<i2").tobytes()).hexdigest(),
        peak_dbfs=round(levels[0], 2), rms_dbfs=round(levels[1], 2),
        source_sample_rate=src_rate, source_channels=src_channels,
    )
    for col in ("labels", "label_ids"):
        meta[col] = list(meta[col] or [])
    return meta


def process_row(row: dict, cfg: PrepareConfig, base_dir: str = "") -> tuple[list[tuple[str, dict[str, bytes], dict]], list[dict], float]:
    """One manifest row → (clips `(key, {"flac", "json"}, meta)`, rejects, seconds of tail dropped).

    Row-level failures (undecodable, empty, too short) reject the whole row and keep none of its
    clips; clip-level gates (nan, silence, clipping) reject one clip each."""
    clips, rejects = [], []
    offset = float(row.get("offset_s") or 0.0)
    try:
        tail = 0.0
        # Relative paths are relative to the driver's working directory (the repo root), which
        # a Ray worker joined to a running cluster does not share: `base_dir` carries it.
        path = os.path.join(base_dir, row["audio_path"])
        for w in audio.iter_windows(path, offset, row.get("duration_s"), cfg.segment_s,
                                    cfg.min_segment_s, cfg.sample_rate):
            tail = (w.window_end - w.core_end) / w.sample_rate
            key = f"{row['key']}-{w.index}"
            core = w.core
            clip_offset = w.core_start / w.sample_rate
            if not np.isfinite(core).all():
                rejects.append(_reject(row, "nan", f"NaN/inf samples in {clip_offset:.3f}+{cfg.segment_s} s", key))
                continue
            peak_in = audio.peak_dbfs(core)
            if peak_in < cfg.silence_dbfs:
                rejects.append(_reject(row, "silence", f"peak {peak_in:.1f} dBFS < {cfg.silence_dbfs}", key))
                continue
            clipped = audio.clipped_fraction(core, cfg.clip_level)
            if clipped > cfg.max_clip_fraction:
                rejects.append(_reject(row, "clipping", f"{clipped:.2%} of samples at full scale", key))
                continue
            y = audio.resample_window(w, cfg.sample_rate, cfg.resampler)
            pcm = audio.to_pcm16(y)
            stored = pcm.astype(np.float32) / 32767.0
            meta = clip_meta(row, cfg, w.index, clip_offset, pcm, w.sample_rate, w.data.shape[1],
                             (audio.peak_dbfs(stored), audio.rms_dbfs(stored)))
            members = {"flac": audio.encode_flac(pcm, cfg.sample_rate),
                       "json": json.dumps(meta, sort_keys=True, ensure_ascii=False).encode("utf-8")}
            clips.append((key, members, meta))
    except audio.AudioError as err:
        return [], [_reject(row, err.reason, err.detail)], 0.0
    except Exception as err:  # one bad file never kills the stage
        return [], [_reject(row, "error", f"{row['audio_path']}: {type(err).__name__}: {err}")], 0.0
    return clips, rejects, tail


def iter_clips(plan: dict, cfg: PrepareConfig, record: dict, base_dir: str = "") -> Iterator[tuple[str, dict[str, bytes]]]:
    """Clips of a plan in order, filling `record` (counts, seconds, rejects) as a side effect."""
    for row in plan["rows"]:
        clips, rejects, tail = process_row(row, cfg, base_dir)
        record["rejects"].extend(rejects)
        record["tail_seconds_dropped"] += tail
        record["rows_without_clips"] += not clips
        for key, members, meta in clips:
            record["clips"] += 1
            record["seconds"] += meta["duration_s"]
            record["clips_without_caption"] += not meta["caption"]
            yield key, members


def build_shard(plan: dict, cfg: PrepareConfig, out_dir: str | Path, base_dir: str = "") -> dict:
    """Write one planned shard and its part record; returns the record (JSON-safe)."""
    out_dir = Path(out_dir)
    record = {"name": plan["name"], "split": plan["split"], "corpus": plan["corpus"], "plan_hash": plan["plan_hash"],
              "rows": len(plan["rows"]), "clips": 0, "seconds": 0.0, "bytes": 0, "sha256": None, "rejects": [],
              "tail_seconds_dropped": 0.0, "rows_without_clips": 0, "clips_without_caption": 0}
    path = out_dir / plan["name"]
    writer: ShardWriter | None = None
    try:
        for key, members in iter_clips(plan, cfg, record, base_dir):
            writer = writer or ShardWriter(path)
            writer.write(key, members)
        if writer is not None:
            record["sha256"] = writer.close()
            record["bytes"] = path.stat().st_size
        else:
            path.unlink(missing_ok=True)  # every row rejected: no shard under this name
    except BaseException:
        if writer is not None and writer.sha256 is None:
            writer.abort()
        raise
    record["seconds"] = round(record["seconds"], 6)
    record["tail_seconds_dropped"] = round(record["tail_seconds_dropped"], 6)
    write_part(out_dir, record)
    return record
