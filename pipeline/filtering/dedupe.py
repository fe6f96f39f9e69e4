"""Cross-corpus duplicate merge (filter stage).

The same sound reaches us through several corpora: one YouTube window is an AudioSet row, an
AudioCaps clip and a VGGSound clip; one Freesound upload is in Clotho and in FSD50K. Training on
it twice over-weights it, and its texts are complementary (human captions + tags), so duplicates
collapse into ONE row:
  - clip identity: `yt:<youtube_id>:<start rounded to the second>` and `fs:<freesound_id>`; rows
    sharing any identity are one group (union-find, so chains A~B~C merge too);
  - the winner is the member whose corpus comes first in `priority` (corpora not listed come
    after, by name), then by key; its audio, window, split and caption are kept;
  - captions, labels and label_ids are the members' concatenated in winner-first order with
    repeats removed; `corpora` and `sources` ("<corpus>:<source>") record every origin;
  - the other members become `duplicate` rejects naming the winner's key.
Rows are manifest dicts; the test split is not passed here (it is never merged or filtered).
"""
from __future__ import annotations

from typing import Any, Iterable, Sequence

from pipeline.manifest import reject_ids

DEFAULT_PRIORITY = (
    "audiocaps", "clotho", "fsd50k", "audioset", "vggsound",
    "bbc_sound_effects", "free_to_use_sounds", "sonniss", "wesoundeffects", "odeon",
)
STAGE = "filter"

Row = dict[str, Any]


def round_second(seconds: float) -> int:
    """Half up (Python's round() is half-to-even: 0.5 → 0 but 1.5 → 2)."""
    return int(float(seconds) + 0.5) if seconds >= 0 else -int(-float(seconds) + 0.5)


def clip_ids(row: Row) -> list[str]:
    """The identities under which `row` can duplicate another row."""
    ids = []
    if row.get("youtube_id"):
        start = row.get("youtube_start_s")
        if start is None:
            start = row.get("offset_s") or 0.0
        ids.append(f"yt:{row['youtube_id']}:{round_second(start)}")
    if row.get("freesound_id"):
        ids.append(f"fs:{row['freesound_id']}")
    return ids


def unique(items: Iterable[Any]) -> list[Any]:
    """Items in first-seen order, each once (None and "" dropped)."""
    seen: set[Any] = set()
    out = []
    for item in items:
        if item is None or item == "" or item in seen:
            continue
        seen.add(item)
        out.append(item)
    return out


def origin(row: Row) -> str:
    return f"{row['corpus']}:{row.get('source') or row['key']}"


def with_origins(row: Row) -> Row:
    """A row as its own single origin (unmerged rows get `corpora`/`sources` too)."""
    row = dict(row)
    row["corpora"] = unique(row.get("corpora") or [row["corpus"]])
    row["sources"] = unique(row.get("sources") or [origin(row)])
    return row


def merge(members: Sequence[Row]) -> Row:
    """members[0] is the winner; the merged row keeps its fields and gathers everyone's texts."""
    merged = dict(members[0])
    for column in ("captions", "labels", "label_ids"):
        merged[column] = unique(v for m in members for v in (m.get(column) or []))
    merged["corpora"] = unique(c for m in members for c in (m.get("corpora") or [m["corpus"]]))
    merged["sources"] = unique(s for m in members for s in (m.get("sources") or [origin(m)]))
    return merged


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def dedupe(rows: Iterable[Row], priority: Sequence[str] = DEFAULT_PRIORITY) -> tuple[list[Row], list[Row]]:
    """(rows with every duplicate group merged into its winner, `duplicate` rejects for the rest)."""
    rows = sorted(rows, key=lambda r: r["key"])
    rank = {name: i for i, name in enumerate(priority)}
    uf = _UnionFind(len(rows))
    first: dict[str, int] = {}
    for i, row in enumerate(rows):
        for cid in clip_ids(row):
            if cid in first:
                uf.union(first[cid], i)
            else:
                first[cid] = i
    groups: dict[int, list[int]] = {}
    for i in range(len(rows)):
        groups.setdefault(uf.find(i), []).append(i)

    kept: list[Row] = []
    rejects: list[Row] = []
    for members_idx in groups.values():
        members = sorted((rows[i] for i in members_idx),
                         key=lambda r: (rank.get(r["corpus"], len(rank)), r["corpus"], r["key"]))
        if len(members) == 1:
            kept.append(with_origins(members[0]))
            continue
        winner = merge(members)
        kept.append(winner)
        for loser in members[1:]:
            rejects.append({
                "stage": STAGE, "reason": "duplicate", "key": loser["key"],
                "source": loser.get("source") or loser["key"], "corpus": loser["corpus"],
                "winner": winner["key"],
                "detail": f"same clip as {winner['key']} ({', '.join(clip_ids(loser))}); texts merged into it",
                **reject_ids(loser),
            })
    kept.sort(key=lambda r: r["key"])
    return kept, rejects
