"""VGGish: the log-mel front end, the torchvggish layout, loading random weights from disk."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from audiogen.evaluation.backends.registry import BackendUnavailable, load_backend
from audiogen.evaluation.backends.vggish import (VGGish, VGGishConfig, log_mel, mel_matrix, torchvggish_state_dict,
                                     waveform_to_examples)

SR = 16000
TINY = VGGishConfig(channels=(4, 8, 8, 16), fc=(32, 32), embedding=128)


def _tone(freq: float, seconds: float, sr: int = SR) -> np.ndarray:
    return (0.5 * np.sin(2 * np.pi * freq * np.arange(int(seconds * sr)) / sr)).astype(np.float32)


def test_front_end_shapes_and_framing():
    assert waveform_to_examples(_tone(440, 2.0), SR).shape == (2, 96, 64)   # 198 frames → 2 examples
    assert waveform_to_examples(_tone(440, 3.0), SR).shape == (3, 96, 64)
    assert waveform_to_examples(_tone(440, 0.3), SR).shape == (1, 96, 64)   # zero-padded to one
    assert log_mel(np.zeros(400 + 160 * 9)).shape == (10, 64)
    # 44.1 kHz input is resampled: same number of examples as the 16 kHz tone.
    assert waveform_to_examples(_tone(440, 2.0, 44100), 44100).shape == (2, 96, 64)


def test_front_end_puts_a_tone_in_its_mel_band():
    m = mel_matrix()
    assert m.shape == (257, 64) and (m[0] == 0).all()
    # HTK mel band edges over 125-7500 Hz: the loudest band's triangle contains the tone.
    mel = lambda f: 1127.0 * np.log(1 + f / 700.0)  # noqa: E731
    hz = lambda m_: 700.0 * (np.exp(m_ / 1127.0) - 1)  # noqa: E731
    edges = hz(np.linspace(mel(125.0), mel(7500.0), 66))
    for freq in (300.0, 1000.0, 4000.0):
        band = int(np.argmax(log_mel(_tone(freq, 1.0)).mean(axis=0)))
        assert edges[band] < freq < edges[band + 2]
        assert abs(edges[band + 1] - freq) < (edges[band + 2] - edges[band]) / 2
    # Silence sits at log(0.01).
    assert np.allclose(log_mel(np.zeros(4000)), np.log(0.01))


def test_layout_matches_torchvggish_keys():
    keys = set(torchvggish_state_dict(VGGish(TINY)))
    expected = {f"features.{i}.{p}" for i in (0, 3, 6, 8, 11, 13) for p in ("weight", "bias")}
    expected |= {f"embeddings.{i}.{p}" for i in (0, 2, 4) for p in ("weight", "bias")}
    assert keys == expected
    full = VGGish()   # the real widths: 12288 → 4096 → 4096 → 128
    assert full.embeddings[0].in_features == 512 * 4 * 6 and full.embeddings[4].out_features == 128


@pytest.fixture()
def tiny_weights(tmp_path):
    torch.manual_seed(0)
    model = VGGish(TINY)
    d = tmp_path / "vggish"
    d.mkdir()
    torch.save(torchvggish_state_dict(model), d / "vggish-random.pth")
    rng = np.random.default_rng(0)
    # torchvggish's PCA file is a dict of numpy arrays (means as a flat vector).
    torch.save({"pca_eigen_vectors": rng.normal(size=(128, 128)).astype(np.float32) * 0.1,
                "pca_means": rng.normal(size=128).astype(np.float32)}, d / "vggish_pca_params-random.pth")
    return model, d


def test_random_weights_load_and_embed(tiny_weights, tmp_path):
    model, d = tiny_weights
    backend = load_backend(f"vggish:{d}", "fad")
    clips = [_tone(440, 2.0), np.random.default_rng(1).normal(0, 0.1, 3 * SR).astype(np.float32)]
    emb = backend.embed(clips, SR)
    assert emb.shape == (5, 128) and emb.dtype == np.float32       # 2 + 3 examples
    # Same weights in the model we saved: identical embeddings.
    with torch.no_grad():
        direct = model.eval()(torch.from_numpy(waveform_to_examples(clips[0], SR))).numpy()
    np.testing.assert_allclose(emb[:2], direct, rtol=1e-5, atol=1e-6)
    assert (emb < 0).any()   # FAD's embedding is taken before torchvggish's final ReLU
    # The same state dict as safetensors loads the same network.
    from safetensors.torch import save_file

    st = tmp_path / "vggish.safetensors"
    save_file({k: v.contiguous() for k, v in torchvggish_state_dict(model).items()}, str(st))
    np.testing.assert_allclose(load_backend(f"vggish:{st}", "fad").embed(clips[:1], SR), emb[:2], rtol=1e-5, atol=1e-6)


def test_pca_postprocessing_and_quantisation(tiny_weights):
    _, d = tiny_weights
    q = load_backend(f"vggish:{d}", "fad", postprocess=True, quantize=True).embed([_tone(880, 1.0)], SR)
    assert q.shape == (1, 128) and q.min() >= 0 and q.max() <= 255 and np.array_equal(q, np.round(q))
    raw = load_backend(f"vggish:{d}", "fad").embed([_tone(880, 1.0)], SR)
    pca = load_backend(f"vggish:{d}", "fad", postprocess=True).embed([_tone(880, 1.0)], SR)
    assert not np.allclose(raw, pca)


def test_missing_weights_and_wrong_role_are_clear(tmp_path):
    with pytest.raises(BackendUnavailable, match="never downloaded"):
        load_backend(f"vggish:{tmp_path / 'nothing.pth'}", "fad")
    with pytest.raises(BackendUnavailable, match="needs a path"):
        load_backend("vggish:", "fad")
    torch.save(torchvggish_state_dict(VGGish(TINY)), tmp_path / "v.pth")
    with pytest.raises(BackendUnavailable, match="cannot compute kl"):
        load_backend(f"vggish:{tmp_path / 'v.pth'}", "kl")
    with pytest.raises(BackendUnavailable, match="postprocess needs the PCA"):
        load_backend(f"vggish:{tmp_path / 'v.pth'}", "fad", postprocess=True)
