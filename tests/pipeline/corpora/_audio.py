"""Shared test helper: tiny real audio files written with soundfile (never mocked).

Import from a test module in tests/corpora as `from ._audio import write_tone`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

# Formats libsndfile encodes in blocks: writing them in one call can fail or use a lot of memory.
_CHUNKED = {".ogg", ".oga", ".opus", ".mp3"}
_CHUNK = 4096


def write_tone(
    path: str | Path,
    seconds: float = 0.3,
    sr: int = 16000,
    channels: int = 1,
    subtype: str | None = None,
    freq: float = 440.0,
) -> Path:
    """Write a sine tone of `seconds` at `sr` Hz, `channels` channels, to `path` (format from the
    extension, any case; `subtype` e.g. "PCM_24", "FLOAT"; None = soundfile's default). Parent
    folders are created. Each channel is a slightly different frequency so channels differ.
    Returns the path. The samples are float in [-0.5, 0.5], shape [frames, channels]."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = max(1, int(round(seconds * sr)))
    t = np.arange(frames, dtype=np.float64) / sr
    data = np.stack([0.5 * np.sin(2 * np.pi * freq * (1 + 0.01 * c) * t) for c in range(channels)], axis=1)
    ext = path.suffix.lower()
    fmt = {".oga": "OGG", ".opus": "OGG", ".aif": "AIFF", ".aifc": "AIFF"}.get(ext, ext.lstrip(".").upper())
    if ext == ".opus" and subtype is None:
        subtype = "OPUS"
    with sf.SoundFile(path, "w", samplerate=sr, channels=channels, format=fmt, subtype=subtype) as f:
        if ext in _CHUNKED:
            for i in range(0, frames, _CHUNK):
                f.write(data[i : i + _CHUNK])
        else:
            f.write(data)
    return path
