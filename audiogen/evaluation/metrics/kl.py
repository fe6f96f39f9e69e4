"""KL divergence between the label distributions a classifier gives to reference and generated clips.

This replicates audiocraft's `KLDivergenceMetric` (audiocraft/metrics/kld.py, used with PaSST for
AudioGen/AudioCraft evaluation):
- the classifier's logits go through a **softmax over classes** (`PasstKLDivergenceMetric._get_model_preds`:
  `torch.softmax(logits, dim=-1)`; not a sigmoid, even though AudioSet is multi-label);
- per reference/generated pair, `kl_divergence(pred_probs, target_probs)` =
  `F.kl_div((pred + 1e-6).log(), target, reduction="none").sum(-1)` = Σ_c t_c (log t_c − log(p_c + ε)),
  with t = reference ("target") and p = generated ("pred"), terms with t_c = 0 counted as 0;
- `kld` (= `kld_pq`) is the mean over pairs of KL(reference ‖ generated); `kld_qp` the mean of the
  reverse direction (same formula with the roles swapped); `kld_both` their sum.
The headline KL of the paper and of audiocraft is `kld`.

One deviation: audiocraft splits clips longer than the classifier's window (10 s for PaSST) into
several rows; here each clip is one row, and backends average a long clip's windows themselves.

API:
    softmax(logits [N, C]) -> [N, C]
    kl_divergence(p_ref [N, C], p_gen [N, C], inputs="probs"|"logits", epsilon=1e-6) -> KLResult
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EPSILON = 1e-6  # audiocraft's epsilon inside the log of the "pred" distribution


@dataclass(frozen=True)
class KLResult:
    kld: float              # mean KL(reference ‖ generated): audiocraft's `kld` / `kld_pq`
    kld_qp: float           # mean KL(generated ‖ reference)
    per_pair: np.ndarray    # [N] KL(reference ‖ generated) per pair
    per_pair_qp: np.ndarray  # [N] KL(generated ‖ reference) per pair

    @property
    def kld_pq(self) -> float:
        return self.kld

    @property
    def kld_both(self) -> float:
        return self.kld + self.kld_qp

    def __float__(self) -> float:
        return self.kld

    def to_dict(self, prefix: str = "kl") -> dict[str, float | int]:
        return {prefix: self.kld, f"{prefix}_qp": self.kld_qp, f"{prefix}_both": self.kld_both,
                f"{prefix}_n": int(self.per_pair.shape[0])}


def softmax(logits: np.ndarray) -> np.ndarray:
    """Softmax over the last axis (float64, max-subtracted)."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def _as_probs(x: np.ndarray, inputs: str, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"{name}: expected [N, C], got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name}: non-finite values in row(s) {np.flatnonzero(~np.isfinite(a).all(1))[:10].tolist()}")
    if inputs == "logits":
        return softmax(a)
    if inputs != "probs":
        raise ValueError(f"inputs must be 'probs' or 'logits', got {inputs!r}")
    bad = np.flatnonzero((a < 0).any(axis=1) | (np.abs(a.sum(axis=1) - 1.0) > 1e-3))
    if bad.size:
        raise ValueError(f"{name}: row(s) {bad[:10].tolist()} are not probability distributions over classes "
                         f"(negative or not summing to 1); pass inputs='logits' for raw classifier outputs")
    return a


def _kl_rows(target: np.ndarray, pred: np.ndarray, epsilon: float) -> np.ndarray:
    """audiocraft's `kl_divergence(pred, target)`: Σ_c t (log t − log(p + ε)), 0·log 0 = 0 → [N]."""
    safe_t = np.where(target > 0, target, 1.0)
    terms = np.where(target > 0, target * (np.log(safe_t) - np.log(pred + epsilon)), 0.0)
    return terms.sum(axis=-1)


def kl_divergence(p_ref: np.ndarray, p_gen: np.ndarray, inputs: str = "probs",
                  epsilon: float = EPSILON) -> KLResult:
    """Per-pair KL between reference and generated label distributions `[N, C]` (row i of each is
    the same caption), both directions, as audiocraft computes them (module docstring).
    `inputs="logits"` applies the softmax over classes first; `"probs"` checks rows sum to 1."""
    ref = _as_probs(p_ref, inputs, "reference label distribution")
    gen = _as_probs(p_gen, inputs, "generated label distribution")
    if ref.shape != gen.shape:
        raise ValueError(f"reference {ref.shape} and generated {gen.shape} label distributions differ in shape")
    if ref.shape[0] == 0:
        raise ValueError("no pairs to compare")
    pq = _kl_rows(ref, gen, epsilon)
    qp = _kl_rows(gen, ref, epsilon)
    return KLResult(float(pq.mean()), float(qp.mean()), pq, qp)
