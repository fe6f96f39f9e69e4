"""Fréchet Audio Distance: the Fréchet distance between Gaussians fitted to two embedding sets.

    FD = ||mu1 - mu2||² + Tr(S1) + Tr(S2) - 2 Tr((S1 S2)^½)

The paper's FAD fits the Gaussians to VGGish embeddings of every 0.96 s example of the reference and
generated clips (`audiogen.evaluation.backends.vggish`); any backend's `embed` rows work the same way.

Two ways to get Tr((S1 S2)^½), both in float64:
- `eigh` (default): S1^½ from the eigen-decomposition of the symmetric S1, then the eigenvalues of
  the symmetric PSD matrix S1^½ S2 S1^½ (same trace of square root as S1 S2), clipped at 0. No
  complex parts and no failure on singular covariances.
- `sqrtm`: `scipy.linalg.sqrtm(S1 @ S2)` as the standard implementations (pytorch-fid, Google's
  FAD): when the result is not finite, retried with eps·I added to both covariances; a small
  imaginary part from rounding is dropped, a large one is an error.

A covariance fitted from N ≤ D rows is singular (rank ≤ N − 1): the distance is still defined but
is a poor estimate; `gaussian_fit` warns and the result records it (`singular`, the counts).

API:
    gaussian_fit(emb [N, D]) -> Gaussian(mu [D], sigma [D, D], count N, singular)
    frechet_distance(mu1, sigma1, mu2, sigma2, eps=1e-6, method="eigh") -> float
    fad(emb_a [N, D], emb_b [M, D]) -> FADResult (float(result) is the distance)
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

METHODS = ("eigh", "sqrtm")


class SingularFitWarning(UserWarning):
    """Fewer embeddings than dimensions: the fitted covariance is singular."""


@dataclass(frozen=True)
class Gaussian:
    mu: np.ndarray      # [D] float64
    sigma: np.ndarray   # [D, D] float64, unbiased (N − 1) sample covariance
    count: int          # N rows it was fitted on
    singular: bool      # N ≤ D: rank-deficient covariance

    @property
    def dim(self) -> int:
        return int(self.mu.shape[0])


@dataclass(frozen=True)
class FADResult:
    fad: float
    count_a: int
    count_b: int
    dim: int
    singular: bool      # either fit had fewer rows than dimensions + 1

    def __float__(self) -> float:
        return self.fad

    def to_dict(self, prefix: str = "fad") -> dict[str, float | int | bool]:
        return {prefix: self.fad, f"{prefix}_n_ref": self.count_a, f"{prefix}_n_gen": self.count_b,
                f"{prefix}_dim": self.dim, f"{prefix}_singular": self.singular}


def gaussian_fit(emb: np.ndarray, name: str = "embeddings") -> Gaussian:
    """Mean and unbiased covariance of `emb [N, D]` (float64). N ≤ 1 is an error (no covariance);
    N ≤ D warns with SingularFitWarning and sets `singular`."""
    x = np.asarray(emb, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D array [N, D], got shape {x.shape}")
    n, d = x.shape
    if n <= 1:
        raise ValueError(f"{name}: {n} embedding(s); a Gaussian fit needs at least 2 rows (more than D={d} "
                         f"for a non-singular covariance)")
    if not np.isfinite(x).all():
        bad = np.flatnonzero(~np.isfinite(x).all(axis=1))
        raise ValueError(f"{name}: non-finite values in row(s) {bad[:10].tolist()}")
    singular = n <= d
    if singular:
        warnings.warn(f"{name}: {n} embeddings of dimension {d}: the covariance is singular (rank ≤ {n - 1}); "
                      f"the Fréchet distance is a rough estimate (use more clips)", SingularFitWarning,
                      stacklevel=2)
    mu = x.mean(axis=0)
    sigma = np.cov(x, rowvar=False)
    return Gaussian(mu, np.atleast_2d(sigma), n, singular)


def _sqrt_psd(a: np.ndarray) -> np.ndarray:
    """Square root of a symmetric PSD matrix (negative rounding eigenvalues clipped to 0)."""
    w, v = np.linalg.eigh((a + a.T) / 2)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def _trace_sqrt_product(s1: np.ndarray, s2: np.ndarray, eps: float, method: str) -> float:
    """Tr((s1 s2)^½)."""
    if method == "eigh":
        r = _sqrt_psd(s1)
        m = r @ s2 @ r
        w = np.linalg.eigvalsh((m + m.T) / 2)
        return float(np.sqrt(np.clip(w, 0.0, None)).sum())
    if method != "sqrtm":
        raise ValueError(f"unknown method {method!r}; choose one of {METHODS}")
    from scipy import linalg

    covmean = linalg.sqrtm(s1 @ s2)
    if not np.isfinite(covmean).all():
        # Singular product: the standard fix, a small ridge on both covariances.
        offset = np.eye(s1.shape[0]) * eps
        covmean = linalg.sqrtm((s1 + offset) @ (s2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(f"sqrtm: imaginary component {np.max(np.abs(covmean.imag)):.3g} is not rounding noise")
        covmean = covmean.real
    return float(np.trace(covmean))


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray,
                     eps: float = 1e-6, method: str = "eigh") -> float:
    """Fréchet distance between N(mu1 [D], sigma1 [D, D]) and N(mu2, sigma2); ≥ 0 (tiny negative
    rounding results are returned as 0)."""
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    s1, s2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    d = mu1.shape[0]
    if mu2.shape != (d,) or s1.shape != (d, d) or s2.shape != (d, d):
        raise ValueError(f"shape mismatch: mu1 {mu1.shape}, sigma1 {s1.shape}, mu2 {mu2.shape}, sigma2 {s2.shape}")
    diff = mu1 - mu2
    value = float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * _trace_sqrt_product(s1, s2, eps, method))
    return max(value, 0.0)


def fad(emb_a: np.ndarray, emb_b: np.ndarray, eps: float = 1e-6, method: str = "eigh") -> FADResult:
    """FAD between two embedding sets `[N, D]` and `[M, D]` (reference first, generated second;
    the distance is symmetric)."""
    ga = gaussian_fit(emb_a, "reference embeddings")
    gb = gaussian_fit(emb_b, "generated embeddings")
    if ga.dim != gb.dim:
        raise ValueError(f"embedding dimensions differ: {ga.dim} vs {gb.dim}")
    value = frechet_distance(ga.mu, ga.sigma, gb.mu, gb.sigma, eps=eps, method=method)
    return FADResult(value, ga.count, gb.count, ga.dim, ga.singular or gb.singular)
