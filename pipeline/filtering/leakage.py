"""Evaluation-set leakage guard and test hold-out (filter stage).

The AudioCaps test split is THE test split (PAPER.md): every one of its clips also sits in
AudioSet's unbalanced train CSV, and the same YouTube videos turn up in VGGSound, so any train or
valid row sharing a YouTube id with it is dropped (`leak_audiocaps_test`; the whole video, not just
the 10 s window, since neighbouring windows carry the same scene). Clotho's evaluation split gets
the same protection by Freesound id or by the very audio file (`leak_clotho_eval`): Clotho and
FSD50K both come from Freesound. Test rows of corpora not in `test_corpora` are held out of every
split (`held_out_test`): they are neither evaluated nor trained on.

Rows are manifest dicts (pipeline.manifest.read_manifest); rejects are Reject dicts.
"""
from __future__ import annotations

import os
from typing import Any, Iterable

from pipeline.manifest import reject_ids

AUDIOCAPS = "audiocaps"
CLOTHO = "clotho"
STAGE = "filter"

Row = dict[str, Any]


def file_identity(path: str | None) -> str | None:
    """One spelling per file: symlinks and `a/../b` resolve to the same string."""
    if not path:
        return None
    return os.path.normcase(os.path.realpath(path))


def _reject(row: Row, reason: str, detail: str) -> Row:
    return {"stage": STAGE, "reason": reason, "key": row["key"], "source": row.get("source") or row["key"],
            "corpus": row["corpus"], "detail": detail, **reject_ids(row)}


def apply_leakage(rows: Iterable[Row], test_corpora: Iterable[str]) -> tuple[list[Row], list[Row]]:
    """(kept rows, rejects). Kept: train/valid rows that do not leak, and test rows of `test_corpora`."""
    rows = list(rows)
    test_corpora = set(test_corpora)
    audiocaps_test = {r["youtube_id"] for r in rows
                      if r["corpus"] == AUDIOCAPS and r["split"] == "test" and r.get("youtube_id")}
    clotho_eval = [r for r in rows if r["corpus"] == CLOTHO and r["split"] == "test"]
    clotho_ids = {str(r["freesound_id"]) for r in clotho_eval if r.get("freesound_id")}
    clotho_files = {file_identity(r.get("audio_path")) for r in clotho_eval} - {None}

    kept: list[Row] = []
    rejects: list[Row] = []
    for row in rows:
        if row["split"] == "test":
            if row["corpus"] in test_corpora:
                kept.append(row)
            else:
                rejects.append(_reject(row, "held_out_test",
                                       f"test split of {row['corpus']} is held out (filter.test_corpora = "
                                       f"{sorted(test_corpora)})"))
            continue
        yt = row.get("youtube_id")
        if yt and yt in audiocaps_test:
            rejects.append(_reject(row, "leak_audiocaps_test", f"YouTube id {yt} is in the AudioCaps test split"))
            continue
        fs = row.get("freesound_id")
        if fs and str(fs) in clotho_ids:
            rejects.append(_reject(row, "leak_clotho_eval", f"Freesound id {fs} is in the Clotho evaluation split"))
            continue
        if clotho_files and file_identity(row.get("audio_path")) in clotho_files:
            rejects.append(_reject(row, "leak_clotho_eval", f"{row.get('audio_path')} is a Clotho evaluation file"))
            continue
        kept.append(row)
    return kept, rejects
