"""Mix augmentation (audiogen/data/mix.py) measured on the waveforms it produces: where each clip landed
and at what gain are recovered from the mixture alone (cross-correlation, then least squares)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from audiogen.data.mix import MixConfig, apply_mix, draw_mix, join_captions, mix_clips, rms

CFG = MixConfig()


def noise(rng: np.random.Generator, n: int) -> np.ndarray:
    """A clip with its own level and colour: correlates sharply only with itself."""
    x = rng.standard_normal(n) * rng.uniform(0.01, 0.5)
    return np.convolve(x, rng.uniform(-1, 1, 5), mode="same").astype(np.float32)


def lag_of(y: np.ndarray, x: np.ndarray) -> int:
    """Where `x` starts inside `y` (x entirely in y's future or cut at its end): argmax of the
    cross-correlation, by FFT."""
    size = 1 << math.ceil(math.log2(len(y) + len(x)))
    corr = np.fft.irfft(np.fft.rfft(y, size) * np.conj(np.fft.rfft(x, size)), size)[: len(y)]
    return int(np.argmax(np.abs(corr)))


def decompose(y: np.ndarray, a: np.ndarray, b: np.ndarray):
    """y ≈ ga·A + gb·B with A, B the clips placed where they are found in y (clips no longer than
    y, so uncropped): returns (A, B, ga, gb, relative residual, (start, end) of A, of B)."""
    n = len(y)
    parts, spans = [], []
    for x in (a, b):
        at = lag_of(y, x)
        part = np.zeros(n, np.float64)
        end = min(n, at + len(x))
        part[at:end] = x[: end - at]
        parts.append(part)
        spans.append((at, end))
    coef, *_ = np.linalg.lstsq(np.stack(parts, 1), y.astype(np.float64), rcond=None)
    resid = np.linalg.norm(y - np.stack(parts, 1) @ coef) / np.linalg.norm(y)
    return parts[0], parts[1], coef[0], coef[1], resid, spans[0], spans[1]


def measured_snr(A, B, ga, gb, span_a, span_b) -> float:
    return 20 * math.log10(abs(ga) * rms(A[slice(*span_a)]) / (abs(gb) * rms(B[slice(*span_b)])))


def test_snr_overlap_level_and_peak_measured_on_the_mixture():
    rng = np.random.default_rng(0)
    n = 4000
    peaks_hit = 0
    for seed in range(40):
        la, lb = int(rng.integers(400, n + 1)), int(rng.integers(400, n + 1))
        a, b = noise(rng, la), noise(rng, lb)
        y, d = mix_clips(a, b, n, CFG, np.random.default_rng(seed))
        assert y.dtype == np.float32 and y.shape == (n,)
        A, B, ga, gb, resid, span_a, span_b = decompose(y, a, b)
        assert resid < 1e-4, (seed, resid)
        assert ga > 0 and gb > 0  # both clips are in, with their own sign
        snr = measured_snr(A, B, ga, gb, span_a, span_b)
        assert -5.0 - 1e-3 <= snr <= 5.0 + 1e-3 and snr == pytest.approx(d.snr_db, abs=1e-3)
        overlap = min(span_a[1], span_b[1]) - max(span_a[0], span_b[0])
        assert overlap >= math.ceil(0.5 * min(la, lb)), (seed, overlap, la, lb)
        length = max(span_a[1], span_b[1])
        assert np.all(y[length:] == 0) and d.length == length
        peak, level = float(np.max(np.abs(y))), 20 * math.log10(rms(y[:length]))
        assert peak <= 0.99 + 1e-7
        if peak >= 0.99 - 1e-6:  # limited: scaled down from a level inside the range
            peaks_hit += 1
            assert level < d.out_dbfs
        else:
            assert -35.0 - 1e-3 <= level <= -16.0 + 1e-3 and level == pytest.approx(d.out_dbfs, abs=1e-3)
    assert peaks_hit < 40  # most mixtures keep their drawn level


def test_peak_limit_scales_a_peaky_mixture_down_to_099():
    a = np.zeros(2000, np.float32)
    a[::500] = 1.0  # four clicks: a huge crest factor
    b = np.zeros(2000, np.float32)
    b[250::500] = -0.5
    cfg = MixConfig(out_dbfs=(-16.0, -16.0))
    y, d = mix_clips(a, b, 2000, cfg, np.random.default_rng(1))
    assert float(np.max(np.abs(y))) == pytest.approx(0.99, abs=1e-6)
    assert 20 * math.log10(rms(y[: d.length])) < -16.0


def test_crops_of_long_clips_and_the_offset_range():
    """Clips longer than the window are cut at a random start; the draw's parts rebuild the mixture."""
    rng = np.random.default_rng(3)
    n, starts, offsets = 1000, set(), set()
    for seed in range(30):
        a, b = noise(rng, 5000), noise(rng, int(rng.integers(300, 5000)))
        y, d = mix_clips(a, b, n, CFG, np.random.default_rng(seed))
        assert 0 <= d.start_a <= 5000 - n and d.place_a + d.len_a <= n and d.place_b + d.len_b <= n
        assert d.overlap >= math.ceil(0.5 * min(n, len(b)))
        A = np.zeros(n)
        A[d.place_a: d.place_a + d.len_a] = a[d.start_a: d.start_a + d.len_a]
        B = np.zeros(n)
        B[d.place_b: d.place_b + d.len_b] = b[d.start_b: d.start_b + d.len_b]
        coef, *_ = np.linalg.lstsq(np.stack([A, B], 1), y.astype(np.float64), rcond=None)
        assert np.linalg.norm(y - np.stack([A, B], 1) @ coef) < 1e-4 * np.linalg.norm(y)
        starts.add(d.start_a)
        offsets.add(d.place_b - d.place_a)
    assert len(starts) > 20 and min(offsets) < 0 < max(offsets)  # random crops, both clips delayed at times


def test_same_rng_same_mixture_and_config_round_trip():
    rng = np.random.default_rng(5)
    a, b = noise(rng, 3000), noise(rng, 2000)
    y1, d1 = mix_clips(a, b, 2500, CFG, np.random.default_rng(7))
    y2, d2 = mix_clips(a, b, 2500, CFG, np.random.default_rng(7))
    y3, _ = mix_clips(a, b, 2500, CFG, np.random.default_rng(8))
    assert d1 == d2 and np.array_equal(y1, y2) and not np.array_equal(y1, y3)
    cfg = MixConfig.from_dict({"p": 0.3, "snr_db": [-2, 2]})
    assert cfg.snr_db == (-2.0, 2.0) and MixConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown"):
        MixConfig.from_dict({"prob": 0.5})
    with pytest.raises(ValueError, match="range"):
        MixConfig(snr_db=(5.0, -5.0))


def test_silent_partner_and_short_file_do_not_blow_up():
    rng = np.random.default_rng(9)
    a = noise(rng, 800)
    d = draw_mix(np.random.default_rng(0), 800, 800, 1000, CFG)
    y = apply_mix(a[d.start_a: d.start_a + d.len_a], np.zeros(d.len_b, np.float32), d, CFG)
    assert np.all(np.isfinite(y)) and 20 * math.log10(rms(y[: d.length])) == pytest.approx(d.out_dbfs, abs=1e-3)
    y2 = apply_mix(a[:10], a[:10], d, CFG)  # parts shorter than drawn (a truncated file): zero-padded
    assert y2.shape == (1000,) and np.all(np.isfinite(y2))
    with pytest.raises(ValueError):
        draw_mix(np.random.default_rng(0), 0, 10, 100, CFG)


def test_join_captions():
    assert join_captions("dog barking", "birds chirping") == "dog barking birds chirping"
    assert join_captions("", "birds chirping") == "birds chirping"
    assert join_captions("dog ", " ") == "dog"
