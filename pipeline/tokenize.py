"""Stage `tokenize`: audio shards → codec token shards, as a Ray Data job.

    python pipeline/tokenize.py --codec models/codec --shards data/shards/audio --out data/shards/tokens
    python -m pipeline.tokenize ...                                       (same thing)
    ray job submit --working-dir . -- python pipeline/tokenize.py ...     (a running cluster)
    ray submit cluster.yaml pipeline/tokenize.py ...                      (a launched cluster)

The job: a CPU stage decodes every audio shard into float32 clips (pipeline.tokenizing.stages.
decode_shard), then a pool of `tokenize.concurrency` actors, each holding the codec once
(`num_gpus_per_actor` GPUs each; `auto`: one GPU each when the cluster has GPUs), encodes batches of
`batch_size` clips (`Codec.encode_clips`: a clip's codes are those it gets alone, for a causal codec
and for a converted audiocraft one that looks ahead); the
driver gathers each shard's codes and writes the token shard (same name and keys as the audio
shard; `<key>.codes.npy` int16 `[K, T]` + `<key>.json`) with audiogen.io.shards' deterministic writer.

Placement: the driver puts the checkpoint in the object store for actors on nodes that do not have
it at the same path (same sha256; local actors read it from disk), and
(unless `tokenize.shared_fs`) pins the decode tasks to its own node, so a cluster needs the shards
and the checkpoint on the head node only; outputs are written by the driver, on the head node.

Outputs in `--out`: the token shards, `shards.json` (per shard name/count/seconds/frames/bytes/sha256,
the codec's sha256, frame rate and K), `stats.json`, `rejects.jsonl`, and `_parts/` (per-shard
records: a re-run skips shards whose record matches the audio shard's and the codec's sha256).
"""
from __future__ import annotations

import os
import sys


def _bootstrap() -> None:
    """Make `python pipeline/tokenize.py` (and `ray submit`, which runs a copy as ~/tokenize.py) work.

    Python puts the script's own directory first on sys.path, where this file would shadow the
    standard library's `tokenize` (imported by inspect, linecache, torch): drop it, and put the repo
    root there instead. A copy outside the repo finds the repo through $AUDIOGEN_ROOT (cluster.yaml
    sets it) and runs from there, so params.yaml and relative paths mean what they mean locally."""
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    root = os.path.dirname(here)
    if not os.path.isfile(os.path.join(root, "pipeline", "__init__.py")):
        env_root = os.path.expanduser(os.environ.get("AUDIOGEN_ROOT", ""))
        if not env_root or not os.path.isfile(os.path.join(env_root, "pipeline", "__init__.py")):
            sys.exit(f"tokenize: {__file__} is outside the audiogen repo; set AUDIOGEN_ROOT to the repo")
        root = os.path.abspath(env_root)
        os.chdir(root)
    if root not in sys.path:
        sys.path.insert(0, root)


if __name__ == "__main__":
    _bootstrap()

import argparse  # noqa: E402  (after the sys.path fix above)
import logging  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from audiogen.io.arguments import nonnegative_float, positive_int, probability, word_or  # noqa: E402
from pipeline.common import check_reject_fraction, init_ray, load_params, setup_logging  # noqa: E402
from pipeline.tokenizing.config import STAGE, CodecInfo, TokenizeConfig  # noqa: E402
from pipeline.shard_records import clean_stale, read_part  # noqa: E402
from pipeline.tokenizing.records import (  # noqa: E402
    ShardJob, build_index, is_complete, plan_shards, summarise, write_token_shard,
)

log = logging.getLogger("audiogen.tokenize")


def _join_running_cluster() -> None:
    """`ray submit` runs us on a head node started by `ray start` without setting RAY_ADDRESS; point
    init_ray at that cluster (as a bare `ray.init()` would) instead of starting a second Ray."""
    if os.environ.get("RAY_ADDRESS"):
        return
    try:
        from ray._common.utils import read_ray_address
    except ImportError:  # a Ray without this helper: plain init_ray behaviour
        return
    address = read_ray_address()
    if address and _reachable(address):  # a stale address file of a cluster long gone: start our own
        os.environ["RAY_ADDRESS"] = address


