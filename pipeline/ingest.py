"""`python -m pipeline.ingest --corpus NAME --root DIR --out DIR`: one corpus → manifest.parquet.

Runs the corpus adapter (pipeline/corpora/<name>.py) over the corpus as downloaded, probes every
matched audio file's header on Ray Data (pipeline/ingesting/probe.py), resolves each row's window inside its
file, and writes, in --out:
  manifest.parquet  one row per usable clip (pipeline.manifest schema; byte-identical on re-runs)
  rejects.jsonl     every listed row that did not make it, with its reason
  stats.json        rows listed/found, coverage, hours per split, reject counts per reason

Reject reasons: the adapter's (`missing_audio`, `malformed_row`, `unsupported_container`), plus
`unreadable_audio` (the decoder's message), `unsupported_container` (a video file reached ingest),
`empty_audio` (no usable samples in the row's window) and `duplicate_key`. The stage fails only
when the "broken input" reasons (FAIL_REASONS) pass `max_reject_fraction` of the listed rows:
audio the user has not downloaded (`missing_audio`) is reported as coverage, never a failure.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from audiogen.io.arguments import check_numbers, nonnegative_float, nonnegative_int, positive_int, probability
from pipeline.common import check_reject_fraction, init_ray, load_params, setup_logging
from audiogen.io.atomic import OutputSet
from pipeline.manifest import SPLITS, ManifestRow, Reject, reject_ids, write_json, write_manifest, write_rejects
from pipeline.ingesting.probe import ProbeConfig, probe_local, probe_paths

log = logging.getLogger("audiogen")

STAGE = "ingest"
FAIL_REASONS = ("unreadable_audio", "malformed_row", "unsupported_container", "duplicate_key")
# Rows with less audio than this (seconds) in their window count as empty.
MIN_DURATION_S = 1e-3


@dataclass(frozen=True)
class IngestConfig:
    """params.yaml `ingest`.

    max_reject_fraction  fail when FAIL_REASONS rejects exceed this fraction of listed rows
    probe_batch_size     files probed per Ray task (at most; small jobs use smaller tasks)
    probe_concurrency    at most this many probe tasks at once (null: one per Ray CPU)
    whole_file_tolerance_s  a file at least start+duration-tolerance long holds the whole video
    num_cpus             CPUs for a local Ray (null: all); ignored when joining a cluster
    local_probe_below    probe in-process (no Ray) when fewer files than this; 0 = always Ray
    """

    max_reject_fraction: float = 0.2
    probe_batch_size: int = 512
    probe_concurrency: int | None = None
    whole_file_tolerance_s: float = 0.5
    num_cpus: int | None = None
    local_probe_below: int = 0

    @classmethod
    def from_params(cls, section: dict[str, Any]) -> "IngestConfig":
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(section) - known)
        if unknown:
            raise SystemExit(f"params.yaml ingest: unknown keys {unknown}; known: {sorted(known)}")
        config = cls(**section)
        try:
            check_numbers(config, INGEST_NUMBERS, "ingest")
        except ValueError as err:
            raise SystemExit(f"params.yaml {err}") from None
        return config


INGEST_NUMBERS = {
    "max_reject_fraction": probability, "probe_batch_size": positive_int, "probe_concurrency": positive_int.or_none,
    "whole_file_tolerance_s": nonnegative_float, "num_cpus": positive_int.or_none,
    "local_probe_below": nonnegative_int,
}


@dataclass
class IngestResult:
    rows: list[dict[str, Any]] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)


def resolve_window(row: ManifestRow, file_duration: float, tolerance: float) -> tuple[float, float]:
    """(offset_s, duration_s) of the row inside a file `file_duration` seconds long.

    offset None (YouTube file that may be the whole video): the file holds the whole video when it
    reaches the window's end (within `tolerance`) → offset = the row's start; else it is the cut
    segment → 0. duration None → to the end of the file; any window is clipped to the file.
    """
    offset = row.offset_s
    if offset is None:
        start = float(row.youtube_start_s or 0.0)
        if row.duration_s is not None and start > 0 and file_duration >= start + row.duration_s - tolerance:
            offset = start
        else:
            offset = 0.0
    available = max(0.0, file_duration - offset)
    duration = available if row.duration_s is None else min(float(row.duration_s), available)
    return round(float(offset), 6), round(max(0.0, duration), 6)


def _reject(row: ManifestRow, reason: str, detail: str) -> Reject:
    return Reject(stage=STAGE, reason=reason, source=row.source, key=row.key, detail=detail, corpus=row.corpus,
                  **reject_ids(row.to_dict()))


def _rename_corpus(item: ManifestRow | Reject, adapter_name: str, corpus: str) -> None:
    """Give a row listed by another corpus's adapter this corpus's name and key prefix."""
    item.corpus = corpus
    if item.key and item.key.startswith(adapter_name + "-"):
        item.key = corpus + item.key[len(adapter_name):]


def list_corpus(corpus: str, root: Path, options: dict[str, Any]) -> tuple[list[ManifestRow], list[Reject]]:
    """Run the adapter; rows with a repeated key become `duplicate_key` rejects."""
    from tqdm import tqdm

    from pipeline.corpora.base import get_adapter

    # A user corpus names its adapter (`adapter: folder`); its rows then carry the corpus's own
    # name, so two folders of sounds stay two corpora with their own keys and shards.
    options = dict(options)
    adapter_name = options.pop("adapter", None) or corpus
    adapter = get_adapter(adapter_name)
    rows: list[ManifestRow] = []
    rejects: list[Reject] = []
    seen: dict[str, str] = {}
    try:
        for item in tqdm(adapter(root, options), desc=f"{corpus}: listing", unit=" rows", mininterval=1.0,
                         disable=None, file=sys.stderr):
            if adapter_name != corpus:
                _rename_corpus(item, adapter_name, corpus)
            if isinstance(item, Reject):
                item.stage = item.stage or STAGE
                item.corpus = item.corpus or corpus
                rejects.append(item)
            elif item.key in seen:
                rejects.append(_reject(item, "duplicate_key", f"key already used by {seen[item.key]}"))
            else:
                seen[item.key] = item.source
                rows.append(item)
    except FileNotFoundError as err:
        raise SystemExit(f"ingest {corpus}: {err}") from err
    return rows, rejects


def ingest(corpus: str, root: Path, options: dict[str, Any], config: IngestConfig = IngestConfig()) -> IngestResult:
    """List, probe and resolve one corpus (no files written)."""
    from pipeline.corpora.base import is_video

    listed_rows, rejects = list_corpus(corpus, root, options)
    listed = len(listed_rows) + len(rejects)
    # Rows matched to a file, usable or not: the download coverage.
    found = listed - sum(1 for r in rejects if r.reason in ("missing_audio", "malformed_row"))

    candidates: list[ManifestRow] = []
    for row in listed_rows:
        if is_video(row.audio_path):
            rejects.append(_reject(row, "unsupported_container",
                                   f"{row.audio_path}: video container; extract the audio track "
                                   "(e.g. ffmpeg -i in.mp4 -vn out.flac) and keep the file stem"))
        else:
            candidates.append(row)

    paths = sorted({r.audio_path for r in candidates})
    log.info("ingest %s: %d rows listed (%d rejected by the adapter); probing %d files", corpus, listed,
             len(rejects), len(paths))
    if len(paths) < config.local_probe_below:
        probes = probe_local(paths)
    elif paths:
        init_ray(num_cpus=config.num_cpus)
        probes = probe_paths(paths, ProbeConfig(batch_size=config.probe_batch_size,
                                                concurrency=config.probe_concurrency))
    else:
        probes = {}

    out_rows: list[dict[str, Any]] = []
    for row in candidates:
        probe = probes[row.audio_path]
        if not probe["ok"]:
            rejects.append(_reject(row, "unreadable_audio", f"{row.audio_path}: {probe['error']}"))
            continue
        file_duration = float(probe["duration_s"])
        offset, duration = resolve_window(row, file_duration, config.whole_file_tolerance_s)
        if duration < MIN_DURATION_S:
            rejects.append(_reject(row, "empty_audio",
                                   f"{row.audio_path}: no audio in the window (offset {offset} s, file "
                                   f"{file_duration:.3f} s, {probe['frames']} frames)"))
            continue
        record = row.to_dict()
        record.update(
            offset_s=offset,
            duration_s=duration,
            sample_rate=probe["sample_rate"],
            channels=probe["channels"],
            audio_format=f"{probe['format']}/{probe['subtype']}",
            file_duration_s=round(file_duration, 6),
        )
        out_rows.append(record)

    result = IngestResult(rows=out_rows, rejects=rejects)
    result.stats = make_stats(corpus, listed, found, out_rows, rejects, len(paths))
    return result


def make_stats(corpus: str, listed: int, found: int, rows: list[dict[str, Any]], rejects: list[Reject],
               files: int) -> dict[str, Any]:
    reasons = Counter(r.reason for r in rejects)
    hours = {s: round(sum(r["duration_s"] for r in rows if r["split"] == s) / 3600, 6) for s in SPLITS}
    failing = sum(reasons[r] for r in FAIL_REASONS)
    return {
        "corpus": corpus,
        "rows": len(rows),
        "rows_listed": listed,
        "rows_found": found,
        "coverage": round(found / listed, 6) if listed else 0.0,
        "files_probed": files,
        "rows_per_split": {s: sum(1 for r in rows if r["split"] == s) for s in SPLITS},
        "hours_per_split": hours,
        "hours": round(sum(hours.values()), 6),
        "rejects": dict(sorted(reasons.items())),
        "failing_rejects": failing,
        "failing_fraction": round(failing / listed, 6) if listed else 0.0,
    }


def write_outputs(result: IngestResult, out: Path) -> None:
    """The manifest, rejects and stats, made visible together (a failed write leaves the previous three)."""
    with OutputSet() as outputs:
        write_manifest(result.rows, out / "manifest.parquet", outputs)
        write_rejects(result.rejects, out / "rejects.jsonl", outputs)
        write_json(result.stats, out / "stats.json", outputs)


def format_hours(hours: float) -> str:
    """"12.3 h"; small corpora keep three decimals ("0.018 h") rather than showing 0.0."""
    return f"{hours:.1f} h" if hours >= 1 else f"{hours:.3f} h"


def summary_line(stats: dict[str, Any]) -> str:
    n_rejects = sum(stats["rejects"].values())
    return (f"{stats['corpus']}: {stats['rows']} rows, {100 * stats['coverage']:.1f}% coverage, "
            f"{format_hours(stats['hours'])}, {n_rejects} rejects")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m pipeline.ingest", description=__doc__.split("\n")[0])
    p.add_argument("--corpus", help="registered corpus name (see --list)")
    p.add_argument("--root", type=Path, help="corpus directory (default: params corpora.<name>.root)")
    p.add_argument("--out", type=Path, help="output directory (default: data/manifests/<name>)")
    p.add_argument("--list", action="store_true", help="print the registered corpus names and exit")
    p.add_argument("--max-reject-fraction", type=probability,
                   help="in [0, 1]; default: params ingest.max_reject_fraction (0.2)")
    p.add_argument("--options", default=None, help="JSON object merged over params corpora.<name>")
    return p


def main(argv: list[str] | None = None) -> IngestResult | None:
    setup_logging()
    args = parse_args(argv)
    if args.list:
        from pipeline.corpora.base import corpus_names

        print("\n".join(corpus_names()))
        return None
    if not args.corpus:
        raise SystemExit("ingest: --corpus is required (or --list)")
    options = load_params("corpora").get(args.corpus) or {}
    if not isinstance(options, dict):
        raise SystemExit(f"ingest: params corpora.{args.corpus} must be a mapping (root:, enabled:, ...), "
                         f"got {options!r:.60}")
    options = dict(options)
    if args.options:
        try:
            extra = json.loads(args.options)
        except ValueError as err:
            build_parser().error(f"argument --options: not valid JSON: {err}")
        if not isinstance(extra, dict):
            build_parser().error("argument --options: expected a JSON object, e.g. '{\"enabled\": true}'")
        options.update(extra)
    from pipeline.corpora.base import get_adapter

    try:
        get_adapter(str(options.get("adapter") or args.corpus))
    except KeyError as err:
        hint = "" if options.get("adapter") else f" (or give params corpora.{args.corpus}.adapter: folder | hf)"
        build_parser().error(f"argument --corpus: {err.args[0]}{hint}")
    config = IngestConfig.from_params(load_params("ingest"))
    if args.max_reject_fraction is not None:
        config = IngestConfig(**{**config.__dict__, "max_reject_fraction": args.max_reject_fraction})
    root = args.root or (Path(options["root"]) if options.get("root") else None)
    if root is None:
        raise SystemExit(f"ingest {args.corpus}: no --root and no params corpora.{args.corpus}.root")
    options["root"] = str(root)
    out = args.out or Path("data/manifests") / args.corpus

    if options.get("enabled", True) is False:
        log.info("ingest %s: disabled in params (corpora.%s.enabled); writing an empty manifest", args.corpus,
                 args.corpus)
        result = IngestResult(stats=make_stats(args.corpus, 0, 0, [], [], 0))
    else:
        result = ingest(args.corpus, root, options, config)
    write_outputs(result, out)
    print(summary_line(result.stats))
    # Outputs are written first so that a failing run leaves rejects.jsonl to read.
    check_reject_fraction(f"ingest {args.corpus}", result.stats["failing_rejects"], result.stats["rows_listed"],
                          config.max_reject_fraction)
    return result


if __name__ == "__main__":
    from pipeline.common import run_stage

    run_stage(main, "ingest")
