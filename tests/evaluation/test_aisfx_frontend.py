"""The aiSFX judge's front end (audiogen.evaluation.backends.aisfx_frontend) against the package's own
reference code on fixed signals: its librosa spectrogram (`aisfx.spectrogram.spectrogram_librosa`,
reading a file as the package does), its normalisation constant and its blocking
(`aisfx.preprocessing.blocking`). librosa is a test dependency only."""
from __future__ import annotations

import os

import numpy as np
import pytest
import soundfile as sf

from audiogen.evaluation.backends import aisfx_frontend as fe

if os.environ.get("CI"):  # CI installs both (make install, the test extra): a missing one is a failure there
    import aisfx  # noqa: F401
    import librosa  # noqa: F401
else:
    pytest.importorskip("aisfx", reason="pip install --no-deps aisfx (make install)")
    pytest.importorskip("librosa", reason="pip install -e '.[test]'")


def chirp_and_noise(sr: int, seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(sr * seconds)) / sr
    x = 0.3 * np.sin(2 * np.pi * (200 + 900 * t) * t) + 0.05 * rng.standard_normal(t.size)
    x[: t.size // 7] *= 0.1  # a quiet start: the log compression's low end is exercised too
    return x.astype(np.float32)


def reference_spectrogram(x: np.ndarray, sr: int, path) -> np.ndarray:
    """The package's front end on `x` written to `path`, as the model sees it: `[frames, 96]`."""
    from aisfx.preprocessing import spectrogram_normalize
    from aisfx.spectrogram.spectrogram_librosa import compute_spectrogram

    sf.write(str(path), x, sr, subtype="FLOAT")
    spec = compute_spectrogram(str(path), sr=44100.0, block_size=2048, hop_size=1024, n_mels=96,
                               f_min=0.0, f_max=22050.0)
    return spectrogram_normalize(spec.T, spec_norm="original")  # its [96, frames] → the model's [frames, 96]


def test_mel_filterbank_is_librosas_htk_l1():
    import librosa

    ref = librosa.filters.mel(sr=44100, n_fft=2048, n_mels=96, fmin=0.0, fmax=22050.0, htk=True, norm=1.0)
    ours = fe.mel_filterbank()
    assert ours.shape == ref.shape == (96, 1025)
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(ours.sum(axis=1), 1.0, rtol=1e-6)  # L1 rows, not Slaney's area norm


@pytest.mark.parametrize("sr,seconds", [(44100, 3.02), (16000, 2.5), (48000, 0.4), (16000, 7.3)])
def test_log_mel_matches_the_package_front_end(tmp_path, sr, seconds):
    x = chirp_and_noise(sr, seconds)
    ref = reference_spectrogram(x, sr, tmp_path / "x.wav")
    ours = fe.log_mel(x, sr)
    assert ours.shape == ref.shape == (1 + int(round(len(x) * 44100 / sr)) // 1024, 96)
    np.testing.assert_allclose(ours, ref, atol=2e-5)
    assert 0.3 < ours.max() <= 1.2  # the paper's maximum puts loud bins near 1


def test_silence_stays_silent(tmp_path):
    x = np.zeros(16000, np.float32)
    ours = fe.log_mel(x, 16000)
    np.testing.assert_array_equal(ours, reference_spectrogram(x, 16000, tmp_path / "z.wav"))
    assert not ours.any()


@pytest.mark.parametrize("frames", [51, 99, 100, 101, 149, 150, 151, 263])
def test_blocks_match_the_package_blocking(frames):
    from aisfx.preprocessing import blocking

    spec = np.random.default_rng(frames).random((frames, 96)).astype(np.float32)
    ours = fe.blocks(spec)
    np.testing.assert_array_equal(ours, blocking(spec, block_size=100, hop_size=50, drop_partial_block=True))
    assert ours.shape == (max(1, (frames - 100) // 50 + 1), 100, 96)


def test_any_clip_gives_at_least_one_block():
    for n in (0, 1, 500, 16000):
        assert fe.judge_input(np.full(n, 0.1, np.float32), 16000).shape == (1, 100, 96)
