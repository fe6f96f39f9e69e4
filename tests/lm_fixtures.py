"""A small but real training set for LM tests: audio shards (FLAC + json, as `prepare` writes them),
a tiny random codec checkpoint, and token shards encoded by that codec (as `tokenize` writes them,
with `shards.json` naming the codec's sha256). Four sound classes with captions that name them."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from audiogen.io.audio import encode_flac, to_pcm16
from audiogen.io.shards import INDEX_NAME, ShardWriter, sha256_file

SR = 16000
CLASSES = {
    "beep": "a high beeping tone",
    "hum": "a low electric hum",
    "hiss": "white noise hissing",
    "click": "a clock ticking clicks",
}


def synth(kind: str, seconds: float, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    if kind == "beep":
        x = 0.4 * np.sin(2 * np.pi * 2000 * t) * (np.sin(2 * np.pi * 4 * t) > 0)
    elif kind == "hum":
        x = 0.4 * np.sin(2 * np.pi * 110 * t) + 0.2 * np.sin(2 * np.pi * 220 * t)
    elif kind == "hiss":
        x = 0.2 * rng.standard_normal(t.size)
    else:
        x = np.zeros(t.size)
        x[:: SR // 5] = 0.9
        x = np.convolve(x, np.exp(-np.arange(200) / 20.0), mode="same")
    return (x + 0.005 * rng.standard_normal(t.size)).astype(np.float32)


def build_lm_data(root: Path, clips_per_class: int = 4, seed: int = 0, lengths=(1.0, 3.0)) -> dict[str, Path]:
    """Writes `root/codec`, `root/audio`, `root/tokens`; train shards for two corpora, one valid shard."""
    import torch

    from audiogen.codec import Codec, preset

    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    codec = Codec(preset("tiny"))
    # One train-mode forward initialises the codebooks by k-means on real frames (a random codebook
    # maps nearly every frame to one code: nothing for an LM to learn).
    kinds = list(CLASSES) * 4
    codec.train()(torch.from_numpy(np.stack([synth(k, 1.0, rng) for k in kinds]))[:, None])
    codec.eval().save_pretrained(root / "codec")
    sha = sha256_file(root / "codec" / "model.safetensors")
    layout = {"train-alpha-000000.tar": clips_per_class, "train-beta-000000.tar": clips_per_class,
              "valid-alpha-000000.tar": 1}
    audio_index, token_index = [], []
    for name, per_class in layout.items():
        split, corpus, _ = name[:-4].split("-")
        with ShardWriter(root / "audio" / name) as wa, ShardWriter(root / "tokens" / name) as wt:
            seconds = 0.0
            for kind, caption in CLASSES.items():
                for i in range(per_class):
                    key = f"{corpus}-{split}-{kind}-{i}"
                    x = synth(kind, float(rng.uniform(*lengths)), rng)
                    pcm = to_pcm16(x)
                    meta = {"key": key, "corpus": corpus, "split": split, "caption": caption,
                            "captions_norm": [caption], "labels": [kind], "sample_rate": SR, "num_samples": len(x)}
                    wa.write(key, {"flac": encode_flac(pcm, SR), "json": json.dumps(meta).encode()})
                    codes = codec.encode_clips([torch.from_numpy(pcm.astype(np.float32) / 32768.0)])[0]
                    npy = _npy(codes.numpy().astype(np.int16))
                    tmeta = dict(meta, frame_rate=codec.frame_rate, num_codebooks=codec.num_codebooks,
                                 codec_sha256=sha, num_frames=int(codes.shape[-1]))
                    wt.write(key, {"codes.npy": npy, "json": json.dumps(tmeta).encode()})
                    seconds += len(x) / SR
        for index, w in ((audio_index, wa), (token_index, wt)):
            index.append({"name": name, "split": split, "corpus": corpus, "clips": per_class * len(CLASSES),
                          "seconds": seconds, "sha256": w.sha256})
    (root / "audio" / INDEX_NAME).write_text(json.dumps({"shards": audio_index}))
    (root / "tokens" / INDEX_NAME).write_text(json.dumps({
        "shards": token_index, "codec_sha256": sha, "frame_rate": codec.frame_rate,
        "num_codebooks": codec.num_codebooks}))
    return {"codec": root / "codec", "audio": root / "audio", "tokens": root / "tokens"}


def _npy(a: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=False)
    return buf.getvalue()
