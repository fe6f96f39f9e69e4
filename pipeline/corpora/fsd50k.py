"""FSD50K [`fsd50k`]: Freesound clips tagged with 200 AudioSet-ontology classes (CORPORA.md).

Reads `FSD50K.ground_truth/{dev,eval}.csv` (`fname,labels,mids[,split]`, labels and mids
comma-separated inside one quoted field) and `FSD50K.ground_truth/vocabulary.csv` (no header:
`index,label,mid`). Labels are the vocabulary names of the row's mids with underscores turned into
spaces (the row's own label names where a mid is not in the vocabulary); `label_ids` are the mids;
the caption is the labels joined with ", ". Splits: dev `train`/`val` → train/valid, eval → test.
Audio: `FSD50K.dev_audio/<fname>.wav`, `FSD50K.eval_audio/<fname>.wav`.

`FSD50K.metadata/{dev,eval}_clips_info_FSD50K.json` (per fname: title, description, tags,
license, uploader) gives each clip's license. Option `use_description` (default false) adds the
uploader's description, HTML stripped and cut at `description_max_chars` (default 300, at a
sentence or word boundary), as a second caption.
"""
from __future__ import annotations

import html
import json
import logging
import os
import re
from pathlib import Path
from typing import Any, Iterator

from pipeline.corpora.base import make_key, malformed_row, missing_audio, nfc, register
from pipeline.corpora.csvutil import read_table
from pipeline.manifest import ManifestRow, Reject

log = logging.getLogger("audiogen")

CORPUS = "fsd50k"
GT = "FSD50K.ground_truth"
META = "FSD50K.metadata"
# (ground-truth csv, audio folder, metadata json, fixed split or None to read the split column)
PARTS = (
    ("dev.csv", "FSD50K.dev_audio", "dev_clips_info_FSD50K.json", None),
    ("eval.csv", "FSD50K.eval_audio", "eval_clips_info_FSD50K.json", "test"),
)
DEV_SPLITS = {"train": "train", "val": "valid", "valid": "valid", "validation": "valid"}

_TAG = re.compile(r"<[^>]*>")
_BREAK = re.compile(r"<\s*(br|/p|p|li|/li|div|/div)\b[^>]*>", re.I)
_URL = re.compile(r"https?://\S+|www\.\S+")
_SPACE = re.compile(r"\s+")
_SENTENCE_END = re.compile(r"[.!?](?=\s|$)")


def readable(label: str) -> str:
    """`Male_speech_and_man_speaking` → `Male speech and man speaking`."""
    return label.replace("_", " ").strip()


def clean_description(text: str, max_chars: int = 300) -> str:
    """A Freesound description → one line of plain text, at most `max_chars` characters.

    Freesound descriptions are user HTML: tags, entities, links, line breaks, recording-gear
    lists. Tags are removed (line-breaking ones become spaces), entities unescaped, URLs dropped,
    whitespace collapsed. A longer text is cut at the last sentence end within the limit, else at
    the last word boundary (never mid-word).
    """
    text = _BREAK.sub(" ", text)
    text = _TAG.sub("", text)
    text = html.unescape(text)
    text = _URL.sub("", text)
    text = nfc(_SPACE.sub(" ", text).strip())
    if len(text) <= max_chars:
        return text
    head = text[: max_chars + 1]
    ends = [m.end() for m in _SENTENCE_END.finditer(head)]
    if ends and ends[-1] >= max_chars // 3:  # a sentence end that keeps a useful share of the text
        return head[: ends[-1]].strip()
    cut = head.rfind(" ")
    return (head[:cut] if cut > 0 else head[:max_chars]).rstrip(" ,;:-")


def _vocabulary(path: Path) -> dict[str, str]:
    """mid → readable label from the header-less `index,label,mid` file."""
    vocab: dict[str, str] = {}
    for rec in read_table(path, header=("index", "label", "mid")):
        if rec.error is not None:
            raise ValueError(f"{path}:{rec.line}: {rec.error}")
        vocab[rec.values["mid"].strip()] = readable(rec.values["label"])
    return vocab


