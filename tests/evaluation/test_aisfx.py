"""The aiSFX judge with its real checkpoint (inside the installed wheel): weights-only loading, the
backend through the registry, and what it hears in the demo generator's sounds: clearly different
kinds apart, a 10 dB-noisy copy nearer its original than the clips of other kinds, and a broken
front end failing that."""
from __future__ import annotations

import os

import numpy as np
import pytest

if os.environ.get("CI"):  # make install installs it: missing in CI is a failure, not a skip
    import aisfx  # noqa: F401
else:
    pytest.importorskip("aisfx", reason="pip install --no-deps aisfx (make install)")

from audiogen.evaluation.backends import aisfx_frontend as fe  # noqa: E402
from audiogen.evaluation.metrics.retrieval import cosine_similarity, kind_accuracy  # noqa: E402
from pipeline.demo.catalog import NON_SPEECH  # noqa: E402
from pipeline.demo.sounds import Layer, render  # noqa: E402
from pipeline.demo.writer import rng_for  # noqa: E402

SR = 16000


def sound(kind: str, seconds: float, seed: int) -> np.ndarray:
    return render((Layer(kind),), rng_for(seed, kind), SR, seconds)[:, 0]


def white_noise(x: np.ndarray, snr_db: float, seed: int) -> np.ndarray:
    power = float(np.mean(x.astype(np.float64) ** 2))
    noise = np.random.default_rng(seed).standard_normal(x.size) * np.sqrt(power / 10 ** (snr_db / 10))
    return (x + noise).astype(np.float32)


@pytest.fixture(scope="module")
def judge():
    from audiogen.evaluation.backends.registry import load_backend

    return load_backend("aisfx", "fad")


def test_checkpoint_loads_weights_only_with_exactly_its_numpy_types():
    import pickle

    import torch

    from audiogen.evaluation.backends.aisfx import _numpy_globals, checkpoint_path, load_checkpoint

    path = checkpoint_path()
    with pytest.raises(pickle.UnpicklingError, match="numpy"):  # the numpy scalars need the allowlist...
        torch.load(path, map_location="cpu", weights_only=True)
    assert len(_numpy_globals()) == 3  # ...which holds the scalar reconstructor, dtype and the int64 dtype only
    state, heads = load_checkpoint()
    assert heads["soundlyTrain"] == (1, 79) and heads["ucsMixed"] == (2, 69) and heads["prosfx"] == (0, 78)
    assert len(heads) == 9 and all(type(i) is int and type(c) is int for i, c in heads.values())
    assert state["embedding_net.conv_block4.conv2.weight"].shape == (512, 512, 3, 3)


