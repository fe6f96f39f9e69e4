"""`python -m pipeline.summary`: what the last `dvc repro` produced, in a few lines.

Reads the stats.json each stage writes (missing stages are skipped), so `make demo` ends with a
readable account of rows, hours, coverage and rejects rather than a wall of logs.
"""
from __future__ import annotations

import json
from pathlib import Path


def _load(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def ingest_lines(manifests: Path) -> list[str]:
    lines = []
    for stats_path in sorted(manifests.glob("*/stats.json")):
        if stats_path.parent.name == "filtered":
            continue
        s = _load(stats_path) or {}
        rejects = s.get("rejects", {}) or {}
        lines.append(
            f"  ingest  {stats_path.parent.name:<20} rows {s.get('rows', '?'):>5}  coverage "
            f"{100 * float(s.get('coverage', 0) or 0):5.1f}%  hours {float(s.get('hours', 0) or 0):6.3f}  "
            f"rejects {sum(rejects.values()) if isinstance(rejects, dict) else rejects}"
        )
    return lines


def main() -> None:
    root = Path("data")
    lines = ["audiogen demo summary"]
    lines += ingest_lines(root / "manifests")
    filtered = _load(root / "manifests" / "filtered" / "stats.json")
    if filtered:
        lines.append(f"  filter  {json.dumps(filtered.get('rows_out', filtered.get('rows', {})), sort_keys=True)}")
        lines.append(f"          drops {json.dumps(filtered.get('drops', {}), sort_keys=True)}")
    for name, path in (("prepare", root / "shards" / "audio" / "stats.json"),
                       ("tokens", root / "shards" / "tokens" / "stats.json"),
                       ("codec", Path("models") / "codec" / "metrics.json")):
        s = _load(path)
        if s:
            lines.append(f"  {name:<7} {json.dumps(s, sort_keys=True)[:300]}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
