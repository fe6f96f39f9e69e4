"""Train the text-conditioned audio LM: `python -m audiogen.train --tokens DIR --audio DIR --codec DIR --out DIR [--resume auto]`.

Every flag defaults to params.yaml `train:` (`audiogen.training.config.TrainConfig`). One loop,
`train_loop`, runs in this process or on every worker of a Ray Train `TorchTrainer` (DDP; gloo on
CPUs, NCCL on GPUs) when `train.num_workers > 1`.

A step, top to bottom: take `grad_accum` batches of token crops from the streaming loader; encode the
rows the loader mixed (waveform mix augmentation) with the frozen codec, in one call on this device;
encode the captions with the frozen text encoder; replace the text of a random `cfg_dropout` share of
rows by the null condition; cross-entropy over the codebook pattern (padding frames masked); AdamW
with the inverse-sqrt schedule, gradient clipping, optional EMA; a NaN/inf step is skipped and counted.
With `train.init_from` the model is a checkpoint's, fine-tuned in full or through LoRA adapters
(`train.lora`; audiogen/training/finetune.py builds it and writes its checkpoint files).

Outputs in `--out`: `state.pt`, each checkpoint's one commit point (live weights, EMA, optimiser,
step, RNG, loader positions, params fingerprint; `weights_only=True`; audiogen.io.trainer_state), and,
derived from it, the LM checkpoint (`config.json`: everything `AudioGen.from_pretrained` needs — LM
shape, pattern, codec path/sha256/frame rate/K/cardinality, text encoder, segment, params;
`model.safetensors`). `--resume auto` and a Ray Train group restarted after a lost worker
(`train.max_failures`) read state.pt alone.
dvclive logs to `--live-dir` (loss curves as DVC plots).
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from audiogen.io.arguments import key_value
from audiogen.training.config import TrainConfig

log = logging.getLogger("audiogen.train")
STATE_NAME = "state.pt"
DUMP_NAME = "first_step_rank{rank}.pt"


def train_loop(run: dict[str, Any]) -> dict[str, Any]:
    """One worker's loop. `run`: config (TrainConfig dict), tokens, audio, codec, out, live_dir,
    resume (bool), ray (bool), dump_first_step (bool, tests). Returns the final metrics."""
    import torch

    from audiogen.codec import Codec
    from audiogen.data.loader import check_codec, make_train_loader, make_valid_batches
    from audiogen.lm import AudioLM, lm_config
    from audiogen.io.shards import sha256_file
    from audiogen.text.encoders import FrozenTextEncoder, TextEncoderConfig, TextEncoderNotFoundError
    from audiogen.training.distributed import dist_info
    from audiogen.training.recipe import EMA, cfg_dropout_mask, micro_objective, param_groups
    from audiogen.training.throughput import device_peak_flops

    cfg = TrainConfig.from_dict(run["config"])
    if cfg.threads:
        torch.set_num_threads(int(cfg.threads))
    rank, world = dist_info()
    if run.get("ray"):
        import ray.train.torch

        device = ray.train.torch.get_device()
    else:
        device = torch.device("cuda" if cfg.use_gpu and torch.cuda.is_available() else "cpu")
    out = Path(run["out"])
    out.mkdir(parents=True, exist_ok=True)

    # --- frozen codec and text encoder; the token shards must come from this codec ---------------
    codec_dir = Path(run["codec"])
    codec = Codec.from_pretrained(codec_dir, device=device)
    codec_sha = sha256_file(codec_dir / "model.safetensors")
    check_codec(run["tokens"], codec_sha)
    ft = None
    if cfg.init_from:  # fine-tuning: shape, options and text encoder from the checkpoint, its codec = this one
        from audiogen.training.finetune import FineTune

        ft = FineTune.open(run.get("init_from") or cfg.init_from, cfg.lora, out)
        ft.check_codec(codec_sha, codec_dir)
    try:  # no caption cache: one batched call per step depends only on the batch, so resuming is exact
        text_encoder = (ft.text_encoder() if ft is not None else FrozenTextEncoder(
            TextEncoderConfig(name=cfg.text_encoder, max_length=cfg.text_max_length))).to(device)
    except TextEncoderNotFoundError as err:
        raise SystemExit(f"audiogen.train: {err}") from None

    # --- the model and its optimiser ---------------------------------------------------------------
    torch.manual_seed(cfg.seed)  # the initial weights depend on the seed alone (same on every rank)
    if ft is not None:  # the checkpoint's weights (+ LoRA adapters drawn from the seed, base frozen)
        model = ft.build_model().to(device)
    else:
        model = AudioLM(lm_config(cfg.lm_preset, num_codebooks=codec.num_codebooks, cardinality=codec.cardinality,
                                  text_dim=text_encoder.hidden_size, pattern=cfg.pattern, **cfg.lm_overrides)
                        ).to(device)
    lm_cfg = model.config
    ddp_model = model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP

        ddp_model = DDP(_LossModule(model), device_ids=[device.index] if device.type == "cuda" else None)
    # fused: one kernel for all parameters (on CPU too: base's update 3.5 s → 0.9 s, benchmarks/train.py)
    opt = torch.optim.AdamW(param_groups(model, cfg.weight_decay), lr=cfg.lr, betas=cfg.betas, fused=True)
    ema = EMA(model, cfg.ema) if cfg.ema > 0 else None
    # The CFG dropout draws from its own generator: resuming restores it exactly.
    dropout_gen = torch.Generator().manual_seed(cfg.seed * 7919 + rank)

    # --- data ----------------------------------------------------------------------------------------
    loader = make_train_loader(run["tokens"], run["audio"], _data_config(cfg), rank=rank, world=world,
                               frame_rate=codec.frame_rate, sample_rate=codec.sample_rate,
                               num_codebooks=codec.num_codebooks)
    valid = make_valid_batches(run["tokens"], _data_config(cfg), frame_rate=codec.frame_rate,
                               num_codebooks=codec.num_codebooks)

    # --- resume: from the committed state.pt alone (audiogen.io.trainer_state) ---------------------
    step, skipped, seconds_seen = 0, 0, {}
    state_path = out / STATE_NAME
    # A Ray Train group restarted after a lost worker resumes from the last committed checkpoint.
    resume = run.get("resume") or _ray_restarted(run)
    state = _load_state(out, rank) if resume else None
    global_rng = None
    if state is not None:
        if state.get("fingerprint") != cfg.fingerprint():
            log.info("%s was trained with other params: starting fresh", state_path)
        elif _trained_codec_sha(state, out) not in (None, codec_sha):
            # Another codec (a retrained or converted one) means other tokens, maybe another codebook
            # count: the saved weights do not apply, so a changed codec starts fresh like changed params.
            log.info("%s was trained on another codec (sha256 %.12s…, now %.12s…): starting fresh", state_path,
                     _trained_codec_sha(state, out), codec_sha)
        elif ft is not None and state.get("init_from_sha256") != ft.sha256:
            log.info("%s started from another init_from checkpoint: starting fresh", state_path)
        elif state.get("world") != world:
            raise SystemExit(f"{state_path}: saved with {state.get('world')} workers, resuming with {world}: "
                             "use the same train.num_workers or another --out")
        else:
            if ft is not None:  # with LoRA: the trainable tensors only (the base is init_from's)
                ft.load_live_state(model, state["model"], str(state_path))
            else:
                model.load_state_dict(state["model"])  # the live weights (the public file holds the EMA ones)
            global_rng = (state.get("torch_rng") or [None] * world)[rank]
            opt.load_state_dict(state["optimizer"])
            if ema is not None and state.get("ema"):
                ema.load_state_dict(state["ema"])
            dropout_gen.set_state(state["dropout_rng"][rank])
            loader.load_state_dict(state["loader"][rank])
            step, skipped = int(state["step"]), int(state["skipped"])
            seconds_seen = dict(state["seconds_seen"])
            log.info("resumed from %s at step %d", state_path, step)
    del state
    start_step = step  # in the result: where this run (or a restarted Ray Train group) began

    peak_flops, peak_source = device_peak_flops(device, lm_cfg.dim)
    flops_per_token = model.flops_per_token(seq_len=model.pattern.num_steps(round(cfg.segment_s * codec.frame_rate)),
                                            text_len=16)  # a typical caption's token count
    autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda"
                else torch.autocast("cpu", enabled=False))
    live = _open_live(run, resumed=step > 0, step=step) if rank == 0 else None
    bar = _progress(cfg.max_steps, step) if rank == 0 else None
    if rank == 0:
        log.info("LM %s: %.2fM parameters, pattern %s, %d codebooks x %d, text encoder %s (%d), %s %.1f GFLOP/s",
                 cfg.lm_preset, model.num_parameters() / 1e6, cfg.pattern, lm_cfg.num_codebooks,
                 lm_cfg.cardinality, cfg.text_encoder, text_encoder.hidden_size, peak_source, peak_flops / 1e9)

    def encode_batch(batch: dict[str, Any]) -> tuple[Any, Any, Any, Any]:
        """Codes `[B, K, T]` with the mixed rows encoded now, their frame mask `[B, T]`, text states
        `[B, L, D]` and mask `[B, L]`."""
        codes = batch["codes"].to(device)
        frame_mask = batch["frame_mask"].to(device)
        if batch["mix_index"].numel():
            # One batched codec call for every mixture of the batch, on the trainer's device.
            mixed_codes = _encode_mixtures(codec, batch["mix_audio"].to(device))[..., : codes.shape[-1]]
            idx = batch["mix_index"].to(device)
            t = mixed_codes.shape[-1]
            codes[idx, :, :t] = mixed_codes
            frames = torch.ceil(batch["mix_num_samples"].to(device) / codec.hop_length).long()
            frame_mask[idx] = torch.arange(codes.shape[-1], device=device)[None, :] < frames[:, None]
        text, text_mask = text_encoder(batch["texts"], device=device)
        return codes, frame_mask, text, text_mask

    if rank == 0 and ft is not None:
        log.info("fine-tuning %s: %s, %d trainable parameters", ft.path, f"LoRA rank {cfg.lora.rank}"
                 if ft.uses_lora else "every weight", sum(p.numel() for p in model.parameters() if p.requires_grad))
    running: dict[str, float] = {}
    last_valid: dict[str, float] = {}
    batches = iter(loader)
    if global_rng is not None:  # here: everything above may draw from it (DataLoader seeds, FLOP/s probe)
        _set_global_rng(global_rng, device)
    t_start = t_log = time.time()
    tokens_since_log = 0
    while step < cfg.max_steps:
        lr = _lr(step, cfg)
        for group in opt.param_groups:
            group["lr"] = lr
        # --- forward/backward over grad_accum micro-batches -------------------------------------
        micro = [next(batches) for _ in range(cfg.grad_accum)]
        num_tokens = sum(int(b["frame_mask"].sum()) for b in micro) * model.config.num_codebooks
        # The loss is a sum over tokens divided by the tokens of all ranks and micro-steps, so DDP's
        # gradient average equals the gradient of one big batch (token counts differ per rank).
        global_tokens = float(_all_reduce(torch.tensor(float(num_tokens)))) / world
        stats = {"loss_sum": 0.0, "ce": torch.zeros(model.config.num_codebooks), "mixed": 0, "rows": 0}
        for i, batch in enumerate(micro):
            codes, frame_mask, text, text_mask = encode_batch(batch)
            drop = cfg_dropout_mask(codes.shape[0], cfg.cfg_dropout, dropout_gen, scope=cfg.cfg_dropout_scope)
            text, text_mask = model.null_condition(text, text_mask, drop.to(device))
            sync = i == len(micro) - 1 or world == 1
            ctx = ddp_model.no_sync() if (world > 1 and not sync) else _nullcontext()
            with ctx, autocast:
                # Through DDP's forward when distributed, so that DDP sees the graph it reduces.
                loss_fn = model.compute_loss if ddp_model is model else ddp_model
                loss, ce, ntok = loss_fn(codes, frame_mask, text, text_mask)
                micro_objective(loss, ce, ntok, global_tokens, len(micro), cfg.loss_average).backward()
            stats["loss_sum"] += float(loss.detach()) * ntok
            stats["ce"] += ce.detach().float().cpu() * ntok
            stats["mixed"] += int(batch["mixed"].sum())
            stats["rows"] += codes.shape[0]
            for corpus, sec in zip(batch["corpora"], batch["seconds"].tolist()):
                seconds_seen[corpus] = seconds_seen.get(corpus, 0.0) + sec
            if run.get("dump_first_step") and step == 0 and i == 0:
                _dump_batch(out, rank, batch, drop)
        if run.get("dump_first_step") and step == 0:  # tests: the averaged gradient before clipping
            torch.save({k: p.grad.detach().cpu() for k, p in model.named_parameters() if p.grad is not None},
                       out / f"grad_rank{rank}.pt")
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        if not math.isfinite(float(grad_norm)) or not math.isfinite(stats["loss_sum"]):
            # A NaN/inf step would poison the weights and Adam's moments: skip it and say so.
            skipped += 1
            opt.zero_grad(set_to_none=True)
            log.warning("step %d: non-finite loss or gradient (norm %s): step skipped (%d so far)",
                        step, float(grad_norm), skipped)
        else:
            opt.step()
            opt.zero_grad(set_to_none=True)
            if ema is not None:
                ema.update(model)
        step += 1
        tokens_since_log += num_tokens

        # --- logging, validation, checkpoints --------------------------------------------------
        n = max(1, num_tokens)
        for k, v in {"loss": stats["loss_sum"] / n, "mixed_fraction": stats["mixed"] / max(1, stats["rows"]),
                     **{f"ce_{k}": float(c) / n for k, c in enumerate(stats["ce"])}}.items():
            running.setdefault(k, 0.0)
            running[k] += v
        running["_n"] = running.get("_n", 0.0) + 1
        if bar is not None:
            bar.update(1)
        if rank == 0 and (step % cfg.log_every == 0 or step == cfg.max_steps):
            dt = max(time.time() - t_log, 1e-9)
            tok_s = tokens_since_log * world / dt
            metrics = {f"train/{k}": v / running["_n"] for k, v in running.items() if k != "_n"}
            metrics.update({f"train/ppl_{k.split('/ce_')[1]}": math.exp(v) for k, v in list(metrics.items())
                            if "/ce_" in k})
            frames_s = tok_s / model.config.num_codebooks  # flops_per_token counts per pattern step
            metrics.update({"lr": lr, "tokens_per_s": tok_s, "skipped_steps": skipped,
                            "mfu": frames_s * flops_per_token / (peak_flops * world)})
            metrics.update({f"seconds_seen/{c}": s for c, s in sorted(seconds_seen.items())})
            _log(live, step, metrics)
            if bar is not None:
                bar.set_postfix(loss=f"{metrics['train/loss']:.3f}", lr=f"{lr:.1e}", tok_s=f"{tok_s:.0f}")
            running, tokens_since_log, t_log = {}, 0, time.time()
        if step % cfg.valid_every == 0 or step == cfg.max_steps:
            last_valid = _validate(model, ema, valid, encode_batch, autocast)
            if rank == 0:
                _log(live, step, {f"valid/{k}": v for k, v in last_valid.items()})
        if step % cfg.checkpoint_every == 0 or step == cfg.max_steps:
            _save(out, model, ema, opt, loader, dropout_gen, step, skipped, seconds_seen, cfg, run,
                  codec, codec_sha, text_encoder, world, ft)
    if bar is not None:
        bar.close()
    if not last_valid:  # nothing left to train: report the checkpoint as it is
        last_valid = _validate(model, ema, valid, encode_batch, autocast)
    result = {"step": step, "start_step": start_step, "seconds": time.time() - t_start, "skipped_steps": skipped,
              "loader_skipped": dict(getattr(loader, "skipped", {}) or {}),
              **{f"valid_{k}": v for k, v in last_valid.items()}}
    if live is not None:
        live.summary.update({k: v for k, v in result.items() if isinstance(v, (int, float))})
        live.end()
    if run.get("ray"):
        _ray_report(result, rank)
    return result


# --- pieces of the loop ----------------------------------------------------------------------------
def _encode_mixtures(codec, wav):
    """`[M, 1, N]` → codes `[M, K, T]`. On CPU with one thread: the codec's LSTM is a chain of tiny
    per-frame matmuls, where a second OpenMP thread only adds synchronisation (measured 0.05 s vs
    0.9 s for 8 × 2 s on a busy 2-core machine)."""
    import torch

    if wav.device.type != "cpu":
        return codec.encode(wav)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return codec.encode(wav)
    finally:
        torch.set_num_threads(threads)


def _data_config(cfg: TrainConfig):
    from audiogen.data.loader import DataConfig

    return DataConfig.from_dict({
        "segment_s": cfg.segment_s, "batch_size": cfg.batch_size, "corpus_weights": cfg.corpus_weights,
        "shuffle_buffer": cfg.shuffle_buffer, "seed": cfg.seed, "loader_workers": cfg.loader_workers,
        "mix": {"p": cfg.mix.p, "snr_db": list(cfg.mix.snr_db), "min_overlap": cfg.mix.min_overlap}})


def _lr(step: int, cfg: TrainConfig) -> float:
    from audiogen.training.recipe import inverse_sqrt_lr

    return inverse_sqrt_lr(step, cfg.lr, cfg.warmup_steps)


def _LossModule(model):
    """The LM with `compute_loss` as its forward, for DDP (which hooks the wrapped forward)."""
    import torch

    class LossModule(torch.nn.Module):
        def __init__(self, lm):
            super().__init__()
            self.lm = lm

        def forward(self, *args):
            return self.lm.compute_loss(*args)

    return LossModule(model)


def _all_reduce(x):
    from audiogen.training.distributed import all_reduce_sum

    return all_reduce_sum(x)


class _nullcontext:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _validate(model, ema, valid, encode_batch, autocast) -> dict[str, float]:
    """Validation loss over the fixed valid batches (no mix, no CFG dropout), with the EMA weights
    when EMA is on; plus per-codebook cross-entropy, perplexity, the codes' unigram entropy (the
    loss of the best model that ignores context and text) and the loss with the null condition
    (`text_gain` = how many nats per token the caption saves)."""
    import torch

    live_weights = None
    if ema is not None:
        live_weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
        model.load_state_dict(ema.weights_for(model))
    model.eval()
    K = model.config.num_codebooks
    total, total_null, ntok, ce = 0.0, 0.0, 0, torch.zeros(K)
    counts = torch.zeros(K, model.config.cardinality, dtype=torch.float64)
    with torch.no_grad(), autocast:
        for batch in valid:
            codes, frame_mask, text, text_mask = encode_batch(batch)
            loss, ce_k, n = model.compute_loss(codes, frame_mask, text, text_mask)
            # The same batch with the null condition: how much the text tells the LM.
            everyone = torch.ones(codes.shape[0], dtype=torch.bool, device=codes.device)
            loss_null, _, _ = model.compute_loss(codes, frame_mask, *model.null_condition(text, text_mask, everyone))
            total += float(loss) * n
            total_null += float(loss_null) * n
            ce += ce_k.float().cpu() * n
            ntok += n
            for k in range(K):
                counts[k] += torch.bincount(codes[:, k][frame_mask].cpu(), minlength=model.config.cardinality)[
                    : model.config.cardinality].double()
    model.train()
    if live_weights is not None:
        model.load_state_dict(live_weights)
    p = counts / counts.sum(-1, keepdim=True).clamp_min(1)
    unigram = float((-(p * p.clamp_min(1e-12).log()).sum(-1)).mean())
    out = {"loss": total / max(1, ntok), "loss_null_text": total_null / max(1, ntok), "unigram_entropy": unigram,
           "tokens": float(ntok)}
    out["text_gain"] = out["loss_null_text"] - out["loss"]  # nats per token the caption is worth
    for k in range(K):
        out[f"ce_{k}"] = float(ce[k]) / max(1, ntok)
        out[f"ppl_{k}"] = math.exp(out[f"ce_{k}"])
    return out


def _save(out: Path, model, ema, opt, loader, dropout_gen, step, skipped, seconds_seen, cfg: TrainConfig,
          run, codec, codec_sha, text_encoder, world, ft=None) -> None:
    """Collective: gather every rank's loader position and RNG; rank 0 commits the checkpoint:
    state.pt (live weights, EMA, optimiser, loaders, RNGs, step, fingerprint) at one rename, then the
    public config.json + model.safetensors (the EMA weights when EMA is on) derived from it
    (audiogen.io.trainer_state). More public files (an adapter) go into `files` beside them."""
    from audiogen.io.trainer_state import commit_checkpoint, mark_committed, model_files, worker_kill_point
    from audiogen.lm.model import FORMAT
    from audiogen.training.distributed import dist_info, gather_objects

    rank = dist_info()[0]
    worker_kill_point(rank, step)
    loaders = gather_objects(loader.state_dict())
    rngs = gather_objects(dropout_gen.get_state())
    global_rngs = gather_objects(_global_rng(model))
    if rank == 0:
        # CPU copies made once: state.pt stores a tensor shared with a public file once (torch.save).
        live = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        config = {"lm": model.config.to_dict(), **checkpoint_config(cfg, run, codec, codec_sha, text_encoder, step)}
        if ft is not None:  # LoRA: merged weights as model.safetensors + the adapter alone (finetune.py)
            config.update(ft.checkpoint_keys(model))
            files, live = ft.public_files(model, ema, config, FORMAT), ft.live_state(model) or live
        else:
            files = model_files(ema.weights_for(model) if ema is not None else live, config, FORMAT)
        state = {"step": step, "skipped": skipped, "seconds_seen": seconds_seen, "fingerprint": cfg.fingerprint(),
                 "codec_sha256": codec_sha, "world": world, "model": {k: v.detach().cpu() for k, v in live.items()},
                 "optimizer": opt.state_dict(), "ema": ema.state_dict() if ema is not None else None,
                 "loader": loaders, "dropout_rng": rngs, "torch_rng": global_rngs}
        if ft is not None:
            state["init_from_sha256"] = ft.sha256
        commit_checkpoint(out, "lm", state, files)
        mark_committed(run.get("ray_run_dir"), step)


def _global_rng(model):
    """torch's global generator (CPU, and the model's CUDA device): dropout draws from it."""
    import torch

    device = next(model.parameters()).device
    return [torch.get_rng_state(), torch.cuda.get_rng_state(device) if device.type == "cuda" else None]


def _set_global_rng(saved, device) -> None:
    import torch

    torch.set_rng_state(saved[0])
    if saved[1] is not None and device.type == "cuda":
        torch.cuda.set_rng_state(saved[1], device)


def _load_state(out: Path, rank: int) -> dict[str, Any] | None:
    """The committed LM state in `out` (None: none there); a damaged one is one line. Rank 0
    alone rewrites public files a kill left older than it."""
    from audiogen.io.checkpoint import CheckpointError
    from audiogen.io.trainer_state import load_resume_state

    try:
        return load_resume_state(out, "lm", repair=rank == 0)
    except CheckpointError as err:
        raise SystemExit(f"audiogen.train: {err}") from None


def _ray_restarted(run: dict[str, Any]) -> bool:
    from audiogen.io.trainer_state import ray_restarted

    if ray_restarted(run.get("ray_run_dir")):
        log.info("Ray Train restarted the worker group: resuming from the last checkpoint")
        return True
    return False


def checkpoint_config(cfg: TrainConfig, run, codec, codec_sha, text_encoder, step) -> dict[str, Any]:
    """What generation needs beside the LM's own shape (DESIGN.md "LM checkpoint")."""
    return {
        "codec": {"path": str(run["codec"]), "sha256": codec_sha, "frame_rate": codec.frame_rate,
                  "num_codebooks": codec.num_codebooks, "cardinality": codec.cardinality,
                  "sample_rate": codec.sample_rate, "hop_length": codec.hop_length},
        "text_encoder": text_encoder.describe(),
        "preset": cfg.lm_preset, "pattern": cfg.pattern, "segment_s": cfg.segment_s,
        "train": cfg.to_dict(), "step": step,
    }


