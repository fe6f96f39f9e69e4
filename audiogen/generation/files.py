"""The files generation reads and writes: caption lists, prompt audio, 16-bit WAVs, loudness."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from audiogen.generation.pipeline import GenerationError


def normalize_loudness(wav: np.ndarray, target_dbfs: float, peak: float = 0.99) -> np.ndarray:
    """Scale to `target_dbfs` RMS, then limit the peak to `peak` (silence stays silence)."""
    rms = float(np.sqrt(np.mean(np.square(wav, dtype=np.float64)))) if wav.size else 0.0
    if rms < 1e-9:
        return wav
    y = wav * (10 ** (target_dbfs / 20) / rms)
    top = float(np.max(np.abs(y)))
    return (y * (peak / top) if top > peak else y).astype(np.float32)


CAPTIONS_FIX = "give a UTF-8 text file with one caption per line"


def read_captions(path: str | Path) -> tuple[list[str], int]:
    """Non-empty lines of a caption file and how many empty lines were skipped. A missing, binary,
    non-UTF-8 or empty file raises GenerationError naming it (`--captions PATH: what; the fix`)."""
    p = Path(path)
    where = f"--captions {p}"
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise GenerationError(f"{where}: no such file ({CAPTIONS_FIX})") from None
    except IsADirectoryError:
        raise GenerationError(f"{where}: is a folder ({CAPTIONS_FIX})") from None
    except OSError as err:
        raise GenerationError(f"{where}: cannot read it: {err.strerror or err}") from None
    if b"\0" in data:  # audio, an archive, a model file: valid UTF-8 is no proof of text
        raise GenerationError(f"{where}: holds NUL bytes, not text ({CAPTIONS_FIX})")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise GenerationError(f"{where}: not UTF-8 text (byte {err.start}): save it as UTF-8, "
                              "one caption per line") from None
    lines = text.splitlines()
    captions = [ln.strip() for ln in lines if ln.strip()]
    if not captions:
        raise GenerationError(f"{where}: no captions (the file is empty or holds only blank lines; {CAPTIONS_FIX})")
    return captions, len(lines) - len(captions)


def read_prompt(path: str | Path) -> tuple[np.ndarray, int]:
    """A prompt file as a mono float32 waveform `[T]` and its sample rate. A missing, unreadable,
    empty or non-finite file raises GenerationError naming it."""
    import soundfile as sf

    p = Path(path)
    where = f"--prompt {p}"
    fix = "give an audio file soundfile reads: WAV, FLAC, OGG or MP3"
    if not p.exists():
        raise GenerationError(f"{where}: no such file ({fix})")
    if p.is_dir():
        raise GenerationError(f"{where}: is a folder ({fix})")
    try:
        x, sr = sf.read(str(p), dtype="float32", always_2d=True)
    except Exception as err:  # libsndfile's errors differ by format (LibsndfileError, RuntimeError, ...)
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise GenerationError(f"{where}: not audio soundfile can read, or cut short ({reason}); {fix}") from None
    if x.size == 0:
        raise GenerationError(f"{where}: no samples (an empty or truncated file; {fix})")
    short = _wav_shortfall(p)
    if short:
        raise GenerationError(f"{where}: cut short: its header declares {short[0]} bytes of samples, the file "
                              f"holds {short[1]} (an interrupted copy or download); copy it again")
    if not np.isfinite(x).all():
        raise GenerationError(f"{where}: holds NaN or infinite samples (a damaged float file); re-export it")
    return x.mean(axis=1), int(sr)


def _wav_shortfall(path: Path) -> tuple[int, int] | None:
    """(declared, present) bytes of a RIFF WAV's `data` chunk when the file ends before it does
    (libsndfile reads such a file without a word); None for complete files and other formats."""
    import struct

    with open(path, "rb") as f:
        if f.read(12)[:4] != b"RIFF":
            return None
        size = path.stat().st_size
        while True:
            head = f.read(8)
            if len(head) < 8:
                return None
            chunk, length = head[:4], struct.unpack("<I", head[4:])[0]
            if chunk == b"data":
                present = size - f.tell()
                # 0 and 0xFFFFFFFF: a streaming writer that never went back to fill the size in
                return (length, present) if 0 < length < 0xFFFFFFFF and present < length else None
            f.seek(length + (length & 1), 1)


def write_wav(path: str | Path, wav: np.ndarray, sr: int) -> None:
    import soundfile as sf

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), wav, sr, subtype="PCM_16")


def slug(text: str, n: int = 40) -> str:
    import re

    s = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    return s[:n] or "untitled"
