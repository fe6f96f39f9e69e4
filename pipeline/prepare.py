"""Stage `prepare`: filtered manifests → 16 kHz mono FLAC WebDataset shards with captions.

    python -m pipeline.prepare --manifests data/manifests/filtered --out data/shards/audio

A Ray Data job (local Ray, or the cluster named by RAY_ADDRESS): the plan (pipeline.preparing.plan)
assigns every manifest row to a shard `<split>-<corpus>-NNNNNN.tar` up front, then one Ray task per
shard decodes, gates, resamples, measures speech and encodes its rows and writes the tar
(pipeline.preparing.shard; speech: pipeline.preparing.speech, `prepare.speech_audio`).
Re-runs skip shards that are complete (tar + part record with the same plan hash and sha256), so a
killed run resumes where it stopped and re-ingesting one corpus rebuilds only its shards.

Outputs in `--out`: the shards, `shards.json` (index + params + code version), `stats.json`
(DVC metrics), `rejects.jsonl`, and `_parts/` (per-shard records used for resuming).
"""
from __future__ import annotations

import argparse
import json
import os
import logging
import time
from collections import Counter
from pathlib import Path
from typing import Any

from pipeline.preparing import speech as prepare_speech
from pipeline.common import check_reject_fraction, init_ray, load_params, setup_logging
from audiogen.io.arguments import positive_float, positive_int, probability, seed
from audiogen.io.atomic import OutputSet, make_dirs
from pipeline.manifest import SPLITS, read_manifest, write_json, write_rejects
from pipeline.preparing.plan import STAGE, PrepareConfig, code_version, make_plan
from pipeline.preparing.shard import build_shard
from pipeline.shard_records import clean_stale, read_part, tar_matches

log = logging.getLogger("audiogen.prepare")


def load_rows(manifests: Path) -> list[dict[str, Any]]:
    """Rows of `<manifests>/{train,valid,test}.parquet` (a missing split is simply empty)."""
    if not manifests.is_dir():
        raise SystemExit(f"prepare: manifests directory {manifests} does not exist (run ingest and filter first)")
    rows: list[dict[str, Any]] = []
    found = [manifests / f"{s}.parquet" for s in SPLITS if (manifests / f"{s}.parquet").exists()]
    if not found:
        raise SystemExit(f"prepare: no {{train,valid,test}}.parquet in {manifests}")
    for path in found:
        for i, row in enumerate(read_manifest(path)):
            if row.get("split") not in SPLITS:
                raise SystemExit(f"prepare: {path} row {i} (key {row.get('key')!r}): bad split {row.get('split')!r}")
            rows.append(row)
    return rows


def is_complete(out: Path, plan: dict) -> bool:
    """A shard needs no work when its record matches the plan and the tar's checksum."""
    part = read_part(out, plan["name"])
    return part is not None and part.get("plan_hash") == plan["plan_hash"] and tar_matches(out, plan["name"], part)


def run_shards(plans: list[dict], cfg: PrepareConfig, out: Path) -> None:
    """Build the given shards as a Ray Data job, one task per shard, with a progress bar."""
    import ray
    from tqdm import tqdm

    init_ray()
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False  # our bar counts shards; Ray's would count blocks
    # The job is a single map operator: Ray Data's per-operator reservation (half the cluster by
    # default) would cap it at one task on a 2-CPU machine and leave the other CPU idle.
    ctx.op_resource_reservation_enabled = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    cfg_dict = cfg.to_dict()
    items = [{"plan": json.dumps(p, sort_keys=True, default=str)} for p in plans]
    ds = ray.data.from_items(items, override_num_blocks=len(items))

    out = Path(out).resolve()  # workers joined to a running cluster do not share our cwd
    base_dir = os.getcwd()

    def build(item: dict) -> dict:
        record = build_shard(json.loads(item["plan"]), PrepareConfig.from_dict(cfg_dict), out, base_dir)
        return {"name": record["name"], "clips": record["clips"]}

    workers = min(cfg.workers, len(plans)) if cfg.workers else None
    ds = ds.map(build, num_cpus=1, compute=ray.data.TaskPoolStrategy(size=workers))
    with tqdm(total=len(plans), desc="prepare shards", unit="shard") as bar:
        for _ in ds.iter_rows():
            bar.update(1)


