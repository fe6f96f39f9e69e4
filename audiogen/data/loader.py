"""Streaming training data for the LM: token shards + mix augmentation on waveforms.

    DataConfig, MixConfig                      params.yaml `train.data` (from_dict / to_dict)
    make_train_loader(tokens_dir, audio_dir, cfg, *, rank=0, world=1, frame_rate, sample_rate,
                      num_codebooks) -> TrainLoader
    TrainLoader: iter(loader) -> batches (endless); state_dict() / load_state_dict(); skipped
    make_valid_batches(tokens_dir, cfg, frame_rate, *, num_codebooks=None, sample_rate=16000,
                       split="valid", max_clips=None) -> list[batch]
    check_codec(tokens_dir, codec_sha256) -> shards.json (SystemExit naming both digests)

A batch (B = `batch_size` rows per rank, K codebooks, T = round(segment_s · frame_rate) frames,
N = round(segment_s · sample_rate) samples, M mixed rows):

    codes            LongTensor  [B, K, T]  unmixed rows: a random T-frame crop of the clip's codes,
                                            zero-padded when shorter; mixed rows: zeros (see below)
    frame_mask       BoolTensor  [B, T]     True = real frame (mixed rows: the first
                                            ceil(mix_num_samples · frame_rate / sample_rate) frames)
    texts            list[str]   [B]        a caption drawn among the clip's (normalised) captions;
                                            mixed rows: both captions joined with a space
    keys, corpora    list[str]   [B]        the row's clip (for a mixed row, its first clip)
    mixed            BoolTensor  [B]
    mix_audio        FloatTensor [M, 1, N]  mixtures (zeros after their real length)
    mix_index        LongTensor  [M]        row of each mixture
    mix_num_samples  LongTensor  [M]        real length of each mixture
    mix_keys, mix_corpora  list[str] [M]    the partner clip of each mixture
    seconds          FloatTensor [B]        real audio seconds of each row

The trainer encodes `mix_audio` with the frozen codec in one call and writes the codes of
mixture m into row `mix_index[m]` (frames past the mask stay masked). Unmixed rows never touch
audio; with `mix.p == 0` the audio folder is never opened (it need not exist).

Sampling (audiogen.data.stream): per (rank, worker) stream, shards are drawn with replacement —
a corpus by `corpus_weights` (default: ∝ hours in shards.json), then a shard of it ∝ its clips —
and their samples pass a seeded shuffle buffer. Broken inputs are skipped, logged and counted in
`loader.skipped` by reason: `missing_shard`, `bad_shard` (truncated or not a tar), `incomplete`
(a member missing), `decode` (json/.npy that does not parse), `bad_shape` (codes of another K),
`too_short` (under one frame), `mix_audio` (a mixture's audio unreadable: the row stays unmixed).
`state_dict()` holds the seeds and the raw samples consumed per worker; a loader restored from it
yields exactly the batches the original would have.
"""
from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Iterator

import torch

from audiogen.data.index import AudioClips, check_codec, corpus_weights, read_shard_table
from audiogen.data.stream import (
    RawStream, RowMaker, Skip, Skips, caption_choices, collate, parse_sample, row_rng, stream_plan,
)
from audiogen.data.mix import MixConfig, join_captions
from audiogen.io.configs import check_keys

__all__ = ["DataConfig", "MixConfig", "TrainLoader", "TrainStream", "check_codec", "make_train_loader",
           "make_valid_batches"]
log = logging.getLogger("audiogen.data.loader")
STATE_VERSION = 1


