"""The prepare stage's configuration and its up-front plan: which manifest row goes to which shard.

The plan is computed from the manifests alone (durations, keys, seed), before any audio is read, so
every shard is an independent unit of work: it can run anywhere on a Ray cluster, be skipped when
already complete, and be rebuilt alone. Shards are per (split, corpus); inside a group rows are in
a stable seeded order (sha256 of `seed:key`), and a new shard starts when the next row's estimated
size would pass `shard_mb`. The estimate is the row's kept seconds as 16 kHz PCM_16 (32 kB/s): an
upper bound, so the FLAC shards come out smaller (typically 40-70 % of `shard_mb`).
"""
from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from audiogen.io.arguments import check_numbers, float_in, nonnegative_float, positive_float, positive_int, probability, seed
from audiogen.io.shards import KEY_RE, shard_name
from audiogen.text.normalize import CaptionConfig
from audiogen.speech.vad import VadConfig
from pipeline.manifest import reject_ids

STAGE = "prepare"
CODE_FILES = ("audiogen/io/audio.py", "audiogen/text/normalize.py", "audiogen/io/shards.py", "audiogen/speech/vad.py",
              "pipeline/prepare.py", "pipeline/preparing/plan.py", "pipeline/preparing/shard.py",
              "pipeline/preparing/speech.py")
SPEECH_AUDIO = ("off", "flag", "drop")
SPEECH_MEASURE = ("all", "needed")


@dataclass
class PrepareConfig:
    """params.yaml `prepare:` (every field optional there; these are the defaults)."""

    sample_rate: int = 16000
    resampler: str = "soxr"  # soxr (HQ) | resampy (kaiser_best)
    segment_s: float = 10.0  # clip length
    min_segment_s: float = 1.0  # shortest clip kept (a row's tail, or a whole short row)
    shard_mb: float = 100.0  # target shard size, as 16-bit PCM (FLAC shards are smaller)
    seed: int = 0  # clip order inside shards
    silence_dbfs: float = -70.0  # a clip whose peak is below this is digital silence
    clip_level: float = 0.999  # |x| at or above this counts as clipped (before downmix/resample)
    max_clip_fraction: float = 0.01  # more clipped samples than this → reject `clipping`
    max_reject_fraction: float = 0.5  # of manifest rows yielding no clip; above it the stage fails
    workers: int | None = None  # concurrent shard tasks; null = every CPU Ray has
    # Speech measured in the audio (audiogen.speech.vad): off (not measured) | flag (measured and recorded,
    # nothing dropped) | drop (clips whose row lets the audio decide, see the manifest column
    # `speech_by_audio` written by the filter, are dropped above max_speech_fraction).
    speech_audio: str = "drop"
    max_speech_fraction: float = 0.2  # speech seconds / clip seconds above which the audio says "speech"
    speech_measure: str = "all"  # all | needed (only clips whose row lets the audio decide: faster)
    vad: VadConfig = field(default_factory=VadConfig)
    captions: CaptionConfig = field(default_factory=CaptionConfig)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> "PrepareConfig":
        d = dict(d or {})
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"params.yaml prepare: unknown key(s) {sorted(unknown)}; known: {sorted(cls.__dataclass_fields__)}")
        for key in ("vad", "captions"):
            if d.get(key) is not None and not isinstance(d[key], dict):
                raise ValueError(f"params.yaml prepare.{key}: expected a mapping of keys, got {d[key]!r}")
        d["captions"] = CaptionConfig.from_dict(d.get("captions"))
        if d.get("speech_audio") is False:  # YAML 1.1 reads a bare `off` as false
            d["speech_audio"] = "off"
        try:
            d["vad"] = VadConfig.from_dict(d.get("vad"))
        except ValueError as err:
            raise ValueError(f"params.yaml prepare.{err}") from err
        cfg = cls(**d)
        cfg.validate()
        return cfg

    def validate(self) -> None:
        check_numbers(self, PREPARE_NUMBERS, "prepare")  # type and range of every number, naming the param
        if self.resampler not in ("soxr", "resampy"):
            raise ValueError(f"prepare.resampler must be soxr or resampy, got {self.resampler!r}")
        if not 0 < self.min_segment_s <= self.segment_s:
            raise ValueError(f"prepare: need 0 < min_segment_s ({self.min_segment_s}) <= segment_s ({self.segment_s})")
        if self.shard_mb <= 0:
            raise ValueError("prepare.shard_mb must be positive")
        if self.speech_audio not in SPEECH_AUDIO:
            raise ValueError(f"prepare.speech_audio must be one of {SPEECH_AUDIO}, got {self.speech_audio!r}")
        if self.speech_measure not in SPEECH_MEASURE:
            raise ValueError(f"prepare.speech_measure must be one of {SPEECH_MEASURE}, got {self.speech_measure!r}")
        if not 0.0 <= self.max_speech_fraction <= 1.0:
            raise ValueError(f"prepare.max_speech_fraction must be in [0, 1], got {self.max_speech_fraction}")
        self.vad.validate()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def output_params(self) -> dict[str, Any]:
        """The params that change shard bytes (not `workers`, nor the reject gate)."""
        d = self.to_dict()
        d.pop("workers")
        d.pop("max_reject_fraction")
        d["vad"].pop("device")  # where the detector runs does not change what it finds
        if self.speech_audio == "off":  # nothing measured: the detector's settings cannot matter
            for k in ("max_speech_fraction", "speech_measure", "vad"):
                d.pop(k)
        return d


