"""The metrics of AudioGen on embeddings and label distributions, numpy only (no laion-clap /
msclap / fadtk / PaSST dependency). May import: nothing of audiogen.

- `fad`: Fréchet Audio Distance between embedding sets (`fad`, `frechet_distance`, `gaussian_fit`);
- `kl`: KL divergence between classifier label distributions, as audiocraft's KLDivergenceMetric;
- `clap`: CLAP score, the mean text–audio cosine.

The models that make the embeddings are in `audiogen.evaluation.backends` (`load_backend(spec, role)`
below loads one lazily: it pulls torch).
"""
from audiogen.evaluation.metrics.clap import clap_score, cosine_per_pair
from audiogen.evaluation.metrics.fad import FADResult, Gaussian, fad, frechet_distance, gaussian_fit
from audiogen.evaluation.metrics.kl import KLResult, kl_divergence, softmax

__all__ = ["FADResult", "Gaussian", "KLResult", "clap_score", "cosine_per_pair", "fad", "frechet_distance",
           "gaussian_fit", "kl_divergence", "load_backend", "softmax"]


def load_backend(spec: str, role: str, **options):
    """See `audiogen.evaluation.backends.registry.load_backend` (imported lazily: it pulls torch)."""
    from audiogen.evaluation.backends.registry import load_backend as _load

    return _load(spec, role, **options)
