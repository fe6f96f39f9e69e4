"""Audio primitives: decode a window of a file, downmix, resample, level meters, PCM_16/FLAC coding.

Everything is numpy; arrays are float32 in [-1, 1] unless noted. Shapes: multichannel `[T, C]`
(frames × channels, soundfile's layout), mono `[T]`. Decoding uses soundfile (libsndfile: WAV
int/float, FLAC, OGG Vorbis/Opus, MP3, AIFF, W64, CAF); torchaudio/torchcodec are not used.

Long files are never read whole: `iter_windows` reads one segment at a time plus a little context
on each side, so that resampling each segment on its own has no edge transient inside the segment
and memory stays bounded whatever the file's length (an hour of 96 kHz 8-channel audio is 11 GB).
"""
from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import soundfile as sf

RESAMPLERS = ("soxr", "resampy")


class AudioError(Exception):
    """A file that cannot be used; `reason` is the reject reason (`undecodable`, `empty`, ...)."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def probe(path: str) -> sf._SoundFileInfo:
    """Header info (samplerate, channels, frames) or AudioError('undecodable')."""
    try:
        return sf.info(path)
    except Exception as err:  # libsndfile raises LibsndfileError/RuntimeError/OSError by format
        raise AudioError("undecodable", f"{path}: {err}") from err


def decode(path: str, offset_s: float = 0.0, duration_s: float | None = None) -> tuple[np.ndarray, int]:
    """Read `[offset_s, offset_s + duration_s)` of a file → (float32 `[T, C]`, sample rate).

    For short files and tests; the stage uses `iter_windows`, which bounds memory."""
    try:
        with sf.SoundFile(path) as f:
            start = min(max(0, round(offset_s * f.samplerate)), f.frames)
            n = f.frames - start if duration_s is None else min(round(duration_s * f.samplerate), f.frames - start)
            f.seek(start)
            data = f.read(max(0, n), dtype="float32", always_2d=True)
            return data, f.samplerate
    except AudioError:
        raise
    except Exception as err:
        raise AudioError("undecodable", f"{path}: {err}") from err


def to_mono(x: np.ndarray) -> np.ndarray:
    """`[T, C]` → `[T]` by averaging channels (equal weights: no layout metadata is trusted)."""
    if x.ndim == 1:
        return x.astype(np.float32, copy=False)
    if x.shape[1] == 1:
        return np.ascontiguousarray(x[:, 0], dtype=np.float32)
    return x.mean(axis=1, dtype=np.float64).astype(np.float32)


def resample(x: np.ndarray, sr_in: int, sr_out: int, method: str = "soxr") -> np.ndarray:
    """Mono `[T]` at `sr_in` → `[T']` at `sr_out`, T' ≈ T·sr_out/sr_in.

    `soxr`: libsoxr "HQ" (the default, fast); `resampy`: `kaiser_best` (slow, reference quality).
    Both are deterministic for the same input."""
    if sr_in == sr_out:
        return x.astype(np.float32, copy=False)
    if method == "soxr":
        import soxr

        return soxr.resample(x.astype(np.float32, copy=False), sr_in, sr_out, quality="HQ").astype(np.float32, copy=False)
    if method == "resampy":
        import resampy

        return resampy.resample(x.astype(np.float32, copy=False), sr_in, sr_out, filter="kaiser_best").astype(np.float32)
    raise ValueError(f"unknown resampler {method!r}; choose one of {RESAMPLERS}")


@dataclass
class Window:
    """One segment of a file: `core` frames `[core_start, core_end)` (source rate), read with context.

    `data` is `[context_left + core + context_right, C]` float32 at `sample_rate`."""

    index: int
    core_start: int
    core_end: int
    context_left: int
    data: np.ndarray
    sample_rate: int
    window_end: int  # last frame (exclusive) of the whole window: what follows the last clip is the dropped tail

    @property
    def core(self) -> np.ndarray:
        """The segment itself, `[core_end - core_start, C]`."""
        return self.data[self.context_left : self.context_left + self.core_end - self.core_start]


def context_frames(sr_in: int, sr_out: int, min_s: float = 0.02) -> int:
    """A context length (source frames) that maps to a whole number of output frames, ≥ min_s."""
    g = math.gcd(sr_in, sr_out)
    step = sr_in // g
    return step * max(1, math.ceil(min_s * sr_in / step))


def iter_windows(
    path: str,
    offset_s: float,
    duration_s: float | None,
    segment_s: float,
    min_segment_s: float,
    sr_out: int,
) -> Iterator[Window]:
    """Cut the window `[offset_s, offset_s + duration_s)` of a file into segments of `segment_s`
    (the last one kept when at least `min_segment_s`), each read with `context_frames(sr, sr_out)`
    frames on both sides (clamped to the window), for resampling to `sr_out`.
    Raises AudioError(`undecodable` | `empty` | `too_short`)."""
    try:
        f = sf.SoundFile(path)
    except Exception as err:
        raise AudioError("undecodable", f"{path}: {err}") from err
    with f:
        sr = f.samplerate
        context = context_frames(sr, sr_out)
        if f.frames <= 0:
            raise AudioError("empty", f"{path}: no audio frames")
        start = round(max(0.0, offset_s or 0.0) * sr)
        end = f.frames if duration_s is None else min(f.frames, start + round(duration_s * sr))
        if end <= start:
            raise AudioError("empty", f"{path}: window at {offset_s} s is past the end ({f.frames / sr:.3f} s)")
        seg, min_seg = round(segment_s * sr), max(1, round(min_segment_s * sr))
        if end - start < min_seg:
            raise AudioError("too_short", f"{path}: {(end - start) / sr:.3f} s < min_segment_s {min_segment_s}")
        index = 0
        for core_start in range(start, end, seg):
            core_end = min(core_start + seg, end)
            if core_end - core_start < min_seg:
                break
            lo, hi = max(start, core_start - context), min(end, core_end + context)
            try:
                f.seek(lo)
                data = f.read(hi - lo, dtype="float32", always_2d=True)
            except Exception as err:
                raise AudioError("undecodable", f"{path}: reading frames {lo}..{hi}: {err}") from err
            if len(data) < min(hi, core_end) - lo:  # truncated file: the header promised more
                raise AudioError("undecodable", f"{path}: truncated at frame {lo + len(data)} of {f.frames}")
            yield Window(index, core_start, core_end, core_start - lo, data[: hi - lo], sr, end)
            index += 1


def resample_window(w: Window, sr_out: int, method: str) -> np.ndarray:
    """Downmix and resample a window with its context, then trim the context: mono `[N]` float32,
    N = round(core frames · sr_out / sr_in)."""
    mono = to_mono(np.nan_to_num(w.data, nan=0.0, posinf=0.0, neginf=0.0))
    y = resample(mono, w.sample_rate, sr_out, method)
    left = round(w.context_left * sr_out / w.sample_rate)
    n = round((w.core_end - w.core_start) * sr_out / w.sample_rate)
    out = y[left : left + n]
    if len(out) < n:  # resamplers may return one frame short at the very end
        out = np.pad(out, (0, n - len(out)))
    return np.ascontiguousarray(out, dtype=np.float32)


def dbfs(value: float) -> float:
    """Amplitude → dBFS, floored at -200 (digital silence) so JSON never holds -inf."""
    return float(20.0 * math.log10(value)) if value > 1e-10 else -200.0


def peak_dbfs(x: np.ndarray) -> float:
    return dbfs(float(np.max(np.abs(x)))) if x.size else -200.0


def rms_dbfs(x: np.ndarray) -> float:
    return dbfs(float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))) if x.size else -200.0


def clipped_fraction(x: np.ndarray, level: float) -> float:
    """Fraction of samples (any shape, all channels) with |x| ≥ level: measured before downmixing
    and resampling, which both smear a flat clipped run below full scale."""
    return float(np.count_nonzero(np.abs(x) >= level)) / x.size if x.size else 0.0


def to_pcm16(x: np.ndarray) -> np.ndarray:
    """float32 `[T]` → int16 `[T]`, clipped to full scale and rounded (never wrapped)."""
    return np.clip(np.rint(x * 32767.0), -32768, 32767).astype(np.int16)


def encode_flac(pcm: np.ndarray, sample_rate: int) -> bytes:
    """int16 `[T]` → FLAC bytes (PCM_16). Deterministic: libFLAC writes no timestamps."""
    buf = io.BytesIO()
    sf.write(buf, pcm, sample_rate, format="FLAC", subtype="PCM_16")
    return buf.getvalue()


def decode_bytes(data: bytes) -> tuple[np.ndarray, int]:
    """Encoded audio bytes (FLAC, WAV, ...) → (float32 mono `[T]`, sample rate)."""
    x, sr = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    return to_mono(x), sr