def _dump_batch(out: Path, rank: int, batch, drop) -> None:
    import torch

    torch.save({"codes": batch["codes"], "frame_mask": batch["frame_mask"], "texts": list(batch["texts"]),
                "drop": drop, "mix_index": batch["mix_index"]}, out / DUMP_NAME.format(rank=rank))


def _trained_codec_sha(state: dict[str, Any], out: Path) -> str | None:
    """The sha256 of the codec a saved run was trained on: recorded in its state.pt, or (states
    written before it was) in the config.json committed with it."""
    if state.get("codec_sha256"):
        return state["codec_sha256"]
    try:
        return (json.loads((out / "config.json").read_text(encoding="utf-8")).get("codec") or {}).get("sha256")
    except (OSError, ValueError, AttributeError):
        return None


def _open_live(run, resumed: bool, step: int = 0):
    from dvclive import Live

    if resumed:  # rows a killed run logged past its checkpoint are logged again from here on
        from audiogen.training.live_history import trim_after

        trim_after(run["live_dir"], step)
    return Live(run["live_dir"], resume=resumed, dvcyaml=False, save_dvc_exp=False)


def _log(live, step: int, metrics: dict[str, float]) -> None:
    if live is None:
        return
    live.step = step
    for k, v in metrics.items():
        live.log_metric(k, float(v))
    live.make_summary()


