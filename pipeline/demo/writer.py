"""Byte-deterministic file writers for the demo corpora and the per-corpus expectation recorder.

libsndfile is deterministic except in two places, both fixed here: a float WAV's `PEAK` chunk
carries the wall-clock time (we drop the chunk), and an Ogg stream gets a random serial number (we
rewrite it, with each page's CRC, from the seed). MP3 (LAME) output was checked to be identical
across runs. WAV `bext` and `LIST/INFO` chunks and MP3 ID3 tags are written by hand.
"""
from __future__ import annotations

import csv
import hashlib
import io
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from pipeline.demo.catalog import Scene
from pipeline.demo.sounds import render
from pipeline.demo.voice import Spoken, plant

YT_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def stable_int(*parts: Any) -> int:
    return int.from_bytes(hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()[:8], "little")


def rng_for(seed: int, *parts: Any) -> np.random.Generator:
    """A generator that depends only on the seed and a stable identity (not on call order)."""
    return np.random.default_rng(np.random.SeedSequence([seed, stable_int(*parts)]))


# ---------------------------------------------------------------------------------------------
# RIFF chunk surgery
def _riff_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError("not a RIFF/WAVE stream")
    chunks, pos = [], 12
    while pos + 8 <= len(data):
        cid, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        chunks.append((cid, data[pos + 8 : pos + 8 + size]))
        pos += 8 + size + (size & 1)
    return chunks


def _riff_join(chunks: list[tuple[bytes, bytes]]) -> bytes:
    body = b"".join(cid + struct.pack("<I", len(p)) + p + (b"\0" if len(p) & 1 else b"") for cid, p in chunks)
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WAVE" + body


def bext_chunk(description: str, originator: str = "audiogen demo", date: str = "2020-01-01") -> bytes:
    """A BWF `bext` chunk (EBU Tech 3285 v1): 256-byte description, originator, reference, date,
    time, time reference, version, UMID, loudness fields, reserved, empty coding history."""
    enc = lambda s, n: s.encode("latin-1")[:n].ljust(n, b"\0")  # noqa: E731
    return (enc(description, 256) + enc(originator, 32) + enc("DEMO0001", 32) + enc(date, 10) + enc("12:00:00", 8)
            + struct.pack("<QH", 0, 1) + b"\0" * 64 + b"\0" * 10 + b"\0" * 180)


def info_chunk(tags: dict[str, str]) -> bytes:
    """A `LIST` chunk payload of type INFO, e.g. {"INAM": title, "ICMT": comment}."""
    out = b"INFO"
    for key, text in tags.items():
        value = text.encode("latin-1") + b"\0"
        out += key.encode("ascii") + struct.pack("<I", len(value)) + value + (b"\0" if len(value) & 1 else b"")
    return out


def id3v23(title: str) -> bytes:
    """A minimal ID3v2.3 tag with one TIT2 (title) frame, latin-1."""
    text = b"\0" + title.encode("latin-1")
    frame = b"TIT2" + struct.pack(">I", len(text)) + b"\0\0" + text
    size = len(frame)
    syncsafe = bytes([(size >> 21) & 0x7F, (size >> 14) & 0x7F, (size >> 7) & 0x7F, size & 0x7F])
    return b"ID3\x03\x00\x00" + syncsafe + frame


# ---------------------------------------------------------------------------------------------
# Ogg serial rewrite
def _ogg_crc_table() -> list[int]:
    table = []
    for i in range(256):
        r = i << 24
        for _ in range(8):
            r = ((r << 1) ^ 0x04C11DB7) if r & 0x80000000 else (r << 1)
        table.append(r & 0xFFFFFFFF)
    return table


_OGG_CRC = _ogg_crc_table()


def _ogg_crc(data: bytes) -> int:
    crc = 0
    for b in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ _OGG_CRC[((crc >> 24) & 0xFF) ^ b]
    return crc


def fix_ogg_serial(data: bytes, serial: int) -> bytes:
    """Set every page's stream serial number to `serial` and recompute the page CRCs."""
    out, pos = bytearray(), 0
    while pos < len(data):
        if data[pos : pos + 4] != b"OggS":
            raise ValueError(f"Ogg page expected at byte {pos}")
        nseg = data[pos + 26]
        size = 27 + nseg + sum(data[pos + 27 : pos + 27 + nseg])
        page = bytearray(data[pos : pos + size])
        page[14:18] = struct.pack("<I", serial)
        page[22:26] = b"\0\0\0\0"
        page[22:26] = struct.pack("<I", _ogg_crc(bytes(page)))
        out += page
        pos += size
    return bytes(out)


# ---------------------------------------------------------------------------------------------
def encode(audio: np.ndarray, sr: int, fmt: str, subtype: str | None, *, serial: int = 0,
           bext: str | None = None, info: dict[str, str] | None = None, title: str | None = None) -> bytes:
    """`audio` `[frames, channels]` float32 → file bytes (WAV/FLAC/OGG/MP3), deterministically."""
    buf = io.BytesIO()
    with sf.SoundFile(buf, "w", samplerate=sr, channels=audio.shape[1], format=fmt, subtype=subtype) as f:
        for i in range(0, len(audio), 16384):  # chunked: libsndfile's Vorbis encoder wants it
            f.write(audio[i : i + 16384])
    data = buf.getvalue()
    if fmt == "WAV":
        chunks = [c for c in _riff_chunks(data) if c[0] != b"PEAK"]  # PEAK holds a timestamp
        if bext is not None:
            chunks.insert(0, (b"bext", bext_chunk(bext)))
        if info:
            chunks.append((b"LIST", info_chunk(info)))
        data = _riff_join(chunks)
    elif fmt == "OGG":
        data = fix_ogg_serial(data, serial)
    elif fmt == "MP3" and title:
        data = id3v23(title) + data
    return data


