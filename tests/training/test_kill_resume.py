"""The LM trainer stopped before each file operation of a checkpoint's commit (the writer's test hook),
then `--resume auto`: the weights of a run never stopped, bit for bit. Once in-process for every
operation (EMA on: the public weights are the averaged ones, the live ones are in state.pt), once
for real with `os._exit` in a separate process, in the window where the old writer mixed two steps."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from audiogen.io.trainer_state import KILL_AT_ENV, KILL_MODE_ENV, KILLED_EXIT, STATE_NAME, SimulatedKill, read_state
from audiogen.train import main as train_main
from tests.lm_fixtures import build_lm_data

TINY = {"lm_preset": "tiny", "lm_overrides": {"dim": 32, "num_layers": 1, "num_heads": 2}, "segment_s": 1.0,
        "batch_size": 2, "max_steps": 6, "warmup_steps": 2, "checkpoint_every": 2, "valid_every": 100,
        "log_every": 100, "cfg_dropout": 0.25, "mix": {"p": 0.5}, "shuffle_buffer": 8, "seed": 0, "threads": 1}
KILLED_COMMIT = 4


@pytest.fixture(scope="module")
def lm_data(tmp_path_factory):
    return build_lm_data(tmp_path_factory.mktemp("lmdata_kill"))


def _args(data, out: Path, params: Path) -> list[str]:
    return ["--tokens", str(data["tokens"]), "--audio", str(data["audio"]), "--codec", str(data["codec"]),
            "--out", str(out), "--live-dir", str(out / "live"), "--params", str(params)]


def _params(tmp: Path, **overrides) -> Path:
    p = tmp / "params.yaml"
    p.write_text(yaml.safe_dump({"train": {**TINY, **overrides}}))
    return p


def _same_weights(a: Path, b: Path) -> None:
    wa, wb = load_file(str(a / "model.safetensors")), load_file(str(b / "model.safetensors"))
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k
    sa, sb = read_state(a / STATE_NAME), read_state(b / STATE_NAME)
    assert sa["step"] == sb["step"]
    for k in sa["model"]:  # the live weights too (they differ from the public ones with EMA on)
        assert torch.equal(sa["model"][k], sb["model"][k]), k


def test_lm_killed_at_every_commit_operation_resumes_exactly(lm_data, tmp_path, monkeypatch, caplog):
    params = _params(tmp_path, ema=0.9)
    train_main(_args(lm_data, tmp_path / "whole", params))
    monkeypatch.setenv(KILL_MODE_ENV, "raise")
    k = 0
    while True:
        out = tmp_path / f"killed{k}"
        monkeypatch.setenv(KILL_AT_ENV, f"{KILLED_COMMIT}:{k}")
        try:
            train_main(_args(lm_data, out, params))
        except SimulatedKill:
            pass
        else:
            break  # k is past the last operation
        finally:
            monkeypatch.delenv(KILL_AT_ENV)
        committed = read_state(out / STATE_NAME)["step"]
        assert committed == (2 if k <= 3 else KILLED_COMMIT), k  # before / after the commit rename
        caplog.clear()
        with caplog.at_level("INFO", logger="audiogen.train"):
            result = train_main(_args(lm_data, out, params) + ["--resume", "auto"])
        assert f"at step {committed}" in caplog.text, k  # continued, not started over
        assert result["step"] == TINY["max_steps"], k
        _same_weights(tmp_path / "whole", out)
        k += 1
    assert k == 7  # every file operation of a commit was a kill point


def test_lm_process_exits_between_commit_and_public_files_then_resumes(lm_data, tmp_path, caplog):
    """`os._exit` right after state.pt of step 4 is committed, before model.safetensors and
    config.json follow (the old writer's window, the other way round): the resume reads step 4 from
    state.pt, rewrites the public files from it, and ends as a run never killed."""
    params = _params(tmp_path)
    train_main(_args(lm_data, tmp_path / "whole", params))
    out = tmp_path / "killed"
    env = {**os.environ, KILL_AT_ENV: f"{KILLED_COMMIT}:4"}
    proc = subprocess.run([sys.executable, "-m", "audiogen.train", *_args(lm_data, out, params)], env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=300)
    assert proc.returncode == KILLED_EXIT, proc.stderr[-2000:]
    state = read_state(out / STATE_NAME)
    assert state["step"] == KILLED_COMMIT
    public = load_file(str(out / "model.safetensors"))  # still step 2's
    assert any(not torch.equal(public[k], state["model"][k]) for k in public)
    with caplog.at_level("INFO", logger="audiogen.checkpoint"):
        train_main(_args(lm_data, out, params) + ["--resume", "auto"])
    assert "model.safetensors" in caplog.text and "rewritten from the committed state of step 4" in caplog.text
    _same_weights(tmp_path / "whole", out)


def test_damaged_state_stops_resume_with_one_line(lm_data, tmp_path):
    """A truncated state.pt is never half-read: `--resume auto` stops with one line naming it."""
    params = _params(tmp_path, max_steps=2)
    out = tmp_path / "run"
    train_main(_args(lm_data, out, params))
    data = (out / STATE_NAME).read_bytes()
    (out / STATE_NAME).write_bytes(data[: len(data) // 2])
    with pytest.raises(SystemExit) as err:
        train_main(_args(lm_data, out, params) + ["--resume", "auto"])
    msg = str(err.value)
    assert msg.startswith(f"audiogen.train: {out / STATE_NAME}: not a readable trainer state") and "\n" not in msg
    assert "delete" in msg
