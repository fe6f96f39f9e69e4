"""What every corpus adapter shares: keys, the registry, the adapter signature, file walking.

An adapter is a function `read(root: Path, options: dict) -> Iterator[ManifestRow | Reject]`
registered under its corpus name with `@register("name")`. It reads the official metadata exactly
as distributed, matches each row to its audio file, and yields one `ManifestRow` per clip or a
`Reject` (reasons: `missing_audio`, `malformed_row`, `unsupported_container`) naming the metadata
file and line. Adapters never decode audio: ingest probes every file's header afterwards.
"""
from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from pathlib import Path
from typing import Any, Callable, Iterator

from pipeline.manifest import ManifestRow, Reject

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".aifc", ".w64", ".caf")
VIDEO_EXTENSIONS = (".mp4", ".m4a", ".mkv", ".webm", ".mov", ".avi")

Adapter = Callable[[Path, dict[str, Any]], Iterator["ManifestRow | Reject"]]
_REGISTRY: dict[str, Adapter] = {}

_KEY_UNSAFE = re.compile(r"[^a-z0-9_-]+")
MAX_ID_CHARS = 48


def register(name: str) -> Callable[[Adapter], Adapter]:
    """Register an adapter under its corpus name (the `--corpus` value and params key)."""

    def wrap(fn: Adapter) -> Adapter:
        if name in _REGISTRY and _REGISTRY[name] is not fn:
            raise ValueError(f"corpus {name!r} registered twice")
        _REGISTRY[name] = fn
        return fn

    return wrap


def get_adapter(name: str) -> Adapter:
    import pipeline.corpora  # noqa: F401  (imports every adapter module, filling the registry)

    if name not in _REGISTRY:
        raise KeyError(f"unknown corpus {name!r}; known: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def corpus_names() -> list[str]:
    import pipeline.corpora  # noqa: F401

    return sorted(_REGISTRY)


# Keys every `corpora.<name>` section may hold that belong to ingest, not to the adapter.
GENERIC_OPTIONS = frozenset({"root", "enabled", "adapter"})


def options_from_dict(cls: type, options: dict[str, Any] | None, corpus: str) -> Any:
    """Build an adapter's options dataclass from its params.yaml section, warning about unknown
    keys (typos) instead of silently ignoring them."""
    import dataclasses
    import logging

    options = dict(options or {})
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(options) - known - GENERIC_OPTIONS)
    if unknown:
        logging.getLogger("audiogen").warning(
            "corpora.%s: ignoring unknown option(s) %s (known: %s)", corpus, unknown, sorted(known))
    return cls(**{k: v for k, v in options.items() if k in known})


def short_hash(text: str, n: int = 8) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:n]


def make_key(corpus: str, source_id: str) -> str:
    """`<corpus>-<source id>`, lowercase `[a-z0-9_-]` only (no dots: WebDataset splits on them).

    When lowercasing or replacing characters loses information (case-sensitive YouTube ids, file
    names with spaces, accents or dots), a short hash of the original id is appended so that two
    sources never share a key.
    """
    safe = _KEY_UNSAFE.sub("_", source_id.lower()).strip("_") or "x"
    # Keep keys short enough for plain USTAR tar member names (100 bytes) once a segment index and
    # `.codes.npy` are added; keep the tail, where a path's file name (the informative part) is.
    safe = re.sub(r"_{2,}", "_", safe)[-MAX_ID_CHARS:].strip("_") or "x"
    key = f"{corpus}-{safe}"
    if safe != source_id:
        key += "-" + short_hash(source_id)
    return key


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def walk_files(root: Path, extensions: tuple[str, ...] = AUDIO_EXTENSIONS + VIDEO_EXTENSIONS) -> list[Path]:
    """Every file below `root` whose extension (any case) is in `extensions`, sorted, following no
    symlinked directories. Hidden files (`.DS_Store`, `._foo.wav` AppleDouble) are skipped."""
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in filenames:
            if name.startswith("."):
                continue
            if os.path.splitext(name)[1].lower() in extensions:
                found.append(Path(dirpath) / name)
    found.sort()
    return found


def find_file(root: Path, name: str) -> Path | None:
    """A metadata file `name` at the root, else the first one below it (folders sorted), else None:
    users unpack archives one folder deeper than the official layout as often as not."""
    direct = root / name
    if direct.is_file():
        return direct
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        if name in filenames:
            return Path(dirpath) / name
    return None


def is_video(path: str | Path) -> bool:
    return os.path.splitext(str(path))[1].lower() in VIDEO_EXTENSIONS


def source_ref(path: Path, line: int | None = None) -> str:
    """Provenance string `file:line` used in manifests and rejects."""
    return f"{path}:{line}" if line is not None else str(path)


def missing_audio(corpus: str, key: str, source: str, detail: str, **ids: str | None) -> Reject:
    """`ids`: the clip as its user knows it (`youtube_id`, `audio_path`, `source_id`; see Reject)."""
    return Reject(stage="ingest", reason="missing_audio", source=source, key=key, detail=detail, corpus=corpus, **ids)


def malformed_row(corpus: str, source: str, detail: str, key: str | None = None, **ids: str | None) -> Reject:
    return Reject(stage="ingest", reason="malformed_row", source=source, key=key, detail=detail, corpus=corpus, **ids)