@dataclass(frozen=True)
class DataConfig:
    """params.yaml `train.data`."""

    segment_s: float = 5.0                          # training window (seconds)
    batch_size: int = 16                            # rows per batch, per rank
    corpus_weights: dict[str, float] | None = None  # None: ∝ hours (shards.json); else these, normalised
    shuffle_buffer: int = 256                       # samples in the shuffle buffer (≤ 1: no shuffle)
    seed: int = 0
    mix: MixConfig = field(default_factory=MixConfig)
    loader_workers: int = 0                         # DataLoader processes per rank (0: in the trainer's process)
    caption_field: str = "caption"                  # caption: draw among captions_norm; or another json field
    reseed_every: int = 50_000                      # raw samples per stream between restarts of the shard draw and
                                                    # buffer (bounds the resume fast-forward; data_stream docstring)

    def __post_init__(self) -> None:
        if isinstance(self.mix, dict):
            object.__setattr__(self, "mix", MixConfig.from_dict(self.mix))
        if self.corpus_weights is not None:
            object.__setattr__(self, "corpus_weights", {str(k): float(v) for k, v in self.corpus_weights.items()})
        if self.segment_s <= 0 or self.batch_size < 1:
            raise ValueError(f"data: segment_s ({self.segment_s}) must be > 0 and batch_size ({self.batch_size}) ≥ 1")
        if self.shuffle_buffer < 0 or self.loader_workers < 0 or self.reseed_every < 1:
            raise ValueError("data: shuffle_buffer and loader_workers must be ≥ 0, reseed_every ≥ 1")

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> "DataConfig":
        d = dict(d or {})
        check_keys(cls, d, "data")
        if "mix" in d and not isinstance(d["mix"], MixConfig):
            d["mix"] = MixConfig.from_dict(d["mix"])
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["mix"] = self.mix.to_dict()
        out["corpus_weights"] = dict(self.corpus_weights) if self.corpus_weights is not None else None
        return out


class TrainStream(torch.utils.data.IterableDataset):
    """The endless batch streams of one rank (one per DataLoader worker; see audiogen.data.stream).

    `positions[w]`/`skipped[w]` say where stream worker `w` starts (set by TrainLoader before each
    iteration); `rotate` maps DataLoader worker `i` to stream worker `(i + rotate) % workers`, so
    that a resumed DataLoader, which always asks worker 0 first, continues the round-robin order."""

    def __init__(self, entries, weights: dict[str, float], audio_dir: str | Path | None, cfg: DataConfig, *,
                 rank: int, world: int, frame_rate: float, sample_rate: int, num_codebooks: int):
        self.entries, self.weights, self.cfg = entries, weights, cfg
        self.rank, self.world = rank, world
        self.workers = max(1, cfg.loader_workers)
        self.frames = max(1, round(cfg.segment_s * frame_rate))
        self.samples = max(1, round(cfg.segment_s * sample_rate))
        self.num_codebooks = num_codebooks
        audio = AudioClips(audio_dir) if cfg.mix.p > 0 and audio_dir is not None else None
        self.maker = RowMaker(frames=self.frames, samples=self.samples, frame_rate=frame_rate, sample_rate=sample_rate,
                              num_codebooks=num_codebooks, caption_field=cfg.caption_field, mix=cfg.mix, audio=audio)
        self.positions = [0] * self.workers
        self.skipped: list[dict[str, int]] = [{} for _ in range(self.workers)]
        self.rotate = 0

    def stream_id(self, worker: int) -> int:
        return self.rank * self.workers + worker

    def __iter__(self) -> Iterator[dict[str, Any]]:
        info = torch.utils.data.get_worker_info()
        if info is not None and info.num_workers != self.workers:
            raise RuntimeError(f"data: TrainStream built for {self.workers} workers runs in {info.num_workers}")
        return self.batches(((info.id if info else 0) + self.rotate) % self.workers)

    def batches(self, worker: int) -> Iterator[dict[str, Any]]:
        """Stream worker `worker`'s batches, from `positions[worker]` on; each carries `_worker`,
        `_pos` (raw samples consumed after it) and `_skipped` (its counters) for the loader."""
        cfg, s = self.cfg, self.stream_id(worker)
        skips = Skips(self.skipped[worker], s, limit=max(100, 10 * len(self.entries)))
        cursor = RawStream(stream_plan(self.entries, self.weights, s, self.world * self.workers), cfg.seed, s,
                           cfg.shuffle_buffer, cfg.reseed_every, skips)
        cursor.seek(self.positions[worker])
        while True:
            rows = [self._row(cursor, s, skips) for _ in range(cfg.batch_size)]
            batch = collate(rows, self.num_codebooks, self.frames, self.samples)
            batch.update(_worker=worker, _pos=cursor.pos, _skipped=dict(skips.counts))
            yield batch

    def _row(self, cursor: RawStream, stream: int, skips: Skips):
        cfg = self.cfg
        while True:
            sample = cursor.pull()
            rng = row_rng(cfg.seed, stream, cursor.pos)
            try:
                meta, codes = parse_sample(sample, self.num_codebooks)
            except Skip as err:
                skips.add(err.reason, err.detail)
                continue
            choices = caption_choices(meta, cfg.caption_field)
            text = choices[int(rng.integers(len(choices)))]
            if rng.random() < cfg.mix.p:
                partner, pmeta = self._partner(cursor, skips, meta["key"])
                pchoices = caption_choices(pmeta, cfg.caption_field)
                ptext = pchoices[int(rng.integers(len(pchoices)))]
                try:
                    return self.maker.mixture((_shard(sample), meta), (_shard(partner), pmeta),
                                              join_captions(text, ptext), rng)
                except Skip as err:  # the unmixed row instead: its codes are at hand
                    skips.add(err.reason, err.detail)
            return self.maker.crop(meta, codes, text, rng)

    def _partner(self, cursor: RawStream, skips: Skips, key: str) -> tuple[dict, dict]:
        """The next raw sample with a readable json and another key: the mixture's second clip."""
        while True:
            sample = cursor.pull()
            try:
                meta = parse_sample(sample, None, with_codes=False)[0]
            except Skip as err:
                skips.add(err.reason, err.detail)
                continue
            if meta["key"] != key:
                return sample, meta


