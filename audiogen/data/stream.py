"""The training stream behind `audiogen.data.loader.make_train_loader`: one endless, seeded sequence of
batches per (rank, DataLoader worker) — a *stream* — built with WebDataset.

Per stream `s = rank · workers + worker` (of `S = world · workers`):

    WeightedShards   draw a corpus by weight, then a shard of it (∝ its clips), with replacement,
                     forever; a corpus with ≥ S shards is split between the streams (shards[s::S])
    tarfile_to_samples   webdataset: tar → `{"__key__", "__url__", "codes.npy", "json"}` (errors → handler)
    shuffle          webdataset's buffer of `shuffle_buffer` samples, `random.Random` seeded per stream
    rows             decode, caption draw, crop or mix, skip what is broken (counted by reason)
    batches          `batch_size` rows collated into tensors (see audiogen.data.loader for the fields)

Every random choice is seeded: the shard draws by `[seed, 0, s, c]`, the buffer by `[seed, 2, s, c]`
(c: the chunk, below), and each row by `[seed, 1, s, p]` where `p` is the position (1-based) of its
raw sample in the shuffled stream. So the stream is a pure function of (seed, s) and a position in
it is ONE integer: the raw samples consumed (a mixed row consumes two: its own and its partner, the
next raw sample).

Resume trade-off: the checkpoint holds positions, not shuffle-buffer contents (which would be
samples, or references into shards plus RNG states of webdataset's internals). Resuming re-reads
the token tars from the start of the position's chunk up to the position without decoding anything
(webdataset's tar reading alone, ~5,000 samples/s on one core). Chunks (`reseed_every` raw samples:
the shard draw and the buffer restart with the chunk's seeds) bound that work to one chunk
(50,000 samples, ~10 s by default), whatever the length of the run.
"""
from __future__ import annotations

import io
import json
import logging
import math
import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from audiogen.data.index import AudioClips, ShardEntry
from audiogen.data.mix import MixConfig, apply_mix, draw_mix

log = logging.getLogger("audiogen.data.loader")
MAX_LOGGED = 10  # warnings per reason and stream; later ones only every 1000th