def _metadata(path: Path) -> dict[str, dict[str, Any]]:
    if not path.is_file():
        return {}
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object keyed by fname, got {type(data).__name__}")
    return {str(k): v for k, v in data.items() if isinstance(v, dict)}


def _split_list(field: str) -> list[str]:
    return [x.strip() for x in field.split(",") if x.strip()]


@register(CORPUS)
def read(root: Path, options: dict[str, Any]) -> Iterator[ManifestRow | Reject]:
    root = Path(root)
    use_description = bool(options.get("use_description", False))
    max_chars = int(options.get("description_max_chars", 300))

    vocab_path = root / GT / "vocabulary.csv"
    present = [p for p in PARTS if (root / GT / p[0]).is_file()]
    if not vocab_path.is_file() or not present:
        expected = [str(vocab_path)] + [str(root / GT / p[0]) for p in PARTS]
        raise FileNotFoundError(f"fsd50k: expected {', '.join(expected)} (dev.csv and/or eval.csv)")
    for part in PARTS:
        if part not in present:
            log.warning("fsd50k: %s not found; reading the other split only", root / GT / part[0])
    vocab = _vocabulary(vocab_path)

    seen: dict[str, str] = {}
    for csv_name, audio_dir, meta_name, fixed_split in present:
        meta_path = root / META / meta_name
        meta = _metadata(meta_path)
        if use_description and not meta:
            raise FileNotFoundError(f"fsd50k: use_description needs {meta_path}")
        folder = root / audio_dir
        on_disk = set(os.listdir(folder)) if folder.is_dir() else set()
        rel = f"{GT}/{csv_name}"
        required = ("fname", "labels", "mids") + (("split",) if fixed_split is None else ())
        for rec in read_table(root / GT / csv_name, required):
            source = f"{rel}:{rec.line}"
            if rec.error is not None:
                yield malformed_row(CORPUS, source, rec.error)
                continue
            fname = rec.values["fname"].strip()
            if not fname:
                yield malformed_row(CORPUS, source, "empty fname")
                continue
            key = make_key(CORPUS, fname)
            if fixed_split is None:
                split = DEV_SPLITS.get(rec.values["split"].strip().lower())
                if split is None:
                    yield malformed_row(CORPUS, source, f"unknown split {rec.values['split']!r} (train|val)", key,
                                        source_id=fname)
                    continue
            else:
                split = fixed_split
            if key in seen:
                yield malformed_row(CORPUS, source, f"duplicate fname {fname} (first at {seen[key]})", key,
                                    source_id=fname)
                continue
            seen[key] = source
            mids = _split_list(rec.values["mids"])
            names = _split_list(rec.values["labels"])
            if not mids:
                yield malformed_row(CORPUS, source, "no mids", key, source_id=fname)
                continue
            if len(names) != len(mids):
                names = [""] * len(mids)  # positions do not line up: rely on the vocabulary only
            labels = [vocab.get(m) or readable(n) or m for m, n in zip(mids, names)]
            wav = f"{fname}.wav"
            if wav not in on_disk:
                yield missing_audio(CORPUS, key, source, f"{audio_dir}/{wav}", source_id=fname,
                                    audio_path=f"{audio_dir}/{wav}")
                continue
            captions = [", ".join(labels)]
            info = meta.get(fname, {})
            if use_description:
                desc = clean_description(str(info.get("description") or ""), max_chars)
                if desc:
                    captions.append(desc)
            license_ = str(info.get("license") or "").strip() or None
            yield ManifestRow(
                key=key,
                corpus=CORPUS,
                split=split,
                audio_path=str(folder / wav),
                source=source,
                offset_s=0.0,
                duration_s=None,
                captions=captions,
                caption=captions[0],
                labels=labels,
                label_ids=mids,
                license=license_,
                freesound_id=fname,
            )
