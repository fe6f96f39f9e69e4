"""Training data for the codec: random fixed-length segments streamed from audio shards.

`SegmentStream` is an IterableDataset. Every (rank, DataLoader worker) pair is one *stream* that
reads its own slice of the shards (shard order reshuffled per epoch with the seed, the same on
every rank), shuffles the clips of a shard and cuts one random `segment` from each (zero-padded
when shorter). All randomness comes from `numpy.random.default_rng([seed, epoch, stream, shard])`,
so a stream is a pure function of its position; every item carries its position
`(worker, epoch, shard, next sample)` and `--resume` restarts each stream exactly there.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch

from audiogen.io.shards import ShardError, decode_audio_sample, iter_shard, list_shards

log = logging.getLogger("audiogen.codec")


def find_shards(directory: str | Path, split: str | None) -> list[Path]:
    """Audio shards of `split` in `directory` (all splits when None)."""
    return list_shards(directory, split=split)


def _to_rate(audio: np.ndarray, sr: int, target: int) -> np.ndarray:
    if sr == target:
        return audio
    import soxr

    return soxr.resample(audio, sr, target).astype(np.float32)


def _crop(audio: np.ndarray, length: int, draw: float) -> np.ndarray:
    """A `length`-sample window at relative offset `draw` in [0, 1); zero-padded when shorter."""
    if audio.shape[0] <= length:
        return np.pad(audio, (0, length - audio.shape[0]))
    off = int(draw * (audio.shape[0] - length + 1))
    return audio[off: off + length]


class SegmentStream(torch.utils.data.IterableDataset):
    """Endless `{"wav": float32 [1, segment], "pos": int64 [4]}` items (see module docstring).

    `start` maps a DataLoader worker id to the position `(worker, epoch, shard, sample)` of the
    next item to produce (from a checkpoint)."""

    def __init__(self, paths: Sequence[str | Path], segment: int, sample_rate: int, seed: int,
                 rank: int = 0, world_size: int = 1, start: dict[int, Sequence[int]] | None = None):
        if not paths:
            raise ValueError("no audio shards to train on")
        self.paths = [str(p) for p in paths]
        self.segment, self.sample_rate, self.seed = segment, sample_rate, seed
        self.rank, self.world_size = rank, world_size
        self.start = dict(start or {})

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        info = torch.utils.data.get_worker_info()
        wid, nw = (info.id, info.num_workers) if info else (0, 1)
        stream, total = self.rank * nw + wid, self.world_size * nw
        _, epoch, shard_i, sample_i = (list(self.start[wid]) if wid in self.start else [wid, 0, 0, 0])
        while True:
            order = list(self.paths)
            np.random.default_rng([self.seed, epoch]).shuffle(order)
            mine = order[stream::total] or [order[stream % len(order)]]  # fewer shards than streams
            for si in range(shard_i, len(mine)):
                rng = np.random.default_rng([self.seed, epoch, stream, si])
                try:
                    samples = list(iter_shard(mine[si]))
                except (ShardError, OSError) as err:
                    log.warning("skipping unreadable shard %s: %s", mine[si], err)
                    samples = []
                perm = rng.permutation(len(samples))
                draws = rng.random(len(samples))
                for j in range(sample_i, len(samples)):
                    key, members = samples[perm[j]]
                    try:
                        s = decode_audio_sample(mine[si], key, members)
                    except Exception as err:  # one bad clip never stops training
                        log.warning("%s: skipping clip %s: %s", mine[si], key, err)
                        continue
                    audio = _crop(_to_rate(s.audio, s.sample_rate, self.sample_rate), self.segment, draws[j])
                    yield {"wav": torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))[None],
                           "pos": torch.tensor([wid, epoch, si, j + 1], dtype=torch.int64)}
                sample_i = 0
            shard_i = 0
            epoch += 1


def load_validation(paths: Sequence[str | Path], n_clips: int, segment: int, sample_rate: int) -> torch.Tensor:
    """The first `n_clips` clips of `paths` (file order), each its first `segment` samples,
    zero-padded → `[N, 1, segment]`. Deterministic: the same set at every validation."""
    out: list[np.ndarray] = []
    for path in paths:
        for key, members in iter_shard(path):
            if len(out) >= n_clips:
                break
            try:
                s = decode_audio_sample(str(path), key, members)
            except Exception as err:
                log.warning("%s: skipping validation clip %s: %s", path, key, err)
                continue
            out.append(_crop(_to_rate(s.audio, s.sample_rate, sample_rate), segment, 0.0))
        if len(out) >= n_clips:
            break
    if not out:
        raise ValueError(f"no validation clips in {[str(p) for p in paths][:3]}...")
    return torch.from_numpy(np.stack(out).astype(np.float32))[:, None]
