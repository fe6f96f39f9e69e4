"""A Hugging Face dataset [`hf`]: the user's own captioned audio in `datasets` form.

Where the dataset comes from:
- `root` is a directory written by `save_to_disk` (a Dataset or a DatasetDict): `load_from_disk`;
- otherwise `root` (a local data directory: audiofolder, parquet, csv …) or option `dataset`
  (a hub name, or a path) goes to `load_dataset(dataset, config, split=split, revision=…)`.

Audio is never decoded: an `Audio` column is cast to `Audio(decode=False)`, which yields
`{"path", "bytes"}` per row; a plain string column is taken as a path. A path that exists (as
given, or relative to the root) is used as is. Otherwise the embedded bytes are written once to
`<cache_dir>/<key>.<ext>` (cache_dir default `<root>/.audiogen_hf_audio`; the extension from the
stored path, else sniffed from the bytes) and that file is the clip's audio. A file already there
with the same bytes is left untouched, so re-runs write nothing and give the same paths.

Options (params.yaml `corpora.hf`):
  dataset          hub name or path for load_dataset (default: use root)
  config, revision load_dataset's configuration name and revision
  hf_cache_dir     load_dataset's cache_dir (default: the datasets library's own cache)
  split            the split(s) to read: a name or a list (default: all)
  audio_column     default "audio"
  caption_column   default "caption" (a string, or a list of strings = several captions)
  id_column        a column with a stable id per row (default: "<split>_<row index>")
  split_column     a column holding each row's split (default: the dataset split's name)
  split_map        extra {name: train|valid|test} entries (train, validation, val, valid, dev,
                   test, eval, evaluation are known)
  labels_column, license_column   optional; `license` sets one license for every row
  cache_dir        where embedded audio bytes are written (default <root>/.audiogen_hf_audio)
Provenance (`source`) is `<split>[<row index>]`.

Note: building a dataset from an audio folder (`load_dataset("audiofolder", …)`) makes `datasets`
encode its Audio column, which needs torchcodec; on-disk datasets and data directories whose
audio column holds paths or bytes load without it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from pipeline.corpora.base import AUDIO_EXTENSIONS, is_video, make_key, malformed_row, missing_audio, nfc, register
from pipeline.manifest import ManifestRow, Reject

CORPUS = "hf"
CACHE_DIR = ".audiogen_hf_audio"
SPLIT_MAP = {
    "train": "train", "training": "train",
    "validation": "valid", "valid": "valid", "val": "valid", "dev": "valid",
    "test": "test", "eval": "test", "evaluation": "test",
}
# Magic numbers of the containers soundfile reads, for bytes stored without a file name.
_MAGIC = ((b"RIFF", ".wav"), (b"RF64", ".wav"), (b"fLaC", ".flac"), (b"OggS", ".ogg"),
          (b"ID3", ".mp3"), (b"FORM", ".aiff"), (b"caff", ".caf"))


def sniff_extension(data: bytes, name: str | None = None) -> str:
    """The file extension for audio bytes: from `name` when it has an audio extension, else from
    the magic number (MPEG frame sync for bare MP3), else `.bin` (ingest rejects what it cannot read)."""
    if name:
        ext = os.path.splitext(name)[1].lower()
        if ext in AUDIO_EXTENSIONS:
            return ext
    for magic, ext in _MAGIC:
        if data.startswith(magic):
            return ext
    if len(data) > 1 and data[0] == 0xFF and (data[1] & 0xE0) == 0xE0:
        return ".mp3"
    return ".bin"


def write_cached(data: bytes, path: Path) -> Path:
    """Write `data` to `path` unless the same bytes are already there (atomic rename)."""
    if path.is_file() and path.stat().st_size == len(data) and path.read_bytes() == data:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_bytes(data)
    tmp.replace(path)
    return path


def _load(root: Path, options: dict[str, Any]) -> dict[str, Any]:
    """split name → datasets.Dataset."""
    import datasets

    name = options.get("dataset")
    want = options.get("split")
    if name is None:
        if not root.exists():
            raise FileNotFoundError(f"hf: {root} does not exist (a save_to_disk directory or a data directory)")
        if (root / "dataset_dict.json").is_file() or (root / "state.json").is_file():
            obj = datasets.load_from_disk(str(root))
        else:
            obj = datasets.load_dataset(str(root), options.get("config"), split=want,
                                        cache_dir=options.get("hf_cache_dir"))
    else:
        obj = datasets.load_dataset(str(name), options.get("config"), split=want, revision=options.get("revision"),
                                    cache_dir=options.get("hf_cache_dir"))
    if isinstance(obj, datasets.Dataset):
        label = want if isinstance(want, str) else (str(obj.split) if obj.split is not None else "train")
        return {label: obj}
    parts = {str(k): v for k, v in obj.items()}
    if want:
        wanted = [want] if isinstance(want, str) else list(want)
        unknown = [w for w in wanted if w not in parts]
        if unknown:
            raise ValueError(f"hf: split(s) {unknown} not in the dataset (has {sorted(parts)})")
        parts = {w: parts[w] for w in wanted}
    return dict(sorted(parts.items()))


def _undecoded(ds: Any, column: str) -> Any:
    """The dataset with its audio column left undecoded ({"path", "bytes"} dicts or strings)."""
    import datasets

    feature = ds.features.get(column)
    if isinstance(feature, datasets.Audio) and feature.decode:
        ds = ds.cast_column(column, datasets.Audio(decode=False))  # only the feature changes, no rewrite
    return ds


def _captions(value: Any) -> list[str]:
    if value is None:
        return []
    items = [value] if isinstance(value, str) else list(value) if isinstance(value, (list, tuple)) else [str(value)]
    return [nfc(str(c)) for c in items if c is not None and str(c).strip()]


def _resolve(root: Path, audio: Any) -> tuple[str | None, bytes | None, str | None]:
    """(existing path, bytes, stored name) for one audio cell."""
    if audio is None:
        return None, None, None
    if isinstance(audio, (str, os.PathLike)):
        stored, data = str(audio), None
    elif isinstance(audio, dict):
        stored, data = audio.get("path"), audio.get("bytes")
    else:
        raise ValueError(f"unsupported audio value of type {type(audio).__name__}")
    if stored:
        for cand in ((Path(stored),) if os.path.isabs(stored) else (root / stored,)):
            if cand.is_file():
                return str(cand), data, stored
    return None, data, stored


@dataclass
class HfOptions:
    """The adapter's options, parsed once (see the module docstring)."""

    audio_column: str = "audio"
    caption_column: str = "caption"
    id_column: str | None = None
    split_column: str | None = None
    labels_column: str | None = None
    license_column: str | None = None
    license: str | None = None
    split_map: dict[str, str] = field(default_factory=lambda: dict(SPLIT_MAP))
    cache_dir: Path = Path(CACHE_DIR)

    @classmethod
    def parse(cls, root: Path, options: dict[str, Any]) -> "HfOptions":
        split_map = {**SPLIT_MAP, **{str(k).lower(): v for k, v in (options.get("split_map") or {}).items()}}
        bad = {k: v for k, v in split_map.items() if v not in ("train", "valid", "test")}
        if bad:
            raise ValueError(f"hf: split_map values must be train|valid|test, got {bad}")
        return cls(
            audio_column=str(options.get("audio_column") or "audio"),
            caption_column=str(options.get("caption_column") or "caption"),
            id_column=options.get("id_column"),
            split_column=options.get("split_column"),
            labels_column=options.get("labels_column"),
            license_column=options.get("license_column"),
            license=options.get("license"),
            split_map=split_map,
            cache_dir=Path(options["cache_dir"]) if options.get("cache_dir") else root / CACHE_DIR,
        )

    def columns(self) -> list[str]:
        named = (self.audio_column, self.caption_column, self.id_column, self.split_column,
                 self.labels_column, self.license_column)
        return list(dict.fromkeys(c for c in named if c))


