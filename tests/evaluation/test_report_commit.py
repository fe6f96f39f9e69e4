"""The evaluation report appears whole or not at all: built in a staging folder, published with
metrics.json last; a write failing half way (the file-size limit: a real EFBIG from the write call)
or a kill leaves the previous report as it was, and the next run clears what the failed one left."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from audiogen.evaluation.report.commit import staged_report

REPO = Path(__file__).resolve().parents[2]


def _report(folder: Path, tag: str, clips: int = 2) -> None:
    (folder / "audio").mkdir(parents=True, exist_ok=True)
    for i in range(clips):
        (folder / "audio" / f"c{i}.wav").write_bytes(f"{tag} audio {i}".encode())
    (folder / "index.html").write_text(f"<html>{tag}</html>")
    (folder / "metrics.json").write_text(f'{{"tag": "{tag}"}}\n')


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_published_report_replaces_the_previous_one_whole(tmp_path):
    out = tmp_path / "eval"
    with staged_report(out) as staging:
        _report(staging, "old", clips=3)
    with staged_report(out) as staging:
        assert staging.parent == out and staging.name.startswith(".staging-")
        _report(staging, "new", clips=1)
        assert _tree(out)["metrics.json"] == b'{"tag": "old"}\n'  # nothing visible before the end
    tree = _tree(out)
    assert tree == {"audio/c0.wav": b"new audio 0", "index.html": b"<html>new</html>", "metrics.json": b'{"tag": "new"}\n'}


def test_a_write_failing_half_way_leaves_the_previous_report(tmp_path):
    out = tmp_path / "eval"
    with staged_report(out) as staging:
        _report(staging, "old")
    before = _tree(out)
    code = textwrap.dedent(f"""
        import resource, sys
        from pathlib import Path
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
        from audiogen.evaluation.report.commit import staged_report
        from audiogen.io.atomic import OutputError
        try:
            with staged_report(Path({str(out)!r})) as staging:
                (staging / "index.html").write_text("<html>new</html>")
                (staging / "audio").mkdir()
                (staging / "audio" / "big.wav").write_bytes(b"x" * 100_000)
                (staging / "metrics.json").write_text("{{}}")
        except OutputError as err:
            print(err)
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO), "PYTHONDONTWRITEBYTECODE": "1"})
    assert proc.returncode == 0, proc.stderr
    line = proc.stdout.strip()
    assert len(line.splitlines()) == 1 and str(out) in line and "too large" in line.lower(), line
    assert _tree(out) == before and not [p for p in out.iterdir() if p.name.startswith(".")]


def test_a_killed_run_leaves_the_previous_report_and_its_litter_is_cleared(tmp_path):
    out = tmp_path / "eval"
    with staged_report(out) as staging:
        _report(staging, "old")
    before = _tree(out)
    code = textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        from audiogen.evaluation.report.commit import staged_report
        with staged_report(Path({str(out)!r})) as staging:
            (staging / "index.html").write_text("<html>half</html>")
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == -9
    assert {k: v for k, v in _tree(out).items() if not k.startswith(".staging-")} == before
    with staged_report(out) as staging:
        _report(staging, "next")
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
    assert _tree(out)["index.html"] == b"<html>next</html>"