class Skip(Exception):
    """A sample that is not used; `reason` is the counter it lands in."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


class Skips:
    """Skip counters of one stream (`quiet` while fast-forwarding: those were counted before), and
    the guard against a table of nothing but broken shards, which would otherwise spin forever."""

    def __init__(self, start: dict[str, int] | None = None, stream: int = 0, limit: int = 100):
        self.counts: Counter[str] = Counter(start or {})
        self.quiet = False
        self.stream, self.limit = stream, limit
        self.opened = 0            # shards opened since the tar reader last gave a sample
        self._shard_failed = False

    def add(self, reason: str, detail: str) -> None:
        if self.quiet:
            return
        self.counts[reason] += 1
        n = self.counts[reason]
        if n <= MAX_LOGGED or n % 1000 == 0:
            log.warning("data (stream %d): skipped [%s] %s (%d so far%s)", self.stream, reason, detail, n,
                        "; further ones logged every 1000th" if n == MAX_LOGGED else "")

    def handler(self, exn: Exception) -> bool:
        """webdataset's error handler: count once per shard read and go on with the next shard
        (a truncated tar raises twice: in the member read, then in the header iteration)."""
        if not self._shard_failed:
            self._shard_failed = True
            reason = "missing_shard" if isinstance(exn, FileNotFoundError) else "bad_shard"
            self.add(reason, f"{type(exn).__name__}: {exn}")
        return True

    def shard_opened(self, url: str) -> None:
        self._shard_failed = False
        self.opened += 1
        if self.opened > self.limit:
            raise RuntimeError(f"data: {self.limit} shard reads in a row gave no sample (last: {url}); "
                               "are the token shards readable?")

    def read(self, samples: Iterator[dict]) -> Iterator[dict]:
        """Pipeline stage after the tar reader: a sample came out, so the shards are not all broken."""
        for sample in samples:
            self.opened = 0
            yield sample


class WeightedShards(torch.utils.data.IterableDataset):
    """Endless `{"url": path}`: a corpus by `weights`, then a shard of it ∝ clips, with replacement."""

    def __init__(self, plan: list[tuple[str, float, list[ShardEntry]]], seed: list[int], skips: Skips):
        self.plan, self.seed, self.skips = plan, seed, skips

    def __iter__(self) -> Iterator[dict[str, str]]:
        rng = np.random.default_rng(self.seed)
        p_corpus = np.array([w for _, w, _ in self.plan])
        p_shards = []
        for _, _, shards in self.plan:
            clips = np.array([max(e.clips, 0) for e in shards], dtype=np.float64)
            p_shards.append(clips / clips.sum() if clips.sum() > 0 else np.full(len(shards), 1.0 / len(shards)))
        while True:
            c = int(rng.choice(len(self.plan), p=p_corpus))
            shards = self.plan[c][2]
            url = shards[int(rng.choice(len(shards), p=p_shards[c]))].path
            self.skips.shard_opened(url)
            yield {"url": url}


def stream_plan(entries: list[ShardEntry], weights: dict[str, float], stream: int,
                streams: int) -> list[tuple[str, float, list[ShardEntry]]]:
    """(corpus, probability, this stream's shards) per corpus with weight > 0."""
    plan = []
    for corpus, w in sorted(weights.items()):
        shards = [e for e in entries if e.corpus == corpus]
        mine = shards[stream::streams] if len(shards) >= streams else shards
        plan.append((corpus, w, mine))
    return plan


def decode_codes(data: bytes) -> np.ndarray:
    """`.npy` bytes → integer array (never unpickles)."""
    return np.load(io.BytesIO(data), allow_pickle=False)


def parse_sample(sample: dict[str, Any], num_codebooks: int | None,
                 with_codes: bool = True) -> tuple[dict, np.ndarray | None]:
    """(json meta, int16 codes `[K, T]`) of a token sample; raises Skip(incomplete | decode |
    bad_shape | too_short)."""
    where = f"{Path(str(sample.get('__url__', '?'))).name}: {sample.get('__key__', '?')}"
    absent = [m for m in ("json", "codes.npy")[: 2 if with_codes else 1] if m not in sample]
    if absent:  # e.g. the last sample of a tar cut between its members
        raise Skip("incomplete", f"{where}: no {' / '.join(absent)} member")
    try:
        meta = json.loads(sample["json"])
        if not isinstance(meta, dict):
            raise ValueError("the json member is not an object")
        meta["key"] = str(sample["__key__"])  # the tar's key is what the audio shard is indexed by
        codes = decode_codes(sample["codes.npy"]) if with_codes else None
    except Exception as err:
        raise Skip("decode", f"{where}: {type(err).__name__}: {err}") from None
    if codes is not None:
        if codes.ndim != 2 or codes.dtype.kind not in "iu" or (num_codebooks and codes.shape[0] != num_codebooks):
            raise Skip("bad_shape",
                       f"{where}: codes {codes.dtype} {list(codes.shape)}, expected [{num_codebooks}, T] int")
        if codes.shape[1] < 1:
            raise Skip("too_short", f"{where}: {codes.shape[1]} frames")
    return meta, codes


def caption_choices(meta: dict, field: str) -> list[str]:
    """The captions a row may draw from: for `caption`, the normalised list `captions_norm` (falling
    back to `caption`); for another field, its list or its string."""
    value = (meta.get("captions_norm") or meta.get("caption")) if field == "caption" else meta.get(field)
    items = value if isinstance(value, list) else [value]
    items = [str(c) for c in items if isinstance(c, str) and c.strip()]
    return items or [""]


@dataclass
class Row:
    """One batch row before collation. `codes` int16 `[K, frames]` (unmixed) or None (mixed)."""

    key: str
    corpus: str
    text: str
    seconds: float
    codes: np.ndarray | None = None
    frames: int = 0
    mix: np.ndarray | None = None   # float32 [N]
    mix_len: int = 0
    mix_key: str = ""
    mix_corpus: str = ""


def collate(rows: list[Row], num_codebooks: int, frames: int, samples: int) -> dict[str, Any]:
    """Rows → the batch dict (audiogen.data.loader documents the fields)."""
    b = len(rows)
    codes = np.zeros((b, num_codebooks, frames), np.int64)
    mask = np.zeros((b, frames), bool)
    for i, r in enumerate(rows):
        if r.codes is not None:
            codes[i, :, : r.codes.shape[1]] = r.codes
        mask[i, : r.frames] = True
    mixed = [i for i, r in enumerate(rows) if r.mix is not None]
    audio = np.stack([rows[i].mix for i in mixed])[:, None] if mixed else np.zeros((0, 1, samples), np.float32)
    return {
        "codes": torch.from_numpy(codes),
        "frame_mask": torch.from_numpy(mask),
        "texts": [r.text for r in rows],
        "keys": [r.key for r in rows],
        "corpora": [r.corpus for r in rows],
        "mixed": torch.tensor([r.mix is not None for r in rows], dtype=torch.bool),
        "mix_audio": torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32)),
        "mix_index": torch.tensor(mixed, dtype=torch.long),
        "mix_num_samples": torch.tensor([rows[i].mix_len for i in mixed], dtype=torch.long),
        "mix_keys": [rows[i].mix_key for i in mixed],
        "mix_corpora": [rows[i].mix_corpus for i in mixed],
        "seconds": torch.tensor([r.seconds for r in rows], dtype=torch.float32),
    }


