"""LM generation benchmark → benchmarks/results/generate.json.

    python benchmarks/generate.py [--presets tiny base --batches 1 8 --duration 5 --cfg 3
                                   --head-gflop 300 --tail-gflop 2000 --tail-rounds 3]

Per LM preset (random weights: speed does not depend on them) and batch size, `--duration` seconds
of codes with classifier-free guidance (the conditional and null rows in one batch of 2B), top-k 250,
random text states of 16 tokens; the LM only (no text encoder, no codec decoding):

- `tokens_per_s`: codec tokens (B × frames × K) per second of `generate_codes(use_cache=True)`;
- `rtf`: seconds of audio generated per wall second, all rows together (`rtf_per_stream`: one row's);
- `kv_cache_speedup`: the same generation recomputing the whole prefix at every step
  (`generate_codes(use_cache=False)`) over the cached one, in this run. The recompute baseline costs
  Σ_s forward(s) and grows with the square of the length, so where it would pass `--head-gflop` it is
  run for real on the first frames only (the `head`), and the remaining steps are summed from a
  straight line (step time against prefix length) fitted to the head's mean step and to single
  recompute steps timed at three prefix lengths in interleaved rounds, all of them within
  `--tail-gflop`; the JSON says `recompute_method`, the fit, its error on the measured head, and
  whether the line was extrapolated past its longest sample. The head also gives a fully measured
  `kv_cache_speedup_head` (both runs on the head's frames).
- `peak_rss_mb`: the process's peak resident memory after the preset (presets run smallest first).

Layouts: tiny as the demo codec (125 Hz, K = 2, 128 codes, the MiniLM text width 384), base as
audiocraft's (50 Hz, K = 4, 2048 codes, T5-base width 768), delay pattern. Goal: speed-up ≥ 10 at 5 s
for base. On a GPU (when torch sees one) the same runs in bf16 (`--dtype` chooses).
"""
from __future__ import annotations

import os
import sys

# OpenMP threads that spin while they wait collapse on a shared machine (see benchmarks/train.py):
# wait passively unless the environment says otherwise. Must precede torch's import.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

RESULT = REPO / "benchmarks" / "results" / "generate.json"
TEXT_LEN = 16
LAYOUTS = {
    "tiny": {"frame_rate": 125.0, "num_codebooks": 2, "cardinality": 128, "text_dim": 384},
    "base": {"frame_rate": 50.0, "num_codebooks": 4, "cardinality": 2048, "text_dim": 768},
}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


class Case:
    """One (model, batch) setting: its text, and timers for whole generations and single recompute steps."""

    def __init__(self, model, batch: int, cfg: float, top_k: int, device):
        import torch

        g = torch.Generator().manual_seed(0)
        c = model.config
        self.model, self.batch, self.cfg, self.top_k, self.device = model, batch, cfg, top_k, device
        dtype = next(model.parameters()).dtype
        self.text = torch.randn(batch, TEXT_LEN, c.text_dim, generator=g).to(device, dtype)
        self.mask = torch.ones(batch, TEXT_LEN, dtype=torch.bool, device=device)
        self.rows = 2 * batch if cfg != 1.0 else batch

    def _sync(self) -> None:
        import torch

        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def generate(self, frames: int, use_cache: bool) -> float:
        """Seconds for `generate_codes` of `frames` frames."""
        import torch

        from audiogen.lm import generate_codes

        gen = torch.Generator().manual_seed(0)
        self._sync()
        t0 = time.perf_counter()
        generate_codes(self.model, self.text, self.mask, frames, cfg=self.cfg, top_k=self.top_k,
                       generator=gen, use_cache=use_cache)
        self._sync()
        return time.perf_counter() - t0

    def recompute_step(self, n: int, repeats: int) -> float:
        """Median seconds of one step of the recompute baseline at prefix length `n`: what
        `generate_codes(use_cache=False)` does per step (full forward over the prefix for the
        conditional and null rows, guidance, top-k sampling)."""
        import torch

        from audiogen.lm import cfg_logits, sample

        m, b = self.model, self.batch
        c = m.config
        g = torch.Generator().manual_seed(n)
        x = torch.randint(0, c.cardinality, (self.rows, c.num_codebooks, n), generator=g).to(self.device)
        text, mask = self.text, self.mask
        if self.rows > b:
            null_text, null_mask = m.null_condition(text, mask, torch.ones(b, dtype=torch.bool, device=self.device))
            text, mask = torch.cat([text, null_text]), torch.cat([mask, null_mask])
        times = []
        with torch.inference_mode():
            for _ in range(repeats):
                self._sync()
                t0 = time.perf_counter()
                logits = m(x, text, mask)[:, :, -1]
                if self.rows > b:
                    logits = cfg_logits(logits[:b], logits[b:], self.cfg)
                sample(logits, top_k=self.top_k, generator=g)
                self._sync()
                times.append(time.perf_counter() - t0)
        return statistics.median(times)


