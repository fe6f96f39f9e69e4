"""Procedural sound synthesisers for the embedded demo corpora (`python -m pipeline.demo`).

Every synthesiser has the signature `fn(rng, sr, n) -> np.ndarray` of shape `[n]` (float64, mono,
roughly unit RMS before `render` normalises it) and draws all randomness from the numpy Generator
it is given, so a clip's audio depends only on (seed, clip identity). The sounds are crude but
recognisable and, above all, describable: a siren sweeps up and down, rain is dense bright
noise with droplet clicks, a dog barks in short harmonic bursts, speech is a formant-filtered
glottal buzz in syllables. No scipy: filtering is done in the frequency domain with numpy FFTs.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

Synth = Callable[[np.random.Generator, int, int], np.ndarray]


# ---------------------------------------------------------------------------------------------
# building blocks
def resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Band-limited resampling (soxr, deterministic)."""
    import soxr

    return soxr.resample(x, sr_in, sr_out, quality="HQ")


def _fit(x: np.ndarray, n: int) -> np.ndarray:
    return x[:n] if len(x) >= n else np.pad(x, (0, n - len(x)))


def _time(n: int, sr: int) -> np.ndarray:
    return np.arange(n) / sr


def band_noise(rng: np.random.Generator, n: int, sr: int, lo: float, hi: float, tilt: float = 0.0) -> np.ndarray:
    """White noise shaped by a smooth band-pass (4th-order-like skirts) and a spectral tilt in
    dB/octave (negative = darker). Returns `[n]` at unit RMS."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1.0 / sr)
    f[0] = 1e-3
    gain = 1.0 / (1.0 + (lo / f) ** 4) / (1.0 + (f / hi) ** 4)
    if tilt:
        gain *= (f / max(lo, 1.0)) ** (tilt / 6.02)
    x = np.fft.irfft(spec * gain, n)
    return x / (np.sqrt(np.mean(x**2)) + 1e-12)


def smooth_random(rng: np.random.Generator, n: int, sr: int, rate_hz: float) -> np.ndarray:
    """A slowly varying random curve in [0, 1] (control signal), `[n]`, changing at about `rate_hz`."""
    k = max(2, int(n / sr * rate_hz) + 2)
    pts = rng.random(k)
    x = np.interp(np.linspace(0, k - 1, n), np.arange(k), pts)
    # cosine smoothing of the linear interpolation
    return 0.5 - 0.5 * np.cos(np.pi * x)


def add_at(out: np.ndarray, event: np.ndarray, start: int) -> None:
    """Mix `event` into `out` starting at sample `start`, cropping at both ends."""
    if start >= len(out) or start + len(event) <= 0:
        return
    a, b = max(start, 0), min(start + len(event), len(out))
    out[a:b] += event[a - start : b - start]


def decay_env(n: int, sr: int, attack_s: float, tau_s: float) -> np.ndarray:
    t = _time(n, sr)
    return np.minimum(t / max(attack_s, 1e-4), 1.0) * np.exp(-t / tau_s)


def click(rng: np.random.Generator, sr: int, seconds: float, lo: float, hi: float, tau_s: float) -> np.ndarray:
    n = max(8, int(seconds * sr))
    return band_noise(rng, n, sr, lo, hi) * decay_env(n, sr, 0.0005, tau_s)


def overlay(*parts: np.ndarray) -> np.ndarray:
    """Sum arrays of different lengths (zero-padded to the longest)."""
    out = np.zeros(max(len(p) for p in parts))
    for p in parts:
        out[: len(p)] += p
    return out


def damped_sine(sr: int, seconds: float, freq: float, tau_s: float, phase: float = 0.0) -> np.ndarray:
    t = _time(max(8, int(seconds * sr)), sr)
    return np.sin(2 * np.pi * freq * t + phase) * np.exp(-t / tau_s)


# ---------------------------------------------------------------------------------------------
# environmental sounds
def siren(rng: np.random.Generator, sr: int, n: int) -> np.ndarray:
    """Wailing siren: a buzzy tone whose pitch rises and falls (900 ± 400 Hz, 2–3 s period)."""
    t = _time(n, sr)
    period = rng.uniform(2.0, 3.0)
    f = rng.uniform(800, 1000) + rng.uniform(300, 450) * np.sin(2 * np.pi * t / period - np.pi / 2)
    phase = 2 * np.pi * np.cumsum(f) / sr
    return np.sin(phase) + 0.4 * np.sin(2 * phase) + 0.2 * np.sin(3 * phase)


def rain(rng: np.random.Generator, sr: int, n: int) -> np.ndarray:
    """Steady rain: bright hiss plus dense random droplet clicks."""
    hiss = band_noise(rng, n, sr, 800, 9000, tilt=-2.0)
    drops = np.zeros(n)
    bank = [click(rng, sr, 0.02, 1500, 7000, 0.004) for _ in range(8)]  # reuse: clicks are costly
    for _ in range(int(n / sr * rng.uniform(30, 60))):
        add_at(drops, rng.uniform(0.3, 1.0) * bank[int(rng.integers(0, 8))], int(rng.integers(0, n)))
    return 0.5 * hiss + 1.5 * drops


def wind(rng: np.random.Generator, sr: int, n: int) -> np.ndarray:
    """Gusty wind: dark noise with slow swells, plus a faint whistling band."""
    gust = 0.25 + 0.75 * smooth_random(rng, n, sr, 0.8)
    body = band_noise(rng, n, sr, 40, 900, tilt=-4.0) * gust
    whistle = band_noise(rng, n, sr, 500, 800) * smooth_random(rng, n, sr, 1.5) ** 2
    return body + 0.3 * whistle


def stream(rng: np.random.Generator, sr: int, n: int) -> np.ndarray:
    """Babbling water stream: mid-band noise with fast flutter and rising bubble blips."""
    flutter = 0.5 + 0.5 * smooth_random(rng, n, sr, 15.0)
    x = band_noise(rng, n, sr, 250, 4000) * flutter
    for _ in range(int(n / sr * 18)):
        m = int(sr * rng.uniform(0.015, 0.04))
        t = _time(m, sr)
        f0 = rng.uniform(400, 900)
        blip = np.sin(2 * np.pi * np.cumsum(f0 * (1 + 1.5 * t / t[-1])) / sr) * np.hanning(m)
        add_at(x, rng.uniform(0.5, 1.5) * blip, int(rng.integers(0, n)))
    return x


def thunder(rng: np.random.Generator, sr: int, n: int) -> np.ndarray:
    """Thunder: a crack, then a long low rumble that swells and dies away."""
    out = np.zeros(n)
    start = int(n * rng.uniform(0.05, 0.25))
    m = n - start
    rumble = band_noise(rng, m, sr, 20, 250, tilt=-3.0) * (0.4 + 0.6 * smooth_random(rng, m, sr, 3.0))
    env = decay_env(m, sr, 0.15, rng.uniform(1.2, 2.5))
    add_at(out, rumble * env, start)
    add_at(out, 1.5 * click(rng, sr, 0.12, 200, 6000, 0.03), start)
    return out


def engine_idle(rng: np.random.Generator, sr: int, n: int) -> np.ndarray:
    """Idling engine: a low harmonic hum at a steady firing rate (25–40 Hz) with rough noise."""
    f0 = rng.uniform(25, 40) * (1 + 0.02 * (smooth_random(rng, n, sr, 2.0) - 0.5))
    return _engine(rng, sr, n, f0)


def engine_rev(rng: np.random.Generator, sr: int, n: int) -> np.ndarray:
    """Revving engine: the firing rate climbs from idle to about three times idle and back."""
    t = _time(n, sr) / (n / sr)
    base = rng.uniform(28, 35)
    f0 = base * (1 + 2.0 * np.sin(np.pi * np.clip(t * 1.2, 0, 1)) ** 2)
    return _engine(rng, sr, n, f0)


def _engine(rng: np.random.Generator, sr: int, n: int, f0: np.ndarray) -> np.ndarray:
    phase = 2 * np.pi * np.cumsum(f0) / sr
    x = sum(np.sin(k * phase + rng.uniform(0, 2 * np.pi)) / k for k in range(1, 13))
    rough = band_noise(rng, n, sr, 30, 600) * (0.6 + 0.4 * np.sin(phase))
    return x + 0.5 * rough


def clock(rng: np.random.Generator, sr: int, n: int) -> np.ndarray:
    """Clock ticking: alternating tick and tock clicks every half second."""
    out = np.zeros(n)
    period = rng.uniform(0.48, 0.52)
    for i, start in enumerate(np.arange(rng.uniform(0.05, 0.3), n / sr, period)):
        freq = 3200 if i % 2 == 0 else 2400
        tick = overlay(damped_sine(sr, 0.03, freq, 0.006), 0.5 * click(rng, sr, 0.01, 2000, 8000, 0.002))
        add_at(out, tick, int(start * sr))
    return out


def birds(rng: np.random.Generator, sr: int, n: int) -> np.ndarray:
    """Bird chirps: groups of quick high frequency sweeps (2.5–6 kHz)."""
    out = np.zeros(n)
    t0 = rng.uniform(0.0, 0.3)
    while t0 < n / sr:
        for _ in range(int(rng.integers(2, 6))):
            m = int(sr * rng.uniform(0.05, 0.12))
            s = _time(m, sr) / (m / sr)
            f = rng.uniform(2800, 4500) + rng.choice([-1, 1]) * rng.uniform(800, 1600) * s
            f = f * (1 + 0.03 * np.sin(2 * np.pi * 40 * s))
            ph = 2 * np.pi * np.cumsum(f) / sr
            chirp = (np.sin(ph) + 0.2 * np.sin(2 * ph)) * np.sin(np.pi * s) ** 2
            add_at(out, rng.uniform(0.5, 1.0) * chirp, int(t0 * sr))
            t0 += m / sr + rng.uniform(0.03, 0.1)
        t0 += rng.uniform(0.3, 0.9)
    return out


def dog(rng: np.random.Generator, sr: int, n: int) -> np.ndarray:
    """Dog barking: short harmonic bursts with a falling pitch, in groups of one to three."""
    out = np.zeros(n)
    t0 = rng.uniform(0.05, 0.3)
    pitch = rng.uniform(380, 520)
    while t0 < n / sr:
        for _ in range(int(rng.integers(1, 4))):
            m = int(sr * rng.uniform(0.12, 0.2))
            s = _time(m, sr) / (m / sr)
            f = pitch * (1.05 - 0.35 * s)
            ph = 2 * np.pi * np.cumsum(f) / sr
            tone = sum(np.sin(k * ph) / k**0.8 for k in range(1, 9))
            noise = band_noise(rng, m, sr, 300, 3000)
            env = decay_env(m, sr, 0.008, 0.06)
            add_at(out, (tone + 0.8 * noise) * env, int(t0 * sr))
            t0 += m / sr + rng.uniform(0.12, 0.25)
        t0 += rng.uniform(0.6, 1.2)
    return out


def bell(rng: np.random.Generator, sr: int, n: int) -> np.ndarray:
    """Church-like bell: inharmonic partials (hum, prime, tierce, quint, nominal) with long decays."""
    out = np.zeros(n)
    base = rng.uniform(250, 450)
    ratios = (0.5, 1.0, 1.19, 1.5, 2.0, 2.52, 2.66, 3.01, 4.17)
    period = rng.uniform(1.2, 2.0)
    for start in np.arange(rng.uniform(0.0, 0.2), n / sr, period):
        strike = sum(
            damped_sine(sr, 3.0, base * r, 2.5 / (1 + i * 0.6), rng.uniform(0, 6.28)) / (1 + 0.3 * i)
            for i, r in enumerate(ratios)
        )
        add_at(out, strike, int(start * sr))
    return out


def chime(rng: np.random.Generator, sr: int, n: int) -> np.ndarray:
    """Wind chimes: bright metal-rod partials (1, 2.76, 5.4) struck at random moments."""
    out = np.zeros(n)
    notes = rng.uniform(900, 1800, size=5)
    for start in np.sort(rng.uniform(0, n / sr, size=max(2, int(n / sr * 3)))):
        f = notes[int(rng.integers(0, len(notes)))]
        tone = sum(damped_sine(sr, 2.0, f * r, 1.2 / r) / r for r in (1.0, 2.76, 5.40))
        add_at(out, rng.uniform(0.4, 1.0) * tone, int(start * sr))
    return out


def footsteps(rng: np.random.Generator, sr: int, n: int) -> np.ndarray:
    """Footsteps: a low heel thud and a short scuff every ~0.55 s."""
    out = np.zeros(n)
    period = rng.uniform(0.5, 0.62)
    for i, start in enumerate(np.arange(rng.uniform(0.05, 0.25), n / sr, period)):
        thud = overlay(damped_sine(sr, 0.12, rng.uniform(70, 110), 0.03), 0.6 * click(rng, sr, 0.08, 60, 700, 0.03))
        scuff = 0.3 * click(rng, sr, 0.06, 1000, 5000, 0.02)
        add_at(out, (1.0 if i % 2 else 0.8) * thud, int(start * sr))
        add_at(out, scuff, int((start + 0.04) * sr))
    return out


def knock(rng: np.random.Generator, sr: int, n: int) -> np.ndarray:
    """Knocking on a wooden door: groups of three quick knocks."""
    out = np.zeros(n)
    t0 = rng.uniform(0.1, 0.4)
    while t0 < n / sr:
        for _ in range(3):
            hit = damped_sine(sr, 0.1, 180, 0.03) + 0.6 * damped_sine(sr, 0.1, 430, 0.015)
            hit = overlay(hit, 0.4 * click(rng, sr, 0.02, 800, 5000, 0.004))
            add_at(out, hit, int(t0 * sr))
            t0 += rng.uniform(0.16, 0.22)
        t0 += rng.uniform(1.0, 1.6)
    return out


def applause(rng: np.random.Generator, sr: int, n: int) -> np.ndarray:
    """Applause: a dense crowd of short hand claps that swells in and fades out."""
    out = np.zeros(n)
    bank = [click(rng, sr, 0.015, lo, lo * 3, 0.004) for lo in rng.uniform(600, 1500, size=12)]
    for _ in range(int(n / sr * rng.uniform(80, 140))):
        add_at(out, rng.uniform(0.3, 1.0) * bank[int(rng.integers(0, 12))], int(rng.integers(0, n)))
    t = _time(n, sr) / (n / sr)
    return out * np.minimum(t / 0.15, 1.0) * np.minimum((1 - t) / 0.25, 1.0).clip(0.05)


def beeps(rng: np.random.Generator, sr: int, n: int) -> np.ndarray:
    """Electronic beeps: a pure tone switched on and off in a regular pattern."""
    out = np.zeros(n)
    f = rng.choice([880.0, 1000.0, 1200.0, 1600.0])
    on, off = rng.uniform(0.1, 0.2), rng.uniform(0.15, 0.35)
    for start in np.arange(rng.uniform(0.05, 0.2), n / sr, on + off):
        m = int(on * sr)
        ramp = np.minimum(1.0, np.minimum(np.arange(m), np.arange(m)[::-1]) / (0.004 * sr))
        add_at(out, np.sin(2 * np.pi * f * _time(m, sr)) * ramp, int(start * sr))
    return out


# ---------------------------------------------------------------------------------------------
# voice-like sounds (speech-labelled demo clips)
# Formant frequencies (F1, F2, F3) of five vowels, adult male; scaled up for women and children.
_VOWELS = np.array([[730, 1090, 2440], [270, 2290, 3010], [300, 870, 2240], [530, 1840, 2480], [570, 840, 2410]], float)
_BANDWIDTHS = np.array([80.0, 100.0, 150.0])


VOICE_SR = 16000


def voice(rng: np.random.Generator, sr: int, n: int, f0_hz: float, formant_scale: float = 1.0) -> np.ndarray:
    """One talker at `sr` (synthesised at 16 kHz, where all of its energy lies, then resampled)."""
    if sr == VOICE_SR:
        return _voice16k(rng, n, f0_hz, formant_scale)
    x = _voice16k(rng, int(np.ceil(n * VOICE_SR / sr)) + 1, f0_hz, formant_scale)
    return _fit(resample(x, VOICE_SR, sr), n)


def _voice16k(rng: np.random.Generator, n: int, f0_hz: float, formant_scale: float) -> np.ndarray:
    """Speech-like babble of one talker: phrases of 3–8 syllables, each a voiced vowel (additive
    harmonics of a glottal buzz shaped by three formant resonances), declining pitch per phrase,
    some fricative noise at syllable onsets. Unintelligible, but clearly 'someone talking'."""
    sr = VOICE_SR
    hop = 64
    frames = n // hop + 2
    f0 = np.zeros(frames)
    formants = np.zeros((frames, 3))
    loud = np.zeros(frames)
    fric = np.zeros(n)
    t = rng.uniform(0.05, 0.3)
    dur = n / sr
    while t < dur:
        syllables = int(rng.integers(3, 9))
        start = t
        for i in range(syllables):
            length = rng.uniform(0.14, 0.28)
            a, b = int(t * sr / hop), int(min(t + length, dur) * sr / hop)
            if b <= a:
                break
            decl = 1.0 - 0.15 * (t - start) / 1.5
            f0[a:b] = f0_hz * decl * (1 + 0.08 * np.sin(np.linspace(0, np.pi, b - a)))
            formants[a:b] = _VOWELS[int(rng.integers(0, 5))] * formant_scale
            loud[a:b] = np.sin(np.linspace(0, np.pi, b - a)) ** 0.5 * rng.uniform(0.6, 1.0)
            if rng.random() < 0.35:
                add_at(fric, 0.25 * click(rng, sr, 0.06, 3500, 8000, 0.03), int(t * sr))
            t += length + rng.uniform(0.0, 0.05)
        t += rng.uniform(0.25, 0.6)
    # smooth the control tracks (coarticulation) with a short moving average
    kern = np.ones(5) / 5
    formants = np.stack([np.convolve(formants[:, j], kern, "same") for j in range(3)], axis=1)
    loud = np.convolve(loud, kern, "same")
    f0_filled = np.where(f0 > 0, f0, f0_hz)
    pos = np.arange(n) / hop
    f0_s = np.interp(pos, np.arange(frames), f0_filled)
    phase = 2 * np.pi * np.cumsum(f0_s) / sr
    out = np.zeros(n)
    kmax = int(4500 / f0_hz)
    for k in range(1, kmax + 1):
        fk = k * f0_filled  # [frames]
        gain = sum(1.0 / (1.0 + ((fk - formants[:, j]) / _BANDWIDTHS[j]) ** 2) / (j + 1) for j in range(3))
        amp = np.interp(pos, np.arange(frames), gain * loud) / k**0.5
        out += amp * np.sin(k * phase)
    return out + fric


def speech_male(rng: np.random.Generator, sr: int, n: int) -> np.ndarray:
    return voice(rng, sr, n, rng.uniform(100, 130), 1.0)


def speech_female(rng: np.random.Generator, sr: int, n: int) -> np.ndarray:
    return voice(rng, sr, n, rng.uniform(190, 230), 1.15)


def speech_child(rng: np.random.Generator, sr: int, n: int) -> np.ndarray:
    return voice(rng, sr, n, rng.uniform(260, 320), 1.3)


def narration(rng: np.random.Generator, sr: int, n: int) -> np.ndarray:
    """One calm low voice speaking steadily (a narrator)."""
    return voice(rng, sr, n, rng.uniform(95, 115), 1.0)


def conversation(rng: np.random.Generator, sr: int, n: int) -> np.ndarray:
    """Two talkers (a low and a higher voice) taking turns."""
    a, b = speech_male(rng, sr, n), speech_female(rng, sr, n)
    turn = (np.floor(_time(n, sr) / rng.uniform(1.2, 1.8)) % 2).astype(float)
    ramp = np.convolve(turn, np.ones(256) / 256, "same")
    return a * (1 - ramp) + b * ramp


def babble(rng: np.random.Generator, sr: int, n: int) -> np.ndarray:
    """Hubbub: four overlapping distant talkers, blurred by room noise."""
    voices = sum(voice(rng, sr, n, rng.uniform(100, 240), rng.uniform(1.0, 1.2)) for _ in range(4))
    return voices / 2.5 + 0.3 * band_noise(rng, n, sr, 200, 3000, tilt=-3.0)


SYNTHS: dict[str, Synth] = {
    fn.__name__: fn
    for fn in (
        siren, rain, wind, stream, thunder, engine_idle, engine_rev, clock, birds, dog, bell, chime, footsteps,
        knock, applause, beeps, speech_male, speech_female, speech_child, narration, conversation, babble,
    )
}


@dataclass(frozen=True)
class Layer:
    """One sound in a scene: synthesiser name, level in dB, and the part of the clip it covers
    (fractions of the clip length, so that 'A, then B' captions stay true at any duration)."""

    synth: str
    gain_db: float = 0.0
    start: float = 0.0
    end: float = 1.0


SYNTH_SR = 32000


def render(layers: tuple[Layer, ...], rng: np.random.Generator, sr: int, seconds: float,
           channels: int = 1, peak: float = 0.5) -> np.ndarray:
    """Mix the layers into a clip of shape `[frames, channels]` (float32, peak `peak` ± 3 dB).

    Extra channels are the mono mix with a small per-channel delay, gain and decorrelated hiss, so
    multichannel files are not trivially identical channels."""
    n_out = int(round(seconds * sr))
    # Synthesise at most at 32 kHz (every sound's energy lies below 16 kHz) and resample: 96 kHz
    # files then cost no more than 32 kHz ones.
    sr_out, sr = sr, min(sr, SYNTH_SR)
    n = int(np.ceil(n_out * sr / sr_out))
    mono = np.zeros(n)
    for layer in layers:
        a, b = int(layer.start * n), int(layer.end * n)
        x = SYNTHS[layer.synth](rng, sr, max(b - a, 1))
        x = x / (np.sqrt(np.mean(x**2)) + 1e-12)
        fade = min(int(0.01 * sr), (b - a) // 4)
        if fade > 0:  # click-free layer edges
            x[:fade] *= np.linspace(0, 1, fade)
            x[-fade:] *= np.linspace(1, 0, fade)
        mono[a:b] += x * 10 ** (layer.gain_db / 20)
    if sr != sr_out:
        mono = _fit(resample(mono, sr, sr_out), n_out)
    n = n_out
    mono *= peak * 10 ** (rng.uniform(-3, 0) / 20) / (np.max(np.abs(mono)) + 1e-12)
    if channels == 1:
        return mono[:, None].astype(np.float32)
    out = np.empty((n, channels))
    for c in range(channels):
        delay = int(rng.integers(0, int(0.002 * sr_out) + 1)) if c else 0
        out[:, c] = np.roll(mono, delay) * rng.uniform(0.8, 1.0) + 0.003 * rng.standard_normal(n)
    return np.clip(out, -1.0, 1.0).astype(np.float32)
