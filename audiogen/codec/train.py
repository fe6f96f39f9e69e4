"""Train the codec: `python -m audiogen.codec.train --shards DIR --out DIR [--resume auto]`.

Flags default to params.yaml `codec:` (see `TrainConfig`). One loop, `train_loop`, runs either in
this process (`--num-workers 0`) or on every worker of a Ray Train `TorchTrainer` (DDP; gloo on the
CPU, NCCL on GPUs), which is how it scales to several GPUs and nodes.

Each step: the codec reconstructs a batch of random segments; the MS-STFT discriminator takes a
hinge step on (real, reconstruction); the codec takes an Adam step on L1 + multi-scale mel +
adversarial + feature matching (through the gradient balancer when on) + commitment.

Outputs in `--out`: `state.pt`, each checkpoint's one commit point (step, codec weights,
discriminator, optimizers, balancer, per-rank RNG and data positions; audiogen.io.trainer_state),
and, derived from it, `config.json` + `model.safetensors` (the codec, `Codec.from_pretrained`). On
Ray Train a lost worker restarts the group from that checkpoint. Validation SI-SNR and mel distance
go to dvclive in `--live-dir`.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from audiogen.codec.config import PRESETS, TrainConfig
from audiogen.io.arguments import nonnegative_int, positive_float, positive_int, seed

log = logging.getLogger("audiogen.codec")
STATE_NAME = "state.pt"


# --- distributed helpers ----------------------------------------------------------------------
def _dist_info() -> tuple[int, int]:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _gather(obj: Any) -> list[Any]:
    """Every rank's `obj`, as a list indexed by rank (just `[obj]` without distributed)."""
    import torch.distributed as dist

    _, world = _dist_info()
    if world == 1:
        return [obj]
    out: list[Any] = [None] * world
    dist.all_gather_object(out, obj)
    return out


