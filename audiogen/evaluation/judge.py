"""The judge's figures of an evaluation (`evaluate.judge`, the demo's `aisfx`): what a network that
nobody here trained hears in the references, their codec renderings and the generations.

- Conditioning retrieval: each generated clip ranks all references by the judge's cosine
  similarity; R@1 / R@5 are the shares whose own reference comes first / in the first five
  (chance k / references). The codec renderings get the same figure (the retrieval ceiling).
- Nearest reference kind (demo clips, whose kinds `evaluate.kinds` names): a reference, a codec
  rendering or a generation takes the kinds of its most similar *other* reference; accuracy is how
  often that is the reference's own kind (`metrics.retrieval` says why the own one is left out),
  with the chance of a random reference beside it. Only references of one known kind are scored.

Shapes: the judge's `embed(audios, sr)` → `[N, D]`, one row per clip.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from audiogen.evaluation.metrics.retrieval import (KindAccuracy, cosine_similarity, kind_accuracy, nearest_references,
                                                   own_reference_ranks, recall_at, recall_chance)

RECALL_AT = (1, 5)


@dataclass
class SetFigures:
    """One set of queries (references, codec renderings or one γ's generations) against the references."""

    owner: np.ndarray            # [Q] index of each query's own reference
    ranks: np.ndarray            # [Q] 1-based rank of the own reference
    nearest: np.ndarray          # [Q] nearest other reference with a kind (-1: none)
    kind: KindAccuracy

    def recall(self, k: int) -> float:
        return recall_at(self.ranks, k)


def query_kinds(kinds: Sequence[Sequence[str]]) -> list[str | None]:
    """The kind a query is scored on: its reference's only kind (None for mixes and unknowns)."""
    return [k[0] if len(k) == 1 else None for k in kinds]


def score_set(query_emb: np.ndarray, owner: Sequence[int], ref_emb: np.ndarray,
              ref_kinds: Sequence[Sequence[str]]) -> SetFigures:
    owner = np.asarray(owner, dtype=np.int64)
    sim = cosine_similarity(query_emb, ref_emb)
    qk = query_kinds(ref_kinds)
    acc, nearest = kind_accuracy(sim, owner, [qk[i] for i in owner], ref_kinds)
    if not any(ref_kinds):  # no kinds known (real data): the nearest other reference all the same
        nearest = nearest_references(sim, owner)
    return SetFigures(owner, own_reference_ranks(sim, owner), nearest, acc)


def nearest_label(index: int, ref_kinds: Sequence[Sequence[str]], ref_keys: Sequence[str],
                  ref_captions: Sequence[str]) -> str:
    """What the report shows for a nearest reference: its kinds (else its caption), and its key."""
    if index < 0:
        return "n/a"
    what = "+".join(ref_kinds[index]) or f"“{ref_captions[index][:60]}”"
    return f"{what} ({ref_keys[index]})"


class Judge:
    """Embeds each set once (`embed` of the judge backend) and scores it against the references."""

    def __init__(self, backend: Any, ref_audio: Sequence[np.ndarray], ref_kinds: Sequence[Sequence[str]], sr: int,
                 ref_emb: np.ndarray | None = None):
        self.backend, self.sr = backend, sr
        self.ref_kinds = [tuple(k) for k in ref_kinds]
        self.ref_emb = ref_emb if ref_emb is not None else backend.embed(list(ref_audio), sr)
        self.references = score_set(self.ref_emb, np.arange(len(self.ref_kinds)), self.ref_emb, self.ref_kinds)

    @property
    def has_kinds(self) -> bool:
        return self.references.kind.n > 0

    def score(self, sets: Sequence[Sequence[np.ndarray]], emb: np.ndarray | None = None) -> SetFigures:
        """`sets[i]`: the clips made for reference i (codec rendering or generations)."""
        flat = [w for clips in sets for w in clips]
        owner = [i for i, clips in enumerate(sets) for _ in clips]
        if emb is None or len(emb) != len(flat):
            emb = self.backend.embed(flat, self.sr)
        return score_set(emb, owner, self.ref_emb, self.ref_kinds)


def flat_judge_metrics(name: str, n_refs: int, ref: SetFigures, codec: SetFigures, gen: SetFigures,
                       sweep: dict[float, SetFigures]) -> dict[str, Any]:
    """Flat keys for metrics.json (`judge_*`; the γ sweep as `sweep_judge_*_cfg{γ}`)."""
    m: dict[str, Any] = {"judge_backend": name}
    for k in RECALL_AT:
        m[f"judge_r{k}"] = gen.recall(k)
        m[f"judge_codec_r{k}"] = codec.recall(k)
        m[f"judge_r{k}_chance"] = recall_chance(k, n_refs)
    if ref.kind.n:
        m.update(judge_kind_reference=ref.kind.accuracy, judge_kind_codec=codec.kind.accuracy,
                 judge_kind_generated=gen.kind.accuracy, judge_kind_chance=ref.kind.chance,
                 judge_kind_n=ref.kind.n, judge_kinds=ref.kind.kinds)
    for gamma, s in sorted(sweep.items()):
        g = f"{gamma:g}"
        m[f"sweep_judge_r5_cfg{g}"] = s.recall(5)
        if ref.kind.n:
            m[f"sweep_judge_kind_cfg{g}"] = s.kind.accuracy
    return m


@dataclass
class ReportView:
    """What the report shows per clip: the judge's nearest reference (kinds and key) of each reference,
    of its codec rendering and of each generation (flat, in `generated` order), and each generation's
    rank of its own reference."""

    reference: list[str]
    codec: list[str]
    generated: list[str]
    generated_rank: list[int]
    has_kinds: bool


def report_view(judge: Judge, codec: SetFigures, generated: SetFigures, ref_keys: Sequence[str],
                ref_captions: Sequence[str]) -> ReportView:
    label = lambda i: nearest_label(int(i), judge.ref_kinds, ref_keys, ref_captions)  # noqa: E731
    return ReportView([label(i) for i in judge.references.nearest], [label(i) for i in codec.nearest],
                      [label(i) for i in generated.nearest], [int(r) for r in generated.ranks], judge.has_kinds)
