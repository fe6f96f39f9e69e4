"""FAD: the Fréchet distance against closed forms, its invariants, and its input checks."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from audiogen.evaluation.metrics.fad import SingularFitWarning, fad, frechet_distance, gaussian_fit


def _diag_closed_form(mu1, var1, mu2, var2) -> float:
    return float(np.sum((mu1 - mu2) ** 2) + np.sum(var1 + var2 - 2 * np.sqrt(var1 * var2)))


@pytest.mark.parametrize("method", ["eigh", "sqrtm"])
def test_diagonal_gaussians_match_closed_form(method):
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    var1, var2 = rng.uniform(0.1, 3.0, 6), rng.uniform(0.1, 3.0, 6)
    got = frechet_distance(mu1, np.diag(var1), mu2, np.diag(var2), method=method)
    assert got == pytest.approx(_diag_closed_form(mu1, var1, mu2, var2), rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("method", ["eigh", "sqrtm"])
def test_full_covariances_match_a_rotated_diagonal_case(method):
    # Same rotation on both: FD is rotation invariant, so it equals the diagonal closed form.
    rng = np.random.default_rng(1)
    q, _ = np.linalg.qr(rng.normal(size=(5, 5)))
    mu1, mu2 = rng.normal(size=5), rng.normal(size=5)
    var1, var2 = rng.uniform(0.2, 2.0, 5), rng.uniform(0.2, 2.0, 5)
    s1, s2 = q @ np.diag(var1) @ q.T, q @ np.diag(var2) @ q.T
    got = frechet_distance(q @ mu1, s1, q @ mu2, s2, method=method)
    assert got == pytest.approx(_diag_closed_form(mu1, var1, mu2, var2), rel=1e-7)


def test_one_dimensional_case_and_methods_agree():
    # 1-D: (m1 - m2)^2 + (s1 - s2)^2 with standard deviations s.
    assert frechet_distance([1.0], [[4.0]], [3.0], [[9.0]]) == pytest.approx(4.0 + 1.0)
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(300, 8)), rng.normal(0.3, 1.5, size=(300, 8)) @ rng.normal(size=(8, 8))
    ga, gb = gaussian_fit(a), gaussian_fit(b)
    e = frechet_distance(ga.mu, ga.sigma, gb.mu, gb.sigma, method="eigh")
    s = frechet_distance(ga.mu, ga.sigma, gb.mu, gb.sigma, method="sqrtm")
    assert e == pytest.approx(s, rel=1e-6)


def test_a_set_against_itself_is_zero_and_fad_is_symmetric():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(200, 16)) @ rng.normal(size=(16, 16))
    b = rng.normal(1.0, 2.0, size=(150, 16))
    assert float(fad(a, a)) <= 1e-6
    assert float(fad(a, b)) == pytest.approx(float(fad(b, a)), rel=1e-9)
    assert float(fad(a, b)) > 1.0
    # More separated means → larger distance.
    assert float(fad(a, b + 5.0)) > float(fad(a, b))


def test_gaussian_fit_values_and_errors():
    x = np.array([[0.0, 1.0], [2.0, 3.0], [4.0, 8.0]])
    g = gaussian_fit(x)
    np.testing.assert_allclose(g.mu, [2.0, 4.0])
    np.testing.assert_allclose(g.sigma, np.cov(x.T))
    assert g.count == 3 and not g.singular
    with pytest.raises(ValueError, match="at least 2"):
        gaussian_fit(np.zeros((1, 4)))
    with pytest.raises(ValueError, match=r"2-D"):
        gaussian_fit(np.zeros(5))
    with pytest.raises(ValueError, match="non-finite.*\\[1\\]"):
        gaussian_fit(np.array([[0.0, 1.0], [np.nan, 1.0], [1.0, 2.0]]))


def test_fewer_rows_than_dimensions_warns_and_is_recorded():
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(10, 32)), rng.normal(size=(12, 32))
    with pytest.warns(SingularFitWarning) as record:
        res = fad(a, b)
    messages = [str(w.message) for w in record]
    assert any("10 embeddings of dimension 32" in m for m in messages)
    assert any("12 embeddings of dimension 32" in m for m in messages)
    assert res.singular and (res.count_a, res.count_b, res.dim) == (10, 12, 32)
    assert np.isfinite(res.fad) and res.fad > 0
    assert res.to_dict()["fad_singular"] is True
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not fad(rng.normal(size=(50, 4)), rng.normal(size=(50, 4))).singular


def test_dimension_mismatch_is_an_error():
    with pytest.raises(ValueError, match="dimensions differ"):
        fad(np.zeros((5, 3)) + np.arange(5)[:, None], np.ones((5, 4)) * np.arange(5)[:, None])
    with pytest.raises(ValueError, match="shape mismatch"):
        frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))
