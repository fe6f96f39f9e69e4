"""The LM's typed config (`LMConfig`) and its named size presets.

Shapes only: the codebook layout (`num_codebooks`, `cardinality`) comes from the codec and
`text_dim` from the frozen text encoder, so `lm_config(preset, ...)` takes them as arguments.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any
from audiogen.io.configs import check_keys

PATTERNS = ("delay", "parallel")
# How cross-attention treats the text's padded positions: "masked" (this project's models: a
# key-padding mask, and rows without text get exactly 0) or "all" (audiocraft's released models:
# every position of the padded batch is attended, padded ones as zero vectors; AUDIOCRAFT.md §D.1 #9).
TEXT_ATTENTION = ("masked", "all")


@dataclass(frozen=True)
class LMConfig:
    """Everything needed to rebuild an `AudioLM`.

    `cardinality` is the codebook size; the special token (sequence start and the pattern's empty
    positions) is id `cardinality`, so each codebook embedding has `cardinality + 1` rows while
    each output head gives `cardinality` logits (the special token is never predicted).
    `text_dim` is the width of the text encoder's states; the LM projects them to `dim` itself.

    Compatibility options (off by default: the models trained here are bias-free and mask the text;
    audiocraft's released AudioGen needs them on, AUDIOCRAFT.md §D.1):
    `norm_bias`: every LayerNorm (the 3 per block and the final one) has a bias.
    `text_proj_bias`: the text projection has a bias (the projected states are then multiplied by the
    text mask, so padded and null positions stay exactly 0).
    `text_attention`: "masked" or "all" (see TEXT_ATTENTION).
    """

    dim: int
    num_layers: int
    num_heads: int
    num_codebooks: int
    cardinality: int
    text_dim: int
    ff_mult: float = 4.0
    dropout: float = 0.0
    pattern: str = "delay"
    max_period: float = 10000.0
    norm_eps: float = 1e-5
    norm_bias: bool = False
    text_proj_bias: bool = False
    text_attention: str = "masked"

    def __post_init__(self) -> None:
        for name in ("dim", "num_layers", "num_heads", "num_codebooks", "cardinality", "text_dim"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"LMConfig.{name} must be a positive int, got {v!r}")
        if self.dim % self.num_heads:
            raise ValueError(f"LMConfig.dim {self.dim} is not divisible by num_heads {self.num_heads}")
        if self.dim % 2:
            raise ValueError(f"LMConfig.dim {self.dim} must be even (sinusoidal positions)")
        if self.pattern not in PATTERNS:
            raise ValueError(f"LMConfig.pattern {self.pattern!r}; choose one of {list(PATTERNS)}")
        if self.ff_mult <= 0 or int(self.ff_mult * self.dim) < 1:
            raise ValueError(f"LMConfig.ff_mult must be > 0, got {self.ff_mult}")
        if self.text_attention not in TEXT_ATTENTION:
            raise ValueError(f"LMConfig.text_attention {self.text_attention!r}; choose one of {list(TEXT_ATTENTION)}")
        for name in ("norm_bias", "text_proj_bias"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"LMConfig.{name} must be true or false, got {getattr(self, name)!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"LMConfig.dropout must be in [0, 1), got {self.dropout}")

    @property
    def head_dim(self) -> int:
        return self.dim // self.num_heads

    @property
    def ff_dim(self) -> int:
        return int(self.ff_mult * self.dim)

    @property
    def special_token(self) -> int:
        return self.cardinality

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "LMConfig":
        check_keys(cls, d, "LM config")
        return cls(**d)


# Size presets (dim, layers, heads). base/large: the paper (285M / 1B); medium: the released
# audiocraft `audiogen-medium` (nominally 1.5B); tiny: tests and CPU demos.
PRESETS: dict[str, dict[str, int]] = {
    "tiny": {"dim": 128, "num_layers": 4, "num_heads": 4},
    "base": {"dim": 768, "num_layers": 24, "num_heads": 16},
    "large": {"dim": 1280, "num_layers": 36, "num_heads": 20},
    "medium": {"dim": 1536, "num_layers": 48, "num_heads": 24},
}


def lm_config(preset: str, *, num_codebooks: int, cardinality: int, text_dim: int,
              pattern: str = "delay", **overrides: Any) -> LMConfig:
    """A preset's shape plus the codec/text-encoder layout, with field overrides
    (e.g. `lm_config("tiny", num_codebooks=4, cardinality=2048, text_dim=768, num_layers=2)`)."""
    if preset not in PRESETS:
        raise ValueError(f"unknown LM preset {preset!r}; choose one of {sorted(PRESETS)}")
    d: dict[str, Any] = {**PRESETS[preset], "num_codebooks": num_codebooks, "cardinality": cardinality,
                         "text_dim": text_dim, "pattern": pattern, **overrides}
    return LMConfig.from_dict(d)