class RowMaker:
    """Turns raw token samples into rows: crop (unmixed) or mixture of waveforms (mixed)."""

    def __init__(self, *, frames: int, samples: int, frame_rate: float, sample_rate: int, num_codebooks: int,
                 caption_field: str, mix: MixConfig, audio: AudioClips | None):
        self.frames, self.samples = frames, samples
        self.frame_rate, self.sample_rate, self.num_codebooks = frame_rate, sample_rate, num_codebooks
        self.caption_field, self.mix, self.audio = caption_field, mix, audio

    def crop(self, meta: dict, codes: np.ndarray, text: str, rng: np.random.Generator | None) -> Row:
        """A random `frames` window of the codes (the first one when `rng` is None), or the whole
        clip when shorter (the collation pads it and masks the padding)."""
        total = codes.shape[1]
        start = int(rng.integers(0, total - self.frames + 1)) if rng is not None and total > self.frames else 0
        window = codes[:, start: start + self.frames]
        seconds = window.shape[1] / self.frame_rate
        if total <= self.frames and meta.get("num_samples"):  # whole clip: its true length
            seconds = min(seconds, float(meta["num_samples"]) / float(meta.get("sample_rate") or self.sample_rate))
        return Row(str(meta.get("key", "")), str(meta.get("corpus", "")), text, seconds, window, window.shape[1])

    def mixture(self, a: tuple[str, dict], b: tuple[str, dict], text: str, rng: np.random.Generator) -> Row:
        """Row of the mixture of clip `a` and partner `b`, each `(audio shard name, meta)`.
        Raises Skip("mix_audio") when either clip cannot be read from the audio shards."""
        assert self.audio is not None
        (shard_a, meta_a), (shard_b, meta_b) = a, b
        clips: list[_Clip] = []
        try:
            clips.append(self._open(shard_a, meta_a))
            clips.append(self._open(shard_b, meta_b))
            d = draw_mix(rng, clips[0].length, clips[1].length, self.samples, self.mix)
            y = apply_mix(clips[0].read(d.start_a, d.len_a), clips[1].read(d.start_b, d.len_b), d, self.mix)
        except Exception as err:
            raise Skip("mix_audio", f"{shard_a}: {meta_a.get('key')} + {shard_b}: {meta_b.get('key')}: "
                                    f"{type(err).__name__}: {err}") from None
        finally:
            for c in clips:
                c.f.close()
        frames = min(self.frames, math.ceil(d.length * self.frame_rate / self.sample_rate))
        return Row(str(meta_a.get("key", "")), str(meta_a.get("corpus", "")), text, d.length / self.sample_rate,
                   None, frames, y, d.length, str(meta_b.get("key", "")), str(meta_b.get("corpus", "")))

    def _open(self, shard: str, meta: dict) -> "_Clip":
        return _Clip(self.audio.open(shard, str(meta.get("key", ""))), self.sample_rate)  # type: ignore[union-attr]


