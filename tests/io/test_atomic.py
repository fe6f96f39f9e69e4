"""Outputs appear whole or not at all: a write that fails half way (a real failure of the write
system call: the file-size limit) or a folder that cannot be created leaves the previous files as
they were, no temporary behind, and an error of one line naming the file."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from audiogen.io.atomic import OutputError, OutputSet, make_dirs, remove_stale_tmps, write_bytes, write_text

REPO = Path(__file__).resolve().parents[2]


def _run_limited(code: str, fsize: int, cwd: Path) -> subprocess.CompletedProcess:
    """Run `code` in a Python whose files may not grow past `fsize` bytes (RLIMIT_FSIZE: the write
    fails with EFBIG, as on a full disk; Python ignores SIGXFSZ, so it is an OSError, not a signal)."""
    prelude = f"import resource; resource.setrlimit(resource.RLIMIT_FSIZE, ({fsize}, {fsize}))\n"
    return subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)], cwd=cwd, capture_output=True,
                          text=True, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin",
                                          # under the limit CPython would leave a truncated .pyc behind
                                          "PYTHONDONTWRITEBYTECODE": "1"})


def test_write_replaces_whole_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "sub" / "stats.json"
    write_text(path, "old\n")
    write_bytes(path, b"new\n")
    assert path.read_bytes() == b"new\n"
    assert sorted(p.name for p in path.parent.iterdir()) == ["stats.json"]


def test_a_write_failing_half_way_keeps_the_previous_file(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a.json").write_text("previous a\n")
    proc = _run_limited("""
        from audiogen.io.atomic import write_bytes, OutputError
        try:
            write_bytes("out/a.json", b"x" * 100_000)
        except OutputError as err:
            print(err)
    """, fsize=10_000, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    message = proc.stdout.strip()
    assert len(message.splitlines()) == 1 and "out/a.json" in message and "too large" in message.lower(), message
    assert (tmp_path / "out" / "a.json").read_text() == "previous a\n"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.json"]


def test_an_output_set_fails_as_a_whole(tmp_path):
    """The second of three files fails: the first, already complete, is not renamed into place either."""
    out = tmp_path / "out"
    out.mkdir()
    for name in ("a.json", "b.json", "c.json"):
        (out / name).write_text(f"previous {name}\n")
    proc = _run_limited("""
        from audiogen.io.atomic import OutputSet, OutputError
        try:
            with OutputSet() as outputs:
                outputs.write_text("out/a.json", "new a\\n")
                outputs.write_bytes("out/b.json", b"x" * 100_000)
                outputs.write_text("out/c.json", "new c\\n")
        except OutputError as err:
            print(err)
    """, fsize=10_000, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "out/b.json" in proc.stdout and len(proc.stdout.strip().splitlines()) == 1, proc.stdout
    assert {p.name: p.read_text() for p in out.iterdir()} == {n: f"previous {n}\n" for n in ("a.json", "b.json", "c.json")}


def test_an_output_set_commits_every_file(tmp_path):
    with OutputSet() as outputs:
        outputs.write_text(tmp_path / "x" / "a.txt", "a")
        with outputs.open(tmp_path / "b.bin") as f:
            f.write(b"b")
        assert not (tmp_path / "b.bin").exists()  # nothing visible before the commit
    assert (tmp_path / "x" / "a.txt").read_text() == "a" and (tmp_path / "b.bin").read_bytes() == b"b"
    assert not list(tmp_path.rglob("*.tmp"))


def test_a_file_where_a_folder_should_be_is_one_clear_line(tmp_path):
    (tmp_path / "models").write_text("not a folder")
    with pytest.raises(OutputError) as err:
        make_dirs(tmp_path / "models" / "lm")
    assert "cannot create output folder" in str(err.value) and "models" in str(err.value)
    with pytest.raises(OutputError) as err:
        write_text(tmp_path / "models" / "lm" / "config.json", "{}")
    assert len(str(err.value).splitlines()) == 1
    assert (tmp_path / "models").read_text() == "not a folder"


def test_stale_temporaries_of_a_killed_run_are_removed(tmp_path):
    (tmp_path / "a.json.123.tmp").write_text("half")
    (tmp_path / "keep.tmp").write_text("not ours")  # no pid: not one of our temporaries
    (tmp_path / "a.json").write_text("whole")
    assert remove_stale_tmps(tmp_path) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "keep.tmp"]


def test_writing_a_file_removes_the_temporaries_killed_runs_left_of_it(tmp_path):
    (tmp_path / "stats.json.999999.tmp").write_text("half of a killed run's")
    (tmp_path / "other.json.999999.tmp").write_text("someone else's")
    write_text(tmp_path / "stats.json", "{}")
    with OutputSet() as outputs:
        outputs.write_text(tmp_path / "other.json", "{}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.json", "stats.json"]
