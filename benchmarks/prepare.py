"""Benchmark the prepare stage: speed per core of the per-clip path and the Ray speed-up.

    python benchmarks/prepare.py [--seconds 240] [--out benchmarks/results/prepare.json]

Inputs are synthesised here: 44.1 kHz stereo 16-bit files, half WAV and half FLAC, 30 s each
(a band-limited noise + tones mix, so FLAC cannot compress it to nothing). Measured in one run:

- `x_realtime_per_core_soxr` / `_resampy`: audio seconds per wall second of the full per-row path
  (decode, downmix, resample to 16 kHz, gates, PCM_16, FLAC encode, json) in one process (one core).
- `decode_only_x_realtime`: the same files, decode only (the ceiling of the above).
- `ray_speedup_2_vs_1`: the whole stage (`pipeline.prepare.prepare`, Ray Data, one task per shard)
  with 2 workers against 1, on a warm local Ray with 2 CPUs.
`cpu_*` variants divide by process CPU time instead of wall time: robust when the machine is shared.
Goals (issue 3): soxr ≥ 200× real time per core; speed-up ≥ 1.6.
"""
from __future__ import annotations

import sys
from pathlib import Path

# `python benchmarks/prepare.py` puts benchmarks/ first on sys.path, where benchmarks/tokenize.py
# would shadow the standard `tokenize` module (used by inspect, numpy, torch): use the repo root.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from audiogen import audio  # noqa: E402
from pipeline.manifest import write_manifest  # noqa: E402
from pipeline.prepare_plan import PrepareConfig  # noqa: E402
from pipeline.prepare_shard import process_row  # noqa: E402

FILE_S = 30.0
SR = 44100


def make_inputs(root: Path, total_s: float) -> list[dict]:
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    rows = []
    for i in range(max(2, int(total_s // FILE_S))):
        t = np.arange(int(SR * FILE_S)) / SR
        noise = np.cumsum(rng.standard_normal((len(t), 2)), axis=0)  # brown-ish: realistic spectrum tilt
        noise = (noise - noise.mean(axis=0)) / (np.abs(noise).max() + 1e-9) * 0.2
        x = noise + 0.2 * np.sin(2 * np.pi * (220 + 37 * i) * t)[:, None]
        ext = "wav" if i % 2 == 0 else "flac"
        path = root / f"in{i:03d}.{ext}"
        sf.write(path, x.astype(np.float32), SR, subtype="PCM_16")
        rows.append({"key": f"bench-in{i:03d}", "corpus": "bench", "split": "train", "audio_path": str(path),
                     "offset_s": 0.0, "duration_s": None, "file_duration_s": FILE_S, "captions": ["noise"],
                     "caption": "Noise and a tone", "source": f"bench:{i}"})
    return rows


def timed(fn) -> tuple[float, float]:
    w, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w, time.process_time() - c


def per_row_speed(rows: list[dict], resampler: str) -> tuple[float, float]:
    cfg = PrepareConfig(resampler=resampler)
    process_row(rows[0], cfg)  # warm-up: imports, resampy's numba JIT
    wall, cpu = timed(lambda: [process_row(r, cfg) for r in rows])
    seconds = FILE_S * len(rows)
    return seconds / wall, seconds / cpu


def decode_speed(rows: list[dict]) -> tuple[float, float]:
    def run():
        for r in rows:
            for w in audio.iter_windows(r["audio_path"], 0.0, None, 10.0, 1.0, 16000):
                audio.to_mono(w.data)
    run()
    wall, cpu = timed(run)
    seconds = FILE_S * len(rows)
    return seconds / wall, seconds / cpu


def ray_speedup(rows: list[dict], root: Path) -> dict:
    """Whole-stage wall time, best of two, with 1 and with 2 workers (shards of four 30 s files each:
    Ray Data costs ~20 ms per task, negligible at the default 100 MB ≈ 50 min shards)."""
    from pipeline.common import init_ray
    from pipeline.prepare import prepare

    os.environ["AUDIOGEN_RAY_OBJECT_STORE"] = str(200 * 1024**2)
    init_ray(num_cpus=2)
    write_manifest(rows, root / "manifests" / "train.parquet")
    cfg = PrepareConfig(shard_mb=3.9)  # 3.9 MB of 16 kHz PCM ≈ 122 s: four 30 s files per shard
    prepare(root / "manifests", root / "warm", cfg, force=True)  # start Ray workers, import everything
    times = {}
    for workers in (1, 2, 1, 2):
        cfg.workers = workers
        t = time.perf_counter()
        prepare(root / "manifests", root / f"out{workers}", cfg, force=True)
        times.setdefault(workers, []).append(time.perf_counter() - t)
    best = {w: min(ts) for w, ts in times.items()}
    return {"ray_speedup_2_vs_1": best[1] / best[2], "ray_wall_s_1_worker": best[1], "ray_wall_s_2_workers": best[2],
            "ray_shards": -(-len(rows) // 4), "ray_audio_s": FILE_S * len(rows)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=240.0, help="total input audio (30 s files)")
    p.add_argument("--ray-seconds", type=float, default=3600.0, help="input audio for the Ray speed-up")
    p.add_argument("--out", default="benchmarks/results/prepare.json")
    a = p.parse_args()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        rows = make_inputs(root, a.seconds)
        decode, decode_cpu = decode_speed(rows)
        soxr_x, soxr_cpu = per_row_speed(rows, "soxr")
        resampy_x, resampy_cpu = per_row_speed(rows, "resampy")
        ray_rows = make_inputs(root / "ray", a.ray_seconds)
        ray = ray_speedup(ray_rows, root / "ray")
    result = {
        "x_realtime_per_core_soxr": round(soxr_x, 1),
        "x_realtime_per_core_resampy": round(resampy_x, 1),
        "decode_only_x_realtime": round(decode, 1),
        "cpu_x_realtime_soxr": round(soxr_cpu, 1),
        "cpu_x_realtime_resampy": round(resampy_cpu, 1),
        "cpu_decode_only_x_realtime": round(decode_cpu, 1),
        **{k: round(v, 3) if isinstance(v, float) else v for k, v in ray.items()},
        "goals": {"x_realtime_per_core_soxr": 200, "ray_speedup_2_vs_1": 1.6},
        "input": {"files": len(rows), "seconds": FILE_S * len(rows), "format": "44.1 kHz stereo PCM_16, half WAV half FLAC"},
        "machine": {"cpus": os.cpu_count(), "loadavg_before": [round(x, 2) for x in load_before],
                    "loadavg_after": [round(x, 2) for x in os.getloadavg()], "python": platform.python_version(),
                    "processor": platform.processor() or platform.machine()},
        "command": "python benchmarks/prepare.py",
    }
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    print(json.dumps(result, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