def summarise(parts: list[dict], plan_rejects: list[dict], cfg: PrepareConfig,
              rows_in: int) -> dict[str, Any]:
    """stats.json: counts and hours per split and corpus, reject reasons (deterministic)."""
    groups: dict[str, dict[str, Any]] = {}
    for part in parts:
        g = groups.setdefault(f"{part['split']}/{part['corpus']}", {"clips": 0, "hours": 0.0, "shards": 0, "bytes": 0})
        g["clips"] += part["clips"]
        g["hours"] += part["seconds"] / 3600
        g["shards"] += part["clips"] > 0
        g["bytes"] += part["bytes"]
    for g in groups.values():
        g["hours"] = round(g["hours"], 4)
    rejects = plan_rejects + [r for p in parts for r in p["rejects"]]
    clips = sum(p["clips"] for p in parts)
    speech = prepare_speech.summarise(parts, cfg) if cfg.speech_audio != "off" else {"speech_audio": "off"}
    return {
        "rows": rows_in,
        "rows_without_clips": len(plan_rejects) + sum(p["rows_without_clips"] for p in parts),
        "rows_dropped_for_speech": speech.get("rows_dropped", 0),
        "speech": speech,
        "clips": clips,
        "hours": round(sum(p["seconds"] for p in parts) / 3600, 4),
        "shards": sum(p["clips"] > 0 for p in parts),
        "bytes": sum(p["bytes"] for p in parts),
        "by_split_corpus": groups,
        "rejects": dict(sorted(Counter(r["reason"] for r in rejects).items())),
        "tail_seconds_dropped": round(sum(p["tail_seconds_dropped"] for p in parts), 3),
        "clips_without_caption": sum(p["clips_without_caption"] for p in parts),
        "sample_rate": cfg.sample_rate,
        "resampler": cfg.resampler,
    }


def prepare(manifests: str | Path, out: str | Path, cfg: PrepareConfig, force: bool = False,
            metrics: str | Path | None = None) -> dict[str, Any]:
    """Run the stage; returns stats. Exits non-zero when rejects pass `max_reject_fraction`.
    `metrics`: a second copy of stats.json outside `out` (DVC forbids a metrics file inside a
    directory output)."""
    manifests, out = Path(manifests), Path(out)
    start = time.time()
    rows = load_rows(manifests)
    code = code_version(speech=cfg.speech_audio != "off")
    plans, plan_rejects = make_plan(rows, cfg, code)
    make_dirs(out)  # a file standing there: one line naming it (OutputError)
    clean_stale(out, {p["name"] for p in plans})
    todo = plans if force else [p for p in plans if not is_complete(out, p)]
    log.info("prepare: %d rows → %d planned shards, %d to build, %d complete", len(rows), len(plans),
             len(todo), len(plans) - len(todo))
    if todo:
        run_shards(todo, cfg, out)

    parts = []
    for plan in plans:
        part = read_part(out, plan["name"])
        if part is None or part["plan_hash"] != plan["plan_hash"]:
            raise SystemExit(f"prepare: shard {plan['name']} was not built (see the Ray task errors above)")
        parts.append(part)
    index = {
        "shards": [{k: p[k] for k in ("name", "split", "corpus", "clips", "seconds", "bytes", "sha256")}
                   for p in parts if p["clips"] > 0],
        "params": cfg.output_params(),
        "code_version": code,
        "sample_rate": cfg.sample_rate,
        "format": {"audio": "flac", "subtype": "PCM_16", "channels": 1},
    }
    rejects = plan_rejects + [r for p in parts for r in p["rejects"]]
    stats = summarise(parts, plan_rejects, cfg, len(rows))
    with OutputSet() as outputs:  # index, rejects and stats appear together, or none of them
        write_json(index, out / "shards.json", outputs)
        write_rejects(rejects, out / "rejects.jsonl", outputs)
        write_json(stats, out / "stats.json", outputs)
        if metrics:
            write_json(stats, metrics, outputs)
    log.info("prepare: %d clips (%.2f h) in %d shards from %d rows; %d rejects %s; %d shards built, %d skipped; "
             "%.1f s → %s", stats["clips"], stats["hours"], stats["shards"], len(rows), len(rejects),
             stats["rejects"] or "", len(todo), len(plans) - len(todo), time.time() - start, out)
    log.info("prepare: %s", prepare_speech.summary_line(stats["speech"]))
    check_reject_fraction(STAGE, stats["rows_without_clips"], len(rows), cfg.max_reject_fraction)
    return stats


