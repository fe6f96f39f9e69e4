"""Our audio shards → other tools' dataset formats. One format today: audiocraft's (its AudioGen solver).

    python -m pipeline.export --format audiocraft --shards data/shards/audio --out egs/NAME \
        [--audio-format flac|wav] [--splits train,valid,test] [--relative-to /path/to/audiocraft]

Writes, under `--out` (audiocraft's `audiocraft/data/audio_dataset.py` and `sound_dataset.py` read these):

  audio/<shard name>/<key>.flac   each clip as a file (one folder per shard keeps folders small at the
                                  paper's scale); FLAC bytes are copied from the shard unchanged, WAV is
                                  PCM_16 written by soundfile. 16 kHz mono, as `prepare` made them.
  audio/<shard name>/<key>.json   the sidecar `SoundDataset` opens (`Path(path).with_suffix('.json')`):
                                  `description` (our normalised caption) plus `sample_rate`, `channels`,
                                  `duration` and our provenance (`key`, `corpus`, `youtube_id`, `audio_path`...).
  <split>/data.jsonl.gz           one `AudioMeta` per line, sorted by path: `path`, `duration` (s, float),
                                  `sample_rate` (int), `amplitude` (peak |x|, float), `weight` (null:
                                  uniform), `info_path` (null: no zip). `AudioDataset.from_meta(<split>/)`.
  dset.yaml                       the `datasource:` block to save as audiocraft's `config/dset/audio/NAME.yaml`
                                  (train/valid from our train/valid; evaluate and generate from test).

`path` is absolute unless `--relative-to DIR` (then relative to DIR: audiocraft resolves a relative path
against the directory its `dora run` started in, i.e. pass the audiocraft checkout). Same shards and
arguments → byte-identical files (gzip without name or mtime, sorted keys). A clip that does not decode
is skipped with a warning naming its shard and key, and counted in the summary line.
"""
from __future__ import annotations

import argparse
import gzip
import io
import json
import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from audiogen.io.shards import SHARD_RE, ShardError, iter_shard, list_shards, read_index

log = logging.getLogger("audiogen.export")

FORMATS = ("audiocraft",)
AUDIO_FORMATS = ("flac", "wav")
SPLITS = ("train", "valid", "test")
MANIFEST_NAME = "data.jsonl.gz"
# Our manifest fields copied into each sidecar, for provenance (audiocraft ignores what it does not read).
SIDECAR_FIELDS = ("key", "corpus", "split", "caption", "captions", "labels", "youtube_id", "audio_path",
                  "offset_s", "source", "license")


@dataclass(frozen=True)
class ExportConfig:
    """shards: dir of audio shards; out: the dataset dir (egs/NAME); splits: which splits (None: all found);
    relative_to: write manifest paths relative to this dir instead of absolute."""

    shards: Path
    out: Path
    audio_format: str = "flac"
    splits: tuple[str, ...] | None = None
    relative_to: Path | None = None


@dataclass
class ExportResult:
    clips: dict[str, int] = field(default_factory=dict)   # split → clips written
    seconds: dict[str, float] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)      # "<shard>:<key>: <why>"


def _encode(members: dict[str, bytes], shard: str, key: str, audio_format: str) -> tuple[bytes, Any, int]:
    """(file bytes in `audio_format`, float32 `[T]` as decoded, sample rate). The shard's own bytes
    are reused when they already are in the wanted format, so FLAC export is a byte copy."""
    import numpy as np
    import soundfile as sf

    src = next((e for e in AUDIO_FORMATS if e in members), None)
    if src is None:
        raise ShardError(f"{shard}: sample {key!r} has no .flac/.wav member")
    audio, sr = sf.read(io.BytesIO(members[src]), dtype="float32", always_2d=True)
    mono = audio[:, 0] if audio.shape[1] == 1 else audio.mean(axis=1, dtype=np.float32)
    if src == audio_format:
        return members[src], mono, int(sr)
    buf = io.BytesIO()
    sf.write(buf, audio, int(sr), format=audio_format.upper(), subtype="PCM_16")
    return buf.getvalue(), mono, int(sr)


