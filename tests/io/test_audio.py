"""audiogen.io.audio on real files written here: every format and bit depth, downmix, offsets,
segmenting, both resamplers (agreement and anti-aliasing), PCM_16/FLAC coding."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from audiogen.io import audio

SR_OUT = 16000


def tone(freq: float, sr: int, seconds: float, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def dominant_freq(x: np.ndarray, sr: int) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spec) * sr / len(x))


def snr_db(ref: np.ndarray, test: np.ndarray) -> float:
    noise = np.sum((ref - test).astype(np.float64) ** 2)
    return float(10 * np.log10(np.sum(ref.astype(np.float64) ** 2) / max(noise, 1e-20)))


def write_chunked(path, x: np.ndarray, sr: int, fmt: str, subtype: str) -> None:
    """OGG/MP3 encoders want modest writes; mono or [T, C]."""
    channels = 1 if x.ndim == 1 else x.shape[1]
    with sf.SoundFile(path, "w", samplerate=sr, channels=channels, format=fmt, subtype=subtype) as f:
        for i in range(0, len(x), 4096):
            f.write(x[i : i + 4096])


def decode_all(path, offset_s=0.0, duration_s=None, segment_s=60.0, method="soxr") -> list[np.ndarray]:
    return [audio.resample_window(w, SR_OUT, method)
            for w in audio.iter_windows(str(path), offset_s, duration_s, segment_s, 0.5, SR_OUT)]


LOSSLESS = [
    ("WAV", "PCM_16", "wav"), ("WAV", "PCM_24", "wav"), ("WAV", "PCM_32", "wav"), ("WAV", "FLOAT", "wav"),
    ("WAV", "DOUBLE", "wav"), ("FLAC", "PCM_16", "flac"), ("FLAC", "PCM_24", "flac"), ("AIFF", "PCM_16", "aiff"),
    ("AIFF", "PCM_24", "aif"),
]
LOSSY = [("OGG", "VORBIS", "ogg"), ("OGG", "OPUS", "opus"), ("MP3", "MPEG_LAYER_III", "mp3")]


@pytest.mark.parametrize("fmt,subtype,ext", LOSSLESS)
def test_lossless_formats_decode_exactly_after_resampling(tmp_path, fmt, subtype, ext):
    x = tone(1000, 48000, 2.0)
    path = tmp_path / f"x.{ext}"
    sf.write(path, x, 48000, format=fmt, subtype=subtype)
    (y,) = decode_all(path)
    ref = audio.resample(x, 48000, SR_OUT)
    assert len(y) == 2 * SR_OUT
    assert snr_db(ref[100:-100], y[100:-100]) > 60  # 16-bit quantisation is ~90 dB below this tone


@pytest.mark.parametrize("fmt,subtype,ext", LOSSY)
def test_lossy_formats_decode_to_the_right_tone(tmp_path, fmt, subtype, ext):
    sr = 48000 if subtype == "OPUS" else 44100
    x = tone(1000, sr, 2.0)
    path = tmp_path / f"x.{ext}"
    write_chunked(path, x, sr, fmt, subtype)
    (y,) = decode_all(path)
    assert abs(len(y) - 2 * SR_OUT) < 0.1 * SR_OUT  # codec padding may add or drop a frame
    assert abs(dominant_freq(y, SR_OUT) - 1000) < 5
    assert abs(audio.rms_dbfs(y[4000:-4000]) - audio.rms_dbfs(x)) < 1.5


def test_stereo_and_multichannel_downmix_average_channels(tmp_path):
    x = tone(500, 16000, 1.0)
    stereo = np.stack([x, -x], axis=1)  # opposite phase: the mean cancels
    sf.write(tmp_path / "s.wav", stereo, 16000, subtype="FLOAT")
    (y,) = decode_all(tmp_path / "s.wav")
    assert np.max(np.abs(y)) < 1e-6
    six = np.stack([x * k for k in (1, 2, 3, 0, 0, 0)], axis=1) / 4  # 5.1 layout
    sf.write(tmp_path / "m.wav", six, 16000, subtype="FLOAT")
    (y,) = decode_all(tmp_path / "m.wav")
    np.testing.assert_allclose(y, x * 6 / 6 / 4, atol=1e-6)


def test_offset_and_duration_select_the_window(tmp_path):
    sr = 16000
    ramp = (np.arange(5 * sr) / (5 * sr)).astype(np.float32)  # value tells the position
    sf.write(tmp_path / "r.wav", ramp, sr, subtype="FLOAT")
    (y,) = decode_all(tmp_path / "r.wav", offset_s=2.0, duration_s=1.5)
    assert len(y) == int(1.5 * sr)
    np.testing.assert_allclose(y, ramp[2 * sr : int(3.5 * sr)], atol=1e-6)
    x, rate = audio.decode(str(tmp_path / "r.wav"), 4.0, 10.0)  # runs past the end: clamped
    assert rate == sr and x.shape == (sr, 1)


def test_segmenting_keeps_tails_of_at_least_min_segment(tmp_path):
    sf.write(tmp_path / "l.wav", tone(300, 22050, 25.0), 22050)
    sizes = [len(w.core) for w in audio.iter_windows(str(tmp_path / "l.wav"), 0, None, 10.0, 4.0, SR_OUT)]
    assert sizes == [220500, 220500, 110250]
    windows = list(audio.iter_windows(str(tmp_path / "l.wav"), 0, None, 10.0, 6.0, SR_OUT))
    assert [w.index for w in windows] == [0, 1] and windows[-1].window_end - windows[-1].core_end == 110250
    clips = [audio.resample_window(w, SR_OUT, "soxr") for w in windows]
    assert [len(c) for c in clips] == [160000, 160000]
    # segments resampled separately join the one-shot resampling without a seam
    whole = audio.resample(tone(300, 22050, 25.0), 22050, SR_OUT)[:320000]
    assert snr_db(whole[1000:-1000], np.concatenate(clips)[1000:-1000]) > 50


@pytest.mark.parametrize("content,reason", [(None, "undecodable"), (np.zeros(0, np.float32), "empty"),
                                            (np.zeros(4000, np.float32), "too_short")])
def test_file_level_errors_carry_a_reason_and_the_path(tmp_path, content, reason):
    path = tmp_path / "bad.wav"
    if content is None:
        path.write_bytes(b"RIFF\x00\x00not really a wav")
    else:
        sf.write(path, content, 16000)
    with pytest.raises(audio.AudioError) as err:
        list(audio.iter_windows(str(path), 0, None, 10.0, 1.0, SR_OUT))
    assert err.value.reason == reason and str(path) in err.value.detail


def test_resamplers_agree_on_a_band_limited_signal():
    sr = 44100
    rng = np.random.default_rng(0)
    t = np.arange(3 * sr) / sr
    x = sum(0.1 * np.sin(2 * np.pi * f * t + rng.uniform(0, 6)) for f in (110, 440, 1234, 3000, 4700, 6000))
    # band-limited to 6 kHz: inside both passbands (soxr HQ and kaiser_best roll off differently above ~7 kHz)
    a = audio.resample(x.astype(np.float32), sr, SR_OUT, "soxr")
    b = audio.resample(x.astype(np.float32), sr, SR_OUT, "resampy")
    assert len(a) == len(b) == 3 * SR_OUT
    assert snr_db(a[2000:-2000], b[2000:-2000]) > 40


@pytest.mark.parametrize("method", ["soxr", "resampy"])
@pytest.mark.parametrize("freq", [9000, 12000])
def test_no_aliasing_of_tones_above_8khz(method, freq):
    x = tone(freq, 44100, 1.0, amp=0.9)
    y = audio.resample(x, 44100, SR_OUT, method)[1000:-1000]
    # a tone above Nyquist must vanish, not fold back to 16000 - freq
    assert audio.rms_dbfs(y) - audio.rms_dbfs(x) < -60
    inband = audio.resample(tone(6000, 44100, 1.0, amp=0.9), 44100, SR_OUT, method)[1000:-1000]
    assert abs(audio.rms_dbfs(inband) - audio.rms_dbfs(x)) < 0.5


def test_pcm16_clips_instead_of_wrapping_and_flac_is_deterministic():
    pcm = audio.to_pcm16(np.array([0.0, 0.5, 1.5, -2.0, 1.0], np.float32))
    assert pcm.tolist() == [0, 16384, 32767, -32768, 32767]
    x = audio.to_pcm16(tone(440, SR_OUT, 1.0) + np.random.default_rng(1).normal(0, 0.01, SR_OUT).astype(np.float32))
    a, b = audio.encode_flac(x, SR_OUT), audio.encode_flac(x.copy(), SR_OUT)
    assert a == b and a[:4] == b"fLaC"
    y, sr = audio.decode_bytes(a)
    assert sr == SR_OUT and np.array_equal(audio.to_pcm16(y * 32768 / 32767), x)


def test_levels_and_clipping_measures():
    x = tone(100, 16000, 1.0, amp=1.0)
    assert abs(audio.peak_dbfs(x)) < 0.01 and abs(audio.rms_dbfs(x) + 3.01) < 0.05
    assert audio.peak_dbfs(np.zeros(10)) == -200.0
    square = np.sign(x)
    assert audio.clipped_fraction(square, 0.999) > 0.95
    assert audio.clipped_fraction(x * 0.5, 0.999) == 0.0
