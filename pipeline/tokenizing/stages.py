"""The two Ray Data stages of the tokenize job, and the `.npy` encoding of codes.

    decode_shard({"path", "name"}) -> rows          CPU stage (flat_map): one audio shard → one row per clip
    CodecEncoder(checkpoint, device, threads)       GPU/CPU actor (map_batches): loads the codec once,
                                                    encodes batches of clips of different lengths

A decode row: `shard` (str), `index` (position in the shard), `count` (clips in the shard),
`key`, `json` (the audio json, bytes), `num_samples`, `audio` (float32 `[num_samples]`) and
`error` ("" or "<reason>: <detail>"). A row with `index == -1` stands for a whole shard that could not
be read (`count == -1`). The encoder drops `audio` and adds `codes` (`.npy` bytes, int16 `[K, T]`)
and `frames` (T). Rows with an error pass through untouched, so the driver still counts every clip
of a shard and knows when the shard is complete.

Only numpy, soundfile and `audiogen` are imported here (torch inside the actor): this module is
shipped to Ray workers.
"""
from __future__ import annotations

import io
import re
from typing import Any

import numpy as np

from audiogen.io.shards import decode_audio_sample, iter_shard

CODES_DTYPE = np.dtype("<i2")  # int16 little-endian: every preset's cardinality is ≤ 32768


def codes_to_npy(codes: np.ndarray) -> bytes:
    """`[K, T]` integer codes → `.npy` bytes (format 1.0, int16, C order: byte-identical for equal codes)."""
    arr = np.ascontiguousarray(codes, dtype=CODES_DTYPE)
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr, version=(1, 0), allow_pickle=False)
    return buf.getvalue()


def npy_to_codes(data: bytes) -> np.ndarray:
    """`.npy` bytes → int16 `[K, T]` (never unpickles)."""
    return np.load(io.BytesIO(data), allow_pickle=False)


_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def _describe(err: Exception) -> str:
    """`Type: message` without object addresses, so that rejects.jsonl is the same on every run."""
    return _ADDRESS.sub("", f"{type(err).__name__}: {err}")


def _row(shard: str, index: int, count: int, key: str = "", meta: bytes = b"", audio: np.ndarray | None = None,
         error: str = "") -> dict[str, Any]:
    audio = np.zeros(0, np.float32) if audio is None else audio
    return {"shard": shard, "index": index, "count": count, "key": key, "json": meta,
            "num_samples": int(audio.shape[0]), "audio": audio, "error": error}


def decode_shard(item: dict[str, Any], sample_rate: int) -> list[dict[str, Any]]:
    """One audio shard → one row per clip (float32 mono at `sample_rate`), in shard order.

    A clip that does not decode, is empty or has another sample rate becomes a row with `error`;
    a shard that cannot be read at all becomes a single row with `index == -1`."""
    path, name = str(item["path"]), str(item["name"])
    try:
        samples = list(iter_shard(path))
    except Exception as err:  # a truncated or foreign tar: reject the shard, keep the job alive
        return [_row(name, -1, -1, error=f"bad_shard: {name}: {_describe(err)}")]
    rows = []
    for i, (key, members) in enumerate(samples):
        meta = members.get("json", b"{}")
        try:
            clip = decode_audio_sample(path, key, members)
        except Exception as err:
            rows.append(_row(name, i, len(samples), key, meta, error=f"decode: {name}: {key}: {_describe(err)}"))
            continue
        if clip.sample_rate != sample_rate:
            rows.append(_row(name, i, len(samples), key, meta,
                             error=f"sample_rate: {name}: {key}: {clip.sample_rate} Hz, the codec wants {sample_rate} Hz"))
        elif clip.audio.size == 0:
            rows.append(_row(name, i, len(samples), key, meta, error=f"empty: {name}: {key}: no samples"))
        else:
            rows.append(_row(name, i, len(samples), key, meta, clip.audio.astype(np.float32, copy=False)))
    return rows


def _has_checkpoint(directory: str, sha256: str) -> bool:
    import os

    from audiogen.io.shards import sha256_file

    weights = os.path.join(directory, "model.safetensors")
    return os.path.isfile(os.path.join(directory, "config.json")) and os.path.isfile(weights) \
        and sha256_file(weights) == sha256


class CodecEncoder:
    """Ray Data actor: the codec is loaded once per actor; each call encodes one batch of clips.

    `Codec.encode_clips` gives every clip the codes that encoding it alone gives: a causal codec
    right-pads the batch to its longest clip and crops each clip's codes to its own
    `ceil(num_samples / hop)` frames; a codec that looks ahead (a converted audiocraft EnCodec)
    encodes each group of equal-length clips together, never a padded clip."""

    def __init__(self, checkpoint: Any, device: str = "auto", threads: int | None = None,
                 local_dir: str | None = None, sha256: str | None = None):
        """`checkpoint`: a checkpoint directory, or `{file name: bytes}` of one, or a Ray ObjectRef to
        that dict, so that actors on nodes without the driver's disk can load it. When `local_dir`
        holds a checkpoint whose model.safetensors has `sha256` (the driver's own node, a shared
        disk), it is read from there instead and the object is never fetched."""
        import tempfile

        import torch

        from audiogen.codec import Codec

        if threads:
            torch.set_num_threads(int(threads))
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = device
        if local_dir and sha256 and _has_checkpoint(local_dir, sha256):
            checkpoint = local_dir
        elif not isinstance(checkpoint, (str, dict)):  # an ObjectRef
            import ray

            checkpoint = ray.get(checkpoint)
        if isinstance(checkpoint, str):
            self.codec = Codec.from_pretrained(checkpoint, device=device)
        else:
            with tempfile.TemporaryDirectory(prefix="audiogen-codec-") as tmp:
                for name, data in checkpoint.items():
                    with open(f"{tmp}/{name}", "wb") as f:
                        f.write(data)
                self.codec = Codec.from_pretrained(tmp, device=device)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import torch

        n = len(batch["key"])
        ok = [i for i in range(n) if not batch["error"][i]]
        codes: list[bytes] = [b""] * n
        frames = np.zeros(n, dtype=np.int64)
        if ok:
            clips = [torch.from_numpy(np.asarray(batch["audio"][i], dtype=np.float32)) for i in ok]
            for i, c in zip(ok, self.codec.encode_clips(clips)):
                arr = c.cpu().numpy()
                codes[i] = codes_to_npy(arr)
                frames[i] = arr.shape[-1]
        out = {k: v for k, v in batch.items() if k != "audio"}  # audio is the bulk: never ship it back
        out["codes"] = np.array(codes, dtype=object)
        out["frames"] = frames
        return out
