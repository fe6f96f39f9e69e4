"""Evaluation metrics of AudioGen, written here (no laion-clap / msclap / fadtk / PaSST dependency).

- `fad`: Fréchet Audio Distance between embedding sets (`fad`, `frechet_distance`, `gaussian_fit`);
- `kl`: KL divergence between classifier label distributions, as audiocraft's KLDivergenceMetric;
- `clap`: CLAP score, the mean text–audio cosine;
- `backends`: `load_backend(spec, role)` → VGGish (`vggish`), AST and CLAP (`hf_backends`), or the
  in-domain tagger (`tagger`, trained by `python -m audiogen.metrics.tagger_train`).

The numpy metrics import nothing heavy; backends import torch / transformers when loaded.
"""
from audiogen.metrics.clap import clap_score, cosine_per_pair
from audiogen.metrics.fad import FADResult, Gaussian, fad, frechet_distance, gaussian_fit
from audiogen.metrics.kl import KLResult, kl_divergence, softmax

__all__ = ["FADResult", "Gaussian", "KLResult", "clap_score", "cosine_per_pair", "fad", "frechet_distance",
           "gaussian_fit", "kl_divergence", "load_backend", "softmax"]


def load_backend(spec: str, role: str, **options):
    """See `audiogen.metrics.backends.load_backend` (imported lazily: it pulls torch)."""
    from audiogen.metrics.backends import load_backend as _load

    return _load(spec, role, **options)