def main(argv: list[str] | None = None) -> None:
    setup_logging()
    try:
        defaults = PrepareConfig.from_dict(load_params("prepare"))
    except (TypeError, ValueError) as err:  # a bad params.yaml value: one line naming it
        raise SystemExit(f"prepare: {err}") from None
    p = argparse.ArgumentParser(prog="python -m pipeline.prepare", description=__doc__.split("\n\n")[0])
    p.add_argument("--manifests", default="data/manifests/filtered", help="dir with {train,valid,test}.parquet")
    p.add_argument("--out", default="data/shards/audio", help="output dir for shards, shards.json, stats, rejects")
    p.add_argument("--resampler", choices=("soxr", "resampy"), default=defaults.resampler)
    p.add_argument("--segment-s", type=positive_float, default=defaults.segment_s, help="clip length, seconds > 0")
    p.add_argument("--min-segment-s", type=positive_float, default=defaults.min_segment_s,
                   help="shortest clip kept, seconds in (0, segment-s]")
    p.add_argument("--shard-mb", type=positive_float, default=defaults.shard_mb, help="target shard size, > 0")
    p.add_argument("--seed", type=seed, default=defaults.seed, help=f"clip order in shards, in [0, {seed.hi}]")
    p.add_argument("--workers", type=positive_int, default=defaults.workers,
                   help="concurrent shard tasks, >= 1 (default: all CPUs)")
    p.add_argument("--speech-audio", choices=("off", "flag", "drop"), default=defaults.speech_audio,
                   help="measure speech in the audio: off | flag (record only) | drop")
    p.add_argument("--max-speech-fraction", type=probability, default=defaults.max_speech_fraction,
                   help="share of a clip's length, in [0, 1]")
    p.add_argument("--speech-measure", choices=("all", "needed"), default=defaults.speech_measure)
    p.add_argument("--vad-device", default=defaults.vad.device, help="cpu | cuda | cuda:N | auto")
    p.add_argument("--metrics", default=None, help="also write stats.json here (the DVC metrics file)")
    p.add_argument("--force", action="store_true", help="rebuild every shard, even complete ones")
    a = p.parse_args(argv)
    cfg = defaults
    cfg.resampler, cfg.segment_s, cfg.min_segment_s = a.resampler, a.segment_s, a.min_segment_s
    cfg.shard_mb, cfg.seed, cfg.workers = a.shard_mb, a.seed, a.workers
    cfg.speech_audio, cfg.max_speech_fraction, cfg.speech_measure = a.speech_audio, a.max_speech_fraction, a.speech_measure
    cfg.vad.device = a.vad_device
    try:
        cfg.validate()
    except ValueError as err:  # a combination, e.g. --min-segment-s above --segment-s
        p.error(str(err))
    prepare(a.manifests, a.out, cfg, force=a.force, metrics=a.metrics)


if __name__ == "__main__":
    from pipeline.common import run_stage

    run_stage(main, "prepare")
