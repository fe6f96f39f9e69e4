"""Mix augmentation on waveforms (PAPER.md "Mix augmentation"): pure numpy, no I/O.

Two clips `a` (the row's own clip) and `b` (a partner) become one training example: each is cut to
at most `n` samples (a random crop when longer), `b` is placed at a random signed offset from `a` so
that the two overlap by at least `min_overlap` of the shorter crop (the whole segment when both
fill it), the parts that fall inside the `[0, n)` window are normalised to `norm_dbfs` RMS each,
`b` is scaled to a random SNR (a over b) in `snr_db`, and the sum is rescaled to a random RMS level
in `out_dbfs` (over the mixture's real length) and then scaled down, never clipped, so that its
peak is at most `peak` (so a peaky mixture ends below the drawn level). Captions: `join_captions`.

    draw_mix(rng, len_a, len_b, n, cfg) -> MixDraw          the random choices (offsets, SNR, level)
    apply_mix(a_part, b_part, draw, cfg) -> float32 [n]      the mixture (zeros after draw.length)
    mix_clips(a, b, n, cfg, rng) -> (float32 [n], MixDraw)   both, on whole clips
    join_captions(c1, c2) -> str

Splitting the draw from the arithmetic lets the loader read only the windows it needs from the
FLAC files (`MixDraw.start_a/len_a`) and lets tests rebuild the expected mixture exactly.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from audiogen.io.configs import check_keys

SILENCE_RMS = 1e-8  # below this a part is digital silence: it is left at zero, never amplified


@dataclass(frozen=True)
class MixConfig:
    """Mix augmentation knobs (params.yaml `train.data.mix`); defaults are the paper's."""

    p: float = 0.5                                  # probability that a row becomes a mixture
    snr_db: tuple[float, float] = (-5.0, 5.0)       # SNR of a over b, uniform in this range
    min_overlap: float = 0.5                        # fraction of the shorter crop (≤ segment) that must overlap
    norm_dbfs: float = -25.0                        # RMS level of each part before the SNR scaling
    out_dbfs: tuple[float, float] = (-35.0, -16.0)  # RMS level of the mixture, uniform in this range
    peak: float = 0.99                              # peak limit of the mixture (a gain, not a clipper)

    def __post_init__(self) -> None:
        object.__setattr__(self, "snr_db", _pair("snr_db", self.snr_db))
        object.__setattr__(self, "out_dbfs", _pair("out_dbfs", self.out_dbfs))
        if not 0.0 <= self.p <= 1.0:
            raise ValueError(f"mix.p must be in [0, 1], got {self.p}")
        if not 0.0 <= self.min_overlap <= 1.0:
            raise ValueError(f"mix.min_overlap must be in [0, 1], got {self.min_overlap}")
        if not 0.0 < self.peak <= 1.0:
            raise ValueError(f"mix.peak must be in (0, 1], got {self.peak}")

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> "MixConfig":
        d = dict(d or {})
        check_keys(cls, d, "mix")
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def _pair(name: str, value: Any) -> tuple[float, float]:
    lo, hi = (float(v) for v in value)
    if lo > hi:
        raise ValueError(f"mix.{name}: [{lo}, {hi}] is not a range (low > high)")
    return lo, hi


@dataclass(frozen=True)
class MixDraw:
    """The random choices of one mixture, in samples. `a[start_a : start_a + len_a]` lands at
    `place_a` in the `[0, n)` window, `b[start_b : start_b + len_b]` at `place_b`; both parts lie
    inside the window (`place + len ≤ n`)."""

    n: int
    start_a: int
    len_a: int
    place_a: int
    start_b: int
    len_b: int
    place_b: int
    snr_db: float
    out_dbfs: float

    @property
    def length(self) -> int:
        """Real length of the mixture (samples after it are zeros)."""
        return max(self.place_a + self.len_a, self.place_b + self.len_b)

    @property
    def overlap(self) -> int:
        """Samples where both parts sound."""
        return max(0, min(self.place_a + self.len_a, self.place_b + self.len_b) - max(self.place_a, self.place_b))