# --- the loop -----------------------------------------------------------------------------------
class _Trainer:
    """Models, optimisers and one training step; state in and out of `state.pt`."""

    def __init__(self, cfg: TrainConfig, device: Any):
        import torch
        from torch.nn.parallel import DistributedDataParallel as DDP

        from audiogen.codec.discriminator import MultiScaleSTFTDiscriminator
        from audiogen.codec.losses import Balancer, MelDistance, MultiScaleMelLoss
        from audiogen.codec.model import Codec

        self.cfg, self.device, L = cfg, device, cfg.losses
        self.rank, self.world = _dist_info()
        self.codec = Codec(cfg.codec_config()).to(device)
        self.disc = (MultiScaleSTFTDiscriminator(L.disc_filters, L.disc_n_ffts).to(device)
                     if L.uses_discriminator else None)
        ddp_kw = {"device_ids": [device.index]} if device.type == "cuda" else {}
        # Codebook buffers are kept in step by the quantiser's own all-reduce/broadcast.
        self.codec_ddp = DDP(self.codec, broadcast_buffers=False, **ddp_kw) if self.world > 1 else self.codec
        self.disc_ddp = (DDP(self.disc, **ddp_kw) if self.world > 1 else self.disc) if self.disc else None
        self.opt_g = torch.optim.Adam(self.codec.parameters(), lr=cfg.lr, betas=cfg.betas)
        self.opt_d = torch.optim.Adam(self.disc.parameters(), lr=cfg.lr, betas=cfg.betas) if self.disc else None
        sr = self.codec.sample_rate
        self.mel_loss = MultiScaleMelLoss(sr, L.mel_bins, L.mel_min_exp, L.mel_max_exp, L.mel_alphas).to(device)
        self.mel_distance = MelDistance(sr).to(device)
        self.balancer = Balancer({"l1": L.l1, "mel": L.mel, "adv": L.adv, "feat": L.feat},
                                 ema=L.balancer_ema, balance=L.balancer)
        self.step = 0

    def train_step(self, wav) -> dict[str, float]:
        import torch

        from audiogen.codec.losses import (feature_matching_loss, hinge_disc_loss, hinge_gen_loss,
                                           l1_wave)

        L = self.cfg.losses
        self.codec.train()
        y, _, commit = self.codec_ddp(wav)
        metrics: dict[str, float] = {}
        losses = {"l1": l1_wave(y, wav), "mel": self.mel_loss(y, wav)}
        if self.disc is not None and self.step >= L.adv_start_step:
            # Discriminator step on real and (detached) fake in one forward (one DDP reduction).
            self.disc.requires_grad_(True)
            logits, _ = self.disc_ddp(torch.cat([wav, y.detach()]))
            n = wav.shape[0]
            d_loss = hinge_disc_loss([lg[:n] for lg in logits], [lg[n:] for lg in logits])
            self.opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            self.opt_d.step()
            metrics["disc"] = float(d_loss.detach())
            # Generator terms through the bare module, frozen: no discriminator gradients, no DDP sync.
            self.disc.requires_grad_(False)
            fake_logits, fake_feats = self.disc(y)
            with torch.no_grad():
                _, real_feats = self.disc(wav)
            if L.adv > 0:
                losses["adv"] = hinge_gen_loss(fake_logits)
            if L.feat > 0:
                losses["feat"] = feature_matching_loss(real_feats, fake_feats)
        self.opt_g.zero_grad(set_to_none=True)
        commit_w = commit * L.commit
        if L.balancer:
            grad = self.balancer.output_grad(losses, y)
            torch.autograd.backward([y, commit_w], [grad, torch.ones_like(commit_w)])
        else:
            weights = {"l1": L.l1, "mel": L.mel, "adv": L.adv, "feat": L.feat}
            total = sum(weights[k] * v for k, v in losses.items()) + commit_w
            total.backward()
        self.opt_g.step()
        self.step += 1
        metrics.update({k: float(v.detach()) for k, v in losses.items()})
        metrics["commit"] = float(commit.detach())
        return metrics

    def validate(self, valid, chunk: int = 8) -> dict[str, float]:
        import torch

        from audiogen.codec.losses import si_snr

        self.codec.eval()
        snr, mel = [], []
        with torch.no_grad():
            for i in range(0, valid.shape[0], chunk):
                x = valid[i: i + chunk].to(self.device)
                y, _, _ = self.codec(x)
                snr.append(si_snr(y, x))
                mel.extend(float(self.mel_distance(y[j: j + 1], x[j: j + 1])) for j in range(x.shape[0]))
        return {"si_snr": float(torch.cat(snr).mean()), "mel_distance": sum(mel) / len(mel)}

    # state.pt (audiogen.io.trainer_state): everything a resume reads, the codec weights included.
    def state_dict(self, positions: list[dict[int, list[int]]], rng: list[Any],
                   weights: dict[str, Any] | None = None) -> dict[str, Any]:
        """`weights`: the codec's CPU tensors when the caller has them (shared with model.safetensors)."""
        return {"step": self.step, "config": self.cfg.to_dict(),
                "model": weights if weights is not None else self.codec.state_dict(),
                "disc": self.disc.state_dict() if self.disc else None,
                "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict() if self.opt_d else None,
                "balancer": self.balancer.state_dict(), "rng": rng,
                "positions": [{int(k): list(v) for k, v in p.items()} for p in positions]}

    def load(self, state: dict[str, Any], path: Path) -> None:
        """Continue from a committed `state` (`load_resume_state`) read from `path`."""
        saved = TrainConfig.from_dict(state["config"])
        if saved.codec_config() != self.cfg.codec_config() or saved.losses != self.cfg.losses:
            raise SystemExit(f"{path}: checkpoint of another codec or loss setup "
                             f"(preset {saved.preset!r}, {saved.overrides}); use another --out or drop --resume")
        self.codec.load_state_dict(state["model"])
        if self.disc is not None and state["disc"] is not None:
            self.disc.load_state_dict(state["disc"])
            self.opt_d.load_state_dict(state["opt_d"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.balancer.load_state_dict(state["balancer"])
        self.step = int(state["step"])


def _fingerprint(module) -> float:
    """A float64 checksum of every parameter and buffer (ranks must agree exactly)."""
    import torch

    with torch.no_grad():
        return float(sum(t.detach().double().sum() * (i + 1) for i, t in enumerate(module.state_dict().values())))


def _save(trainer: _Trainer, out: Path, positions: dict[int, list[int]], run: dict[str, Any]) -> bool:
    """Collective: every rank sends its RNG, data positions and a checksum of its codec; rank 0
    commits the checkpoint (state.pt, then the public config.json + model.safetensors derived from
    it: audiogen.io.trainer_state). Returns whether all ranks hold the same codec (DDP + synced
    codebooks)."""
    import torch

    from audiogen.codec.model import FORMAT
    from audiogen.io.trainer_state import commit_checkpoint, mark_committed, model_files, worker_kill_point

    worker_kill_point(trainer.rank, trainer.step)
    all_pos = _gather(positions)
    all_rng = _gather(torch.get_rng_state())
    prints = _gather(_fingerprint(trainer.codec))
    in_sync = all(p == prints[0] for p in prints)
    if not in_sync:
        log.warning("codec differs across ranks at step %d: %s", trainer.step, prints)
    if trainer.rank == 0:
        # CPU copies made once: state.pt stores a tensor shared with a public file once (torch.save).
        weights = {k: v.detach().cpu() for k, v in trainer.codec.state_dict().items()}
        files = model_files(weights, {"codec": trainer.codec.config.to_dict()}, FORMAT)
        commit_checkpoint(out, "codec", trainer.state_dict(all_pos, all_rng, weights), files)
        mark_committed(run.get("ray_run_dir"), trainer.step)
    return in_sync


def train_loop(run: dict[str, Any]) -> dict[str, float]:
    """The training loop of one worker. `run`: config (TrainConfig dict), shards, out, live_dir,
    resume (bool), ray (bool), threads. Returns the final metrics (also on every rank)."""
    import torch

    from audiogen.codec.data import SegmentStream, find_shards, load_validation

    cfg = TrainConfig.from_dict(run["config"])
    if run.get("threads"):
        torch.set_num_threads(int(run["threads"]))
    rank, world = _dist_info()
    if run.get("ray"):
        import ray.train.torch

        device = ray.train.torch.get_device()
    else:
        device = torch.device("cuda" if cfg.use_gpu and torch.cuda.is_available() else "cpu")
    out = Path(run["out"])
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed * 1000 + rank)

    trainer = _Trainer(cfg, device)
    positions: dict[int, list[int]] = {}
    # A Ray Train group restarted after a lost worker resumes from the committed state.
    resume = run.get("resume") or _ray_restarted(run)
    state = _load_state(out, rank) if resume else None
    resumed = state is not None
    if resumed:
        trainer.load(state, out / STATE_NAME)
        log.info("resumed from %s at step %d", out / STATE_NAME, trainer.step)
        rngs, pos = state["rng"], state["positions"]
        if len(rngs) != world:
            log.warning("resuming with %d workers, checkpoint had %d: data streams restart", world, len(rngs))
        else:
            torch.set_rng_state(rngs[rank])
            positions = {int(k): list(v) for k, v in pos[rank].items()}

    shards = Path(run["shards"])
    train_paths = find_shards(shards, "train") or find_shards(shards, None)
    valid_paths = find_shards(shards, "valid") or train_paths
    if not train_paths:
        raise SystemExit(f"codec.train: no audio shards (*.tar named <split>-<corpus>-NNNNNN.tar) in {shards}")
    sr = trainer.codec.sample_rate
    segment = int(round(cfg.segment_s * sr))
    stream = SegmentStream(train_paths, segment, sr, cfg.seed, rank, world, start=positions)
    # Own generator: creating the loader's iterator must not draw from the global RNG, which
    # the quantiser uses and checkpoints restore (a resumed run would otherwise diverge).
    loader = torch.utils.data.DataLoader(stream, batch_size=cfg.batch_size, num_workers=cfg.loader_workers,
                                         generator=torch.Generator().manual_seed(cfg.seed))
    valid = load_validation(valid_paths, cfg.valid_clips, int(round(cfg.valid_segment_s * sr)), sr)

    live = None
    if rank == 0:
        from dvclive import Live

        live = Live(run["live_dir"], resume=bool(resumed), dvcyaml=False, save_dvc_exp=False)
    steps = cfg.steps
    bar = None
    if rank == 0:
        from tqdm import tqdm

        bar = tqdm(total=steps, initial=trainer.step, desc="train_codec", unit="step", file=sys.stderr,
                   mininterval=2.0)
    running: dict[str, list[float]] = {}
    val: dict[str, float] = {}
    if rank == 0 and trainer.step == 0:  # the untrained baseline: step 0 of the plots
        live.step = 0
        for k, v in trainer.validate(valid).items():
            live.log_metric(f"valid/{k}", v)
    in_sync = True
    t0 = time.time()
    start_step = trainer.step
    batches = iter(loader)
    while trainer.step < steps:
        batch = next(batches)
        for row in batch["pos"].tolist():
            positions[int(row[0])] = row
        m = trainer.train_step(batch["wav"].to(device))
        for k, v in m.items():
            running.setdefault(k, []).append(v)
        if bar is not None:
            bar.update(1)
            if trainer.step % 10 == 0:
                bar.set_postfix(mel=f"{m['mel']:.3f}", l1=f"{m['l1']:.4f}")
        if trainer.step % cfg.valid_every == 0 or trainer.step == steps:
            if rank == 0:
                val = trainer.validate(valid)
                live.step = trainer.step
                for k, v in running.items():
                    live.log_metric(f"train/{k}", sum(v) / len(v))
                for k, v in val.items():
                    live.log_metric(f"valid/{k}", v)
                live.make_summary()
            running = {}
        if trainer.step % cfg.checkpoint_every == 0 or trainer.step == steps:
            in_sync = _save(trainer, out, positions, run) and in_sync
    if bar is not None:
        bar.close()
    if trainer.step == start_step and rank == 0:  # nothing to do: report the checkpoint as it is
        val = trainer.validate(valid)
    if live is not None:
        live.end()
    result = {"step": trainer.step, "start_step": start_step, "seconds": time.time() - t0, "ranks_in_sync": in_sync,
              **{f"valid_{k}": v for k, v in val.items()}}
    result = _gather(result)[0]
    if run.get("ray"):
        from audiogen.io.trainer_state import report_ray_result

        # Ray Train keeps the metrics that come with a checkpoint: rank 0 attaches a tiny one
        # (the metrics as JSON; the real checkpoint is in `out`), the others report alone.
        report_ray_result(rank, result)
    return result


def _load_state(out: Path, rank: int) -> dict[str, Any] | None:
    """The committed codec state in `out` (None: none there); a damaged one is one line. Rank 0
    alone rewrites public files a kill left older than it."""
    from audiogen.io.checkpoint import CheckpointError
    from audiogen.io.trainer_state import load_resume_state

    try:
        return load_resume_state(out, "codec", repair=rank == 0)
    except CheckpointError as err:
        raise SystemExit(f"codec.train: {err}") from None


def _ray_restarted(run: dict[str, Any]) -> bool:
    from audiogen.io.trainer_state import ray_restarted

    if ray_restarted(run.get("ray_run_dir")):
        log.info("Ray Train restarted the worker group: resuming from the last checkpoint")
        return True
    return False


# --- Ray Train --------------------------------------------------------------------------------
def run_ray(run: dict[str, Any], num_workers: int, use_gpu: bool, storage: str,
            max_failures: int = 3) -> dict[str, float]:
    """The same loop on `num_workers` Ray Train workers (DDP). Joins RAY_ADDRESS if set. A lost
    worker restarts the group from the last checkpoint, up to `max_failures` times."""
    import ray
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    if not ray.is_initialized():
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        ray.init(address=os.environ.get("RAY_ADDRESS"), log_to_driver=False)
    from audiogen.io.trainer_state import ray_run_config

    cpus = max(1, int(run.get("threads") or 1))
    name = f"codec-{uuid.uuid4().hex[:12]}"  # this run's own folder in storage: a restart resumes only its checkpoints
    trainer = TorchTrainer(
        train_loop,
        train_loop_config={**run, "ray": True, "ray_run_dir": str(Path(storage).resolve() / name)},
        scaling_config=ScalingConfig(num_workers=num_workers, use_gpu=use_gpu,
                                     resources_per_worker={"CPU": cpus, **({"GPU": 1} if use_gpu else {})}),
        torch_config=TorchConfig(backend="nccl" if use_gpu else "gloo"),
        # A lost worker: Ray Train restarts the group, which resumes from OUT/state.pt.
        run_config=RunConfig(**ray_run_config(name, storage, max_failures)),
    )
    return dict(trainer.fit().metrics or {})


# --- CLI --------------------------------------------------------------------------------------
def codec_params(params_path: str | os.PathLike | None = None) -> dict[str, Any]:
    """The `codec:` section of params.yaml (`$AUDIOGEN_PARAMS` or ./params.yaml); {} when absent; a
    one-line ParamsFileError (SystemExit) for a file that cannot be used."""
    from audiogen.io.params import params_section

    return params_section("codec", params_path)


def load_config(params_path: str | os.PathLike | None, args: argparse.Namespace | None = None) -> TrainConfig:
    """params.yaml `codec:` (minus the path keys) with the CLI flags that were given on top."""
    section = codec_params(params_path)
    for key in ("shards", "out", "live_dir"):
        section.pop(key, None)
    if args is not None:
        for key in ("preset", "steps", "batch_size", "segment_s", "seed", "num_workers", "loader_workers",
                    "checkpoint_every", "valid_every"):
            if getattr(args, key, None) is not None:
                section[key] = getattr(args, key)
        if args.use_gpu:
            section["use_gpu"] = True
    return TrainConfig.from_dict(section)


def main(argv: list[str] | None = None) -> dict[str, float]:
    ap = argparse.ArgumentParser(prog="python -m audiogen.codec.train", description=__doc__.split("\n")[0])
    ap.add_argument("--shards", help="audio shard directory (default: params codec.shards)")
    ap.add_argument("--out", help="checkpoint directory (default: params codec.out)")
    ap.add_argument("--live-dir", help="dvclive directory (default: params codec.live_dir or OUT/dvclive)")
    ap.add_argument("--params", help="params.yaml path (default: ./params.yaml or $AUDIOGEN_PARAMS)")
    ap.add_argument("--preset", choices=sorted(PRESETS))
    ap.add_argument("--steps", type=nonnegative_int, help="training steps, >= 0")
    ap.add_argument("--batch-size", type=positive_int, help="clips per worker and step, >= 1")
    ap.add_argument("--segment-s", type=positive_float, help="seconds per training crop, > 0")
    ap.add_argument("--seed", type=seed, help=f"in [0, {seed.hi}]")
    ap.add_argument("--checkpoint-every", type=positive_int, help="steps, >= 1")
    ap.add_argument("--valid-every", type=positive_int, help="steps, >= 1")
    ap.add_argument("--resume", choices=["auto", "never"], default="never",
                    help="auto: continue from OUT/state.pt when it exists")
    ap.add_argument("--num-workers", type=nonnegative_int, help="Ray Train workers, >= 0 (0: train in this process)")
    ap.add_argument("--loader-workers", type=nonnegative_int, help="DataLoader processes per worker, >= 0")
    ap.add_argument("--threads", type=positive_int, default=None, help="torch threads (and CPUs) per worker, >= 1")
    ap.add_argument("--use-gpu", action="store_true")
    ap.add_argument("--ray-storage", default=os.path.join(tempfile.gettempdir(), "audiogen-ray-train"),
                    help="Ray Train storage path (shared storage on a multi-node cluster)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)

    try:
        cfg = load_config(args.params, args)
    except (TypeError, ValueError) as err:  # the flags passed argparse: a bad params.yaml value
        from audiogen.io.params import params_path

        raise SystemExit(f"train_codec: {params_path(args.params)}: {err}") from None
    section = codec_params(args.params)
    shards = args.shards or section.get("shards") or "data/shards/audio"
    out = Path(args.out or section.get("out") or "models/codec")
    live_dir = args.live_dir or section.get("live_dir") or str(out / "dvclive")
    if args.resume != "auto" and (out / STATE_NAME).exists():
        log.info("%s exists; starting over (pass --resume auto to continue)", out / STATE_NAME)
    run = {"config": cfg.to_dict(), "shards": str(Path(shards).resolve()), "out": str(out.resolve()),
           "live_dir": str(Path(live_dir).resolve()), "resume": args.resume == "auto", "threads": args.threads}
    if cfg.num_workers > 0:
        result = run_ray(run, cfg.num_workers, cfg.use_gpu, args.ray_storage)
    else:
        result = train_loop(run)
    print(f"train_codec: preset {cfg.preset}, {result.get('step')} steps, "
          f"valid SI-SNR {result.get('valid_si_snr', float('nan')):.2f} dB, "
          f"mel distance {result.get('valid_mel_distance', float('nan')):.3f} → {out}", flush=True)
    return result


if __name__ == "__main__":
    from audiogen.io.atomic import run_cli

    run_cli(main, "train_codec")  # a failed checkpoint write: one line
