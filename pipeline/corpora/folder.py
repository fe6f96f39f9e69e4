"""Any directory of audio files with captions beside them [`folder`]: the user's own data.

Every audio file below the root (any depth, extensions in any case; hidden files and folders
skipped) is one clip; its source id is its path relative to the root (POSIX, NFC). Captions come
from, in this order of precedence:

1. the CSV named by option `captions_csv` (relative to the root, or absolute): columns
   `csv_file_column` (default `file_name`, a path relative to the root or a bare file name) and
   `csv_caption_column` (default `caption`); several rows for one file give several captions;
   optional columns `csv_split_column` (default `split`) and `csv_labels_column` (default
   `labels`, `;`-separated) are used when present;
2. a JSON sidecar `<stem>.json` (or `<name>.json`): keys `caption` / `captions` / `text` (string or
   list), `labels` (list or `;`-separated string), `split`, `license`; its split/labels/license
   also apply when the captions come from the CSV;
3. a text sidecar `<stem>.txt` (or `<name>.txt`): the first non-empty line, or every non-empty
   line as its own caption with option `txt_all_lines: true`;
4. the file name (`Dog_barking-far away.wav` → "Dog barking far away") when option
   `caption_from_filename: true`; otherwise the file is rejected as `missing_caption`.

Split: the sidecar or CSV `split` value (train/valid/test, also validation/val/dev/eval/
evaluation/test), else the top folder's name when option `split_from_folder: true` and it is a
split name, else option `split` (default train). A video container (.mp4, .m4a …) with no audio
file of the same stem is rejected as `unsupported_container`; one beside such an audio file is a
preview and skipped.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Iterator

from pipeline.corpora.base import (
    AUDIO_EXTENSIONS,
    VIDEO_EXTENSIONS,
    is_video,
    make_key,
    malformed_row,
    missing_audio,
    nfc,
    register,
    walk_files,
)
from pipeline.corpora.csvutil import read_table
from pipeline.manifest import ManifestRow, Reject

CORPUS = "folder"
SPLIT_NAMES = {
    "train": "train", "training": "train",
    "valid": "valid", "validation": "valid", "val": "valid", "dev": "valid",
    "test": "test", "eval": "test", "evaluation": "test",
}


def map_split(value: Any) -> str | None:
    """A user's split name → train|valid|test, or None when it is not one we know."""
    if value is None:
        return None
    return SPLIT_NAMES.get(str(value).strip().lower())


def filename_caption(rel: str) -> str:
    """`birds/Dog_barking-far away.wav` → "Dog barking far away" (the file's stem only)."""
    stem = os.path.splitext(os.path.basename(rel))[0]
    return re.sub(r"\s+", " ", re.sub(r"[_\-.]+", " ", stem)).strip()