def _reachable(address: str) -> bool:
    import socket

    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=2):
            return True
    except (OSError, ValueError):
        return False


def _checkpoint_blobs(codec_dir: str) -> dict[str, bytes]:
    """The checkpoint's files as bytes: actors rebuild it locally, so workers need no shared disk."""
    d = Path(codec_dir)
    return {name: (d / name).read_bytes() for name in ("config.json", "model.safetensors")}


def run_job(jobs: list[ShardJob], cfg: TokenizeConfig, codec: CodecInfo, out: Path) -> list[dict]:
    """Tokenize `jobs` with Ray Data; write each token shard as soon as all its clips are encoded.
    Returns the shard records."""
    import ray
    from tqdm import tqdm

    from pipeline.tokenizing.stages import CodecEncoder, decode_shard

    if not ray.is_initialized():
        _join_running_cluster()
        init_ray()
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False  # our bar counts clips; Ray's would count blocks per operator
    logging.getLogger("ray.data").setLevel(logging.WARNING)

    decode_args: dict[str, Any] = {"num_cpus": cfg.decode_num_cpus}
    if not cfg.shared_fs:  # the shards are on this node's disk: decode here (Ray's own local:// reads do this)
        decode_args["label_selector"] = {"ray.io/node-id": ray.get_runtime_context().get_node_id()}
    num_gpus = cfg.gpus_per_actor(ray.cluster_resources().get("GPU", 0))
    log.info("tokenize: %d encoder actor(s), %g GPU and %g CPU each", cfg.concurrency, num_gpus, cfg.num_cpus_per_actor)
    items = [{"path": j.path, "name": j.name} for j in jobs]
    ds = ray.data.from_items(items, override_num_blocks=len(items))
    ds = ds.flat_map(decode_shard, fn_kwargs={"sample_rate": codec.sample_rate}, **decode_args)
    ds = ds.map_batches(
        CodecEncoder,
        fn_constructor_kwargs={"checkpoint": ray.put(_checkpoint_blobs(codec.path)), "device": cfg.actor_device(num_gpus),
                               "threads": cfg.torch_threads, "local_dir": str(Path(codec.path).resolve()),
                               "sha256": codec.sha256},
        batch_size=cfg.batch_size, batch_format="numpy", compute=ray.data.ActorPoolStrategy(size=cfg.concurrency),
        num_gpus=num_gpus, num_cpus=cfg.num_cpus_per_actor,
    )

    by_name = {j.name: j for j in jobs}
    pending: dict[str, list[dict]] = {}
    records = []
    known = [j.clips for j in jobs]
    total = sum(known) if all(c is not None for c in known) else None  # type: ignore[arg-type]
    with tqdm(total=total, desc="tokenize", unit="clip") as bar:
        for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
            cols = list(batch)
            for i in range(len(batch["key"])):
                row = {c: batch[c][i] for c in cols}
                name = str(row["shard"])
                rows = pending.setdefault(name, [])
                rows.append(row)
                bar.update(int(row["index"]) >= 0)
                if int(row["count"]) < 0 or len(rows) == int(row["count"]):
                    records.append(write_token_shard(out, by_name[name], pending.pop(name), codec))
                    bar.set_postfix(shards=f"{len(records)}/{len(jobs)}")
    if pending:
        raise SystemExit(f"tokenize: shards {sorted(pending)} came back incomplete (see the Ray errors above)")
    return records


