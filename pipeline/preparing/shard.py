"""One shard of the prepare stage: decode, gate, resample, measure speech, encode every row of a plan, write the tar.

Rows are decoded in groups of about `vad.max_batch_s` seconds of clips, so that the speech
detector (pipeline.preparing.speech) scores many clips per call; clips still come out in plan order.
Runs inside a Ray task (or plainly, in tests and benchmarks). Output, in this order:
`<out>/<name>` (atomic, see audiogen.io.shards.ShardWriter), then `<out>/_parts/<name>.json`, the
shard's record (counts, sha256, its rejects, the plan hash). A shard is complete when both exist
and agree; a run killed in between simply rebuilds that shard (same bytes).
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from audiogen.io import audio
from audiogen.io.shards import ShardWriter
from audiogen.text.normalize import normalize_caption, normalize_captions
from audiogen.speech.vad import SpeechResult
from pipeline.preparing import speech
from pipeline.manifest import reject_ids
from pipeline.preparing.plan import STAGE, PrepareConfig
from pipeline.shard_records import write_part

# Manifest columns copied into each clip's json (offset/duration are replaced by the clip's own).
META_COLUMNS = ("corpus", "split", "audio_path", "labels", "label_ids", "youtube_id", "license", "source",
                "is_speech", "speech_reason")


@dataclass
class Decoded:
    """A clip that passed the gates, before its speech verdict: 16 kHz PCM_16 `[T]` and where it came from."""

    key: str
    index: int
    offset_s: float
    pcm: np.ndarray
    src_rate: int
    src_channels: int


def _reject(row: dict, reason: str, detail: str, key: str | None = None) -> dict:
    return {"stage": STAGE, "reason": reason, "source": row.get("source") or row.get("audio_path") or "?",
            "key": key or row.get("key"), "detail": detail, "corpus": row.get("corpus"), **reject_ids(row)}


def clip_meta(row: dict, cfg: PrepareConfig, index: int, offset_s: float, pcm: np.ndarray,
              src_rate: int, src_channels: int, levels: tuple[float, float],
              speech_result: SpeechResult | None = None) -> dict[str, Any]:
    """The json of one clip: the manifest row (as a clip of its own) plus rate, length, PCM sha256,
    and the speech measured in it (nulls when not measured)."""
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
        **speech.speech_fields(speech_result, cfg),
    )
    for col in ("labels", "label_ids"):
        meta[col] = list(meta[col] or [])
    return meta


def decode_row(row: dict, cfg: PrepareConfig, base_dir: str = "") -> tuple[list[Decoded], list[dict], float]:
    """One manifest row → (clips that passed the gates, rejects, seconds of tail dropped).

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
            pcm = audio.to_pcm16(audio.resample_window(w, cfg.sample_rate, cfg.resampler))
            clips.append(Decoded(key, w.index, clip_offset, pcm, w.sample_rate, w.data.shape[1]))
    except audio.AudioError as err:
        return [], [_reject(row, err.reason, err.detail)], 0.0
    except Exception as err:  # one bad file never kills the stage
        return [], [_reject(row, "error", f"{row['audio_path']}: {type(err).__name__}: {err}")], 0.0
    return clips, rejects, tail


def encode_clip(row: dict, clip: Decoded, cfg: PrepareConfig,
                result: SpeechResult | None) -> tuple[str, dict[str, bytes], dict]:
    """A kept clip → (key, {"flac", "json"}, meta)."""
    stored = clip.pcm.astype(np.float32) / 32767.0
    meta = clip_meta(row, cfg, clip.index, clip.offset_s, clip.pcm, clip.src_rate, clip.src_channels,
                     (audio.peak_dbfs(stored), audio.rms_dbfs(stored)), result)
    members = {"flac": audio.encode_flac(clip.pcm, cfg.sample_rate),
               "json": json.dumps(meta, sort_keys=True, ensure_ascii=False).encode("utf-8")}
    return clip.key, members, meta


def _detector(cfg: PrepareConfig):
    from audiogen.speech.vad import VoiceActivityDetector

    return VoiceActivityDetector(cfg.vad)


