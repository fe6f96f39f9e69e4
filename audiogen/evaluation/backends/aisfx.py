"""The aiSFX judge: a sound-effects embedding network nobody here trained (Ma & Lerch, "Representation
Learning for the Automatic Indexing of Sound Effects Libraries", ISMIR 2022; PyPI `aisfx`).

The network: the package's `CrossNet(EmbeddingNet("max", 3, 1, 64))`, four conv blocks (9 layers with
the pooling) over `[B, 100, 96]` log-mel blocks → a 512-d embedding per block (ReLU features, mean
over frequency, max over time), and one classifier head per training library (512 → 256 → 128 →
classes). Its best checkpoint ("X-Sequential-CE", 25 MB) ships inside the wheel.

Install: `pip install --no-deps aisfx` (the Makefile's install does it): the package pins numpy 1.23
and librosa 0.9.2, which would break this project, so none of its dependencies come along. Only the
model class is imported from it; the front end is `aisfx_frontend.py`; the weights are read with
`torch.load(weights_only=True)` allowing exactly the numpy types the checkpoint holds (its head table
stores numpy int64 indices): no full unpickle ever runs.

As a metric backend (`load_backend("aisfx[:HEAD]", role)`):
    embed(audios, sr) -> [N, 512]          one row per clip: the block embeddings averaged (FAD, retrieval)
    label_probs(audios, sr) -> [N, C]      softmax of HEAD per block, averaged over the clip's blocks (KL)
    tag_probs = label_probs                top-class agreement (class indices: the package ships no names)

HEAD defaults to `soundlyTrain` (79 UCS categories, trained on Soundly's library, itself gathered from
many recordists), one of the three heads trained on UCS-tagged libraries (`ucsMixed`: 69, `prosfx`:
78; the others are non-UCS vendor libraries): it has the most categories, and on the demo's 134
single-kind clips its top class follows the sound kind most closely (normalised mutual information
0.66 against 0.58 for prosfx and 0.52 for ucsMixed; two clips of one kind share its top class 47% of
the time, of different kinds 7%: `python benchmarks/judge.py`, `heads`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from audiogen.evaluation.backends import aisfx_frontend as frontend

UCS_HEADS = ("soundlyTrain", "prosfx", "ucsMixed")   # the heads trained on UCS-compliant libraries
DEFAULT_HEAD = "soundlyTrain"
EMBED_DIM = 512
INSTALL_HINT = "pip install --no-deps aisfx (make install does it; its pinned numpy/librosa must not come along)"


class AisfxUnavailable(RuntimeError):
    """The package or its checkpoint is missing, or a head name is unknown."""


def checkpoint_path() -> Path:
    """The checkpoint inside the installed package (`aisfx/models/checkpoint.pth`)."""
    import importlib.util

    spec = importlib.util.find_spec("aisfx")
    if spec is None or not spec.submodule_search_locations:
        raise AisfxUnavailable(f"the aisfx package is not installed: {INSTALL_HINT}")
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / "checkpoint.pth"
    if not path.is_file():
        raise AisfxUnavailable(f"{path}: missing from the installed aisfx package; reinstall it: {INSTALL_HINT}")
    return path


def _numpy_globals() -> list[Any]:
    """Exactly the numpy objects the checkpoint's pickle names: `numpy.core.multiarray.scalar` (under
    that name, which numpy 2 keeps only as an alias of `numpy._core`), `numpy.dtype` and the int64
    dtype class its `dtype` objects are rebuilt as."""
    try:
        from numpy._core.multiarray import scalar
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import scalar
    return [(scalar, "numpy.core.multiarray.scalar"), np.dtype, type(np.dtype(np.int64))]


def load_checkpoint(path: Path | None = None) -> tuple[dict[str, Any], dict[str, tuple[int, int]]]:
    """(state dict, {head name: (index, classes)}) from the package's checkpoint, weights only."""
    import torch

    path = Path(path) if path is not None else checkpoint_path()
    with torch.serialization.safe_globals(_numpy_globals()):
        state, heads = torch.load(path, map_location="cpu", weights_only=True)
    return state, {str(k): (int(v[0]), int(v[1])) for k, v in heads.items()}


