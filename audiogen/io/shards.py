"""The shard format (DESIGN.md "Audio shards", "Token shards"): keys, a deterministic tar writer, readers.

A shard is a plain POSIX tar of samples; a sample is a key plus members `<key>.<ext>` (WebDataset
layout: members of one sample are contiguous, the key never holds a dot). Audio shards hold
`<key>.flac` (16 kHz mono PCM_16) and `<key>.json`; token shards `<key>.codes.npy` and `<key>.json`.
Beside the shards, `shards.json` indexes them (`read_index`).

Writers are byte-deterministic (fixed mtime/uid/gid/uname/gname/mode, members in the order given,
USTAR headers, no PAX timestamps) and atomic (`<name>.<pid>.tmp`, fsync, rename), so a `*.tar` under
its final name is always complete. Readers never unpickle: they return bytes, and decode only FLAC/
WAV (soundfile), JSON and `.npy` (with `allow_pickle=False`); a key outside `[a-z0-9_-]` or a member
name with `/` or `..` raises ShardError naming the shard and member.

API:
    ShardWriter(path) as w: w.write(key, {ext: bytes})     write_shard(path, samples) -> sha256
    iter_shard(path) -> Iterator[(key, {ext: bytes})]      iter_audio_samples(paths, shuffle=, seed=)
    list_shards(dir, split=None, corpus=None)             read_index(dir) / INDEX_NAME
    sha256_file(path)                                      shard_name(split, corpus, n)
    wds_pipeline(paths, shardshuffle=, seed=)             hf_features()   (Hugging Face `datasets`)
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import random
import re
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

import numpy as np

INDEX_NAME = "shards.json"
KEY_RE = re.compile(r"^[a-z0-9_-]+$")
EXT_RE = re.compile(r"^[a-z0-9_]+(?:\.[a-z0-9_]+)*$")
SHARD_RE = re.compile(r"^(?P<split>[a-z0-9_]+)-(?P<corpus>[a-z0-9_]+)-(?P<n>\d{6})\.tar$")
MTIME = 0  # 1970-01-01: any fixed value works; 0 says "not a real time"


class ShardError(ValueError):
    """A malformed shard or sample; the message names the shard and member."""


def validate_key(key: str) -> str:
    """Keys are lowercase `[a-z0-9_-]` (no dots: WebDataset splits key and extension on the first dot)."""
    if not isinstance(key, str) or not KEY_RE.match(key):
        raise ShardError(f"invalid key {key!r}: keys are lowercase [a-z0-9_-] only")
    return key


def shard_name(split: str, corpus: str, index: int) -> str:
    """`<split>-<corpus>-NNNNNN.tar`."""
    return f"{split}-{corpus}-{index:06d}.tar"


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


class ShardWriter:
    """Deterministic, atomic tar writer: `with ShardWriter(path) as w: w.write(key, {"flac": b, "json": b})`.

    Samples are written in the order given, a sample's members in sorted extension order. The tar
    is built under `<path>.<pid>.tmp` (unique per process, so a stray writer from a killed run can
    never interleave with a new one), fsynced, then renamed onto `path`; on an exception the
    temporary file is removed and `path` is untouched. `sha256` holds the final file's digest."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        self.count = 0
        self.sha256: str | None = None
        self._keys: set[str] = set()
        self._hash = hashlib.sha256()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.tmp, "wb")
        self._tar = tarfile.open(fileobj=_HashingWriter(self._file, self._hash), mode="w", format=tarfile.USTAR_FORMAT)

    def write(self, key: str, members: Mapping[str, bytes]) -> None:
        validate_key(key)
        if key in self._keys:
            raise ShardError(f"{self.path}: duplicate key {key!r}")
        self._keys.add(key)
        for ext in sorted(members):
            if not EXT_RE.match(ext):
                raise ShardError(f"{self.path}: invalid extension {ext!r} for key {key!r}")
            data = members[ext]
            info = tarfile.TarInfo(f"{key}.{ext}")
            info.size, info.mtime, info.mode = len(data), MTIME, 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            self._tar.addfile(info, io.BytesIO(data))
        self.count += 1

    def close(self) -> str:
        """Finish the tar, fsync, rename onto the final name; returns the sha256."""
        self._tar.close()
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        os.replace(self.tmp, self.path)
        self.sha256 = self._hash.hexdigest()
        return self.sha256

    def abort(self) -> None:
        try:
            self._tar.close()
        finally:
            self._file.close()
            self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> "ShardWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


class _HashingWriter:
    """A write-only file object that hashes what passes through (so no re-read for the digest)."""

    def __init__(self, f, h):
        self._f, self._h = f, h

    def write(self, b) -> int:
        self._h.update(b)
        return self._f.write(b)

    def tell(self) -> int:
        return self._f.tell()


def write_shard(path: str | Path, samples: Iterable[tuple[str, Mapping[str, bytes]]]) -> str:
    """Write `(key, {ext: bytes})` samples as one shard; returns its sha256."""
    with ShardWriter(path) as w:
        for key, members in samples:
            w.write(key, members)
    return w.sha256  # type: ignore[return-value]


def _split_member(shard: str, name: str) -> tuple[str, str]:
    if "/" in name or "\\" in name or ".." in name or name.startswith("."):
        raise ShardError(f"{shard}: unsafe member name {name!r}")
    key, dot, ext = name.partition(".")
    if not dot or not EXT_RE.match(ext):
        raise ShardError(f"{shard}: member {name!r} has no valid extension")
    try:
        validate_key(key)
    except ShardError as err:
        raise ShardError(f"{shard}: member {name!r}: {err}") from None
    return key, ext