def _shard(sample: dict) -> str:
    return Path(str(sample["__url__"])).name


def _identity(x):
    return x


class TrainLoader:
    """Iterable of batches (endless) with a resumable position. Each `iter()` continues from the
    current state (a fresh DataLoader whose workers fast-forward), so the trainer may stop and
    re-iterate, or call `load_state_dict` on a new loader, and get the same sequence."""

    def __init__(self, stream: TrainStream, static_skips: Counter[str] | None = None):
        self.stream = stream
        self.batches = 0
        self._static = Counter(static_skips or {})
        self._positions = [0] * stream.workers
        self._skipped: list[dict[str, int]] = [{} for _ in range(stream.workers)]

    @property
    def skipped(self) -> Counter[str]:
        """Samples/shards skipped so far, by reason (as of the last batch delivered)."""
        total = Counter(self._static)
        for counts in self._skipped:
            total.update(counts)
        return total

    def __iter__(self) -> Iterator[dict[str, Any]]:
        st = self.stream
        st.positions, st.skipped = list(self._positions), [dict(c) for c in self._skipped]
        st.rotate = self.batches % st.workers
        source: Any = st
        if st.cfg.loader_workers > 0:
            source = torch.utils.data.DataLoader(st, batch_size=None, num_workers=st.cfg.loader_workers,
                                                 collate_fn=_identity, persistent_workers=False)
        for batch in source:
            worker = batch.pop("_worker")
            self._positions[worker] = batch.pop("_pos")
            self._skipped[worker] = batch.pop("_skipped")
            self.batches += 1
            yield batch

    def state_dict(self) -> dict[str, Any]:
        """Plain ints/lists/dicts (safe for `torch.load(weights_only=True)`). One per rank: in DDP
        save every rank's (e.g. all_gather_object) and give each rank its own back."""
        st = self.stream
        return {"version": STATE_VERSION, "seed": st.cfg.seed, "rank": st.rank, "world": st.world,
                "workers": st.workers, "batches": self.batches, "positions": list(self._positions),
                "skipped": [dict(c) for c in self._skipped]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        st = self.stream
        want = {"version": STATE_VERSION, "seed": st.cfg.seed, "rank": st.rank, "world": st.world,
                "workers": st.workers}
        diff = {k: (state.get(k), v) for k, v in want.items() if state.get(k) != v}
        if diff:
            raise ValueError(f"data: the loader state does not fit this loader (saved, now): {diff}; "
                             "resume with the same seed, world size, rank and loader_workers")
        self.batches = int(state["batches"])
        self._positions = [int(p) for p in state["positions"]]
        self._skipped = [{str(k): int(v) for k, v in c.items()} for c in state["skipped"]]


def _check_index(tokens_dir: Path, frame_rate: float, num_codebooks: int) -> None:
    from audiogen.data.index import read_token_index

    index = read_token_index(tokens_dir)
    fr, k = index.get("frame_rate"), index.get("num_codebooks")
    if (fr is not None and abs(float(fr) - float(frame_rate)) > 1e-6) or (k is not None and int(k) != num_codebooks):
        raise SystemExit(f"data: the token shards in {tokens_dir} have frame rate {fr} and K={k}, "
                         f"but training expects {frame_rate} and K={num_codebooks}")


def make_train_loader(tokens_dir: str | Path, audio_dir: str | Path | None, cfg: DataConfig, *, rank: int = 0,
                      world: int = 1, frame_rate: float, sample_rate: int, num_codebooks: int) -> TrainLoader:
    """The `train` split of `tokens_dir` as an endless, resumable loader for rank `rank` of `world`
    (`audio_dir`: the audio shards the token shards came from; only read when `cfg.mix.p > 0`)."""
    tokens_dir = Path(tokens_dir)
    if not 0 <= rank < world:
        raise ValueError(f"data: rank {rank} is not in [0, {world})")
    entries, missing = read_shard_table(tokens_dir, "train")
    _check_index(tokens_dir, frame_rate, num_codebooks)
    if missing:
        log.warning("data: %d train shards listed in %s/shards.json are missing and skipped: %s", len(missing),
                    tokens_dir, ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else ""))
    if not entries:
        raise SystemExit(f"data: no readable 'train' token shards in {tokens_dir} (run the tokenize stage)")
    try:
        weights = corpus_weights(entries, cfg.corpus_weights)
    except ValueError as err:
        raise SystemExit(str(err)) from None
    if cfg.mix.p > 0 and (audio_dir is None or not Path(audio_dir).is_dir()):
        raise SystemExit(f"data: mix.p = {cfg.mix.p} needs the audio shards, but {audio_dir} is not a directory "
                         "(pass the audio shards the token shards were made from, or set mix.p: 0)")
    log.info("data: %d train shards, corpus weights %s, rank %d/%d, %d loader workers, mix p=%g",
             len(entries), {c: round(w, 3) for c, w in weights.items()}, rank, world, cfg.loader_workers, cfg.mix.p)
    stream = TrainStream(entries, weights, audio_dir, cfg, rank=rank, world=world, frame_rate=frame_rate,
                         sample_rate=sample_rate, num_codebooks=num_codebooks)
    return TrainLoader(stream, Counter({"missing_shard": len(missing)}) if missing else None)


