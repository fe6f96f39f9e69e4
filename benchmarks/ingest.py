"""Ingest header-probing throughput: Ray Data with 1 vs 2 concurrent tasks, and a bare loop.

    python benchmarks/ingest.py [--files 8000] [--batch-size 512] [--repeats 7]

Writes benchmarks/results/ingest.json. The files (a quarter each WAV, FLAC, OGG, MP3; 0.25 s,
16 kHz mono) are generated in a temporary folder: one of each format is encoded, the rest are byte
copies under their own names (each a distinct file the probe must open; encoding thousands of
OGG/MP3 files would only slow the set-up). Every timing is one full `probe_paths` call (a whole Ray
Data job: planning, scheduling, collecting the results), so the job's fixed cost is inside the
figures, as it is for a real ingest. One Ray (num_cpus=2) serves both settings; the bare loop and
concurrency 1 and 2 alternate inside every repeat, so background load hits all three alike, after
a warm-up job that starts the workers and fills the page cache. Figures use the fastest of the
repeats (the least disturbed run on a shared machine); medians are recorded beside them.
"""
from __future__ import annotations

import sys
from pathlib import Path

# `python benchmarks/ingest.py` puts benchmarks/ first on sys.path, where a sibling benchmark named
# like a stdlib module (benchmarks/tokenize_stage.py) would shadow it; run with the repo root instead.
_HERE = Path(__file__).resolve().parent
ROOT = _HERE.parent
sys.path.insert(0, str(ROOT))

import argparse
import json
import os
import platform
import shutil
import statistics
import tempfile
import time

os.environ.setdefault("RAY_AUTH_MODE", "disabled")

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

from pipeline.ingesting.probe import ProbeConfig, effective_batch_size, probe_local, probe_paths  # noqa: E402

FORMATS = ("wav", "flac", "ogg", "mp3")


def make_files(folder: Path, n: int, seconds: float = 0.25, sr: int = 16000) -> list[str]:
    """n files named f00000.<ext>, formats in rotation; returns their paths."""
    t = np.arange(int(seconds * sr)) / sr
    data = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    templates = {}
    for ext in FORMATS:
        path = folder / f"template.{ext}"
        with sf.SoundFile(path, "w", samplerate=sr, channels=1, format=ext.upper()) as f:
            for i in range(0, len(data), 4096):
                f.write(data[i:i + 4096])
        templates[ext] = path
    paths = []
    for i in range(n):
        ext = FORMATS[i % len(FORMATS)]
        path = folder / f"f{i:05d}.{ext}"
        shutil.copyfile(templates[ext], path)
        paths.append(str(path))
    return paths


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--files", type=int, default=8000)
    p.add_argument("--batch-size", type=int, default=ProbeConfig().batch_size)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--sweep", default="128,256,512,1024,2048", help="batch sizes tried once each with 1 and 2 tasks")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "ingest.json")
    args = p.parse_args()

    import ray

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="ingest-bench-") as tmp:
        paths = make_files(Path(tmp), args.files)
        n = len(paths)
        probe_local(paths)  # page cache warm for everyone

        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}},
                 object_store_memory=300 * 1024**2)
        try:
            def run(concurrency: int, batch_size: int = args.batch_size) -> float:
                cfg = ProbeConfig(batch_size=batch_size, concurrency=concurrency, progress=False)
                return timed(lambda: probe_paths(paths, cfg))

            run(2)  # warm-up: starts both workers, imports soundfile there
            # bare, 1 and 2 alternate inside each repeat, so background load hits all three alike
            bare: list[float] = []
            times: dict[int, list[float]] = {1: [], 2: []}
            for _ in range(args.repeats):
                bare.append(timed(lambda: probe_local(paths)))
                for c in (1, 2):
                    times[c].append(run(c))
            sweep = {}
            for bs in (int(b) for b in args.sweep.split(",") if b):
                one, two = run(1, bs), run(2, bs)
                sweep[bs] = {"files_per_s_1": round(n / one, 1), "files_per_s_2": round(n / two, 1),
                             "speedup_2_vs_1": round(one / two, 3),
                             "effective_batch_size": effective_batch_size(n, bs, 2)}
        finally:
            ray.shutdown()

    def rate(ts: list[float]) -> float:
        return round(n / min(ts), 1)

    result = {
        "benchmark": "ingest header probing (soundfile.info on Ray Data map_batches)",
        "files": n,
        "formats": list(FORMATS),
        "file_seconds": 0.25,
        "batch_size": args.batch_size,
        "effective_batch_size": effective_batch_size(n, args.batch_size, 2),
        "repeats": args.repeats,
        "files_per_s": {"bare_loop": rate(bare), "ray_1_worker": rate(times[1]), "ray_2_workers": rate(times[2])},
        "files_per_s_median": {
            "bare_loop": round(n / statistics.median(bare), 1),
            "ray_1_worker": round(n / statistics.median(times[1]), 1),
            "ray_2_workers": round(n / statistics.median(times[2]), 1),
        },
        "ray_speedup_2_vs_1": round(min(times[1]) / min(times[2]), 3),
        "ray_speedup_2_vs_1_median": round(statistics.median(times[1]) / statistics.median(times[2]), 3),
        "ray_2_vs_bare_loop": round(min(bare) / min(times[2]), 3),
        "goal_speedup": 1.5,
        "batch_size_sweep": sweep,
        "seconds": {"bare_loop": [round(t, 4) for t in bare], "ray_1_worker": [round(t, 4) for t in times[1]],
                    "ray_2_workers": [round(t, 4) for t in times[2]]},
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "ray": ray.__version__, "soundfile": sf.__version__, "libsndfile": sf.__libsndfile_version__,
                    "loadavg_1m_before": round(load_before[0], 2), "loadavg_1m_after": round(os.getloadavg()[0], 2)},
    }
    result["goal_met"] = result["ray_speedup_2_vs_1"] >= result["goal_speedup"]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    fps = result["files_per_s"]
    print(f"ingest probe: bare {fps['bare_loop']:.0f} files/s, Ray 1 worker {fps['ray_1_worker']:.0f}, "
          f"2 workers {fps['ray_2_workers']:.0f} files/s; speedup 2 vs 1 = {result['ray_speedup_2_vs_1']:.2f}x "
          f"(median {result['ray_speedup_2_vs_1_median']:.2f}x) -> {args.out}")


if __name__ == "__main__":
    main()
