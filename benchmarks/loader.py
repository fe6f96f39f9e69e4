"""Training-loader benchmark → benchmarks/results/loader.json.

    python benchmarks/loader.py [--tokens data/shards/tokens --audio data/shards/audio --seconds 10
                                 --segment-s 2 --batch-size 16 --workers 0]

On the same shards, in one process, interleaved over `--repeats` rounds (best kept; the machine is
shared):

- `loader_samples_per_s_nomix`: rows per second of `make_train_loader` with `mix.p = 0` (token crops);
- `loader_samples_per_s_mix`: the same with `mix.p = 0.5` (half the rows decode two FLAC windows and
  mix them);
- `raw_read_samples_per_s`: the ceiling, webdataset reading the same token tars without decoding
  anything (also the speed at which a resumed loader fast-forwards);
- ratios `mix_vs_nomix` and `nomix_vs_raw`.

`measure_loader(tokens_dir, audio_dir, cfg, seconds)` is importable (benchmarks/train.py compares
it with what the trainer consumes: the goal is a loader ≥ 2× faster than the trainer).
"""
from __future__ import annotations

import os
import sys

# Python puts this file's directory first on sys.path, where benchmarks/tokenize_stage.py would shadow the
# standard library's `tokenize` (numpy, torch and inspect import it): drop it before anything else.

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from audiogen.data.loader import DataConfig, make_train_loader  # noqa: E402
from audiogen.io.shards import read_index  # noqa: E402

RESULT = REPO / "benchmarks" / "results" / "loader.json"


def codec_facts(tokens_dir: str | Path) -> tuple[float, int, int]:
    """(frame rate, K, sample rate) from the token shards' shards.json."""
    index = read_index(tokens_dir)
    sample_rate = int((index.get("codec") or {}).get("sample_rate", 16000))
    return float(index["frame_rate"]), int(index["num_codebooks"]), sample_rate


def measure_loader(tokens_dir: str | Path, audio_dir: str | Path | None, cfg: DataConfig, seconds: float) -> float:
    """Rows per second delivered by `make_train_loader` over about `seconds` of wall time (the first
    batch, which fills the shuffle buffer and starts the workers, is not timed)."""
    frame_rate, k, sr = codec_facts(tokens_dir)
    loader = make_train_loader(tokens_dir, audio_dir, cfg, frame_rate=frame_rate, sample_rate=sr, num_codebooks=k)
    it = iter(loader)
    next(it)
    rows, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        rows += len(next(it)["keys"])
    return rows / elapsed


def measure_raw_read(tokens_dir: str | Path, seconds: float) -> float:
    """Samples per second of webdataset reading the train token tars (no decoding): the ceiling."""
    import webdataset as wds

    from audiogen.data.index import read_shard_table

    paths = [e.path for e in read_shard_table(tokens_dir, "train")[0]]
    rows, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in wds.DataPipeline(wds.SimpleShardList(paths), wds.tarfile_to_samples()):
            rows += 1
    return rows / elapsed


def main(argv: list[str] | None = None) -> None:
    import logging

    logging.basicConfig(level=logging.WARNING)
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tokens", default="data/shards/tokens")
    ap.add_argument("--audio", default="data/shards/audio")
    ap.add_argument("--seconds", type=float, default=10.0, help="wall time per measurement")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--segment-s", type=float, default=2.0)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--workers", type=int, default=0, help="DataLoader processes")
    ap.add_argument("--out", default=str(RESULT))
    a = ap.parse_args(argv)
    if not (Path(a.tokens) / "shards.json").exists():
        raise SystemExit(f"loader benchmark: no token shards in {a.tokens} (run `make demo` first)")
    base = {"segment_s": a.segment_s, "batch_size": a.batch_size, "loader_workers": a.workers}
    load_before = os.getloadavg()
    runs: dict[str, list[float]] = {"nomix": [], "mix": [], "raw": []}
    for r in range(a.repeats):
        runs["nomix"].append(measure_loader(a.tokens, a.audio, DataConfig.from_dict({**base, "mix": {"p": 0.0},
                                                                                      "seed": r}), a.seconds))
        runs["mix"].append(measure_loader(a.tokens, a.audio, DataConfig.from_dict({**base, "mix": {"p": 0.5},
                                                                                    "seed": r}), a.seconds))
        runs["raw"].append(measure_raw_read(a.tokens, a.seconds))
        print(f"round {r}: " + ", ".join(f"{k} {v[-1]:.0f}/s" for k, v in runs.items()), flush=True)
    best = {k: max(v) for k, v in runs.items()}
    import torch

    frame_rate, k, sr = codec_facts(a.tokens)
    result = {
        "loader_samples_per_s_nomix": round(best["nomix"], 1),
        "loader_samples_per_s_mix": round(best["mix"], 1),
        "raw_read_samples_per_s": round(best["raw"], 1),
        "mix_vs_nomix": round(best["mix"] / best["nomix"], 3),
        "nomix_vs_raw": round(best["nomix"] / best["raw"], 3),
        "runs": {k: [round(x, 1) for x in v] for k, v in runs.items()},
        "config": {**base, "seconds": a.seconds, "repeats": a.repeats, "mix_p": 0.5, "frame_rate": frame_rate,
                   "num_codebooks": k, "sample_rate": sr, "tokens": a.tokens},
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "torch": torch.__version__, "load_average_before": [round(x, 2) for x in load_before],
                    "load_average_after": [round(x, 2) for x in os.getloadavg()]},
    }
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    print(json.dumps({k: v for k, v in result.items() if not isinstance(v, dict)}, indent=1))


if __name__ == "__main__":
    main()
