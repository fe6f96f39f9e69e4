"""Tokenize benchmark → benchmarks/results/tokenize.json.

    python benchmarks/tokenize_stage.py [--overhead-presets paper audiocraft --minutes 10 --repeats 2]

1. `codec_x_realtime`: seconds of 16 kHz audio encoded per second of wall time, per codec preset
   (random weights: speed does not depend on them), on the CPU and, when torch sees one, on the GPU.
2. `ray_overhead_fraction`: the tokenize Ray job (pipeline.tokenize.tokenize: decode stage, actor
   pool, shard writing) over a bare in-process loop doing the same work on the same clips (read the
   shards, load the codec, encode in batches of the same size, write the same token shards), minus 1.
   Both use the same torch threads; Ray itself is started before the clock (on a cluster it is
   already up). Repeated, interleaved, and the minimum of each is compared (the machine is shared).
   Goal: ≤ 0.15.
"""
from __future__ import annotations

import os
import sys

# Python puts this file's directory first on sys.path, where this file would shadow the standard
# library's `tokenize` (numpy, torch and inspect import it): drop it before importing anything else.

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from audiogen.io.audio import encode_flac, to_pcm16  # noqa: E402
from audiogen.io.shards import ShardWriter, list_shards  # noqa: E402

SR = 16000
RESULT = REPO / "benchmarks" / "results" / "tokenize.json"


