"""CLAP score: the mean cosine similarity between the text embedding of each caption and the audio
embedding of the clip generated from it (audiocraft's `CLAPTextConsistencyMetric`; higher is better;
AudioGen v2 reaches 0.30 on AudioCaps with LAION-CLAP).

API:
    cosine_per_pair(text_emb [N, D], audio_emb [N, D]) -> [N]
    clap_score(text_emb [N, D], audio_emb [N, D]) -> float
"""
from __future__ import annotations

import numpy as np


def cosine_per_pair(text_emb: np.ndarray, audio_emb: np.ndarray, eps: float = 1e-8) -> np.ndarray:
    """Row-wise cosine similarity `[N]` between two `[N, D]` arrays (float64)."""
    t = np.asarray(text_emb, dtype=np.float64)
    a = np.asarray(audio_emb, dtype=np.float64)
    if t.ndim != 2 or t.shape != a.shape:
        raise ValueError(f"expected text and audio embeddings of the same shape [N, D], got {t.shape} and {a.shape}")
    if t.shape[0] == 0:
        raise ValueError("no pairs to compare")
    num = (t * a).sum(axis=1)
    den = np.maximum(np.linalg.norm(t, axis=1) * np.linalg.norm(a, axis=1), eps)
    return num / den


def clap_score(text_emb: np.ndarray, audio_emb: np.ndarray) -> float:
    """Mean cosine similarity of paired text and audio embeddings `[N, D]`."""
    return float(cosine_per_pair(text_emb, audio_emb).mean())
