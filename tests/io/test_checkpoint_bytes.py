"""state.pt's bytes depend on its content only: not on the pid of the process that wrote it, and not on
whether the optimiser's keys were made by the code or read back from a checkpoint (a resumed run)."""
from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import torch

from audiogen.io.trainer_state import STATE_NAME, commit_checkpoint, model_files

REPO = Path(__file__).resolve().parents[2]


def _commit(out: Path, optimizer: dict) -> bytes:
    w = {"w": torch.arange(4.0)}
    commit_checkpoint(out, "test", {"step": 3, "model": w, "optimizer": optimizer}, model_files(w, {}, "f"))
    return (out / STATE_NAME).read_bytes()


def test_a_resumed_optimiser_state_gives_the_same_bytes(tmp_path):
    made = {"state": {0: {"step": torch.tensor(3.0), "exp_avg": torch.ones(4)}}, "param_groups": [{"lr": 0.1}]}
    buf = io.BytesIO()
    torch.save(made, buf)
    buf.seek(0)
    read_back = torch.load(buf, weights_only=True)  # its 'step' is another str object than the code's
    assert _commit(tmp_path / "a", made) == _commit(tmp_path / "b", read_back)


def test_the_writers_pid_is_not_in_the_bytes(tmp_path):
    code = ("import sys, torch; from audiogen.io.trainer_state import commit_checkpoint, model_files; "
            "w = {'w': torch.arange(4.0)}; "
            "commit_checkpoint(sys.argv[1], 'test', {'step': 3, 'model': w}, model_files(w, {}, 'f'))")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for name in ("a", "b"):  # two processes, two pids
        subprocess.run([sys.executable, "-c", code, str(tmp_path / name)], env=env, check=True)
    assert (tmp_path / "a" / STATE_NAME).read_bytes() == (tmp_path / "b" / STATE_NAME).read_bytes()
