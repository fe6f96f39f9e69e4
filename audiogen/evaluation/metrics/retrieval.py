"""What a judge's embeddings say about clips, beyond FAD: numpy only.

- Retrieval of the conditioning: for each generated clip, the rank of its own reference among all
  references by cosine similarity (`own_reference_ranks`); R@k is the share ranked ≤ k and its
  chance is k / number of references.
- Nearest-neighbour kind: a query (a reference, a codec rendering, a generation) is given the kinds
  of its most similar reference *other than its own* (`nearest_references`), so the same figure
  for references, codec renderings and generations measures the same thing: is the sound
  recognisably of its kind, not is it a copy of one clip. With the own reference left out, a
  generation that equalled its reference's codec rendering scores exactly the codec's figure: the
  codec rendering is the generations' ceiling. Chance (`kind_accuracy`) is the rate a reference
  drawn at random (own one left out) shares the query's kind.

Shapes: queries `[Q, D]`, references `[R, D]`; `owner[q]` is the index of query q's own reference.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """`[Q, D]`, `[R, D]` → `[Q, R]` cosine similarities (float64; a zero row gives zeros)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    na = np.linalg.norm(a, axis=1, keepdims=True)
    nb = np.linalg.norm(b, axis=1, keepdims=True)
    return (a / np.where(na > 0, na, 1.0)) @ (b / np.where(nb > 0, nb, 1.0)).T


def own_reference_ranks(sim: np.ndarray, owner: Sequence[int]) -> np.ndarray:
    """`[Q, R]` similarities → `[Q]` 1-based rank of each query's own reference (ties count in its favour)."""
    sim = np.asarray(sim)
    owner = np.asarray(owner, dtype=np.int64)
    own = sim[np.arange(len(owner)), owner]
    return 1 + (sim > own[:, None]).sum(axis=1)


def recall_at(ranks: np.ndarray, k: int) -> float:
    return float(np.mean(np.asarray(ranks) <= k)) if len(ranks) else float("nan")


def recall_chance(k: int, n_references: int) -> float:
    """R@k of a judge that ranks references at random."""
    return min(k, n_references) / n_references if n_references else float("nan")


def nearest_references(sim: np.ndarray, owner: Sequence[int] | None, candidates: np.ndarray | None = None) -> np.ndarray:
    """`[Q, R]` → `[Q]` index of the most similar reference, the own one (`owner[q]`) and those not in
    `candidates` (a boolean `[R]` mask) left out; -1 where nothing is left."""
    s = np.array(sim, dtype=np.float64, copy=True)
    if candidates is not None:
        s[:, ~np.asarray(candidates, dtype=bool)] = -np.inf
    if owner is not None:
        s[np.arange(s.shape[0]), np.asarray(owner, dtype=np.int64)] = -np.inf
    if s.shape[1] == 0:
        return np.full(s.shape[0], -1)
    best = np.argmax(s, axis=1)
    return np.where(np.isfinite(s[np.arange(s.shape[0]), best]), best, -1)


@dataclass(frozen=True)
class KindAccuracy:
    accuracy: float   # share of queries whose nearest reference has the query's kind
    chance: float     # the same for a reference drawn at random among the candidates (own left out)
    n: int            # queries scored (those with one known kind)
    kinds: int        # distinct kinds among them


def kind_accuracy(sim: np.ndarray, owner: Sequence[int], query_kinds: Sequence[str | None],
                  reference_kinds: Sequence[Sequence[str]]) -> tuple[KindAccuracy, np.ndarray]:
    """Queries with one known kind (`query_kinds[q]`, None: unknown) against the references that
    have kinds (`reference_kinds[r]`, empty: unknown). A hit: the query's kind is among its nearest
    reference's kinds. Returns the figure and the nearest reference of every query (`[Q]`, -1: none)."""
    ref_sets = [frozenset(k) for k in reference_kinds]
    known = np.array([bool(k) for k in ref_sets])
    nearest = nearest_references(sim, owner, known)
    hits, chances, kinds = [], [], set()
    for q, (kind, own, near) in enumerate(zip(query_kinds, owner, nearest)):
        if not kind or near < 0:
            continue
        pool = [r for r in range(len(ref_sets)) if known[r] and r != own]
        hits.append(kind in ref_sets[near])
        chances.append(sum(kind in ref_sets[r] for r in pool) / len(pool))
        kinds.add(kind)
    if not hits:
        return KindAccuracy(float("nan"), float("nan"), 0, 0), nearest
    return KindAccuracy(float(np.mean(hits)), float(np.mean(chances)), len(hits), len(kinds)), nearest
