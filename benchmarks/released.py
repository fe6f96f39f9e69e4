"""The released AudioGen's size, for real: build a randomly initialised LM of the release's shape
(48 × 1536, 4 × 2048 codes, text width 1024) and its 16 kHz EnCodec, export both to audiocraft's
format, convert them back, generate 5 s with CFG (KV cache) and take LoRA fine-tuning steps.

    python benchmarks/released.py                      # CPU, fp32 (this machine: ~10 min, 20 GB disk in --work)
    python benchmarks/released.py --device cuda --dtype bf16 --gen-batch 8 --lora-batch 8 --segment 10

Each phase runs in its own process, so its peak memory (max RSS; on CUDA also the allocator's peak)
is its own. Writes benchmarks/results/released[_<device>].json and prints one line per phase.

Not measured: the T5-large text encoder (a download; it runs once per caption). A random T5 of
the same width (1024) and one layer stands in for it, so the LM's cross-attention sees the release's
shapes while the text encoder's cost is left out.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads OpenMP (see audiogen/__init__.py)

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
FIXTURES = REPO / "tests" / "fixtures" / "audiocraft"
RESULTS = REPO / "benchmarks" / "results"

# The release (AUDIOCRAFT.md §B.1): D 1536, 24 heads, 48 layers, ff 6144, 4 × 2048, t5-large (1024).
RELEASED_LM = dict(dim=1536, num_heads=24, num_layers=48, num_codebooks=4, cardinality=2048, text_dim=1024,
                   ff_mult=4.0, pattern="delay", norm_bias=True, text_proj_bias=True, text_attention="all")


def _peak(device: str) -> dict[str, float]:
    out = {"peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2}
    if device.startswith("cuda"):
        import torch

        out["peak_gpu_gb"] = torch.cuda.max_memory_allocated() / 1024**3
    return out


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def phase_build(work: Path, args) -> dict:
    """Random weights of the released shape → OUT/native/{lm,codec} → audiocraft's two files."""
    import torch
    from omegaconf import OmegaConf

    from audiogen.convert.api import to_audiocraft
    from audiogen.convert.codec import codec_config_from_xpcfg
    from audiogen.convert.package import Package
    from audiogen.codec.model import Codec
    from audiogen.io.shards import sha256_file
    from audiogen.lm.config import LMConfig
    from audiogen.lm.model import AudioLM

    torch.manual_seed(0)
    text = (FIXTURES / "released_codec_xpcfg.yaml").read_text()
    pkg = Package(path=FIXTURES / "released_codec_xpcfg.yaml", best_state={}, cfg=OmegaConf.create(text),
                  xp_cfg=text, version="1.0.0")
    codec = Codec(codec_config_from_xpcfg(pkg, None))
    native = work / "native"
    codec.save_pretrained(native / "codec")
    lm = AudioLM(LMConfig(**RELEASED_LM))
    n_params = sum(p.numel() for p in lm.parameters())
    extra = {"codec": {"path": str((native / "codec").resolve()),
                       "sha256": sha256_file(native / "codec" / "model.safetensors"),
                       "frame_rate": codec.frame_rate, "num_codebooks": codec.num_codebooks,
                       "cardinality": codec.cardinality, "sample_rate": codec.sample_rate,
                       "hop_length": codec.hop_length},
             "text_encoder": {"name": "t5-large", "kind": "t5", "max_length": None, "hidden_size": 1024},
             "pattern": "delay", "segment_s": 10.0}
    lm.save_pretrained(native / "lm", extra_config=extra)
    del lm
    t0 = time.perf_counter()
    to_audiocraft(native / "lm", work / "audiocraft")
    export_s = time.perf_counter() - t0
    sizes = {p.name: p.stat().st_size / 1e9 for p in (work / "audiocraft").iterdir()}
    return {"lm_parameters": n_params, "codec_parameters": sum(p.numel() for p in codec.parameters()),
            "export_s": export_s, "package_gb": sizes, **_peak("cpu")}