@register(CORPUS)
def read(root: Path, options: dict[str, Any]) -> Iterator[ManifestRow | Reject]:
    root = Path(root)
    opt = HfOptions.parse(root, options)
    seen: dict[str, str] = {}
    for hf_split, ds in _load(root, options).items():
        missing = [c for c in opt.columns() if c not in ds.column_names]
        if missing:
            raise ValueError(f"hf: split {hf_split!r} lacks column(s) {missing}; has {ds.column_names}")
        ds = _undecoded(ds.select_columns(opt.columns()), opt.audio_column)
        index = 0
        for batch in ds.iter(batch_size=64):
            for i in range(len(batch[opt.audio_column])):
                row = {c: batch[c][i] for c in batch}
                source = f"{hf_split}[{index}]"
                sid = str(row[opt.id_column]) if opt.id_column else f"{hf_split}_{index}"
                index += 1
                yield from _row(row, sid, source, hf_split, root, opt, seen)


def _row(row: dict[str, Any], sid: str, source: str, hf_split: str, root: Path, opt: HfOptions,
         seen: dict[str, str]) -> Iterator[ManifestRow | Reject]:
    """One dataset row → a ManifestRow or a Reject (writes embedded audio to the cache)."""
    key = make_key(CORPUS, sid)
    if not sid.strip() or sid == "None":
        yield malformed_row(CORPUS, source, "empty id")
        return
    if key in seen:
        yield malformed_row(CORPUS, source, f"duplicate id {sid!r} (first at {seen[key]})", key, source_id=sid)
        return
    seen[key] = source
    split_value = row.get(opt.split_column) if opt.split_column else hf_split
    split = opt.split_map.get(str(split_value).strip().lower()) if split_value is not None else None
    if split is None:
        where = f"column {opt.split_column!r}" if opt.split_column else "dataset split"
        yield malformed_row(CORPUS, source, f"{where} {split_value!r} is not a known split; add it to split_map", key,
                            source_id=sid)
        return
    captions = _captions(row.get(opt.caption_column))
    if not captions:
        yield Reject(stage="ingest", reason="missing_caption", source=source, key=key, corpus=CORPUS,
                     detail=f"empty column {opt.caption_column!r}", source_id=sid)
        return
    try:
        path, data, stored = _resolve(root, row.get(opt.audio_column))
    except ValueError as err:
        yield malformed_row(CORPUS, source, str(err), key, source_id=sid)
        return
    if path is None and data:
        path = str(write_cached(bytes(data), opt.cache_dir / (key + sniff_extension(data, stored))))
    if path is None:
        yield missing_audio(CORPUS, key, source, f"column {opt.audio_column!r}: no file at {stored!r} and no bytes",
                            source_id=sid, audio_path=str(stored) if stored else None)
        return
    if is_video(path):
        yield Reject(stage="ingest", reason="unsupported_container", source=source, key=key, corpus=CORPUS,
                     detail=f"{path}: video container; extract the audio track (ffmpeg -i in.mp4 -vn out.wav)",
                     source_id=sid, audio_path=str(path))
        return
    labels = _captions(row.get(opt.labels_column)) if opt.labels_column else []
    license_ = row.get(opt.license_column) if opt.license_column else opt.license
    yield ManifestRow(
        key=key,
        corpus=CORPUS,
        split=split,
        audio_path=path,
        source=source,
        offset_s=0.0,
        duration_s=None,
        captions=captions,
        caption=captions[0],
        labels=[label.strip() for label in labels],
        label_ids=[],
        license=str(license_) if license_ else None,
    )