def tokenize(codec_dir: str | Path, shards: str | Path, out: str | Path, cfg: TokenizeConfig,
             force: bool = False) -> dict[str, Any]:
    """Run the stage; returns stats. Exits non-zero when rejects pass `max_reject_fraction`."""
    from audiogen.io.atomic import OutputSet, make_dirs
    from pipeline.manifest import write_json, write_rejects

    start = time.time()
    shards, out = Path(shards), Path(out)
    if shards.resolve() == out.resolve():
        raise SystemExit(f"tokenize: --out {out} is the audio shard directory; token shards share their names")
    codec = CodecInfo.load(codec_dir)
    jobs = plan_shards(shards)
    make_dirs(out)  # a file standing there: one line naming it (OutputError)
    clean_stale(out, {j.name for j in jobs})
    todo = jobs if force else [j for j in jobs if not is_complete(out, j, codec.sha256)]
    log.info("tokenize: %d audio shards, %d to encode, %d complete; codec %s (%g Hz, K=%d)", len(jobs), len(todo),
             len(jobs) - len(todo), codec.sha256[:12], codec.frame_rate, codec.num_codebooks)
    if todo:
        run_job(todo, cfg, codec, out)

    parts = []
    for job in jobs:
        part = read_part(out, job.name)
        if not part or part.get("source_sha256") != job.source_sha256 or part.get("codec_sha256") != codec.sha256:
            raise SystemExit(f"tokenize: shard {job.name} was not written (see the Ray errors above)")
        parts.append(part)
    rejects = [r for p in parts for r in p["rejects"]]
    stats = summarise(parts, codec)
    with OutputSet() as outputs:  # index, rejects and stats appear together, or none of them
        write_json(build_index(parts, codec, cfg), out / "shards.json", outputs)
        write_rejects(rejects, out / "rejects.jsonl", outputs)
        write_json(stats, out / "stats.json", outputs)
    elapsed = time.time() - start
    log.info("tokenize: %d clips (%.2f h, %d frames) in %d shards; %d rejects %s; %d shards encoded, %d skipped; "
             "%.1f s (%.1f× real time) → %s", stats["clips"], stats["hours"], stats["frames"], stats["shards"],
             len(rejects), stats["rejects"] or "", len(todo), len(jobs) - len(todo), elapsed,
             stats["seconds"] / max(elapsed, 1e-9), out)
    check_reject_fraction(STAGE, stats["clips_in"] - stats["clips"], stats["clips_in"], cfg.max_reject_fraction)
    check_reject_fraction(f"{STAGE} (unreadable shards)", stats["shards_rejected"], stats["shards_in"],
                          cfg.max_reject_fraction)
    return stats


def main(argv: list[str] | None = None) -> None:
    setup_logging()
    try:
        d = TokenizeConfig.from_dict(load_params("tokenize"))
    except (TypeError, ValueError) as err:  # a bad params.yaml value: one line naming it
        raise SystemExit(f"tokenize: {err}") from None
    p = argparse.ArgumentParser(prog="python pipeline/tokenize.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--codec", default="models/codec", help="codec checkpoint dir (config.json + model.safetensors)")
    p.add_argument("--shards", default="data/shards/audio", help="audio shards dir")
    p.add_argument("--out", default="data/shards/tokens", help="output dir for token shards, shards.json, stats")
    p.add_argument("--batch-size", type=positive_int, default=d.batch_size, help="clips per encoder call, >= 1")
    p.add_argument("--concurrency", type=positive_int, default=d.concurrency, help="encoder actors, >= 1")
    p.add_argument("--num-gpus-per-actor", type=word_or("auto", nonnegative_float), default=d.num_gpus_per_actor,
                   help="GPUs per encoder actor (>= 0), or auto (one each when the Ray cluster has GPUs)")
    p.add_argument("--num-cpus-per-actor", type=nonnegative_float, default=d.num_cpus_per_actor, help=">= 0")
    p.add_argument("--device", default=d.device, help="auto | cpu | cuda | cuda:N")
    p.add_argument("--shared-fs", action=argparse.BooleanOptionalAction, default=d.shared_fs,
                   help="shards are on storage every node sees (decode anywhere, not only on the driver's node)")
    p.add_argument("--max-reject-fraction", type=probability, default=d.max_reject_fraction,
                   help="share of clips, in [0, 1], above which the stage fails")
    p.add_argument("--force", action="store_true", help="re-encode every shard, even complete ones")
    a = p.parse_args(argv)
    cfg = TokenizeConfig.from_dict({**d.to_dict(), "batch_size": a.batch_size, "concurrency": a.concurrency,
                                    "num_gpus_per_actor": a.num_gpus_per_actor, "device": a.device,
                                    "num_cpus_per_actor": a.num_cpus_per_actor, "shared_fs": a.shared_fs,
                                    "max_reject_fraction": a.max_reject_fraction})
    tokenize(a.codec, a.shards, a.out, cfg, force=a.force)


if __name__ == "__main__":
    from pipeline.common import run_stage

    run_stage(main, "tokenize")