def fit_line(points: dict[float, float]) -> tuple[float, float]:
    """Least-squares (a, b) of t = a + b·n."""
    ns, ts = list(points), list(points.values())
    mn, mt = statistics.fmean(ns), statistics.fmean(ts)
    var = sum((n - mn) ** 2 for n in ns)
    b = sum((n - mn) * (t - mt) for n, t in zip(ns, ts)) / var if var > 0 else 0.0
    return mt - b * mn, b


def bench_case(model, lay: dict, batch: int, a, device) -> dict:
    c = model.config
    frames = round(a.duration * lay["frame_rate"])
    steps = model.pattern.num_steps(frames)
    case = Case(model, batch, a.cfg, a.top_k, device)
    fwd_gflop = model.flops_per_token() / 3 / 1e9  # forward ≈ a third of forward + backward, per step and row
    case.generate(2, True)  # warm-up: allocator, thread pools
    t_cached = case.generate(frames, True)
    out = {"frames": frames, "pattern_steps": steps, "rows_per_step": case.rows, "cached_s": round(t_cached, 3),
           "tokens_per_s": round(batch * frames * c.num_codebooks / t_cached, 1),
           "rtf": round(batch * a.duration / t_cached, 3), "rtf_per_stream": round(a.duration / t_cached, 3)}
    print(f"  batch {batch}: cached {t_cached:.1f} s for {frames} frames ({out['rtf']:.2f}× real time)", flush=True)

    def cost(s: int) -> float:  # GFLOP of the recompute baseline's first s steps
        return case.rows * s * (s + 1) / 2 * fwd_gflop

    head = frames
    while head > 1 and cost(model.pattern.num_steps(head)) > a.head_gflop:
        head -= 1
    t_head = case.generate(head, False)
    if head == frames:
        out.update(recompute_s=round(t_head, 3), recompute_method="measured (whole generation)")
    else:
        s_head = model.pattern.num_steps(head)
        t_head_cached = case.generate(head, True)
        # Single recompute steps at the head's end, the longest prefix the budget allows and midway,
        # timed in interleaved rounds (a slow phase of the shared machine hits every point alike).
        def tail_cost(n: int) -> float:
            return a.tail_rounds * case.rows * fwd_gflop * (s_head + (s_head + n) // 2 + n)

        n_max = steps
        while n_max > s_head + 2 and tail_cost(n_max) > a.tail_gflop:
            n_max -= 1
        ns = sorted({s_head, (s_head + n_max) // 2, n_max})
        rounds = [{n: case.recompute_step(n, 1) for n in ns} for _ in range(a.tail_rounds)]
        samples = {n: statistics.median(r[n] for r in rounds) for n in ns}
        # The head's mean step time is the line's value at its mean prefix length: a measured point too.
        points = {**samples, (s_head + 1) / 2: t_head / s_head}
        a0, b0 = fit_line(points)
        tail = sum(a0 + b0 * n for n in range(s_head + 1, steps + 1))
        head_fit = sum(a0 + b0 * n for n in range(1, s_head + 1))
        t_rec = t_head + tail
        out.update(recompute_s=round(t_rec, 3), recompute_method=(
            f"measured on the first {head} frames ({s_head} steps), the other {steps - s_head} steps "
            f"{'extrapolated' if n_max < steps else 'interpolated'} from a line fitted to the head's mean step "
            f"and single steps timed at prefixes {ns} (median of {a.tail_rounds})"),
            recompute_head={"frames": head, "steps": s_head, "measured_s": round(t_head, 3),
                            "cached_s": round(t_head_cached, 3), "fit_predicted_s": round(head_fit, 3),
                            "fit_error_on_head": round(head_fit / t_head - 1, 3)},
            recompute_step_s={str(n): round(t, 4) for n, t in samples.items()},
            recompute_fit={"a_s": round(a0, 5), "b_s_per_step": round(b0, 6)},
            recompute_extrapolated=n_max < steps,
            kv_cache_speedup_head=round(t_head / t_head_cached, 2))
    out["kv_cache_speedup"] = round(out["recompute_s"] / t_cached, 2)
    print(f"  batch {batch}: recompute {out['recompute_s']:.1f} s ({out['recompute_method']}), "
          f"KV cache speed-up {out['kv_cache_speedup']:.1f}×", flush=True)
    return out


def bench_preset(name: str, a, device) -> dict:
    import torch

    from audiogen.lm import AudioLM, lm_config

    lay = LAYOUTS[name]
    torch.manual_seed(0)
    model = AudioLM(lm_config(name, num_codebooks=lay["num_codebooks"], cardinality=lay["cardinality"],
                              text_dim=lay["text_dim"])).eval()
    dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16}.get(a.dtype)
    model = model.to(device, dtype or (torch.bfloat16 if device.type == "cuda" else torch.float32))
    print(f"{name} on {device.type}: {model.num_parameters() / 1e6:.1f}M parameters, {a.duration:g} s at "
          f"{lay['frame_rate']:g} Hz, K={lay['num_codebooks']}, CFG {a.cfg:g}", flush=True)
    out = {"layout": {**lay, "pattern": model.config.pattern, "text_len": TEXT_LEN},
           "parameters_m": round(model.num_parameters() / 1e6, 2),
           "dtype": str(next(model.parameters()).dtype).replace("torch.", ""),
           "batches": {str(b): bench_case(model, lay, b, a, device) for b in a.batches}}
    out["peak_rss_mb"] = round(peak_rss_mb(), 1)
    if device.type == "cuda":
        out["peak_gpu_mb"] = round(torch.cuda.max_memory_allocated(device) / 2 ** 20, 1)
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--presets", nargs="+", default=["tiny", "base"], choices=sorted(LAYOUTS))
    ap.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    ap.add_argument("--duration", type=float, default=5.0, help="seconds of audio per row")
    ap.add_argument("--cfg", type=float, default=3.0, help="guidance scale (1: no null rows)")
    ap.add_argument("--top-k", type=int, default=250)
    ap.add_argument("--head-gflop", type=float, default=300.0,
                    help="most GFLOP the recompute baseline runs for real (the rest is fitted)")
    ap.add_argument("--tail-gflop", type=float, default=2000.0,
                    help="most GFLOP of all the single recompute steps timed for the fit")
    ap.add_argument("--tail-rounds", type=int, default=3, help="rounds of single recompute steps (median kept)")
    ap.add_argument("--dtype", choices=["auto", "float32", "bfloat16"], default="auto",
                    help="weights and cache (auto: float32 on the CPU, bfloat16 on a GPU)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's, = cores)")
    ap.add_argument("--out", default=str(RESULT))
    a = ap.parse_args(argv)
    if a.duration <= 0 or min(a.batches) < 1:
        raise SystemExit("generate benchmark: --duration must be > 0 and --batches ≥ 1")
    import torch

    if a.threads:
        torch.set_num_threads(a.threads)
    load_before = os.getloadavg()
    presets = {}
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    for dev in devices:
        for name in sorted(a.presets, key=list(LAYOUTS).index):  # smallest first (peak RSS)
            presets[name if dev.type == "cpu" else f"{name}_cuda"] = bench_preset(name, a, dev)
    result: dict = {"presets": presets, "duration_s": a.duration, "cfg": a.cfg, "top_k": a.top_k,
                    "goal_kv_cache_speedup_base": 10.0}
    if "base" in presets:
        speedups = {b: r["kv_cache_speedup"] for b, r in presets["base"]["batches"].items()}
        result["kv_cache_speedup_base"] = speedups
        result["met"] = min(speedups.values()) >= 10.0
    result["peak_rss_mb"] = round(peak_rss_mb(), 1)
    result["machine"] = {
        "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(), "gpu": torch.cuda.is_available(),
        "gpu_name": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"), "platform": platform.platform(),
        "python": platform.python_version(), "torch": torch.__version__,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()]}
    result["command"] = " ".join(["python", "benchmarks/generate.py", *(argv if argv is not None else sys.argv[1:])])
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    parts = [f"{n} B={b}: {r['tokens_per_s']:.0f} tok/s, {r['rtf']:.2f}× real time, "
             f"cache {r['kv_cache_speedup']:.1f}×"
             for n, p in presets.items() for b, r in p["batches"].items()]
    print(f"generate benchmark ({a.duration:g} s, CFG {a.cfg:g}): {'; '.join(parts)}; goal base ≥ 10×; "
          f"load {load_before[0]:.1f} → {os.getloadavg()[0]:.1f} → {a.out}", flush=True)


if __name__ == "__main__":
    main()