class _Clip:
    """An opened FLAC clip at the target rate: `length` samples, `read(start, n)` → float32 mono `[≤ n]`
    (only that window is decoded; another sample rate is decoded whole and resampled)."""

    def __init__(self, f, sample_rate: int):
        self.f, self.sr = f, sample_rate
        self.whole: np.ndarray | None = None
        if f.samplerate != sample_rate:
            import soxr

            x = f.read(dtype="float32", always_2d=True).mean(axis=1)
            self.whole = soxr.resample(x, f.samplerate, sample_rate).astype(np.float32)
            self.length = int(self.whole.shape[0])
        else:
            self.length = int(f.frames)

    def read(self, start: int, n: int) -> np.ndarray:
        if self.whole is not None:
            return self.whole[start: start + n]
        self.f.seek(start)
        x = self.f.read(n, dtype="float32", always_2d=True)
        return x[:, 0] if x.shape[1] == 1 else x.mean(axis=1)


def row_rng(seed: int, stream: int, position: int) -> np.random.Generator:
    """The generator of every draw of the row whose raw sample is at `position` (1-based)."""
    return np.random.default_rng([seed, 1, stream, position])


class RawStream:
    """The shuffled raw samples of one stream and the position in it (samples pulled so far).

    Every `reseed_every` samples the pipeline restarts (a *chunk*): shard draws from
    `[seed, 0, stream, chunk]`, a fresh buffer from `[seed, 2, stream, chunk]` (the old buffer's
    samples are dropped: shards are drawn with replacement anyway). That bounds what `seek` must
    re-read to less than one chunk, whatever the position."""

    def __init__(self, plan: list[tuple[str, float, list[ShardEntry]]], seed: int, stream: int, shuffle_buffer: int,
                 reseed_every: int, skips: Skips):
        self.plan, self.seed, self.stream = plan, seed, stream
        self.buffer, self.every, self.skips = shuffle_buffer, max(1, reseed_every), skips
        self.pos, self.chunk, self.it = 0, -1, None

    def _pipeline(self, chunk: int) -> Iterator[dict]:
        import webdataset as wds

        stages: list[Any] = [WeightedShards(self.plan, [self.seed, 0, self.stream, chunk], self.skips),
                             wds.tarfile_to_samples(handler=self.skips.handler), self.skips.read]
        if self.buffer > 1:
            seed = int(np.random.SeedSequence([self.seed, 2, self.stream, chunk]).generate_state(1)[0])
            stages.append(wds.shuffle(self.buffer, initial=self.buffer, rng=random.Random(seed)))
        return iter(wds.DataPipeline(*stages))

    def seek(self, pos: int) -> None:
        """Go to `pos` by re-reading (not decoding, not counting) the samples of its chunk before it."""
        chunk, within = divmod(pos, self.every)
        self.pos, self.chunk, self.it = chunk * self.every, -1, None
        self.skips.quiet = True
        try:
            for _ in range(within):
                self.pull()
        finally:
            self.skips.quiet = False

    def pull(self) -> dict:
        chunk = self.pos // self.every
        if chunk != self.chunk:
            self.it, self.chunk = self._pipeline(chunk), chunk
        try:
            sample = next(self.it)  # type: ignore[arg-type]
        except StopIteration:
            raise RuntimeError("data: the shard stream ended (it is endless unless every shard failed)") from None
        self.pos += 1
        return sample