def make_valid_batches(tokens_dir: str | Path, cfg: DataConfig, frame_rate: float, *, num_codebooks: int | None = None,
                       sample_rate: int = 16000, split: str = "valid", max_clips: int | None = None) -> list[dict]:
    """Deterministic validation batches: the first T frames of every clip of `split` (shards by name,
    clips in file order), the clip's own `caption` (no draw), no mixing. Broken clips are skipped
    and logged. SystemExit when the split has no shards."""
    import webdataset as wds

    tokens_dir = Path(tokens_dir)
    entries, missing = read_shard_table(tokens_dir, split)
    if not entries:
        raise SystemExit(f"data: no '{split}' token shards in {tokens_dir}"
                         + (f" ({len(missing)} listed but missing)" if missing else "")
                         + ": validation needs them (check the filter/prepare/tokenize stages)")
    if num_codebooks is None:
        from audiogen.data.index import read_token_index

        num_codebooks = read_token_index(tokens_dir).get("num_codebooks")
        if num_codebooks is None:
            raise SystemExit(f"data: {tokens_dir / 'shards.json'}: no num_codebooks; re-run the tokenize stage "
                             "(`dvc repro tokenize`) to rewrite it")
    skips = Skips(stream=-1)
    maker = RowMaker(frames=max(1, round(cfg.segment_s * frame_rate)),
                     samples=max(1, round(cfg.segment_s * sample_rate)),
                     frame_rate=frame_rate, sample_rate=sample_rate, num_codebooks=num_codebooks,
                     caption_field=cfg.caption_field, mix=cfg.mix, audio=None)
    ds = wds.WebDataset([e.path for e in entries], shardshuffle=False, nodesplitter=None, workersplitter=None,
                        empty_check=False, handler=skips.handler, seed=0)
    rows = []
    for sample in ds:
        try:
            meta, codes = parse_sample(sample, num_codebooks)
        except Skip as err:
            skips.add(err.reason, err.detail)
            continue
        text = meta.get(cfg.caption_field) if isinstance(meta.get(cfg.caption_field), str) else None
        rows.append(maker.crop(meta, codes, text or caption_choices(meta, cfg.caption_field)[0], None))
        if max_clips is not None and len(rows) >= max_clips:
            break
    if not rows:
        raise SystemExit(f"data: no readable '{split}' clips in {tokens_dir} (skipped: {dict(skips.counts)})")
    b = cfg.batch_size
    return [collate(rows[i: i + b], num_codebooks, maker.frames, maker.samples) for i in range(0, len(rows), b)]
