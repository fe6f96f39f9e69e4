"""Clotho v2 [`clotho`]: Freesound clips with five captions each (CORPORA.md "Clotho v2").

Reads `clotho_captions_<split>.csv` (UTF-8, `file_name,caption_1..caption_5`) and
`clotho_metadata_<split>.csv` (ISO-8859-1, `file_name,keywords,sound_id,sound_link,
start_end_samples,manufacturer,license`) for the splits development/validation/evaluation
(→ train/valid/test), and matches each row to `<split>/<file_name>` (any folder under the root
whose file has that name; the split's own folder is preferred).

File names hold spaces, commas, accents, and may start with a space or an underscore: they are
never stripped. Names are compared in NFC, so a file written with NFD names (macOS) still matches.

Options (params.yaml `corpora.clotho`):
  splits            the Clotho splits to read (default all three); a listed split whose captions
                    file is missing is an error
  require_metadata  true (default): a missing metadata file is an error; false: read captions
                    only (no license, no Freesound id)
  metadata_encoding "auto" (default: UTF-8 if the file decodes as UTF-8, else ISO-8859-1) or an
                    explicit codec name
  keywords_as_labels true (default): the metadata keywords (`;`-separated Freesound tags) become
                    `labels`; false: labels stay empty
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Iterator

from pipeline.corpora.base import (
    AUDIO_EXTENSIONS,
    find_file,
    make_key,
    malformed_row,
    missing_audio,
    nfc,
    register,
    walk_files,
)
from pipeline.corpora.csvutil import read_table
from pipeline.manifest import ManifestRow, Reject

log = logging.getLogger("audiogen")

CORPUS = "clotho"
SPLITS = {"development": "train", "validation": "valid", "evaluation": "test"}
CAPTION_COLUMNS = tuple(f"caption_{i}" for i in range(1, 6))


def _find(root: Path, name: str) -> Path | None:
    """The metadata file `name` at the root, else the first one below it (sorted)."""
    return find_file(root, name)


def _audio_index(root: Path) -> dict[str, list[Path]]:
    """NFC file name → every audio file below root with that name (sorted paths)."""
    index: dict[str, list[Path]] = {}
    for path in walk_files(root, AUDIO_EXTENSIONS):
        index.setdefault(nfc(path.name), []).append(path)
    return index


def _pick(candidates: list[Path], split: str, root: Path) -> Path:
    """Prefer a file inside the split's own folder (`development/`, `clotho_audio_development/`)."""
    for path in candidates:
        if any(split in part.lower() for part in path.relative_to(root).parent.parts):
            return path
    return candidates[0]


def _read_metadata(path: Path, encoding: str) -> dict[str, dict[str, str]]:
    """NFC file name → metadata fields. Unparseable metadata rows are logged, not fatal: the
    captions row is the clip; metadata only adds license and Freesound id."""
    meta: dict[str, dict[str, str]] = {}
    for rec in read_table(path, ("file_name",), encoding=encoding):
        if rec.error is not None:
            log.warning("%s:%d: metadata row skipped: %s", path, rec.line, rec.error)
            continue
        meta.setdefault(rec.values["file_name"], rec.values)
    return meta


def _keywords(text: str) -> list[str]:
    return [k.strip() for k in text.split(";") if k.strip()]


@register(CORPUS)
def read(root: Path, options: dict[str, Any]) -> Iterator[ManifestRow | Reject]:
    root = Path(root)
    splits = list(options.get("splits") or SPLITS)
    unknown = [s for s in splits if s not in SPLITS]
    if unknown:
        raise ValueError(f"clotho: unknown split(s) {unknown}; known: {list(SPLITS)}")
    require_metadata = bool(options.get("require_metadata", True))
    encoding = str(options.get("metadata_encoding") or "auto")
    keywords_as_labels = bool(options.get("keywords_as_labels", True))

    # Locate every table before reading any, so that a missing file fails fast with all names.
    tables: dict[str, tuple[Path, Path | None]] = {}
    missing: list[str] = []
    for split in splits:
        captions = _find(root, f"clotho_captions_{split}.csv")
        metadata = _find(root, f"clotho_metadata_{split}.csv")
        if captions is None:
            missing.append(str(root / f"clotho_captions_{split}.csv"))
        if metadata is None and require_metadata:
            missing.append(str(root / f"clotho_metadata_{split}.csv"))
        if captions is not None:
            tables[split] = (captions, metadata)
    if missing:
        raise FileNotFoundError(
            "clotho: missing metadata file(s): " + ", ".join(missing)
            + " (set corpora.clotho.splits to read fewer splits, or require_metadata: false)"
        )

    audio = _audio_index(root)
    seen: dict[str, str] = {}
    for split in splits:
        captions_path, metadata_path = tables[split]
        meta = _read_metadata(metadata_path, encoding) if metadata_path is not None else {}
        rel = captions_path.relative_to(root).as_posix()
        for rec in read_table(captions_path, ("file_name",), encoding="auto"):
            source = f"{rel}:{rec.line}"
            if rec.error is not None:
                yield malformed_row(CORPUS, source, rec.error)
                continue
            name = rec.values["file_name"]
            if not name.strip():
                yield malformed_row(CORPUS, source, "empty file_name")
                continue
            key = make_key(CORPUS, name)
            if key in seen:
                yield malformed_row(CORPUS, source, f"duplicate file_name {name!r} (first at {seen[key]})", key,
                                    source_id=name)
                continue
            seen[key] = source
            captions = [rec.values[c] for c in CAPTION_COLUMNS if rec.values.get(c, "").strip()]
            if not captions:
                yield Reject(stage="ingest", reason="missing_caption", source=source, key=key,
                             detail=f"no caption in columns {', '.join(CAPTION_COLUMNS)}", corpus=CORPUS,
                             source_id=name)
                continue
            candidates = audio.get(name)
            if not candidates:
                yield missing_audio(CORPUS, key, source, f"{split}/{name!r} (any folder under {root})",
                                    source_id=name)
                continue
            info = meta.get(name, {})
            sound_id = info.get("sound_id", "").strip()
            yield ManifestRow(
                key=key,
                corpus=CORPUS,
                split=SPLITS[split],
                audio_path=str(_pick(candidates, split, root)),
                source=source,
                offset_s=0.0,
                duration_s=None,
                captions=captions,
                caption=captions[0],
                labels=_keywords(info.get("keywords", "")) if keywords_as_labels else [],
                label_ids=[],
                license=info.get("license", "").strip() or None,
                freesound_id=sound_id if sound_id.isdigit() else None,
            )