def iter_shard(path: str | Path) -> Iterator[tuple[str, dict[str, bytes]]]:
    """Yield `(key, {ext: bytes})` per sample, in file order. Only regular files are accepted;
    a key seen again after another key (non-contiguous sample) raises ShardError."""
    shard = str(path)
    current, members, done = None, {}, set()
    with tarfile.open(shard, mode="r:") as tar:
        for info in tar:
            if not info.isfile():
                raise ShardError(f"{shard}: member {info.name!r} is not a regular file")
            key, ext = _split_member(shard, info.name)
            if key != current:
                if current is not None:
                    yield current, members
                    done.add(current)
                if key in done:
                    raise ShardError(f"{shard}: sample {key!r} is split across the shard")
                current, members = key, {}
            if ext in members:
                raise ShardError(f"{shard}: duplicate member {info.name!r}")
            members[ext] = tar.extractfile(info).read()
    if current is not None:
        yield current, members


@dataclass
class AudioSample:
    """One clip from an audio shard: `audio` float32 mono `[T]` in [-1, 1] at `sample_rate`."""

    key: str
    audio: np.ndarray
    sample_rate: int
    meta: dict[str, Any] = field(default_factory=dict)
    shard: str = ""


def decode_audio_sample(shard: str, key: str, members: Mapping[str, bytes]) -> AudioSample:
    """`{flac|wav: bytes, json: bytes}` → AudioSample (no pickle anywhere)."""
    import soundfile as sf

    ext = next((e for e in ("flac", "wav") if e in members), None)
    if ext is None:
        raise ShardError(f"{shard}: sample {key!r} has no .flac/.wav member")
    audio, sr = sf.read(io.BytesIO(members[ext]), dtype="float32", always_2d=True)
    meta = json.loads(members["json"]) if "json" in members else {}
    mono = audio[:, 0] if audio.shape[1] == 1 else audio.mean(axis=1, dtype=np.float32)
    return AudioSample(key, np.ascontiguousarray(mono), int(sr), meta, shard)


def iter_audio_samples(paths: Iterable[str | Path], *, shuffle: bool, seed: int) -> Iterator[AudioSample]:
    """Decoded clips from audio shards. With `shuffle`, the shard order and the samples within each
    shard are permuted by `random.Random(seed)` (whole-shard buffer: shards are ~100 MB);
    without it, shards in the order given and samples in file order."""
    paths = [str(p) for p in paths]
    rng = random.Random(seed)
    if shuffle:
        rng.shuffle(paths)
    for path in paths:
        samples = list(iter_shard(path)) if shuffle else iter_shard(path)
        if shuffle:
            rng.shuffle(samples)  # type: ignore[arg-type]
        for key, members in samples:
            yield decode_audio_sample(path, key, members)


def list_shards(directory: str | Path, split: str | None = None, corpus: str | None = None) -> list[Path]:
    """Shards named `<split>-<corpus>-NNNNNN.tar` in a directory, sorted by name."""
    out = []
    for p in sorted(Path(directory).glob("*.tar")):
        m = SHARD_RE.match(p.name)
        if m and (split is None or m["split"] == split) and (corpus is None or m["corpus"] == corpus):
            out.append(p)
    return out


def read_index(directory: str | Path) -> dict[str, Any]:
    """`shards.json`: `{"shards": [{"name", "split", "corpus", "clips", "seconds", "bytes", "sha256"}],
    "params": {...}, "code_version": {...}, ...}`."""
    path = Path(directory) / INDEX_NAME
    if not path.exists():
        raise FileNotFoundError(f"{path}: no shard index (run the stage that writes these shards)")
    return json.loads(path.read_text(encoding="utf-8"))


def wds_pipeline(paths: Iterable[str | Path], *, shardshuffle: bool, seed: int = 0, buffer: int = 0):
    """A plain `webdataset.WebDataset` over shards yielding dicts `{"__key__", "flac": bytes, "json": bytes}`
    (decode with `decode_audio_sample` or webdataset's own decoders; never `.decode("pil")`-style
    pickle handlers). `buffer` > 0 adds a seeded sample shuffle."""
    import webdataset as wds

    ds = wds.WebDataset([str(p) for p in paths], shardshuffle=shardshuffle, seed=seed if shardshuffle else None,
                        empty_check=False)
    return ds.shuffle(buffer, rng=random.Random(seed)) if buffer else ds


# The json of an audio-shard clip, as Hugging Face `datasets` features (its `Audio` feature needs
# torchcodec, so FLAC comes back as bytes: decode with soundfile).
CLIP_META_TYPES: dict[str, str] = {
    "key": "string", "source_key": "string", "segment": "int64", "corpus": "string", "split": "string",
    "audio_path": "string", "offset_s": "float64", "duration_s": "float64", "captions": "list",
    "caption": "string", "captions_norm": "list", "labels": "list", "label_ids": "list",
    "youtube_id": "string", "license": "string", "source": "string", "sample_rate": "int64",
    "num_samples": "int64", "sha256": "string", "peak_dbfs": "float64", "rms_dbfs": "float64",
    "source_sample_rate": "int64", "source_channels": "int64",
}


def hf_features():
    """`datasets.Features` for `load_dataset("webdataset", data_files=..., features=hf_features())`."""
    import datasets

    meta = {k: [datasets.Value("string")] if t == "list" else datasets.Value(t) for k, t in CLIP_META_TYPES.items()}
    return datasets.Features({"__key__": datasets.Value("string"), "__url__": datasets.Value("string"),
                              "flac": datasets.Value("binary"), "json": meta})
