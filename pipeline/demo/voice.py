"""Real synthetic speech for the demo: sentences spoken by espeak-ng, hidden in non-speech clips.

The demo plants a few clips whose labels and captions say "rain" or "birds" but where someone
talks over the sound, so that only the audio speech filter (audiogen.speech.vad, in prepare) can find
them. The voice is Debian's `espeak-ng` (`apt-get install espeak-ng`; `.ci/run` installs it),
whose output is byte-identical from run to run for one version (checked: same text, voice and
speed → same WAV); the expectations record the version. Without espeak-ng the demo falls back to
its own formant voice (pipeline.demo.sounds.voice, the sound of the demo's speech-labelled clips,
which the detector also hears as speech), so the demo still runs and its plants are still speech.
"""
from __future__ import annotations

import functools
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass

import numpy as np

ESPEAK = "espeak-ng"


@dataclass(frozen=True)
class Spoken:
    """A sentence planted over a clip: who says it, where it starts (fraction of the clip) and how
    loud it is against the clip's own sound (dB of RMS, speech over background)."""

    text: str
    voice: str = "en-us"
    start: float = 0.15
    snr_db: float = 6.0


# Sentences free of the words the caption filter looks for: the audio alone must give them away.
SENTENCES = (
    Spoken("Turn left at the next corner, then keep going until you see the old bridge.", "en-us", 0.1),
    Spoken("The package arrived this morning, so I put it on the kitchen table.", "en+f3", 0.05),
    Spoken("We should leave before six if we want to catch the last train home.", "en-gb+m3", 0.1),
)


@functools.lru_cache(maxsize=1)
def espeak_version() -> str | None:
    """`espeak-ng 1.51` when the program is installed and runs, else None."""
    exe = shutil.which(ESPEAK)
    if exe is None:
        return None
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    words = out.split()
    version = next((w for w in words if w[:1].isdigit()), "?")
    return f"{ESPEAK} {version}"


@functools.lru_cache(maxsize=16)
def _espeak(text: str, voice: str) -> tuple[np.ndarray, int]:
    """espeak-ng's WAV for `text` → (mono float64 `[T]`, its sample rate)."""
    import soundfile as sf

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "spoken.wav")
        subprocess.run([ESPEAK, "-v", voice, "-s", "150", "-w", path, text], check=True, capture_output=True,
                       timeout=60)
        x, sr = sf.read(path, dtype="float64", always_2d=True)
    return x.mean(axis=1), sr


def speak(spoken: Spoken, sr: int, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """The sentence as mono float64 `[T]` at `sr`, and what spoke it (espeak-ng, else the formant voice)."""
    from pipeline.demo.sounds import resample, voice

    engine = espeak_version()
    if engine is not None:
        x, rate = _espeak(spoken.text, spoken.voice)
        return (resample(x, rate, sr) if rate != sr else x), engine
    seconds = 0.075 * len(spoken.text.split()) * 4  # about espeak's pace at 150 words per minute
    f0 = 210.0 if "f" in spoken.voice.split("+")[-1] else 115.0
    return voice(rng, sr, int(seconds * sr), f0, 1.15 if f0 > 150 else 1.0), "formant voice (espeak-ng not installed)"


def plant(audio: np.ndarray, sr: int, spoken: Spoken, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """Mix the sentence into `audio` `[frames, channels]` (float32); returns the new audio and the
    expectation fields (`text`, `voice`, `engine`, `start_s`, `seconds`)."""
    speech, engine = speak(spoken, sr, rng)
    start = int(spoken.start * len(audio))
    speech = speech[: max(0, len(audio) - start)]
    bed = float(np.sqrt(np.mean(audio.astype(np.float64) ** 2)) + 1e-9)
    level = float(np.sqrt(np.mean(speech**2)) + 1e-9)
    out = audio.astype(np.float64)
    out[start : start + len(speech)] += (speech * bed / level * 10 ** (spoken.snr_db / 20))[:, None]
    out *= min(1.0, 0.7 / (np.max(np.abs(out)) + 1e-12))  # headroom: prepare's clipping gate is at 0.999
    info = {"text": spoken.text, "voice": spoken.voice, "engine": engine,
            "start_s": round(start / sr, 3), "seconds": round(len(speech) / sr, 3)}
    return out.astype(np.float32), info
