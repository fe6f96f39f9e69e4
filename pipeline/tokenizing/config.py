"""The tokenize stage's parameters (params.yaml `tokenize:`) and what it needs to know of the codec.

`CodecInfo` is read from the checkpoint's `config.json` and `model.safetensors` alone, so the driver
never loads torch: the actors load the model.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

STAGE = "tokenize"


@dataclass
class TokenizeConfig:
    """params.yaml `tokenize:` (every field optional there; these are the defaults)."""

    batch_size: int = 16               # clips per encoder call (padded to the longest clip of the batch)
    concurrency: int = 1               # encoder actors, each holding one copy of the codec
    # GPUs Ray reserves per encoder actor: a number (fractions share a GPU between actors), or
    # "auto": one each when the Ray cluster has GPUs (shared when concurrency > GPUs), else none.
    num_gpus_per_actor: float | str = "auto"
    num_cpus_per_actor: float = 1.0    # CPUs Ray reserves per encoder actor
    decode_num_cpus: float = 1.0       # CPUs per decode task (FLAC → float32)
    device: str = "auto"               # auto (cuda when the actor has a GPU) | cpu | cuda | cuda:N
    torch_threads: int | None = None   # intra-op threads per actor; null = Ray's default (num_cpus_per_actor)
    shared_fs: bool = False            # shards on storage every node sees: decode anywhere, not only on the driver's node
    max_reject_fraction: float = 0.05  # of clips; above it the stage fails (after writing its outputs)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> "TokenizeConfig":
        d = dict(d or {})
        known = {f.name for f in fields(cls)}
        if set(d) - known:
            raise ValueError(f"params.yaml tokenize: unknown key(s) {sorted(set(d) - known)}; known: {sorted(known)}")
        cfg = cls(**d)
        cfg.validate()
        return cfg

    def validate(self) -> None:
        from audiogen.io.arguments import check_numbers, nonnegative_float, positive_int, probability

        check_numbers(self, {"batch_size": positive_int, "concurrency": positive_int,  # type and range, naming the param
                             "num_cpus_per_actor": nonnegative_float, "decode_num_cpus": nonnegative_float,
                             "torch_threads": positive_int.or_none, "max_reject_fraction": probability}, "tokenize")
        if self.batch_size < 1 or self.concurrency < 1:
            raise ValueError(f"tokenize: batch_size ({self.batch_size}) and concurrency ({self.concurrency}) must be ≥ 1")
        if isinstance(self.num_gpus_per_actor, str):
            if self.num_gpus_per_actor != "auto":
                try:
                    self.num_gpus_per_actor = float(self.num_gpus_per_actor)
                except ValueError:
                    raise ValueError(f"tokenize.num_gpus_per_actor must be a number or auto, "
                                     f"got {self.num_gpus_per_actor!r}") from None
        if isinstance(self.num_gpus_per_actor, bool) or (
                not isinstance(self.num_gpus_per_actor, str) and self.num_gpus_per_actor < 0) \
                or self.num_cpus_per_actor < 0 or self.decode_num_cpus < 0:
            raise ValueError("tokenize: num_gpus_per_actor, num_cpus_per_actor and decode_num_cpus must be ≥ 0")
        if self.device != "auto" and self.device != "cpu" and not self.device.startswith("cuda"):
            raise ValueError(f"tokenize.device must be auto, cpu or cuda[:N], got {self.device!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def gpus_per_actor(self, cluster_gpus: float) -> float:
        """The `num_gpus` of each encoder actor on a Ray cluster with `cluster_gpus` GPUs in all:
        the number given, or for "auto" one GPU per actor (an equal share when there are more
        actors than GPUs), none on a cluster without GPUs."""
        if self.num_gpus_per_actor != "auto":
            return float(self.num_gpus_per_actor)
        if cluster_gpus <= 0:
            return 0.0
        return min(1.0, float(cluster_gpus) / self.concurrency)

    def actor_device(self, num_gpus: float | None = None) -> str:
        """The device string actors get: `auto` means cuda only where Ray gave the actor a GPU."""
        gpus = self.num_gpus_per_actor if num_gpus is None else num_gpus
        if self.device == "auto":
            return "auto" if gpus != "auto" and float(gpus) > 0 else "cpu"
        return self.device


@dataclass(frozen=True)
class CodecInfo:
    """The facts about a codec checkpoint that the token shards record."""

    path: str
    sha256: str           # of model.safetensors
    sample_rate: int
    frame_rate: float
    hop_length: int
    num_codebooks: int
    cardinality: int
    config: dict[str, Any]

    @classmethod
    def load(cls, directory: str | Path) -> "CodecInfo":
        from audiogen.codec.config import CodecConfig
        from audiogen.io.shards import sha256_file

        d = Path(directory)
        cfg_path, weights = d / "config.json", d / "model.safetensors"
        if not cfg_path.exists() or not weights.exists():
            raise SystemExit(f"tokenize: {d} is not a codec checkpoint (needs config.json and model.safetensors; "
                             "run train_codec first)")
        try:
            meta = json.loads(cfg_path.read_text(encoding="utf-8"))
            cfg = CodecConfig.from_dict(meta["codec"])
        except (OSError, ValueError, KeyError, TypeError) as err:  # truncated, garbled, or not a codec's config
            why = (str(err).splitlines() or [type(err).__name__])[0][:160]
            raise SystemExit(f"tokenize: {cfg_path}: not a readable codec config ({type(err).__name__}: {why}); "
                             "point --codec at train_codec's output, or copy the checkpoint again") from None
        if cfg.codebook_size > 32768:
            raise SystemExit(f"tokenize: {cfg_path}: codebook_size {cfg.codebook_size} does not fit int16 codes")
        return cls(str(d), sha256_file(weights), cfg.sample_rate, cfg.frame_rate, cfg.hop_length,
                   cfg.num_codebooks, cfg.codebook_size, cfg.to_dict())

    def summary(self) -> dict[str, Any]:
        """What shards.json and every clip json say about the codec (no local path: outputs must not
        depend on where the checkpoint sits)."""
        return {"sha256": self.sha256, "sample_rate": self.sample_rate, "frame_rate": self.frame_rate,
                "hop_length": self.hop_length, "num_codebooks": self.num_codebooks,
                "cardinality": self.cardinality, "config": self.config}
