"""A resumed run's live metrics continue those of the run it resumes, as if it had never stopped.

dvclive appends one row per logged step to `<live_dir>/plots/metrics/**/<name>.tsv` (`step<TAB>value`)
and, resumed, keeps appending. A run killed after its checkpoint at step N may have logged steps past
N (lost with it, and done again by the resumed run) or half a row; `trim_after(live_dir, N)` keeps
each file's header and its whole rows of step <= N, so the resumed run's rows follow on exactly.
"""
from __future__ import annotations

import os
from pathlib import Path


def trim_after(live_dir: str | os.PathLike, step: int) -> int:
    """Drop every row past `step` (and any partial last row) from the dvclive plot files under
    `live_dir`; returns how many rows were dropped. Each file is rewritten atomically."""
    from audiogen.io.atomic import write_text

    dropped = 0
    root = Path(live_dir) / "plots" / "metrics"
    if not root.is_dir():
        return 0
    for path in sorted(root.rglob("*.tsv")):
        text = path.read_text(encoding="utf-8")
        lines = text.split("\n")
        complete = lines[:-1]  # a row is whole only when its newline was written
        if not complete:
            continue
        header, rows = complete[0], complete[1:]
        col = header.split("\t").index("step") if "step" in header.split("\t") else None
        kept = [r for r in rows if col is not None and _step_of(r, col) is not None and _step_of(r, col) <= step]
        if len(kept) != len(rows) or lines[-1]:
            dropped += len(rows) - len(kept) + bool(lines[-1])
            write_text(path, "\n".join([header, *kept]) + "\n")
    return dropped


def _step_of(row: str, col: int) -> int | None:
    fields = row.split("\t")
    try:
        return int(fields[col])
    except (IndexError, ValueError):
        return None