class AisfxJudge:
    """The network in eval mode on CPU (or `device`). `blocks [B, 100, 96]` → embeddings `[B, 512]`."""

    def __init__(self, device: str = "cpu", checkpoint: Path | None = None):
        import torch

        try:
            from aisfx.models.cnn2d import CrossNet, EmbeddingNet
        except ImportError as err:
            raise AisfxUnavailable(f"cannot import the aisfx model ({err}): {INSTALL_HINT}") from None
        state, self.heads = load_checkpoint(checkpoint)
        self.device = torch.device(device)
        torch.manual_seed(0)  # the constructor draws an initialisation that the checkpoint replaces
        self.model = CrossNet(EmbeddingNet("max", 3, 1, 64), self.heads, "cpu")
        self.model.load_state_dict(state)
        self.model.to(self.device).eval()

    def head_index(self, head: str) -> int:
        if head not in self.heads:
            raise AisfxUnavailable(f"aisfx has no head {head!r}; heads: {', '.join(sorted(self.heads))}")
        return self.heads[head][0]

    def block_outputs(self, blocks: np.ndarray, head: str | None = None, batch_size: int = 64
                      ) -> tuple[np.ndarray, np.ndarray | None]:
        """`[B, 100, 96]` → (embeddings `[B, 512]`, head logits `[B, C]` or None)."""
        import torch

        idx = None if head is None else self.head_index(head)
        embs, logits = [], []
        with torch.inference_mode():
            for start in range(0, len(blocks), batch_size):
                x = torch.from_numpy(np.ascontiguousarray(blocks[start: start + batch_size], dtype=np.float32))
                e = self.model.get_embedding(x.to(self.device))
                embs.append(e.float().cpu().numpy())
                if idx is not None:
                    logits.append(self.model.fc[idx](e).float().cpu().numpy())
        emb = np.concatenate(embs) if embs else np.zeros((0, EMBED_DIM), np.float32)
        return emb, (np.concatenate(logits) if idx is not None and logits else None)


class AisfxBackend:
    """The judge as a metric backend (module doc). Clips of any length: the blocks of all the clips
    asked for are scored together, then averaged back per clip.

    An evaluation asks for the same clips several times (FAD, KL and top-class agreement, each γ
    against the same references), so each clip's results are kept, keyed by its samples' digest,
    its rate and the head: every clip goes through the network once."""

    roles = frozenset({"fad", "kl"})
    sample_rate = frontend.SAMPLE_RATE
    cache_size = 8192  # clips kept (each ~2.5 kB)

    def __init__(self, judge: AisfxJudge, head: str = DEFAULT_HEAD, name: str | None = None):
        judge.head_index(head)
        self.judge, self.head = judge, head
        self.name = name or (f"aisfx:{head}" if head != DEFAULT_HEAD else "aisfx")
        self._cache: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}

    @classmethod
    def load(cls, head: str = DEFAULT_HEAD, device: str = "cpu", name: str | None = None) -> "AisfxBackend":
        return cls(AisfxJudge(device), head, name)

    def _key(self, audio: np.ndarray, sr: int) -> tuple:
        import hashlib

        a = np.ascontiguousarray(audio, dtype=np.float32)
        return self.head, int(sr), a.size, hashlib.sha1(a.tobytes()).digest()

    def embed_and_probs(self, audios: Sequence[np.ndarray], sr: int) -> tuple[np.ndarray, np.ndarray]:
        """Clips `[T_i]` → (`[N, 512]` block embeddings averaged, `[N, C]` the head's softmax per block
        averaged over the clip's blocks), one pass of the network for the clips not seen before."""
        from audiogen.evaluation.metrics.kl import softmax

        keys = [self._key(a, sr) for a in audios]
        todo = list(dict.fromkeys(k for k in keys if k not in self._cache))
        if todo:
            first = {k: i for i, k in reversed(list(enumerate(keys)))}
            parts = [frontend.judge_input(audios[first[k]], sr) for k in todo]
            emb, logits = self.judge.block_outputs(np.concatenate(parts), self.head)
            bounds = np.cumsum([0] + [len(p) for p in parts])
            if len(self._cache) + len(todo) > self.cache_size:
                self._cache.clear()
            for k, a, b in zip(todo, bounds[:-1], bounds[1:]):
                self._cache[k] = (emb[a:b].mean(axis=0), softmax(logits[a:b]).mean(axis=0))
        c = self.judge.heads[self.head][1]
        if not keys:
            return np.zeros((0, EMBED_DIM), np.float32), np.zeros((0, c))
        return np.stack([self._cache[k][0] for k in keys]), np.stack([self._cache[k][1] for k in keys])

    def embed(self, audios: Sequence[np.ndarray], sr: int) -> np.ndarray:
        """Clips → `[N, 512]` (FAD, retrieval)."""
        return self.embed_and_probs(audios, sr)[0]

    def label_probs(self, audios: Sequence[np.ndarray], sr: int) -> np.ndarray:
        """Clips → `[N, C]` (KL)."""
        return self.embed_and_probs(audios, sr)[1]

    tag_probs = label_probs
