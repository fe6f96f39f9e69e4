"""Synthetic audio shards for the codec tests: real FLAC clips (16 kHz mono PCM_16) in real tar
shards written with `audiogen.io.shards.write_shard`."""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import soundfile as sf

SR = 16000


def synth_clip(rng: np.random.Generator, seconds: float) -> np.ndarray:
    """A few decaying harmonic tones plus a little noise: structured enough for a codec to learn."""
    n = int(seconds * SR)
    t = np.arange(n) / SR
    x = np.zeros(n)
    for _ in range(rng.integers(1, 4)):
        f0 = rng.uniform(100, 1200)
        start = rng.uniform(0, seconds * 0.5)
        env = np.where(t >= start, np.exp(-(t - start) * rng.uniform(1, 6)), 0.0)
        for h in range(1, 4):
            x += env * np.sin(2 * np.pi * f0 * h * t + rng.uniform(0, 6.28)) / h
    x += 0.02 * rng.standard_normal(n)
    return (0.5 * x / (np.abs(x).max() + 1e-9)).astype(np.float32)


def write_audio_shards(directory: Path, split: str, n_shards: int, clips_per_shard: int,
                       seconds: float, seed: int) -> list[Path]:
    from audiogen.io.shards import shard_name, write_shard

    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for s in range(n_shards):
        samples = []
        for c in range(clips_per_shard):
            key = f"synth-{split}{s:02d}{c:03d}"
            audio = synth_clip(rng, seconds * rng.uniform(0.6, 1.0))
            buf = io.BytesIO()
            sf.write(buf, audio, SR, format="FLAC", subtype="PCM_16")
            meta = {"key": key, "sample_rate": SR, "num_samples": len(audio), "caption": "tones"}
            samples.append((key, {"flac": buf.getvalue(), "json": json.dumps(meta).encode()}))
        path = directory / shard_name(split, "synth", s)
        write_shard(path, samples)
        paths.append(path)
    return paths