def _as_list(value: Any, sep: str | None = None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        items = value.split(sep) if sep else [value]
    elif isinstance(value, (list, tuple)):
        items = [str(v) for v in value if v is not None]
    else:
        items = [str(value)]
    if sep:  # a label list: names, not raw text
        items = [v.strip() for v in items]
    return [nfc(v) for v in items if v.strip()]


def _sidecar(path: Path, ext: str) -> Path | None:
    for cand in (path.with_suffix(ext), path.with_name(path.name + ext)):
        if cand.is_file():
            return cand
    return None


def _read_json(path: Path) -> dict[str, Any]:
    with open(path, encoding="utf-8-sig") as f:
        data = json.load(f)
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object, got {type(data).__name__}")
    return data


def _read_txt(path: Path, all_lines: bool) -> list[str]:
    text = path.read_bytes().decode("utf-8-sig", errors="replace")
    lines = [nfc(line.strip()) for line in text.splitlines() if line.strip()]
    return lines if all_lines else lines[:1]


def _rel(path: Path, root: Path) -> str:
    return nfc(path.relative_to(root).as_posix())


class _CsvCaptions:
    """The `captions_csv` table: per audio file (relative path, NFC) its captions in row order,
    the first row's split/labels, and the first line (for provenance)."""

    def __init__(self, root: Path, options: dict[str, Any]) -> None:
        name = options.get("captions_csv")
        path = Path(name) if Path(name).is_absolute() else root / name
        if not path.is_file():
            raise FileNotFoundError(f"folder: captions_csv {path} not found")
        self.path = path
        self.rel = path.relative_to(root).as_posix() if not Path(name).is_absolute() else str(path)
        file_col = str(options.get("csv_file_column", "file_name")).lower()
        cap_col = str(options.get("csv_caption_column", "caption")).lower()
        split_col = str(options.get("csv_split_column", "split")).lower()
        labels_col = str(options.get("csv_labels_column", "labels")).lower()
        self.entries: dict[str, dict[str, Any]] = {}
        self.errors: list[Reject] = []
        for rec in read_table(path, (file_col, cap_col), encoding=str(options.get("csv_encoding", "auto"))):
            source = f"{self.rel}:{rec.line}"
            if rec.error is not None:
                self.errors.append(malformed_row(CORPUS, source, rec.error))
                continue
            file_name = rec.values[file_col].replace("\\", "/")
            while file_name.startswith("./"):
                file_name = file_name[2:]
            caption = rec.values[cap_col]
            if not file_name.strip() or not caption.strip():
                self.errors.append(malformed_row(CORPUS, source, "empty file name or caption"))
                continue
            entry = self.entries.setdefault(file_name, {"captions": [], "source": source, "used": False,
                                                        "split": rec.values.get(split_col),
                                                        "labels": _as_list(rec.values.get(labels_col), ";")})
            entry["captions"].append(caption)
        # Bare file names also match files in sub-folders when the name is unique.
        self._by_name: dict[str, list[str]] = {}
        for file_name in self.entries:
            self._by_name.setdefault(file_name.rsplit("/", 1)[-1], []).append(file_name)

    def lookup(self, rel: str) -> dict[str, Any] | None:
        entry = self.entries.get(rel)
        if entry is None and "/" in rel:
            names = self._by_name.get(rel.rsplit("/", 1)[-1], [])
            if len(names) == 1 and "/" not in names[0]:
                entry = self.entries[names[0]]
        if entry is not None:
            entry["used"] = True
        return entry

    def unused(self) -> Iterator[Reject]:
        for file_name, entry in self.entries.items():
            if not entry["used"]:
                yield missing_audio(CORPUS, make_key(CORPUS, file_name), entry["source"],
                                    f"{file_name!r} listed in {self.rel} is not an audio file under the root",
                                    audio_path=file_name)


@register(CORPUS)
def read(root: Path, options: dict[str, Any]) -> Iterator[ManifestRow | Reject]:
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"folder: root {root} is not a directory")
    default_split = map_split(options.get("split", "train"))
    if default_split is None:
        raise ValueError(f"folder: option split={options.get('split')!r} is not train|valid|test")
    from_filename = bool(options.get("caption_from_filename", False))
    all_lines = bool(options.get("txt_all_lines", False))
    from_folder = bool(options.get("split_from_folder", False))
    table = _CsvCaptions(root, options) if options.get("captions_csv") else None
    if table is not None:
        yield from table.errors

    files = [p for p in walk_files(root, AUDIO_EXTENSIONS + VIDEO_EXTENSIONS)
             if not any(part.startswith(".") for part in p.relative_to(root).parts)]
    audio_stems = {os.path.splitext(str(p))[0] for p in files if not is_video(p)}
    for path in files:
        rel = _rel(path, root)
        key = make_key(CORPUS, rel)
        if is_video(path):
            if os.path.splitext(str(path))[0] in audio_stems:
                continue  # a preview beside the real audio
            yield Reject(stage="ingest", reason="unsupported_container", source=rel, key=key, corpus=CORPUS,
                         detail="video container: extract the audio track (e.g. ffmpeg -i in.mp4 -vn out.wav)",
                         audio_path=str(path))
            continue
        source = rel
        captions: list[str] = []
        meta: dict[str, Any] = {}
        json_path = _sidecar(path, ".json")
        if json_path is not None:
            try:
                meta = _read_json(json_path)
            except (ValueError, UnicodeDecodeError) as err:  # JSONDecodeError is a ValueError
                yield malformed_row(CORPUS, _rel(json_path, root), f"bad JSON sidecar: {err}", key,
                                    audio_path=str(path))
                continue
        entry = table.lookup(rel) if table is not None else None
        if entry is not None:
            captions, source = list(entry["captions"]), entry["source"]
        if not captions:
            for name in ("captions", "caption", "text"):
                captions = _as_list(meta.get(name))
                if captions:
                    break
        if not captions:
            txt_path = _sidecar(path, ".txt")
            if txt_path is not None:
                captions = _read_txt(txt_path, all_lines)
        if not captions and from_filename:
            captions = [c for c in [filename_caption(rel)] if c]
        if not captions:
            yield Reject(stage="ingest", reason="missing_caption", source=rel, key=key, corpus=CORPUS,
                         detail="no <stem>.txt/<stem>.json sidecar or captions_csv row "
                                "(or set caption_from_filename: true)", audio_path=str(path))
            continue
        split_value = meta.get("split") or (entry or {}).get("split")
        split = map_split(split_value)
        if split_value and split is None:
            yield malformed_row(CORPUS, source, f"unknown split {split_value!r} (train|valid|test)", key,
                                audio_path=str(path))
            continue
        if split is None and from_folder:
            split = map_split(rel.split("/", 1)[0]) if "/" in rel else None
        labels = _as_list(meta.get("labels"), ";") or list((entry or {}).get("labels") or [])
        license_ = meta.get("license")
        yield ManifestRow(
            key=key,
            corpus=CORPUS,
            split=split or default_split,
            audio_path=str(path),
            source=source,
            offset_s=0.0,
            duration_s=None,
            captions=[nfc(c) for c in captions],
            caption=nfc(captions[0]),
            labels=labels,
            label_ids=[],
            license=str(license_) if license_ else None,
        )
    if table is not None:
        yield from table.unused()
