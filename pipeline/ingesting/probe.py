"""Header probing on Ray Data: duration, sample rate, channels and format of many audio files.

`soundfile.info` reads only the header (no decoding: tens of microseconds per WAV/FLAC file), so
per-file Ray tasks would be all overhead. `probe_paths` therefore builds a dataset of paths cut
into blocks of `batch_size` files and runs `probe_batch` once per block with `map_batches`: each
task probes a few hundred files. Results come back keyed by path, so output order never depends on
scheduling.

A probe never raises: an unreadable file gives `ok=False` and the decoder's message; a video
container (.mp4, ...) is not opened at all (`video=True`).
"""
from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from typing import Any, Iterable

import pyarrow as pa

log = logging.getLogger("audiogen")

# One row per probed file. `duration_s` = frames / sample_rate.
PROBE_SCHEMA = pa.schema(
    [
        ("path", pa.string()),
        ("ok", pa.bool_()),
        ("video", pa.bool_()),
        ("sample_rate", pa.int64()),
        ("channels", pa.int64()),
        ("frames", pa.int64()),
        ("duration_s", pa.float64()),
        ("format", pa.string()),
        ("subtype", pa.string()),
        ("error", pa.string()),
    ]
)


@dataclass(frozen=True)
class ProbeConfig:
    """How the probe job is cut up.

    batch_size   files per Ray task (at most; see effective_batch_size): large, because a Ray Data
                 task costs ~10-20 ms against ~50 us per WAV header (~300 us per OGG);
                 benchmarks/ingest.py measures the trade-off
    concurrency  at most this many probe tasks at once (None: as many as Ray has CPUs)
    progress     show Ray Data's progress bars
    """

    batch_size: int = 512
    concurrency: int | None = None
    progress: bool = True


def probe_file(path: str) -> dict[str, Any]:
    """Header of one file as a PROBE_SCHEMA row; never raises."""
    from pipeline.corpora.base import is_video

    row: dict[str, Any] = {name: None for name in PROBE_SCHEMA.names}
    row.update(path=path, ok=False, video=False)
    if is_video(path):
        row["video"] = True
        row["error"] = "video container; extract the audio track (e.g. ffmpeg -i in.mp4 -vn out.flac)"
        return row
    import soundfile as sf

    try:
        info = sf.info(path)
    except Exception as err:  # noqa: BLE001  (libsndfile raises several types; each is a reject)
        row["error"] = f"{type(err).__name__}: {err}".strip()
        return row
    frames = int(info.frames)
    rate = int(info.samplerate)
    if rate <= 0:
        row["error"] = f"invalid sample rate {rate}"
        return row
    row.update(
        ok=True,
        sample_rate=rate,
        channels=int(info.channels),
        frames=frames,
        duration_s=frames / rate,
        format=str(info.format),
        subtype=str(info.subtype),
    )
    return row


def probe_batch(batch: pa.Table) -> pa.Table:
    """`map_batches` body: a table with a `path` column [N] → a PROBE_SCHEMA table [N]."""
    rows = [probe_file(p) for p in batch.column("path").to_pylist()]
    return pa.Table.from_pylist(rows, schema=PROBE_SCHEMA)


def probe_local(paths: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The same probe in this process (the reference loop for benchmarks, and tiny inputs)."""
    return {p: probe_file(p) for p in paths}


def effective_batch_size(n_files: int, batch_size: int, cpus: int, min_batch: int = 32) -> int:
    """`batch_size`, shrunk for small jobs so that every CPU still gets about two tasks (a job of
    600 files must not become one task), but never below `min_batch` (task overhead)."""
    per_task = math.ceil(n_files / max(1, 2 * cpus))
    return max(1, min(int(batch_size), max(min_batch, per_task)))


def probe_paths(paths: Iterable[str], config: ProbeConfig = ProbeConfig()) -> dict[str, dict[str, Any]]:
    """Probe every distinct path on Ray Data; returns path → PROBE_SCHEMA row (as a dict).

    Ray must be initialised by the caller (`pipeline.common.init_ray`).
    """
    import ray.data

    unique = sorted(set(paths))
    if not unique:
        return {}
    # Workers of a running cluster do not share this process's working directory: send them
    # absolute paths and key the results by the paths as given.
    given = {os.path.abspath(p): p for p in unique}
    absolute = sorted(given)
    bs = effective_batch_size(len(unique), config.batch_size, int(ray.cluster_resources().get("CPU", 1)))
    # One block per batch: map_batches then runs one task per block, with no re-chunking.
    blocks = [pa.table({"path": absolute[i:i + bs]}) for i in range(0, len(absolute), bs)]
    kwargs: dict[str, Any] = {}
    if config.concurrency:
        kwargs["compute"] = ray.data.TaskPoolStrategy(size=int(config.concurrency))
    ctx = ray.data.DataContext.get_current()
    saved = (ctx.enable_progress_bars, ctx.op_resource_reservation_enabled)
    # The job is a single map operator: Ray Data's per-operator reservation (half the cluster by
    # default) would cap it at 1 task on a 2-CPU machine and leave the other CPU idle.
    ctx.enable_progress_bars = config.progress
    ctx.op_resource_reservation_enabled = False
    results: dict[str, dict[str, Any]] = {}
    try:
        ds = ray.data.from_arrow(blocks).map_batches(probe_batch, batch_size=bs, batch_format="pyarrow",
                                                     zero_copy_batch=True, **kwargs)
        for batch in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
            for row in batch.to_pylist():
                row["path"] = given[row["path"]]
                results[row["path"]] = row
    finally:
        ctx.enable_progress_bars, ctx.op_resource_reservation_enabled = saved
    missing = [p for p in unique if p not in results]
    if missing:  # should not happen; probe what Ray lost here rather than lose rows
        log.warning("probe: %d paths came back without a result; probing them locally", len(missing))
        results.update(probe_local(missing))
    return results
