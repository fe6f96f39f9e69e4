"""Train the in-domain tagger: `python -m audiogen.evaluation.tagger.train --shards DIR --out DIR`.

Flags default to params.yaml `tagger:` (`TaggerTrainConfig`). Reads the audio shards' `train` split
(clips and their json: `labels`, `caption`), builds the classes (`tagger_vocab`), standardises the
log-mel per band with the training clips' statistics, and trains on random crops of `segment_s`
(shorter clips are tiled) with BCE over the classes. Augmentation: coloured noise at a random SNR on
half of the crops (so that codec and generation artefacts do not read as another class) and one
frequency and one time mask. Validates on the `valid` split (whole clips, one at a time) and writes:
- `OUT/state.pt`: a checkpoint at every epoch's end, one commit point each (audiogen.io.trainer_state;
  `--resume auto` continues from it), and, derived from it, `OUT/config.json` +
  `OUT/model.safetensors` (`Tagger.from_pretrained`);
- `--metrics` (default params `tagger.metrics`): validation mAP (mean over classes with a positive
  and a negative valid clip of the average precision), top-1 (share of valid clips with a target
  whose most probable class is one of them), counts and seconds.

Deterministic for a seed and thread count: one seeded generator draws the batches, crops and
augmentations, torch is seeded, and no data-loader processes run. Clips are held in memory as
PCM_16 (~1.2 GB per 10 h), which suits the demo and tens of hours; `max_train_clips` caps a larger
corpus.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from audiogen.io.arguments import (check_numbers, finite_float, float_in, nonnegative_float, number_list,
                                   positive_float, positive_int, probability, seed)

log = logging.getLogger("audiogen.tagger")


@dataclass
class TaggerTrainConfig:
    """params.yaml `tagger:` (comments there)."""

    shards: str = "data/shards/audio"
    out: str = "models/tagger"
    metrics: str = "reports/tagger/metrics.json"
    min_count: int = 3
    max_classes: int | None = None
    caption_words: bool = True
    n_mels: int = 64
    channels: tuple[int, ...] = (16, 32, 64, 128)
    embed_dim: int = 128
    dropout: float = 0.2
    segment_s: float = 2.0
    batch_size: int = 16
    epochs: int = 60
    lr: float = 0.003
    weight_decay: float = 0.0001
    spec_augment: bool = True
    noise_p: float = 0.5
    noise_snr_db: tuple[float, float] = (5.0, 30.0)
    valid_fraction: float = 0.1
    max_train_clips: int | None = None
    seed: int = 0
    threads: int | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TaggerTrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise SystemExit(f"params tagger: unknown key(s) {sorted(unknown)}; known: {sorted(known)}")
        d = dict(d)
        try:
            if "channels" in d:
                d["channels"] = number_list(d["channels"], "tagger.channels", kind=int)
            if "noise_snr_db" in d:
                d["noise_snr_db"] = number_list(d["noise_snr_db"], "tagger.noise_snr_db", 2)
            cfg = cls(**d)
            check_numbers(cfg, TAGGER_NUMBERS, "tagger")
        except ValueError as err:  # one line naming the param, as the unknown-key error above
            raise SystemExit(f"params {err}") from None
        return cfg


TAGGER_NUMBERS = {
    "min_count": positive_int, "max_classes": positive_int.or_none, "n_mels": positive_int, "channels": positive_int,
    "embed_dim": positive_int, "dropout": float_in(0, 1, hi_open=True), "segment_s": positive_float,
    "batch_size": positive_int, "epochs": positive_int, "lr": positive_float, "weight_decay": nonnegative_float,
    "noise_p": probability, "noise_snr_db": finite_float, "valid_fraction": float_in(0, 1, lo_open=True, hi_open=True),
    "max_train_clips": positive_int.or_none, "seed": seed, "threads": positive_int.or_none,
}


def tagger_params(params_path: str | os.PathLike | None = None) -> dict[str, Any]:
    """The `tagger:` section of params.yaml (`$AUDIOGEN_PARAMS` or ./params.yaml); {} when absent; a
    one-line ParamsFileError (SystemExit) for a file that cannot be used."""
    from audiogen.io.params import params_section

    return params_section("tagger", params_path)


# --- data -----------------------------------------------------------------------------------
def load_clips(paths: list[Path], sample_rate: int, limit: int | None = None) -> tuple[list[dict], list[np.ndarray]]:
    """(json metadata, PCM_16 waveform `[T]` int16 at `sample_rate`) of every clip in the shards, in order."""
    from audiogen.io.audio import resample, to_pcm16
    from audiogen.io.shards import iter_audio_samples

    metas, waves = [], []
    for s in iter_audio_samples(paths, shuffle=False, seed=0):
        if limit is not None and len(metas) >= limit:
            break
        x = resample(s.audio, s.sample_rate, sample_rate)
        if x.size == 0:
            log.warning("%s: clip %s is empty; skipped", s.shard, s.key)
            continue
        metas.append({**s.meta, "key": s.key})
        waves.append(to_pcm16(x))
    return metas, waves


def _crop(wave: np.ndarray, length: int, rng: np.random.Generator) -> np.ndarray:
    """A random `length`-sample window of int16 `wave` (tiled first when shorter) → float32 `[length]`."""
    if wave.shape[0] < length:
        wave = np.tile(wave, -(-length // wave.shape[0]))
    start = int(rng.integers(0, wave.shape[0] - length + 1))
    return wave[start: start + length].astype(np.float32) / 32767.0


def _add_noise(batch: np.ndarray, rng: np.random.Generator, p: float, snr_db: tuple[float, float]) -> np.ndarray:
    """With probability `p` per row, add coloured noise (spectrum ∝ f^-a, a uniform in [0, 2]: white to
    brown) at an SNR uniform in `snr_db`: teaches the tagger that broadband noise (codec and
    generation artefacts) does not change what a sound is."""
    out = batch.copy()
    n, length = out.shape
    freqs = np.fft.rfftfreq(length)
    freqs[0] = freqs[1]
    for i in range(n):
        if rng.random() >= p:
            continue
        shape = freqs ** (-rng.uniform(0.0, 2.0) / 2)
        noise = np.fft.irfft(np.fft.rfft(rng.standard_normal(length)) * shape, length)
        signal_rms = np.sqrt(np.mean(out[i].astype(np.float64) ** 2)) + 1e-8
        noise *= signal_rms / (np.sqrt(np.mean(noise ** 2)) + 1e-12) * 10 ** (-rng.uniform(*snr_db) / 20)
        out[i] = np.clip(out[i] + noise, -1.0, 1.0)
    return out


def _spec_augment(batch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One frequency band (≤ 1/8 of the bands) and one time span (≤ 1/8) masked to 0 per example."""
    out = batch.copy()
    n, bands, frames = out.shape
    for i in range(n):
        f = int(rng.integers(0, bands // 8 + 1))
        f0 = int(rng.integers(0, bands - f + 1))
        t = int(rng.integers(0, frames // 8 + 1))
        t0 = int(rng.integers(0, frames - t + 1))
        out[i, f0: f0 + f, :] = 0.0
        out[i, :, t0: t0 + t] = 0.0
    return out


# --- metrics --------------------------------------------------------------------------------
def average_precision(scores: np.ndarray, positives: np.ndarray) -> float:
    """AP of one class: mean over positives of the precision at their rank (ties: input order)."""
    order = np.argsort(-scores, kind="stable")
    hits = positives[order].astype(np.float64)
    if hits.sum() == 0:
        return float("nan")
    precision = np.cumsum(hits) / np.arange(1, hits.size + 1)
    return float((precision * hits).sum() / hits.sum())


def evaluate(scores: np.ndarray, target: np.ndarray) -> dict[str, float | int]:
    """mAP and top-1 of `scores [N, C]` against multi-hot `target [N, C]`."""
    aps = [average_precision(scores[:, c], target[:, c]) for c in range(target.shape[1])
           if 0 < target[:, c].sum() < target.shape[0]]
    has = target.sum(axis=1) > 0
    top = np.argmax(scores, axis=1)
    top1 = float(target[np.arange(len(top)), top][has].mean()) if has.any() else float("nan")
    return {"map": float(np.mean(aps)) if aps else float("nan"), "top1": top1,
            "map_classes": len(aps), "top1_clips": int(has.sum())}


def _or_none(v: float) -> float | None:
    """NaN → None (JSON has no NaN)."""
    return None if v != v else v


# --- training -------------------------------------------------------------------------------
def train(cfg: TaggerTrainConfig, shards: Path, out: Path, resume: bool = False) -> dict[str, Any]:
    """Train, committing a checkpoint at every epoch's end (the last one carries the validation);
    `resume`: continue from OUT/state.pt when it was trained with the same params and data."""
    import torch
    from tqdm import tqdm

    from audiogen.evaluation.tagger.model import Tagger, TaggerConfig
    from audiogen.evaluation.tagger.vocab import build_classes, targets
    from audiogen.io.shards import list_shards

    t0 = time.time()
    if cfg.threads:
        torch.set_num_threads(int(cfg.threads))
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    train_paths, valid_paths = list_shards(shards, "train"), list_shards(shards, "valid")
    if not train_paths:
        raise SystemExit(f"tagger_train: no train shards (train-<corpus>-NNNNNN.tar) in {shards}")
    base = TaggerConfig(classes=("_",), n_mels=cfg.n_mels, channels=cfg.channels, embed_dim=cfg.embed_dim,
                        dropout=cfg.dropout)
    metas, waves = load_clips(train_paths, base.sample_rate, cfg.max_train_clips)
    if valid_paths:
        v_metas, v_waves = load_clips(valid_paths, base.sample_rate)
    else:  # no valid split: hold out every k-th training clip
        k = max(2, round(1 / max(cfg.valid_fraction, 1e-6)))
        v_metas, v_waves = metas[::k], waves[::k]
        metas = [m for i, m in enumerate(metas) if i % k]
        waves = [w for i, w in enumerate(waves) if i % k]
        log.warning("%s: no valid shards; validating on %d held-out training clips", shards, len(v_metas))
    classes, counts = build_classes(metas, cfg.min_count, cfg.max_classes, cfg.caption_words)
    if not classes:
        raise SystemExit(f"tagger_train: no label or caption word occurs in {cfg.min_count}+ of the "
                         f"{len(metas)} training clips; lower tagger.min_count")
    index = {c: i for i, c in enumerate(classes)}

    def multi_hot(ms: list[dict]) -> np.ndarray:
        y = np.zeros((len(ms), len(classes)), dtype=np.float32)
        for i, m in enumerate(ms):
            y[i, targets(m, index, cfg.caption_words)] = 1.0
        return y

    y_train, y_valid = multi_hot(metas), multi_hot(v_metas)
    model = Tagger(TaggerConfig(**{**asdict(base), "classes": tuple(classes)}))
    # Per-band log-mel statistics of the clean training clips (float64 sums, one clip at a time).
    total_sum, total_sq, count = np.zeros(cfg.n_mels), np.zeros(cfg.n_mels), 0
    with torch.no_grad():
        for w in waves:
            mel = model.mel.raw(torch.from_numpy(w.astype(np.float32) / 32767.0)[None])[0].double().numpy()
            total_sum += mel.sum(axis=1)
            total_sq += (mel ** 2).sum(axis=1)
            count += mel.shape[1]
    mean = total_sum / count
    model.mel.mean.copy_(torch.from_numpy(mean))
    model.mel.std.copy_(torch.from_numpy(np.sqrt(np.maximum(total_sq / count - mean ** 2, 0.0)) + 1e-5))

    seg = int(round(cfg.segment_s * base.sample_rate))
    steps_per_epoch = max(1, -(-len(waves) // cfg.batch_size))
    total = steps_per_epoch * cfg.epochs
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=total, pct_start=0.1)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    training = {"params": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(cfg).items()
                           if k not in ("shards", "out", "metrics")},
                "train_shards": [p.name for p in train_paths], "valid_shards": [p.name for p in valid_paths],
                "train_clips": len(waves), "valid_clips": len(v_waves), "class_counts": counts, "steps": total}
    fingerprint = _fingerprint(cfg, training, classes)

    # --- resume: from the committed state.pt of an epoch's end (audiogen.io.trainer_state) -------
    start_epoch, losses, result = 0, [], None
    state = _load_state(out) if resume else None
    if state is not None and state.get("fingerprint") != fingerprint:
        log.info("%s was trained with other params or data: starting fresh", out / "state.pt")
    elif state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"])
        start_epoch, losses = int(state["epoch"]), list(state["epoch_losses"])
        result = state.get("result")
        log.info("resumed from %s after epoch %d of %d", out / "state.pt", start_epoch, cfg.epochs)
    del state

    bar = tqdm(total=total, initial=start_epoch * steps_per_epoch, desc="train_tagger", unit="step",
               file=sys.stderr, mininterval=2.0)
    model.train()
    for epoch in range(start_epoch, cfg.epochs):
        order = rng.permutation(len(waves))
        for b in range(steps_per_epoch):
            idx = order[b * cfg.batch_size: (b + 1) * cfg.batch_size]
            wav = np.stack([_crop(waves[i], seg, rng) for i in idx])
            if cfg.noise_p > 0:
                wav = _add_noise(wav, rng, cfg.noise_p, tuple(cfg.noise_snr_db))
            with torch.no_grad():
                feats = model.mel(torch.from_numpy(wav)).numpy()
            if cfg.spec_augment:
                feats = _spec_augment(feats, rng)
            logits, _ = model.forward_features(torch.from_numpy(feats))
            loss = loss_fn(logits, torch.from_numpy(y_train[idx]))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
            bar.update(1)
            if len(losses) % 10 == 0:
                bar.set_postfix(loss=f"{np.mean(losses[-10:]):.3f}")
        losses = losses[-steps_per_epoch:]  # the last epoch's: final_train_loss
        info = {**training, "epoch": epoch + 1}
        if epoch + 1 == cfg.epochs:  # the last epoch: validate, and the checkpoint is the final one
            model.eval()
            result = _validate(model, v_waves, y_valid, len(classes))
            result.update({"valid_clips": len(v_waves), "train_clips": len(waves), "classes": len(classes),
                           "steps": total, "final_train_loss": float(np.mean(losses))})
            info = {**training, "final_train_loss": result["final_train_loss"],
                    "valid_map": _or_none(result["valid_map"]), "valid_top1": _or_none(result["valid_top1"])}
        _commit(out, model, opt, sched, rng, epoch + 1, (epoch + 1) * steps_per_epoch, losses, fingerprint, info,
                result)
    bar.close()
    return {**result, "seconds": round(time.time() - t0, 1)}


def _validate(model, v_waves: list[np.ndarray], y_valid: np.ndarray, num_classes: int) -> dict[str, Any]:
    """Whole valid clips one at a time (eval mode): mAP, top-1 and their counts."""
    import torch

    with torch.no_grad():
        scores = np.stack([model(torch.from_numpy(w.astype(np.float32) / 32767.0)[None])[0][0].numpy()
                           for w in v_waves]) if v_waves else np.zeros((0, num_classes))
    val = evaluate(scores, y_valid) if v_waves else {"map": float("nan"), "top1": float("nan"),
                                                          "map_classes": 0, "top1_clips": 0}
    return {"valid_map": val["map"], "valid_top1": val["top1"], "valid_map_classes": val["map_classes"],
            "valid_top1_clips": val["top1_clips"]}


def _fingerprint(cfg: TaggerTrainConfig, training: dict[str, Any], classes: list[str]) -> str:
    """What a checkpoint must share with this run to be resumed: the params (not paths or threads)
    and the data (shards, clip counts, classes)."""
    import hashlib

    data = {**training, "params": {k: v for k, v in training["params"].items() if k != "threads"},
            "classes": classes}
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _commit(out: Path, model, opt, sched, rng: np.random.Generator, epoch: int, step: int, losses: list[float],
            fingerprint: str, training: dict[str, Any], result: dict[str, Any] | None) -> None:
    """One checkpoint at an epoch's end: state.pt (weights, optimiser, schedule, both RNGs, epoch)
    at one commit point, then the public config.json + model.safetensors derived from it."""
    import torch

    from audiogen.evaluation.tagger.model import FORMAT
    from audiogen.io.trainer_state import commit_checkpoint, model_files

    weights = model.state_dict()
    files = model_files(weights, {"tagger": model.config.to_dict(), "training": training}, FORMAT)
    state = {"step": step, "epoch": epoch, "fingerprint": fingerprint, "model": dict(weights),
             "optimizer": opt.state_dict(), "scheduler": sched.state_dict(), "rng": rng.bit_generator.state,
             "torch_rng": torch.get_rng_state(), "epoch_losses": list(losses), "result": result}
    commit_checkpoint(out, "tagger", state, files)


def _load_state(out: Path) -> dict[str, Any] | None:
    from audiogen.io.checkpoint import CheckpointError
    from audiogen.io.trainer_state import load_resume_state

    try:
        return load_resume_state(out, "tagger")
    except CheckpointError as err:
        raise SystemExit(f"tagger_train: {err}") from None


# --- CLI --------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(prog="python -m audiogen.evaluation.tagger.train", description=__doc__.split("\n")[0])
    ap.add_argument("--shards", help="audio shard directory (default: params tagger.shards)")
    ap.add_argument("--out", help="checkpoint directory (default: params tagger.out)")
    ap.add_argument("--metrics", help="validation metrics JSON (default: params tagger.metrics)")
    ap.add_argument("--params", help="params.yaml path (default: ./params.yaml or $AUDIOGEN_PARAMS)")
    ap.add_argument("--epochs", type=positive_int, help=">= 1")
    ap.add_argument("--min-count", type=positive_int, help="clips a class needs, >= 1")
    ap.add_argument("--batch-size", type=positive_int, help=">= 1")
    ap.add_argument("--seed", type=seed, help=f"in [0, {seed.hi}]")
    ap.add_argument("--threads", type=positive_int, help="torch threads, >= 1 (results are reproducible per thread count)")
    ap.add_argument("--resume", choices=["auto", "never"], default="never",
                    help="auto: continue from OUT/state.pt when it was trained with the same params and data")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    section = tagger_params(args.params)
    for key in ("shards", "out", "metrics", "epochs", "min_count", "batch_size", "seed", "threads"):
        if getattr(args, key) is not None:
            section[key] = getattr(args, key)
    cfg = TaggerTrainConfig.from_dict(section)
    shards, out = Path(cfg.shards), Path(cfg.out)
    if not shards.is_dir():
        raise SystemExit(f"tagger_train: {shards}: no such shard directory")
    result = train(cfg, shards, out, resume=args.resume == "auto")
    metrics = Path(cfg.metrics)
    metrics.parent.mkdir(parents=True, exist_ok=True)
    clean = {k: _or_none(v) if isinstance(v, float) else v for k, v in result.items()}
    metrics.write_text(json.dumps(clean, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"train_tagger: {result['classes']} classes, {result['train_clips']} train / {result['valid_clips']} "
          f"valid clips, {result['steps']} steps in {result['seconds']:.0f} s: valid mAP {result['valid_map']:.3f}, "
          f"top-1 {result['valid_top1']:.3f} → {out}", flush=True)
    return result


if __name__ == "__main__":
    from audiogen.io.atomic import run_cli

    run_cli(main, "train_tagger")  # a failed checkpoint write: one line