def _progress(total: int, initial: int):
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc="train", unit="step", file=sys.stderr, mininterval=2.0)


def _ray_report(result: dict[str, Any], rank: int) -> None:
    from audiogen.io.trainer_state import report_ray_result

    report_ray_result(rank, result)


# --- Ray Train ---------------------------------------------------------------------------------------
def run_ray(run: dict[str, Any], num_workers: int, use_gpu: bool, storage: str) -> dict[str, Any]:
    """The same loop on `num_workers` Ray Train workers (DDP). Joins RAY_ADDRESS if set. A lost
    worker restarts the group from the last checkpoint, up to `train.max_failures` times."""
    import uuid

    import ray
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    from audiogen.io.trainer_state import ray_run_config

    if not ray.is_initialized():
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        ray.init(address=os.environ.get("RAY_ADDRESS"), log_to_driver=False)
    cfg = TrainConfig.from_dict(run["config"])
    cpus = max(1, int(cfg.threads or 1))
    name = f"lm-{uuid.uuid4().hex[:12]}"  # this run's own folder in storage: a restart resumes only its checkpoints
    run_dir = str(Path(storage).resolve() / name)
    trainer = TorchTrainer(
        train_loop, train_loop_config={**run, "ray": True, "ray_run_dir": run_dir},
        scaling_config=ScalingConfig(num_workers=num_workers, use_gpu=use_gpu,
                                     resources_per_worker={"CPU": cpus, **({"GPU": 1} if use_gpu else {})}),
        torch_config=TorchConfig(backend="nccl" if use_gpu else "gloo"),
        run_config=RunConfig(**ray_run_config(name, storage, cfg.max_failures)),
    )
    result = trainer.fit()
    if result.checkpoint is not None:
        with result.checkpoint.as_directory() as d:
            if (Path(d) / "result.json").is_file():
                return json.loads((Path(d) / "result.json").read_text())
    return dict(result.metrics or {})


