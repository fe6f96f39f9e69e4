"""The goals table at the top of BENCHMARKS.md, rebuilt from `benchmarks/results/*.json`:
`python benchmarks/goals.py` (prints it; `--write` replaces the block between the markers)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
BEGIN, END = "<!-- goals:begin -->", "<!-- goals:end -->"

# (result file, what, how to read the figure, goal text, met?)
GOALS: list[tuple[str, str, Callable[[dict], Any], str, Callable[[Any], bool]]] = [
    ("ingest", "ingest: Ray 2 workers vs 1", lambda d: d["ray_speedup_2_vs_1"], "≥ 1.5×", lambda v: v >= 1.5),
    ("prepare", "prepare: × real time per core (soxr)", lambda d: d["x_realtime_per_core_soxr"], "≥ 200", lambda v: v >= 200),
    ("prepare", "prepare: Ray 2 workers vs 1", lambda d: d["ray_speedup_2_vs_1"], "≥ 1.6×", lambda v: v >= 1.6),
    ("prepare", "prepare: speed with the VAD on / off", lambda d: d["vad_on_off_ratio"], "≥ 0.5", lambda v: v >= 0.5),
    ("tokenize", "tokenize: Ray job overhead over a bare loop", lambda d: d["ray_overhead_fraction"], "≤ 0.15",
     lambda v: v <= 0.15),
    ("train", "train: base model FLOP/s / matmul FLOP/s (CPU)", lambda d: d["achieved_flops_fraction_of_matmul_base"],
     "≥ 0.30", lambda v: v >= 0.30),
    ("train", "train: loader with mixing / trainer consumption", lambda d: d["loader_vs_trainer_mix"], "≥ 2×",
     lambda v: v >= 2),
    ("generate", "generate: KV-cache speed-up, base, 5 s, batch 1", lambda d: d["kv_cache_speedup_base"]["1"], "≥ 10×",
     lambda v: v >= 10),
    ("generate", "generate: KV-cache speed-up, base, 5 s, batch 8", lambda d: d["kv_cache_speedup_base"]["8"], "≥ 10×",
     lambda v: v >= 10),
]


def rows() -> list[str]:
    out = ["| goal | figure | target | met | result file |", "|---|---|---|---|---|"]
    for name, what, read, goal, met in GOALS:
        path = RESULTS / f"{name}.json"
        try:
            value = read(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, KeyError, TypeError, ValueError):
            out.append(f"| {what} | not measured | {goal} | – | `{path.relative_to(ROOT)}` |")
            continue
        figure = f"{value:.3g}" if isinstance(value, float) else str(value)
        out.append(f"| {what} | {figure} | {goal} | {'yes' if met(value) else '**no**'} | `{path.relative_to(ROOT)}` |")
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args(argv)
    table = "\n".join(rows())
    if not args.write:
        print(table)
        return
    doc = ROOT / "BENCHMARKS.md"
    text = doc.read_text(encoding="utf-8")
    if BEGIN not in text:
        head, _, rest = text.partition("\n\n")
        text = f"{head}\n\n{BEGIN}\n{END}\n\n{rest}"
    before, _, after = text.partition(BEGIN)
    _, _, after = after.partition(END)
    doc.write_text(f"{before}{BEGIN}\n{table}\n{END}{after}", encoding="utf-8")
    print(f"goals: {len(GOALS)} rows written into {doc}")


if __name__ == "__main__":
    main()