def draw_mix(rng: np.random.Generator, len_a: int, len_b: int, n: int, cfg: MixConfig) -> MixDraw:
    """Random crops of two clips of `len_a`/`len_b` samples into an `n`-sample window.

    Each clip is cropped to `c = min(len, n)` samples at a uniform start; the signed offset `d` of b
    from a is uniform over the values that keep at least `need = ceil(min_overlap · min(c_a, c_b))`
    (≥ 1) samples of overlap; a negative `d` delays a instead of b. What then overruns the window
    is cut (the overlap lies inside the window, so it survives the cut)."""
    if len_a < 1 or len_b < 1 or n < 1:
        raise ValueError(f"draw_mix: empty input (len_a={len_a}, len_b={len_b}, n={n})")
    ca, cb = min(len_a, n), min(len_b, n)
    start_a = int(rng.integers(0, len_a - ca + 1))
    start_b = int(rng.integers(0, len_b - cb + 1))
    need = max(1, math.ceil(cfg.min_overlap * min(ca, cb)))
    d = int(rng.integers(-(cb - need), ca - need + 1))
    place_a, place_b = max(0, -d), max(0, d)
    snr = float(rng.uniform(*cfg.snr_db))
    level = float(rng.uniform(*cfg.out_dbfs))
    return MixDraw(n, start_a, min(ca, n - place_a), place_a, start_b, min(cb, n - place_b), place_b, snr, level)


def rms(x: np.ndarray) -> float:
    """Root mean square (float64 accumulation); 0 for an empty array."""
    return math.sqrt(float(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0


def _to_level(x: np.ndarray, dbfs: float) -> np.ndarray:
    """`x` scaled to an RMS of `dbfs` (float32); silence stays silence."""
    level = rms(x)
    if level < SILENCE_RMS:
        return np.zeros_like(x, dtype=np.float32)
    return (x * np.float32(10.0 ** (dbfs / 20.0) / level)).astype(np.float32, copy=False)


def apply_mix(a_part: np.ndarray, b_part: np.ndarray, draw: MixDraw, cfg: MixConfig) -> np.ndarray:
    """The mixture, float32 `[n]`: `a_part = a[start_a : start_a + len_a]` and `b_part` likewise
    (shorter parts, e.g. from a truncated file, are zero-padded to the drawn length)."""
    a_part = _fit(a_part, draw.len_a)
    b_part = _fit(b_part, draw.len_b)
    y = np.zeros(draw.n, np.float32)
    y[draw.place_a: draw.place_a + draw.len_a] += _to_level(a_part, cfg.norm_dbfs)
    y[draw.place_b: draw.place_b + draw.len_b] += _to_level(b_part, cfg.norm_dbfs - draw.snr_db)
    level = rms(y[: draw.length])
    if level >= SILENCE_RMS:
        y *= np.float32(10.0 ** (draw.out_dbfs / 20.0) / level)
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    if peak > cfg.peak:  # a gain, so the mixture keeps its shape (and the SNR)
        y *= np.float32(cfg.peak / peak)
        np.clip(y, -cfg.peak, cfg.peak, out=y)  # float32 rounding can leave one ulp above the limit
    return y


def _fit(x: np.ndarray, length: int) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32).reshape(-1)[:length]
    return x if x.shape[0] == length else np.pad(x, (0, length - x.shape[0]))


def mix_clips(a: np.ndarray, b: np.ndarray, n: int, cfg: MixConfig,
              rng: np.random.Generator) -> tuple[np.ndarray, MixDraw]:
    """Mix two whole mono clips `[T_a]`, `[T_b]` into `[n]` float32; returns the mixture and the draw."""
    d = draw_mix(rng, int(a.shape[0]), int(b.shape[0]), n, cfg)
    return apply_mix(a[d.start_a: d.start_a + d.len_a], b[d.start_b: d.start_b + d.len_b], d, cfg), d


def join_captions(first: str, second: str) -> str:
    """The mixture's caption: both captions joined with a space (an empty one is left out)."""
    return " ".join(c.strip() for c in (first, second) if c and c.strip())