def _write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_jsonl_gz(path: Path, records: list[dict[str, Any]]) -> None:
    """JSON lines, gzip with no file name and mtime 0 in the header (byte-deterministic)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
        for r in records:
            gz.write((json.dumps(r, ensure_ascii=False) + "\n").encode("utf-8"))
    os.replace(tmp, path)


def _manifest_path(audio_file: Path, relative_to: Path | None) -> str:
    return os.path.relpath(audio_file, relative_to) if relative_to is not None else str(audio_file)


def select_shards(cfg: ExportConfig) -> dict[str, list[Path]]:
    """split → its shards (sorted by name); clear errors for a missing dir, no shards, unknown splits."""
    if not cfg.shards.is_dir():
        raise SystemExit(f"export: {cfg.shards} is not a directory (run `dvc repro prepare` to make the audio shards)")
    shards = list_shards(cfg.shards)
    if not shards:
        raise SystemExit(f"export: no audio shards (<split>-<corpus>-NNNNNN.tar) in {cfg.shards}; "
                         "run `dvc repro prepare` first")
    by_split: dict[str, list[Path]] = {}
    for p in shards:
        by_split.setdefault(SHARD_RE.match(p.name)["split"], []).append(p)
    if cfg.splits is None:
        return by_split
    unknown = [s for s in cfg.splits if s not in SPLITS]
    if unknown:
        raise SystemExit(f"export: unknown split(s) {unknown}; choose from {', '.join(SPLITS)}")
    empty = [s for s in cfg.splits if s not in by_split]
    if empty:
        raise SystemExit(f"export: no {'/'.join(empty)} shards in {cfg.shards} (found: {', '.join(sorted(by_split))})")
    return {s: by_split[s] for s in cfg.splits}


def _total_clips(cfg: ExportConfig, shards: list[Path]) -> int | None:
    try:
        counts = {s["name"]: s["clips"] for s in read_index(cfg.shards)["shards"]}
    except (FileNotFoundError, KeyError, ValueError):
        return None
    return sum(counts.get(p.name, 0) for p in shards) or None


def export_audiocraft(cfg: ExportConfig) -> ExportResult:
    """Write the audio files, sidecars, per-split `data.jsonl.gz` and `dset.yaml` (module docstring)."""
    from tqdm import tqdm

    if cfg.audio_format not in AUDIO_FORMATS:
        raise SystemExit(f"export: --audio-format must be one of {', '.join(AUDIO_FORMATS)}, got {cfg.audio_format!r}")
    by_split = select_shards(cfg)
    out = cfg.out.resolve()
    relative_to = cfg.relative_to.resolve() if cfg.relative_to is not None else None
    result = ExportResult()
    all_shards = [p for paths in by_split.values() for p in paths]
    with tqdm(total=_total_clips(cfg, all_shards), desc="export audiocraft", unit="clip", disable=None) as bar:
        for split, shards in by_split.items():
            records = []
            for shard in shards:
                folder = out / "audio" / shard.name[: -len(".tar")]
                folder.mkdir(parents=True, exist_ok=True)
                for key, members in iter_shard(shard):
                    bar.update(1)
                    try:
                        data, audio, sr = _encode(members, shard.name, key, cfg.audio_format)
                    except Exception as err:  # noqa: BLE001  (one broken clip never stops the export)
                        result.skipped.append(f"{shard.name}:{key}: {err}")
                        log.warning("export: skipping %s in %s: %s", key, shard, err)
                        continue
                    meta = json.loads(members["json"]) if "json" in members else {}
                    audio_file = folder / f"{key}.{cfg.audio_format}"
                    duration = len(audio) / sr
                    _write_bytes(audio_file, data)
                    sidecar = {k: meta[k] for k in SIDECAR_FIELDS if meta.get(k) is not None}
                    sidecar.update(description=meta.get("caption") or "", sample_rate=sr, channels=1,
                                   duration=duration, key=key)
                    _write_bytes(folder / f"{key}.json",
                                 (json.dumps(sidecar, ensure_ascii=False, sort_keys=True, indent=1) + "\n").encode())
                    records.append({"path": _manifest_path(audio_file, relative_to), "duration": duration,
                                    "sample_rate": sr, "amplitude": float(abs(audio).max()) if len(audio) else 0.0,
                                    "weight": None, "info_path": None})
                    result.seconds[split] = result.seconds.get(split, 0.0) + duration
            records.sort(key=lambda r: r["path"])
            write_jsonl_gz(out / split / MANIFEST_NAME, records)
            result.clips[split] = len(records)
    (out / "dset.yaml").write_text(dset_yaml(out, sorted(result.clips), relative_to), encoding="utf-8")
    return result


def dset_yaml(out: Path, splits: list[str], relative_to: Path | None) -> str:
    """audiocraft's `config/dset/audio/NAME.yaml` for this export (test serves evaluate and generate)."""
    def where(split: str) -> str:
        return _manifest_path(out / split, relative_to) if split in splits else "null"

    return ("# @package __global__\n"
            f"# Written by `python -m pipeline.export`; save as audiocraft's config/dset/audio/{out.name}.yaml\n"
            "datasource:\n  max_sample_rate: 16000\n  max_channels: 1\n\n"
            f"  train: {where('train')}\n  valid: {where('valid')}\n"
            f"  evaluate: {where('test')}\n  generate: {where('test')}\n")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m pipeline.export", description=__doc__.split("\n\n")[0])
    p.add_argument("--format", required=True, choices=FORMATS, help="target tool's dataset format")
    p.add_argument("--shards", type=Path, default=Path("data/shards/audio"), help="audio shards dir")
    p.add_argument("--out", type=Path, required=True, help="dataset dir to write, e.g. egs/audiogen_demo")
    p.add_argument("--audio-format", default="flac", choices=AUDIO_FORMATS, help="clip files (default flac)")
    p.add_argument("--splits", help="comma-separated subset of train,valid,test (default: every split found)")
    p.add_argument("--relative-to", type=Path, help="write manifest paths relative to this dir (the audiocraft "
                                                    "checkout you run `dora run` from); default absolute")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    splits = tuple(s.strip() for s in args.splits.split(",") if s.strip()) if args.splits else None
    cfg = ExportConfig(shards=args.shards, out=args.out, audio_format=args.audio_format, splits=splits,
                       relative_to=args.relative_to)
    res = export_audiocraft(cfg)
    parts = ", ".join(f"{s} {n} clips {res.seconds.get(s, 0.0) / 3600:.2f} h" for s, n in res.clips.items())
    print(f"export audiocraft: {parts}; {len(res.skipped)} skipped; {cfg.audio_format} → {cfg.out} "
          f"(manifests <split>/{MANIFEST_NAME}, dset.yaml)")


if __name__ == "__main__":
    main()