def test_backend_roles_shapes_and_heads(judge):
    from audiogen.evaluation.backends.registry import BackendUnavailable, load_backend

    assert judge.name == "aisfx" and judge.roles == {"fad", "kl"} and judge.head == "soundlyTrain"
    clips = [sound("siren", 1.0, 0), sound("rain", 3.3, 0), np.zeros(800, np.float32)]
    emb = judge.embed(clips, SR)
    assert emb.shape == (3, 512) and np.isfinite(emb).all()
    probs = judge.label_probs(clips, SR)
    assert probs.shape == (3, 79)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-9)
    from audiogen.evaluation.backends.aisfx import AisfxBackend

    cold = AisfxBackend(judge.judge)  # no kept results: other batches, other order, the same figures
    emb2, probs2 = cold.embed_and_probs(clips[::-1] + clips[:1], SR)
    np.testing.assert_allclose(emb2[[2, 1, 0]], emb, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(probs2[[2, 1, 0]], probs, rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(emb2[3], emb2[2])  # a clip asked for twice in one call
    assert load_backend("aisfx:ucsMixed", "kl").label_probs(clips[:1], SR).shape == (1, 69)
    with pytest.raises(BackendUnavailable, match="soundlyTrain"):
        load_backend("aisfx:nope", "kl")
    with pytest.raises(BackendUnavailable, match="cannot compute clap"):
        load_backend("aisfx", "clap")


def test_judge_separates_siren_rain_and_footsteps(judge):
    kinds = ["siren"] * 2 + ["rain"] * 2 + ["footsteps"] * 2
    emb = judge.embed([sound(k, 3.0, seed) for k, seed in zip(kinds, [0, 1] * 3)], SR)
    sim = cosine_similarity(emb, emb)
    same = np.equal.outer(np.array(kinds), np.array(kinds))
    off = ~np.eye(len(kinds), dtype=bool)
    assert sim[same & off].min() > sim[~same].max() + 0.1, np.round(sim, 3)  # every pair of a kind beats every mix
    acc, nearest = kind_accuracy(sim, np.arange(6), kinds, [[k] for k in kinds])
    assert acc.accuracy == 1.0 and list(nearest) == [1, 0, 3, 2, 5, 4]


def noisy_copy_margin(judge, kinds: list[str]) -> tuple[float, np.ndarray]:
    """Each kind rendered twice; a 10 dB white-noise copy of the first rendering. Returns the share of
    other-kind clips the copy finds less similar than its own original, averaged over kinds, and the
    copies' similarities `[K, 2K]`."""
    originals = [sound(k, 3.0, seed) for k in kinds for seed in (0, 1)]
    copies = [white_noise(originals[2 * i], 10.0, seed=i) for i in range(len(kinds))]
    sim = cosine_similarity(judge.embed(copies, SR), judge.embed(originals, SR))
    labels = np.repeat(np.arange(len(kinds)), 2)
    beaten = [np.mean(sim[i, labels != i] < sim[i, 2 * i]) for i in range(len(kinds))]
    return float(np.mean(beaten)), sim


def test_noisy_copy_is_nearer_its_original_than_other_kinds(judge):
    share, sim = noisy_copy_margin(judge, ["siren", "rain", "footsteps"])
    # White noise at 10 dB sounds like rain to this judge (the noisy siren and footsteps sit nearer the
    # rain clips than their own originals; on the demo's clips noise keeps 60% of nearest kinds against
    # 90% clean: benchmarks/judge.py). So: the noisy siren is nearer its original than any footsteps,
    # the noisy rain nearer its own than any siren or footsteps, and over all 16 demo kinds a noisy
    # copy is nearer its original than most clips of other kinds.
    assert sim[0, 0] > sim[0, 4:].max(), np.round(sim, 3)
    assert sim[1, 2] > max(sim[1, :2].max(), sim[1, 4:].max()), np.round(sim, 3)
    share_all, _ = noisy_copy_margin(judge, sorted(NON_SPEECH))
    assert len(NON_SPEECH) == 16 and share_all > 0.8, share_all  # 0.84 measured; broken front ends ≤ 0.69


@pytest.mark.parametrize("broken", ["no_resampling", "decibels"])
def test_a_broken_front_end_fails_the_noisy_copy_check(judge, monkeypatch, broken):
    right = fe.log_mel
    if broken == "no_resampling":  # 16 kHz samples read as if they were at 44.1 kHz
        monkeypatch.setattr(fe, "log_mel", lambda audio, sr: right(audio, fe.SAMPLE_RATE))
    else:  # 10·log10 instead of the paper's log10(10⁴·S + 1) / max
        monkeypatch.setattr(fe, "log_mel", lambda audio, sr: (10 * np.log10(
            fe.power_spectrogram(fe.to_judge_rate(audio, sr)) @ fe.mel_filterbank().T + 1e-10) / 100).astype(np.float32))
    from audiogen.evaluation.backends.aisfx import AisfxBackend

    share_all, _ = noisy_copy_margin(AisfxBackend(judge.judge), sorted(NON_SPEECH))  # nothing kept from the right one
    assert share_all < 0.75, share_all