@dataclass
class CorpusWriter:
    """Writes one corpus under `root` and records what the pipeline should find there."""

    root: Path
    corpus: str
    seed: int
    clips: list[dict[str, Any]] = field(default_factory=list)
    rejects: list[dict[str, Any]] = field(default_factory=list)
    metadata: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0
    nbytes: int = 0

    def rng(self, *parts: Any) -> np.random.Generator:
        return rng_for(self.seed, self.corpus, *parts)

    def _write(self, rel: str, data: bytes) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.nbytes += len(data)

    def audio(self, rel: str, scene: Scene, seconds: float, *, sr: int = 44100, channels: int = 1,
              fmt: str = "WAV", subtype: str | None = "PCM_16", ident: str | None = None,
              bext: str | None = None, info: dict[str, str] | None = None, title: str | None = None,
              broken: str | None = None, spoken: Spoken | None = None) -> dict[str, Any]:
        """Synthesise `scene` and write it to `rel`. `ident` names the content (clips sharing an
        ident sound the same, e.g. one YouTube segment in three corpora); default: corpus + rel.
        `broken`: None, "garbage" (random bytes: the header probe fails) or "truncated" (a valid
        header, the stream cut short: decoding fails). `spoken`: a sentence talked over the scene
        (pipeline.demo.voice), recorded in the returned `spoken` field (else null). Returns the
        file's expectation fields."""
        ident = ident or f"{self.corpus}:{rel}"
        rng = rng_for(self.seed, ident)
        said = None
        if broken == "garbage":
            data = rng.bytes(int(rng.integers(2000, 6000)))
        else:
            audio = render(scene.layers(), rng, sr, seconds, channels)
            if spoken is not None:
                audio, said = plant(audio, sr, spoken, rng)
            data = encode(audio, sr, fmt, subtype, serial=stable_int(ident) & 0x7FFFFFFF,
                          bext=bext, info=info, title=title)
            if broken == "truncated":
                data = data[: len(data) * 2 // 5]
            else:
                self.seconds += seconds
        self._write(rel, data)
        return {"audio": rel, "sample_rate": sr, "channels": channels, "format": fmt,
                "subtype": subtype, "file_seconds": round(seconds, 6), "broken": broken, "spoken": said}

    def blob(self, rel: str, data: bytes, *, skipped: bool = True) -> None:
        """A non-audio or unreadable-container file (readme.pdf, artwork, .mp4)."""
        self._write(rel, data)
        if skipped:
            self.skipped.append(rel)

    def text(self, rel: str, text: str, encoding: str = "utf-8") -> None:
        self._write(rel, text.encode(encoding))
        self.metadata.append(rel)

    def csv(self, rel: str, rows: list[list[Any]], *, header: list[str] | None = None, encoding: str = "utf-8",
            quoting: int = csv.QUOTE_MINIMAL, lineterminator: str = "\n") -> list[int]:
        """Write a CSV with the csv module; returns the 1-based physical line of each data row."""
        buf = io.StringIO()
        w = csv.writer(buf, quoting=quoting, lineterminator=lineterminator)
        if header is not None:
            w.writerow(header)
        w.writerows(rows)
        self.text(rel, buf.getvalue(), encoding)
        first = 2 if header is not None else 1
        return list(range(first, first + len(rows)))

    def clip(self, **entry: Any) -> dict[str, Any]:
        entry.setdefault("corpus", self.corpus)
        self.clips.append(entry)
        return entry

    def reject(self, reason: str, source: str, **info: Any) -> None:
        self.rejects.append({"reason": reason, "source": source, **info})

    def summary(self) -> dict[str, Any]:
        broken = [c for c in self.clips if c.get("broken")]
        counts = {"rows": len(self.clips), "ok": len(self.clips) - len(broken), "broken": len(broken)}
        for r in self.rejects:
            counts[r["reason"]] = counts.get(r["reason"], 0) + 1
        return {"root": self.corpus, "metadata": sorted(self.metadata), "counts": counts,
                "clips": self.clips, "rejects": self.rejects, "skipped_files": sorted(self.skipped)}


class YoutubeIds:
    """Unique 11-character ids of [A-Za-z0-9_-]; every third starts with '-', every other holds '_'."""

    def __init__(self, seed: int) -> None:
        self.rng = rng_for(seed, "youtube-ids")
        self.used: set[str] = set()

    def new(self) -> str:
        while True:
            chars = list(self.rng.choice(list(YT_ALPHABET), size=11))
            n = len(self.used)
            if n % 3 == 0:
                chars[0] = "-"
            if n % 2 == 0:
                chars[int(self.rng.integers(2, 10))] = "_"
            yid = "".join(chars)
            if yid not in self.used:
                self.used.add(yid)
                return yid
