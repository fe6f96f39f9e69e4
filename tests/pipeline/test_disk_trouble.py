"""Disk trouble in a stage: a write that fails half way (a real failure of the write system call: the
process's file-size limit, RLIMIT_FSIZE, which fails writes with EFBIG as a full disk fails them with
ENOSPC; no root needed) or an output folder that cannot be created (a file stands where it should
be) ends the stage with one line naming the file, not a traceback, and leaves every previous output
byte for byte as it was, with no temporary behind."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import soundfile as sf
import numpy as np

from pipeline.corpora.base import make_key
from pipeline.manifest import ManifestRow, write_manifest

REPO = Path(__file__).resolve().parents[2]


def _stage(args: list[str], cwd: Path, fsize: int | None = None, params: Path | None = None) -> subprocess.CompletedProcess:
    """Run a stage CLI (`-m module ...`); with `fsize`, no file it writes may grow past that many bytes
    (Python ignores SIGXFSZ, so such a write fails with EFBIG, an OSError)."""
    assert args[0] == "-m"
    code = ("import resource, runpy, sys\n"
            + (f"resource.setrlimit(resource.RLIMIT_FSIZE, ({fsize}, {fsize}))\n" if fsize else "")
            + f"sys.argv = {[args[1]] + args[2:]!r}\n"
            + f"runpy.run_module({args[1]!r}, run_name='__main__', alter_sys=True)\n")
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1",  # else CPython leaves truncated .pyc files under the limit
           "PYTHONPATH": str(REPO), "AUDIOGEN_PARAMS": str(params) if params else "/nonexistent/params.yaml"}
    env.pop("RAY_ADDRESS", None)
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _assert_one_line_error(proc: subprocess.CompletedProcess, stage: str, *names: str) -> str:
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"{stage}: cannot "), last
    for name in names:
        assert name in last, (name, last)
    return last


def _row(corpus: str, sid: str, split: str = "train", **kw: Any) -> dict[str, Any]:
    return ManifestRow(key=make_key(corpus, sid), corpus=corpus, split=split, source=f"{corpus}.csv:{sid}",
                       audio_path=f"/data/{corpus}/{sid}.wav", duration_s=10.0, captions=[f"{sid} sound"],
                       caption=f"{sid} sound", **kw).to_dict()


def _manifests(root: Path, n: int) -> Path:
    manifests = root / "manifests"
    rows = [_row("clotho", f"c{i}", "train" if i % 3 else "valid") for i in range(n)]
    write_manifest(rows, manifests / "clotho" / "manifest.parquet")
    write_manifest([_row("audiocaps", f"t{i}", "test", youtube_id=f"TESTVIDEO{i:02d}") for i in range(2)],
                   manifests / "audiocaps" / "manifest.parquet")
    return manifests


@pytest.mark.parametrize("fsize", [600, 3000])
def test_filter_write_failing_half_way_keeps_the_previous_outputs(tmp_path, fsize):
    manifests = _manifests(tmp_path, 6)
    out = manifests / "filtered"
    args = ["-m", "pipeline.filter", "--manifests", str(manifests), "--out", str(out)]
    first = _stage(args, REPO)
    assert first.returncode == 0, first.stderr[-3000:]
    before = _files(out)

    _manifests(tmp_path, 60)  # new input: the new outputs would differ (and be larger)
    proc = _stage(args, REPO, fsize=fsize)
    last = _assert_one_line_error(proc, "filter", str(out))
    assert "too large" in last.lower(), last
    assert _files(out) == before  # every previous output as it was, no temporary beside them

    again = _stage(args, REPO)  # room again: the run completes
    assert again.returncode == 0, again.stderr[-3000:]
    assert _files(out) != before and not list(out.glob("*.tmp"))


def test_filter_output_folder_that_cannot_be_created(tmp_path):
    manifests = _manifests(tmp_path, 6)
    blocker = tmp_path / "reports"
    blocker.write_text("a file where the output folder's parent should be\n")
    proc = _stage(["-m", "pipeline.filter", "--manifests", str(manifests), "--out", str(blocker / "filtered")], REPO)
    _assert_one_line_error(proc, "filter", str(blocker))
    assert blocker.read_text().startswith("a file where")


def _tone(path: Path, seconds: float, freq: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(16000 * seconds)) / 16000
    sf.write(path, 0.3 * np.sin(2 * np.pi * freq * t), 16000, subtype="PCM_16")


def test_ingest_write_failing_half_way_keeps_the_previous_outputs(tmp_path):
    root = tmp_path / "my_sounds"
    for i in range(3):
        _tone(root / f"tone {i}.wav", 0.5, 200 + 100 * i)
        (root / f"tone {i}.txt").write_text(f"a tone of {200 + 100 * i} hertz\n")
    params = tmp_path / "params.yaml"  # probe in this process: the file-size limit then covers every write
    params.write_text("ingest:\n  local_probe_below: 100000\ncorpora:\n  my_sounds:\n    adapter: folder\n")
    out = tmp_path / "manifests" / "my_sounds"
    args = ["-m", "pipeline.ingest", "--corpus", "my_sounds", "--root", str(root), "--out", str(out)]
    first = _stage(args, tmp_path, params=params)
    assert first.returncode == 0, first.stderr[-3000:]
    before = _files(out)

    for i in range(3, 40):
        _tone(root / f"tone {i}.wav", 0.5, 200 + 100 * i)
        (root / f"tone {i}.txt").write_text(f"a tone of {200 + 100 * i} hertz, a longer caption this time\n")
    proc = _stage(args, tmp_path, fsize=4000, params=params)
    _assert_one_line_error(proc, "ingest", str(out))
    assert _files(out) == before

    blocked = _stage(["-m", "pipeline.ingest", "--corpus", "my_sounds", "--root", str(root),
                      "--out", str(out / "manifest.parquet" / "sub")], tmp_path, params=params)
    _assert_one_line_error(blocked, "ingest", "manifest.parquet")
    assert _files(out) == before


def test_prepare_output_folder_that_cannot_be_created(tmp_path):
    manifests = tmp_path / "filtered"
    write_manifest([_row("clotho", "c0")], manifests / "train.parquet")
    (tmp_path / "shards").write_text("not a folder\n")
    proc = _stage(["-m", "pipeline.prepare", "--manifests", str(manifests), "--out", str(tmp_path / "shards" / "audio")],
                  tmp_path)
    _assert_one_line_error(proc, "prepare", str(tmp_path / "shards"))
