"""The aiSFX judge's input (Ma & Lerch, ISMIR 2022, PyPI `aisfx`), computed here in numpy + soxr.

The package pins numpy 1.23 and librosa 0.9.2, which this project cannot take, so only its model
class is imported (`aisfx.py`) and its front end is re-done here. It matches the package's own
librosa front end (`aisfx.spectrogram.spectrogram_librosa.compute_spectrogram`, librosa 0.9.2
defaults; tests/evaluation/test_aisfx_frontend.py checks it against that code) plus the package's
normalisation and blocking (`aisfx.preprocessing`, `aisfx.inference`):

1. resample to 44.1 kHz (soxr HQ: what librosa ≥ 0.10 `load(sr=44100)` uses) and divide by the
   peak (a silent clip stays silent);
2. STFT: 2048-point frames every 1024 samples, periodic Hann window, centred frames with zero
   padding of 1024 at both ends (`center=True, pad_mode="constant"`): `1 + T // 1024` frames;
3. power spectrum → 96 HTK-mel bands over 0–22050 Hz, each triangle divided by its sum (L1,
   librosa's `norm=1`, Essentia's `unit_sum`; not Slaney's area norm);
4. `log10(10⁴ · S + 1)` divided by 9.457798957824707, the maximum over the paper's training
   spectrograms (`spectrogram_normalize(spec_norm="original")`), as `[frames, 96]`;
5. blocks of 100 frames (2.3 s) with a hop of 50, a partial last block dropped, a clip shorter
   than one block zero-padded to one (`blocking(..., drop_partial_block=True)`): `[N, 100, 96]`.

The paper's own spectrograms came from Essentia (replay-gain loading, mel triangles in the warped
domain); the package says its librosa path "may yield lower results". The librosa path is the one
that runs here and the one that is tested.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

SAMPLE_RATE = 44100
N_FFT = 2048
HOP = 1024
N_MELS = 96
F_MIN, F_MAX = 0.0, 22050.0
LOG_SCALE = 1e4
SPEC_MAX = 9.457798957824707   # aisfx.preprocessing.spectrogram_normalize, spec_norm="original"
BLOCK_FRAMES = 100             # aisfx.inference.EMB_BLOCK_LENGTH (≈ 2.3 s)
BLOCK_HOP = 50                 # the paper's embedding hop: half a block


def hz_to_mel_htk(hz: np.ndarray | float) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def mel_to_hz_htk(mel: np.ndarray | float) -> np.ndarray:
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


@lru_cache(maxsize=4)
def mel_filterbank(sr: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS,
                   fmin: float = F_MIN, fmax: float = F_MAX) -> np.ndarray:
    """HTK-mel triangles `[n_mels, n_fft // 2 + 1]`, each row summing to 1 (librosa
    `filters.mel(htk=True, norm=1)`: triangles linear in Hz between mel-spaced corners)."""
    fft_freqs = np.linspace(0.0, sr / 2.0, n_fft // 2 + 1)
    corners = mel_to_hz_htk(np.linspace(hz_to_mel_htk(fmin), hz_to_mel_htk(fmax), n_mels + 2))
    widths = np.diff(corners)
    ramps = corners[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    sums = weights.sum(axis=1, keepdims=True)
    # librosa.util.normalize leaves a row whose norm is below float tiny as it is
    weights = weights / np.where(sums > np.finfo(np.float32).tiny, sums, 1.0)
    weights.setflags(write=False)
    return weights


def to_judge_rate(audio: np.ndarray, sr: int) -> np.ndarray:
    """`[T]` at `sr` → `[T']` float64 at 44.1 kHz, divided by its peak (silence stays zeros)."""
    x = np.asarray(audio, dtype=np.float64).reshape(-1)
    if sr != SAMPLE_RATE and x.size:
        import soxr

        x = soxr.resample(x, sr, SAMPLE_RATE, quality="HQ")
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    return x / peak if peak > 0 else x


def power_spectrogram(x: np.ndarray) -> np.ndarray:
    """`[T]` at 44.1 kHz → |STFT|² `[1 + T // HOP, N_FFT // 2 + 1]` (centred, zero-padded frames)."""
    padded = np.pad(np.asarray(x, dtype=np.float64), N_FFT // 2)
    n_frames = 1 + (padded.size - N_FFT) // HOP
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP][:n_frames]
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(N_FFT) / N_FFT)  # periodic Hann
    spec = np.fft.rfft(frames * window, axis=1)
    return spec.real ** 2 + spec.imag ** 2


def log_mel(audio: np.ndarray, sr: int) -> np.ndarray:
    """`[T]` at `sr` → the judge's normalised log-mel `[frames, 96]` float32 (steps 1–4)."""
    mel = power_spectrogram(to_judge_rate(audio, sr)) @ mel_filterbank().T
    return (np.log10(LOG_SCALE * mel + 1.0) / SPEC_MAX).astype(np.float32)


def blocks(spec: np.ndarray) -> np.ndarray:
    """`[frames, 96]` → `[N, 100, 96]` (step 5; N = max(1, (frames − 100) // 50 + 1))."""
    n = max(1, (spec.shape[0] - BLOCK_FRAMES) // BLOCK_HOP + 1)
    padded = np.concatenate([spec, np.zeros((BLOCK_FRAMES, spec.shape[1]), spec.dtype)])
    return np.stack([padded[i * BLOCK_HOP: i * BLOCK_HOP + BLOCK_FRAMES] for i in range(n)])


def judge_input(audio: np.ndarray, sr: int) -> np.ndarray:
    """`[T]` at `sr` → the model's input blocks `[N, 100, 96]` float32."""
    return blocks(log_mel(audio, sr))
