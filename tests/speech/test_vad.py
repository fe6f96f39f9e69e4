"""The voice-activity detector (audiogen.speech.vad): the batched path gives upstream Silero's numbers,
batching never changes a clip's result, speech is found in speech and not in the demo's other
sounds, and a missing package is a clear error."""
from __future__ import annotations

import importlib.util
import shutil

import numpy as np
import pytest
import soundfile as sf

from audiogen.io import audio
from audiogen.speech.vad import (SAMPLE_RATE, VadConfig, VadUnavailable, VoiceActivityDetector, model_info, model_path,
                          segments)
from pipeline.demo.catalog import NON_SPEECH
from pipeline.demo.sounds import Layer, render
from pipeline.demo.writer import rng_for

SR = SAMPLE_RATE


def sound(kind: str, seconds: float, seed: int = 0) -> np.ndarray:
    return render((Layer(kind),), rng_for(seed, kind), SR, seconds)[:, 0]


@pytest.fixture(scope="module")
def detector() -> VoiceActivityDetector:
    return VoiceActivityDetector()


@pytest.fixture(scope="module")
def talk() -> np.ndarray:
    """A man talking (the demo's formant voice) then rain, 6 s: speech in the first half only."""
    x = np.zeros(6 * SR, np.float32)
    x[: 3 * SR] = sound("speech_male", 3.0)
    x[3 * SR :] += sound("rain", 3.0)
    return x


@pytest.fixture(scope="module")
def reference(detector, talk) -> np.ndarray:
    """Upstream's way: the JIT model called per 512-sample window, with its own state."""
    return detector.stream_probabilities(talk)


def test_batched_path_matches_upstream_window_by_window(detector, talk, reference):
    ours = detector.probabilities([talk])[0]
    assert ours.shape == reference.shape == (int(np.ceil(len(talk) / 512)),)
    assert np.abs(ours - reference).max() < 1e-3
    assert ours[: 3 * SR // 512].max() > 0.9 and ours[-30:].max() < 0.2  # speech, then rain


def test_segments_match_upstream_get_speech_timestamps(detector, talk, reference):
    import torch

    threads = torch.get_num_threads()
    # upstream's state machine (get_speech_timestamps runs it on the stream probabilities);
    from silero_vad import get_speech_timestamps_from_probs  # importing the package sets torch to one thread

    torch.set_num_threads(threads)
    for cfg in (VadConfig(), VadConfig(threshold=0.6, min_silence_s=0.3, speech_pad_s=0.1, min_speech_s=0.1)):
        ref = get_speech_timestamps_from_probs(reference.tolist(), threshold=cfg.threshold,
                                               min_speech_duration_ms=int(cfg.min_speech_s * 1000),
                                               min_silence_duration_ms=int(cfg.min_silence_s * 1000),
                                               speech_pad_ms=int(cfg.speech_pad_s * 1000),
                                               audio_length_samples=len(talk))
        ours = segments(reference, len(talk), cfg)
        assert ours == [(round(d["start"] / SR, 3), round(d["end"] / SR, 3)) for d in ref]
        assert ours and ours[-1][1] < 3.5  # the voice stops at 3 s


def test_batching_does_not_change_a_clip(detector, talk):
    clips = [talk, sound("dog", 2.3), talk[: SR + 100], sound("speech_female", 4.0)]  # mixed lengths
    together = detector.detect(clips)
    alone = [detector.detect([c])[0] for c in clips]
    small = VoiceActivityDetector(VadConfig(max_batch_s=3.0)).detect(clips)  # one clip per call
    for t, a, s, c in zip(together, alone, small, clips):
        assert t.segments == a.segments == s.segments
        assert t.duration_s == round(len(c) / SR, 6)
    assert together[0].speech_s > 2.0 and together[0].fraction == round(together[0].speech_s / 6.0, 4)
    assert together[1].speech_s == 0.0 and together[1].segments == []


def test_demo_sounds_are_not_speech_and_demo_voices_are(detector):
    kinds = list(NON_SPEECH)
    found = detector.detect([sound(k, 3.0) for k in kinds])
    assert {k: r.speech_s for k, r in zip(kinds, found) if r.speech_s > 0} == {}
    voices = detector.detect([sound(k, 4.0) for k in ("speech_male", "speech_female", "conversation")])
    assert all(r.fraction > 0.5 for r in voices), [r.fraction for r in voices]


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed (.ci/run installs it)")
def test_real_synthetic_speech_is_found_over_rain(detector):
    from pipeline.demo.voice import SENTENCES, plant, speak

    spoken, engine = speak(SENTENCES[0], SR, rng_for(0, "x"))
    assert engine.startswith("espeak-ng") and len(spoken) > 2 * SR
    bed = render((Layer("rain"),), rng_for(0, "bed"), SR, 10.0)
    mixed, info = plant(bed, SR, SENTENCES[0], rng_for(0, "x"))
    alone, over_rain, rain = detector.detect([spoken.astype(np.float32), mixed[:, 0], bed[:, 0]])
    assert alone.fraction > 0.6 and rain.speech_s == 0.0
    start, end = info["start_s"], info["start_s"] + info["seconds"]
    assert over_rain.speech_s > 0.6 * info["seconds"]
    assert all(start - 0.2 <= a and b <= end + 0.2 for a, b in over_rain.segments)


def test_reads_files_through_the_project_decoder(detector, tmp_path):
    """What prepare does: a 44.1 kHz stereo file → 16 kHz mono → detector."""
    x = sound("speech_female", 3.0)
    sf.write(tmp_path / "v.wav", np.stack([x, x], 1), SR)
    data, sr = audio.decode(str(tmp_path / "v.wav"))
    y = audio.resample(audio.to_mono(data), sr, 44100)
    sf.write(tmp_path / "v44.flac", y, 44100)
    data, sr = audio.decode(str(tmp_path / "v44.flac"))
    (r,) = detector.detect([audio.resample(audio.to_mono(data), sr, SR)])
    assert r.fraction > 0.5


def test_model_comes_from_the_installed_wheel():
    path = model_path()
    assert path.name == "silero_vad.jit" and path.parent.name == "data" and path.stat().st_size > 100_000
    info = model_info()
    assert info["silero_vad"] >= "6.2.3" and len(info["model_sha256"]) == 16


def test_missing_package_is_a_clear_error(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "silero_vad" else real(name, *a))
    with pytest.raises(VadUnavailable, match=r"silero-vad.*--no-deps"):
        model_path()
    from pipeline.preparing.plan import code_version

    with pytest.raises(SystemExit, match="speech_audio is on but .*silero-vad.*speech_audio: off"):
        code_version(speech=True)
    assert "silero_vad" not in code_version(speech=False)


def test_config_validates():
    with pytest.raises(ValueError, match="unknown"):
        VadConfig.from_dict({"treshold": 0.4})
    with pytest.raises(ValueError, match="threshold"):
        VadConfig.from_dict({"threshold": 1.5})
    with pytest.raises(ValueError, match="neg_threshold"):
        VadConfig.from_dict({"threshold": 0.5, "neg_threshold": 0.7})
    assert VadConfig.from_dict({"min_speech_s": 0.5}).min_speech_s == 0.5