# --- CLI -------------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(prog="python -m audiogen.train", description=__doc__.split("\n")[0])
    ap.add_argument("--tokens", default="data/shards/tokens", help="token shards (default %(default)s)")
    ap.add_argument("--audio", default="data/shards/audio", help="audio shards beside them, for mixing")
    ap.add_argument("--codec", default="models/codec", help="the codec that made the token shards")
    ap.add_argument("--out", default="models/lm", help="LM checkpoint directory")
    ap.add_argument("--live-dir", default="reports/train", help="dvclive directory (DVC plots)")
    ap.add_argument("--params", help="params.yaml (default ./params.yaml or $AUDIOGEN_PARAMS)")
    ap.add_argument("--resume", choices=["auto", "never"], default="never",
                    help="auto: continue from OUT/state.pt when it was trained with the same params")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", type=key_value,
                    help="override a train param, e.g. --set max_steps=100 --set mix.p=0 (YAML values)")
    ap.add_argument("--ray-storage", default=os.path.join(tempfile.gettempdir(), "audiogen-ray-train"))
    ap.add_argument("--dump-first-step", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)

    from audiogen.io.arguments import config_or_exit
    from audiogen.io.params import params_path, params_section

    # A bad --set value: argparse error (exit 2); a bad params.yaml value: one line naming it (exit 1).
    cfg = config_or_exit(ap, TrainConfig.from_dict, params_section("train", args.params), args.set,
                         str(params_path(args.params)))
    for name, path in (("--tokens", args.tokens), ("--codec", args.codec)):
        if not Path(path).is_dir():
            raise SystemExit(f"audiogen.train: {name} {path} is not a directory (run `dvc repro tokenize` first)")
    from audiogen.data.index import read_token_index

    read_token_index(args.tokens)  # a missing, truncated or garbled shards.json: one line now, before any model loads
    run = {"config": cfg.to_dict(), "tokens": str(Path(args.tokens).resolve()), "audio": str(Path(args.audio).resolve()),
           "codec": str(Path(args.codec).resolve()), "out": str(Path(args.out).resolve()),
           "live_dir": str(Path(args.live_dir).resolve()), "resume": args.resume == "auto",
           "dump_first_step": args.dump_first_step,
           "init_from": str(Path(cfg.init_from).resolve()) if cfg.init_from else None}
    from audiogen.io.checkpoint import CheckpointError

    try:
        result = run_ray(run, cfg.num_workers, cfg.use_gpu, args.ray_storage) if cfg.num_workers > 1 else train_loop(run)
    except CheckpointError as err:  # a missing or damaged --codec (or init_from) checkpoint: one line
        raise SystemExit(f"audiogen.train: {err}") from None
    print(f"train: {cfg.lm_preset} LM, {result['step']} steps in {result['seconds']:.0f} s, valid loss "
          f"{result.get('valid_loss', float('nan')):.3f} nats vs unigram entropy "
          f"{result.get('valid_unigram_entropy', float('nan')):.3f}, {result['skipped_steps']} skipped steps "
          f"→ {args.out}", flush=True)
    return result