PREPARE_NUMBERS = {
    "sample_rate": positive_int, "segment_s": positive_float, "min_segment_s": positive_float,
    "shard_mb": positive_float, "seed": seed, "silence_dbfs": float_in(None, 0), "clip_level": float_in(0, 1, lo_open=True),
    "max_clip_fraction": probability, "max_reject_fraction": probability, "workers": positive_int.or_none,
    "max_speech_fraction": probability, "vad.threshold": float_in(0, 1, lo_open=True, hi_open=True),
    "vad.neg_threshold": float_in(0, 1, lo_open=True).or_none,
    "vad.min_speech_s": nonnegative_float, "vad.min_silence_s": nonnegative_float, "vad.speech_pad_s": nonnegative_float,
    "vad.max_batch_s": positive_float,
}


def code_version(speech: bool = False) -> dict[str, str]:
    """What built the shards: a digest of the code that decides their bytes, and library versions
    (with `speech`, also the speech detector's package version and model checksum)."""
    import numpy
    import resampy
    import simplemma
    import soundfile
    import soxr

    from importlib.metadata import PackageNotFoundError, version

    try:
        package = version("audiogen")
    except PackageNotFoundError:
        package = "0"
    root = Path(__file__).resolve().parents[2]
    h = hashlib.sha256()
    for rel in CODE_FILES:
        h.update(rel.encode() + b"\0" + (root / rel).read_bytes() + b"\0")
    return {
        "audiogen": package,
        "source_sha256": h.hexdigest()[:16],
        "libsndfile": soundfile.__libsndfile_version__,
        "numpy": numpy.__version__,
        "resampy": resampy.__version__,
        "simplemma": getattr(simplemma, "__version__", "?"),
        "soxr": soxr.__version__,
        **(vad_info() if speech else {}),
    }


def vad_info() -> dict[str, str]:
    """The detector's version and model checksum, or a clear exit when it is not installed."""
    from audiogen.speech.vad import VadUnavailable, model_info

    try:
        return model_info()
    except VadUnavailable as err:
        raise SystemExit(f"prepare: speech_audio is on but {err}; or set prepare.speech_audio: off") from err


def order_key(seed: int, key: str) -> str:
    return hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()


def estimated_seconds(row: dict[str, Any], cfg: PrepareConfig) -> float:
    """Seconds of clips a row should yield, from the manifest alone (no audio read)."""
    dur = row.get("duration_s")
    if dur is None and row.get("file_duration_s") is not None:
        dur = row["file_duration_s"] - (row.get("offset_s") or 0.0)
    if dur is None or not math.isfinite(dur):
        dur = cfg.segment_s  # unknown: assume one full clip
    full, tail = divmod(max(0.0, dur), cfg.segment_s)
    return full * cfg.segment_s + (tail if tail >= cfg.min_segment_s else 0.0)


def corpus_slug(corpus: str) -> str:
    """Shard names split on '-', so a corpus name keeps `[a-z0-9_]` only."""
    return re.sub(r"[^a-z0-9_]+", "_", (corpus or "unknown").lower()).strip("_") or "unknown"


def make_plan(rows: list[dict[str, Any]], cfg: PrepareConfig, code: dict[str, str]) -> tuple[list[dict], list[dict]]:
    """Manifest rows → (shard plans, rejects). A plan: `{"name", "split", "corpus", "rows", "plan_hash"}`;
    rows with an invalid or duplicate key are rejected here (they would break the shard format)."""
    rejects: list[dict] = []
    groups: dict[tuple[str, str], list[dict]] = {}
    seen: set[str] = set()
    for row in sorted(rows, key=lambda r: str(r.get("key"))):
        key, source = row.get("key"), row.get("source") or row.get("audio_path") or "?"
        reason = None
        if not isinstance(key, str) or not KEY_RE.match(key):
            reason, detail = "bad_key", f"key {key!r} is not lowercase [a-z0-9_-]"
        elif key in seen:
            reason, detail = "duplicate_key", f"key {key!r} appears more than once in the manifests"
        elif not row.get("audio_path"):
            reason, detail = "undecodable", "row has no audio_path"
        if reason:
            rejects.append({"stage": STAGE, "reason": reason, "source": source, "key": key,
                            "detail": detail, "corpus": row.get("corpus"), **reject_ids(row)})
            continue
        seen.add(key)
        groups.setdefault((row["split"], corpus_slug(row["corpus"])), []).append(row)

    budget = cfg.shard_mb * 1e6
    per_second = cfg.sample_rate * 2
    params = cfg.output_params()
    plans: list[dict] = []
    for (split, corpus), group in sorted(groups.items()):
        group.sort(key=lambda r: order_key(cfg.seed, r["key"]))
        shards: list[list[dict]] = [[]]
        size = 0.0
        for row in group:
            est = estimated_seconds(row, cfg) * per_second
            if shards[-1] and size + est > budget:
                shards.append([])
                size = 0.0
            shards[-1].append(row)
            size += est
        for n, shard_rows in enumerate(shards):
            name = shard_name(split, corpus, n)
            digest = hashlib.sha256(json.dumps({"name": name, "rows": shard_rows, "params": params, "code": code},
                                               sort_keys=True, default=str).encode()).hexdigest()
            plans.append({"name": name, "split": split, "corpus": corpus, "rows": shard_rows, "plan_hash": digest})
    return plans, rejects