def process_rows(rows: Iterable[dict], cfg: PrepareConfig, base_dir: str = "", tally: dict | None = None,
                 detector=None) -> Iterator[tuple[dict, list[tuple[str, dict[str, bytes], dict]], list[dict], float]]:
    """Rows → `(row, kept clips (key, members, meta), rejects, tail seconds)` per row, in order.

    Rows are decoded in groups of about `vad.max_batch_s` seconds of clips; each group's clips that
    need a speech measurement are scored in one detector call. `tally`: a prepare_speech tally to
    add every measured clip to."""
    budget = cfg.vad.max_batch_s * cfg.sample_rate
    group: list[tuple[dict, list[Decoded], list[dict], float]] = []
    size = 0

    def flush() -> Iterator[tuple[dict, list, list[dict], float]]:
        nonlocal detector
        todo = [c for r, clips, _, _ in group if speech.needs_measure(r, cfg) for c in clips]
        results: dict[str, SpeechResult] = {}
        if todo:
            detector = detector or _detector(cfg)
            found = detector.detect([c.pcm.astype(np.float32) / 32767.0 for c in todo])
            results = {c.key: r for c, r in zip(todo, found)}
        for row, clips, rejects, tail in group:
            kept, dropped = [], 0
            for clip in clips:
                result = results.get(clip.key)
                detail = speech.drop_detail(row, result, cfg)
                if tally is not None:
                    speech.count(tally, row, result, cfg, dropped=detail is not None)
                if detail is not None:
                    rejects.append({**_reject(row, speech.REASON, detail, clip.key), "speech_s": result.speech_s})
                    dropped += 1
                    continue
                try:
                    kept.append(encode_clip(row, clip, cfg, result))
                except Exception as err:  # one bad clip never kills the stage
                    rejects.append(_reject(row, "error", f"{row['audio_path']}: {type(err).__name__}: {err}", clip.key))
            if tally is not None and dropped and not kept:
                tally["rows_dropped"] += 1
            yield row, kept, rejects, tail

    for row in rows:
        clips, rejects, tail = decode_row(row, cfg, base_dir)
        group.append((row, clips, rejects, tail))
        size += sum(len(c.pcm) for c in clips)
        if size >= budget:
            yield from flush()
            group, size = [], 0
    if group:
        yield from flush()


def process_row(row: dict, cfg: PrepareConfig, base_dir: str = "") -> tuple[list[tuple[str, dict[str, bytes], dict]], list[dict], float]:
    """One manifest row alone → (clips `(key, {"flac", "json"}, meta)`, rejects, seconds of tail dropped)."""
    ((_, clips, rejects, tail),) = process_rows([row], cfg, base_dir)
    return clips, rejects, tail


def iter_clips(plan: dict, cfg: PrepareConfig, record: dict, base_dir: str = "") -> Iterator[tuple[str, dict[str, bytes]]]:
    """Clips of a plan in order, filling `record` (counts, seconds, rejects, speech) as a side effect."""
    tally = speech.new_tally()
    for row, clips, rejects, tail in process_rows(plan["rows"], cfg, base_dir, tally):
        record["rejects"].extend(rejects)
        record["tail_seconds_dropped"] += tail
        dropped_for_speech = not clips and any(r["reason"] == speech.REASON for r in rejects)
        # A row whose clips were all dropped for speech was filtered on purpose, not lost: it does
        # not count towards max_reject_fraction.
        record["rows_without_clips"] += not clips and not dropped_for_speech
        for key, members, meta in clips:
            record["clips"] += 1
            record["seconds"] += meta["duration_s"]
            record["clips_without_caption"] += not meta["caption"]
            yield key, members
    record["speech"] = speech.round_tally(tally) if cfg.speech_audio != "off" else None


def build_shard(plan: dict, cfg: PrepareConfig, out_dir: str | Path, base_dir: str = "") -> dict:
    """Write one planned shard and its part record; returns the record (JSON-safe)."""
    out_dir = Path(out_dir)
    record = {"name": plan["name"], "split": plan["split"], "corpus": plan["corpus"], "plan_hash": plan["plan_hash"],
              "rows": len(plan["rows"]), "clips": 0, "seconds": 0.0, "bytes": 0, "sha256": None, "rejects": [],
              "tail_seconds_dropped": 0.0, "rows_without_clips": 0, "clips_without_caption": 0, "speech": None}
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