def codec_x_realtime(preset: str, device: str, seconds: float = 10.0, batch: int = 2) -> float:
    """Audio seconds encoded per wall second: a batch of `batch` clips totalling `seconds`, after a warm-up."""
    import torch

    from audiogen.codec import Codec, preset as make

    torch.manual_seed(0)
    codec = Codec(make(preset)).to(device).eval()
    x = 0.1 * torch.randn(batch, 1, int(SR * seconds / batch), device=device)
    codec.encode(x[..., : SR // 2])  # warm-up: allocator, kernels
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    codec.encode(x)
    if device == "cuda":
        torch.cuda.synchronize()
    return seconds / (time.perf_counter() - start)


def write_shards(directory: Path, minutes: float, clips_per_shard: int = 12, clip_s: float = 10.0) -> float:
    """Audio shards of `minutes` of 10 s clips (tones + noise, FLAC PCM_16); returns the seconds written."""
    rng = np.random.default_rng(0)
    n = int(round(minutes * 60 / clip_s))
    for s in range(0, n, clips_per_shard):
        with ShardWriter(directory / f"train-bench-{s // clips_per_shard:06d}.tar") as w:
            for i in range(s, min(n, s + clips_per_shard)):
                t = np.arange(int(clip_s * SR)) / SR
                x = 0.3 * np.sin(2 * np.pi * rng.uniform(100, 3000) * t) + 0.05 * rng.standard_normal(t.size)
                w.write(f"bench-{i:05d}", {"flac": encode_flac(to_pcm16(x.astype(np.float32)), SR),
                                          "json": json.dumps({"key": f"bench-{i:05d}"}).encode()})
    return n * clip_s


def bare_loop(codec_dir: Path, shards: Path, out: Path, batch_size: int) -> float:
    """The same work as the Ray job, in this process and without Ray: plan, load the codec, read
    each shard, encode its clips in batches, write the token shard and its record."""
    import torch

    from audiogen.codec import Codec
    from audiogen.io.shards import iter_audio_samples
    from pipeline.tokenizing.config import CodecInfo
    from pipeline.tokenizing.records import plan_shards, write_token_shard
    from pipeline.tokenizing.stages import codes_to_npy

    start = time.perf_counter()
    info = CodecInfo.load(codec_dir)
    codec = Codec.from_pretrained(codec_dir)
    out.mkdir(parents=True, exist_ok=True)
    for job in plan_shards(shards):
        clips = list(iter_audio_samples([job.path], shuffle=False, seed=0))
        rows = []
        for b in range(0, len(clips), batch_size):
            part = clips[b: b + batch_size]
            for j, (c, k) in enumerate(zip(part, codec.encode_clips([torch.from_numpy(c.audio) for c in part]))):
                rows.append({"index": b + j, "key": c.key, "error": "", "json": json.dumps(c.meta).encode(),
                             "codes": codes_to_npy(k.numpy()), "frames": k.shape[-1], "num_samples": c.audio.size})
        write_token_shard(out, job, rows, info)
    return time.perf_counter() - start


def ray_overhead(preset: str, minutes: float, repeats: int, batch_size: int, threads: int) -> dict:
    import torch

    from audiogen.codec import Codec, preset as make
    from pipeline.common import init_ray
    from pipeline.tokenize import tokenize
    from pipeline.tokenizing.config import TokenizeConfig

    torch.set_num_threads(threads)
    cfg = TokenizeConfig(batch_size=batch_size, concurrency=1, num_cpus_per_actor=1, decode_num_cpus=1,
                         torch_threads=threads)
    with tempfile.TemporaryDirectory(prefix="bench-tok-") as tmp:
        tmp = Path(tmp)
        torch.manual_seed(0)
        Codec(make(preset)).eval().save_pretrained(tmp / "codec")
        (tmp / "audio").mkdir()
        audio_s = write_shards(tmp / "audio", minutes)
        t = time.perf_counter()
        init_ray()
        ray_init_s = time.perf_counter() - t
        bare, job = [], []
        for r in range(repeats):  # interleaved, so slow phases of a shared machine hit both
            bare.append(bare_loop(tmp / "codec", tmp / "audio", tmp / f"bare{r}", batch_size))
            t = time.perf_counter()
            tokenize(tmp / "codec", tmp / "audio", tmp / f"ray{r}", cfg)
            job.append(time.perf_counter() - t)
            print(f"repeat {r}: bare {bare[-1]:.1f} s, ray job {job[-1]:.1f} s", flush=True)
        same = all((tmp / f"bare0/{p.name}").read_bytes() == p.read_bytes() for p in list_shards(tmp / "ray0"))
        same = same and len(list_shards(tmp / "ray0")) == len(list_shards(tmp / "bare0")) > 0
    return {"preset": preset, "audio_s": audio_s, "clips": int(audio_s / 10), "batch_size": batch_size,
            "torch_threads": threads, "ray_init_s": round(ray_init_s, 2), "bare_s": [round(x, 2) for x in bare],
            "ray_job_s": [round(x, 2) for x in job],
            "ray_minus_bare_s": round(min(job) - min(bare), 2),
            "ray_overhead_fraction": round(min(job) / min(bare) - 1, 4),
            "goal": 0.15, "met": min(job) / min(bare) - 1 <= 0.15, "same_token_shards_as_bare_loop": same}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--presets", nargs="*", default=None, help="codec presets to time (default: all)")
    p.add_argument("--overhead-presets", nargs="+", default=["paper", "audiocraft"],
                   help="codecs for the overhead measurement; the first gives the headline ray_overhead_fraction")
    p.add_argument("--minutes", type=float, default=10.0, help="audio for the overhead measurement")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--threads", type=int, default=None,
                   help="torch threads for both the bare loop and the codec actor (default: torch's, = cores)")
    p.add_argument("--out", default=str(RESULT))
    a = p.parse_args()
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    import ray
    import torch

    from audiogen.codec import PRESETS

    load_before = os.getloadavg()
    if a.threads:
        torch.set_num_threads(a.threads)
    threads = torch.get_num_threads()
    presets = a.presets or list(PRESETS)
    xrt = {"cpu": {name: round(codec_x_realtime(name, "cpu"), 2) for name in presets}}
    if torch.cuda.is_available():
        xrt["cuda"] = {name: round(codec_x_realtime(name, "cuda", seconds=60.0, batch=6), 1) for name in presets}
        xrt["cuda_device"] = torch.cuda.get_device_name()
    print("codec_x_realtime:", json.dumps(xrt), flush=True)
    runs = {name: ray_overhead(name, a.minutes, a.repeats, a.batch_size, threads) for name in a.overhead_presets}
    overhead = runs[a.overhead_presets[0]]
    result = {
        "codec_x_realtime": xrt,
        "ray_overhead_fraction": overhead["ray_overhead_fraction"],
        "ray_overhead": runs,
        "machine": {"cpus": os.cpu_count(), "torch_threads": threads, "gpu": torch.cuda.is_available(),
                    "platform": platform.platform(), "python": platform.python_version(),
                    "torch": torch.__version__, "ray": ray.__version__,
                    "load_average_before": [round(x, 2) for x in load_before],
                    "load_average_after": [round(x, 2) for x in os.getloadavg()]},
    }
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    fractions = ", ".join(f"{k} {v['ray_overhead_fraction']:+.3f}" for k, v in runs.items())
    print(f"tokenize benchmark: ray_overhead_fraction {fractions} (goal ≤ 0.15) "
          f"on {overhead['audio_s'] / 60:.0f} min of audio; "
          f"codec x real time (CPU) {xrt['cpu']} → {a.out}")


if __name__ == "__main__":
    main()
