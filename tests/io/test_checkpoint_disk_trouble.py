"""A checkpoint write that fails half way (a real EFBIG: the process's file-size limit, as a full disk
fails a write with ENOSPC) leaves the last committed checkpoint whole, no temporary behind, and the
trainer's CLI says so in one line."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import torch

from audiogen.io.trainer_state import STATE_NAME, load_resume_state

REPO = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent("""
    import resource, sys, torch
    from audiogen.io.atomic import run_cli
    from audiogen.io.trainer_state import commit_checkpoint, model_files

    def main():
        out = sys.argv[1]
        small = {"w": torch.ones(8)}
        commit_checkpoint(out, "test", {"step": 1, "model": small}, model_files(small, {}, "f"))
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))
        big = {"w": torch.zeros(100_000)}  # 400 kB of weights: cannot be written under the limit
        commit_checkpoint(out, "test", {"step": 2, "model": big}, model_files(big, {}, "f"))
        print("committed")

    run_cli(main, "train")
""")


def test_failed_checkpoint_write_keeps_the_last_checkpoint_and_is_one_line(tmp_path):
    out = tmp_path / "ckpt"
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(out)], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO), "PYTHONDONTWRITEBYTECODE": "1"})
    assert proc.returncode == 1 and "committed" not in proc.stdout
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith("train: cannot write the checkpoint of step 2 in ") and str(out) in line, line
    state = load_resume_state(out, "test")
    assert state["step"] == 1 and torch.equal(state["model"]["w"], torch.ones(8))
    assert sorted(p.name for p in out.iterdir()) == sorted(["config.json", "model.safetensors", STATE_NAME])
