"""KL divergence (as audiocraft's KLDivergenceMetric) and the CLAP score."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from audiogen.evaluation.metrics.clap import clap_score, cosine_per_pair
from audiogen.evaluation.metrics.kl import kl_divergence, softmax


def _audiocraft_kl(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """audiocraft/metrics/kld.py `kl_divergence(pred_probs, target_probs)`, verbatim in torch."""
    p, t = torch.from_numpy(pred), torch.from_numpy(target)
    return torch.nn.functional.kl_div((p + 1e-6).log(), t, reduction="none").sum(-1).numpy()


def test_identical_distributions_give_zero():
    rng = np.random.default_rng(0)
    p = softmax(rng.normal(size=(5, 10)))
    res = kl_divergence(p, p)
    assert abs(res.kld) < 1e-4 and abs(res.kld_qp) < 1e-4


def test_matches_audiocraft_formula_in_both_directions():
    rng = np.random.default_rng(1)
    ref = softmax(rng.normal(size=(6, 7)) * 2)
    gen = softmax(rng.normal(size=(6, 7)) * 2)
    ref[0] = np.eye(7)[2]  # a one-hot row: zero-probability classes contribute 0
    res = kl_divergence(ref, gen)
    # audiocraft: kld_pq = kl_divergence(preds=gen, targets=ref) = KL(ref ‖ gen)
    np.testing.assert_allclose(res.per_pair, _audiocraft_kl(gen, ref), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(res.per_pair_qp, _audiocraft_kl(ref, gen), rtol=1e-10, atol=1e-12)
    assert res.kld == pytest.approx(res.per_pair.mean())
    assert res.kld_both == pytest.approx(res.kld + res.kld_qp)
    # Textbook KL(ref ‖ gen) up to the epsilon.
    textbook = np.sum(np.where(ref > 0, ref * np.log(np.where(ref > 0, ref, 1) / gen), 0), axis=1)
    np.testing.assert_allclose(res.per_pair, textbook, atol=1e-4)
    assert (res.per_pair > 0).all()
    assert res.to_dict()["kl_n"] == 6


def test_logits_are_softmaxed_over_classes():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(4, 5)), rng.normal(size=(4, 5))
    from_logits = kl_divergence(a, b, inputs="logits")
    from_probs = kl_divergence(softmax(a), softmax(b))
    assert from_logits.kld == pytest.approx(from_probs.kld)
    # Shifting logits by a constant per row does not change a softmax.
    assert kl_divergence(a + 3.0, a, inputs="logits").kld == pytest.approx(0.0, abs=1e-4)


def test_bad_inputs_are_clear_errors():
    p = softmax(np.zeros((3, 4)))
    with pytest.raises(ValueError, match=r"row\(s\) \[1\].*not probability"):
        kl_divergence(p, np.array([[0.25] * 4, [0.5] * 4, [0.25] * 4]))
    with pytest.raises(ValueError, match="differ in shape"):
        kl_divergence(p, p[:2])
    with pytest.raises(ValueError, match="'probs' or 'logits'"):
        kl_divergence(p, p, inputs="sigmoid")


def test_clap_score_is_the_mean_cosine():
    t = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    a = np.array([[3.0, 0.0], [1.0, 0.0], [-1.0, -1.0]])
    np.testing.assert_allclose(cosine_per_pair(t, a), [1.0, 0.0, -1.0], atol=1e-12)
    assert clap_score(t, a) == pytest.approx(0.0, abs=1e-12)
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(8, 16)), rng.normal(size=(8, 16))
    assert clap_score(x, y) == pytest.approx(clap_score(2.5 * x, 0.1 * y))
    assert clap_score(x, x) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="same shape"):
        clap_score(x, y[:, :4])
