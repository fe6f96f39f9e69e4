"""The files generation reads and writes: caption lists, prompt audio, 16-bit WAVs, loudness."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from audiogen.generation.pipeline import GenerationError


def normalize_loudness(wav: np.ndarray, target_dbfs: float, peak: float = 0.99) -> np.ndarray:
    """Scale to `target_dbfs` RMS, then limit the peak to `peak` (silence stays silence)."""
    rms = float(np.sqrt(np.mean(np.square(wav, dtype=np.float64)))) if wav.size else 0.0
    if rms < 1e-9:
        return wav
    y = wav * (10 ** (target_dbfs / 20) / rms)
    top = float(np.max(np.abs(y)))
    return (y * (peak / top) if top > peak else y).astype(np.float32)


def read_captions(path: str | Path) -> tuple[list[str], int]:
    """Non-empty lines of a caption file and how many empty lines were skipped."""
    p = Path(path)
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise GenerationError(f"{p}: cannot read captions: {err}") from None
    captions = [ln.strip() for ln in lines if ln.strip()]
    if not captions:
        raise GenerationError(f"{p}: no captions (the file is empty or holds only blank lines)")
    return captions, len(lines) - len(captions)


def read_prompt(path: str | Path) -> tuple[np.ndarray, int]:
    import soundfile as sf

    try:
        x, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as err:  # libsndfile's errors differ by format
        raise GenerationError(f"--prompt {path}: not an audio file soundfile can read ({err})") from None
    if x.size == 0:
        raise GenerationError(f"--prompt {path}: no samples")
    return x.mean(axis=1), int(sr)


def write_wav(path: str | Path, wav: np.ndarray, sr: int) -> None:
    import soundfile as sf

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), wav, sr, subtype="PCM_16")


def slug(text: str, n: int = 40) -> str:
    import re

    s = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    return s[:n] or "untitled"