def _stand_in_t5(work: Path) -> Path:
    """A one-layer random T5 encoder of t5-large's width with a word-level tokenizer, saved locally."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast, T5Config, T5EncoderModel

    out = work / "t5-stand-in"
    if (out / "config.json").exists():
        return out
    import torch

    torch.manual_seed(0)
    words = "a dog barks while church bells ring rain on tin roof engine siren footsteps".split()
    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2, **{w: i + 3 for i, w in enumerate(words)}}
    model = T5EncoderModel(T5Config(vocab_size=len(vocab), d_model=1024, d_kv=64, d_ff=2816, num_layers=1,
                                    num_heads=16, feed_forward_proj="gated-gelu"))
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")
    model.save_pretrained(out)
    fast.save_pretrained(out)
    return out


def phase_convert(work: Path, args) -> dict:
    from audiogen.convert.api import from_audiocraft

    t5 = _stand_in_t5(work)
    t0 = time.perf_counter()
    from_audiocraft(lm=work / "audiocraft" / "state_dict.bin", codec=work / "audiocraft" / "compression_state_dict.bin",
                    out=work / "converted", text_encoder=str(t5), overwrite=True)
    return {"convert_s": time.perf_counter() - t0, **_peak("cpu")}


def phase_roundtrip(work: Path, args) -> dict:
    """The converted weights equal the native ones (fp16 round trip: each tensor within fp16 rounding)."""
    from safetensors import safe_open

    worst, n = 0.0, 0
    with safe_open(str(work / "native" / "lm" / "model.safetensors"), "pt") as a, \
            safe_open(str(work / "converted" / "lm" / "model.safetensors"), "pt") as b:
        assert set(a.keys()) == set(b.keys()), "converted LM keys differ from the native ones"
        for k in a.keys():
            x, y = a.get_tensor(k), b.get_tensor(k)
            worst = max(worst, float((x.half().float() - y).abs().max()))
            n += 1
    return {"lm_tensors_compared": n, "max_abs_diff_after_fp16": worst}


def phase_generate(work: Path, args) -> dict:
    import torch

    from audiogen.generation import AudioGen

    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[args.dtype]
    gen = AudioGen.from_pretrained(work / "converted" / "lm", device=args.device)
    if dtype != torch.float32:
        gen.lm.to(dtype)
    captions = ["a dog barks while church bells ring"] * args.gen_batch
    gen.generate(captions[:1], 0.2, cfg=3.0, seed=0)  # warm-up (allocations, kernels)
    _sync(args.device)
    t0 = time.perf_counter()
    codes = gen.generate_codes(captions, args.seconds, cfg=3.0, seed=0)
    _sync(args.device)
    dt = time.perf_counter() - t0
    frames = codes.shape[-1]
    steps = frames + gen.lm.config.num_codebooks - 1
    return {"batch": args.gen_batch, "seconds": args.seconds, "cfg": 3.0, "dtype": args.dtype, "frames": frames,
            "wall_s": dt, "steps_per_s": steps / dt,
            "tokens_per_s": frames * gen.lm.config.num_codebooks * args.gen_batch / dt,
            "real_time_factor": args.seconds * args.gen_batch / dt, **_peak(args.device)}


def phase_lora(work: Path, args) -> dict:
    import torch

    from audiogen.training.config import LoraParams
    from audiogen.training.finetune import FineTune, trainable_parameters

    torch.manual_seed(0)
    ft = FineTune.open(work / "converted" / "lm", LoraParams(rank=16, alpha=32.0,
                                                             targets=("attention", "cross_attention", "feed_forward")))
    model = ft.build_model().to(args.device)
    cfg = model.config
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    frames = int(args.segment * 50)
    b = args.lora_batch
    codes = torch.randint(0, cfg.cardinality, (b, cfg.num_codebooks, frames), device=args.device)
    mask = torch.ones(b, frames, dtype=torch.bool, device=args.device)
    text = torch.randn(b, 16, cfg.text_dim, device=args.device)
    text_mask = torch.ones(b, 16, dtype=torch.bool, device=args.device)
    autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if args.device.startswith("cuda") and args.dtype == "bf16"
                else torch.autocast("cpu", enabled=False))
    times = []
    for _ in range(args.lora_steps):
        t0 = time.perf_counter()
        with autocast:
            loss, _, _ = model.compute_loss(codes, mask, text, text_mask)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        _sync(args.device)
        times.append(time.perf_counter() - t0)
    return {"rank": 16, "targets": ["attention", "cross_attention", "feed_forward"], "batch": b,
            "segment_s": args.segment, "steps": len(times), "s_per_step": times, "loss": float(loss),
            "trainable_parameters": trainable_parameters(model),
            "total_parameters": sum(p.numel() for p in model.parameters()), **_peak(args.device)}


PHASES = {"build": phase_build, "convert": phase_convert, "roundtrip": phase_roundtrip,
          "generate": phase_generate, "lora": phase_lora}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32")
    ap.add_argument("--seconds", type=float, default=5.0, help="generated seconds (default 5)")
    ap.add_argument("--gen-batch", type=int, default=1)
    ap.add_argument("--lora-batch", type=int, default=1)
    ap.add_argument("--segment", type=float, default=10.0, help="LoRA training segment, seconds (release: 10)")
    ap.add_argument("--lora-steps", type=int, default=2)
    ap.add_argument("--work", default=None, help="scratch folder (default: a temporary one, removed at the end)")
    ap.add_argument("--phases", nargs="+", default=list(PHASES), choices=list(PHASES))
    ap.add_argument("--phase", help=argparse.SUPPRESS)  # internal: run one phase in this process
    args = ap.parse_args()
    if args.phase:
        result = PHASES[args.phase](Path(args.work), args)
        print("RESULT " + json.dumps(result), flush=True)
        return

    tmp = None if args.work else tempfile.TemporaryDirectory(prefix="released-", dir=os.environ.get("TMPDIR"))
    work = Path(args.work or tmp.name)
    work.mkdir(parents=True, exist_ok=True)
    results: dict = {"machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "device": args.device,
                                 "dtype": args.dtype}}
    try:
        for name in args.phases:
            cmd = [sys.executable, __file__, "--phase", name, "--work", str(work), "--device", args.device,
                   "--dtype", args.dtype, "--seconds", str(args.seconds), "--gen-batch", str(args.gen_batch),
                   "--lora-batch", str(args.lora_batch), "--segment", str(args.segment),
                   "--lora-steps", str(args.lora_steps)]
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True)
            line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
            if proc.returncode != 0 or line is None:
                sys.exit(f"released.py: phase {name} failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
            results[name] = {**json.loads(line[len("RESULT "):]), "phase_wall_s": time.perf_counter() - t0}
            print(f"{name:9s} " + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                                            for k, v in results[name].items() if not isinstance(v, (dict, list))),
                  flush=True)
    finally:
        if tmp is not None:
            tmp.cleanup()
    suffix = "" if args.device == "cpu" else "_" + args.device.split(":")[0]
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"released{suffix}.json"
    if out.exists() and set(args.phases) != set(PHASES):  # a partial run updates its phases, keeps the rest
        results = {**json.loads(out.read_text()), **results}
    out.write_text(json.dumps(results, indent=2) + "\n")
    g, lo = results.get("generate", {}), results.get("lora", {})
    print(f"released: convert {results.get('convert', {}).get('convert_s', float('nan')):.0f} s, "
          f"generate {g.get('real_time_factor', float('nan')):.3f}× real time, "
          f"LoRA {sum(lo.get('s_per_step', [float('nan')])) / max(1, len(lo.get('s_per_step', [1]))):.1f} s/step "
          f"→ {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
