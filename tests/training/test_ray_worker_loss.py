"""A Ray Train worker lost mid-run, for real: with `train.num_workers: 2`, rank 1 SIGKILLs itself at
the checkpoint of step 4 (test hook); Ray Train restarts the group (`train.max_failures`), which
resumes from the last committed checkpoint (step 2) and ends with the weights of a run never killed."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from audiogen.io.trainer_state import KILL_WORKER_ENV, STATE_NAME, read_state
from audiogen.train import main as train_main
from tests.lm_fixtures import build_lm_data

TINY = {"lm_preset": "tiny", "lm_overrides": {"dim": 32, "num_layers": 1, "num_heads": 2}, "segment_s": 1.0,
        "batch_size": 2, "max_steps": 6, "warmup_steps": 2, "checkpoint_every": 2, "valid_every": 100,
        "log_every": 100, "cfg_dropout": 0.25, "mix": {"p": 0.5}, "shuffle_buffer": 8, "seed": 0, "threads": 1,
        "num_workers": 2, "max_failures": 2}


@pytest.fixture(scope="module")
def lm_data(tmp_path_factory):
    return build_lm_data(tmp_path_factory.mktemp("lmdata_ray_loss"))


def _train(data, out: Path, tmp: Path) -> dict:
    params = tmp / "params.yaml"
    params.write_text(yaml.safe_dump({"train": TINY}))
    return train_main(["--tokens", str(data["tokens"]), "--audio", str(data["audio"]), "--codec", str(data["codec"]),
                       "--out", str(out), "--live-dir", str(out / "live"), "--params", str(params),
                       "--ray-storage", str(out.parent / f"ray-{out.name}")])


def test_lost_worker_restarts_the_group_from_the_last_checkpoint(lm_data, tmp_path, ray_local, monkeypatch):
    whole = _train(lm_data, tmp_path / "whole", tmp_path)
    assert whole["step"] == 6 and whole["start_step"] == 0
    marker = tmp_path / "worker-killed"
    monkeypatch.setenv(KILL_WORKER_ENV, f"1:4:{marker}")
    result = _train(lm_data, tmp_path / "lost", tmp_path)
    assert marker.read_text() == "rank 1 killed at step 4\n"  # the worker really died, once
    assert result["step"] == 6
    assert result["start_step"] == 2  # the restarted group resumed from step 2's checkpoint
    a, b = load_file(str(tmp_path / "whole" / "model.safetensors")), load_file(str(tmp_path / "lost" / "model.safetensors"))
    for k in a:
        assert torch.equal(a[k], b[k]), k
    sa, sb = read_state(tmp_path / "whole" / STATE_NAME), read_state(tmp_path / "lost" / STATE_NAME)
    assert sa["loader"] == sb["loader"] and sa["world"] == sb["world"] == 2
    for k, v in sa["optimizer"]["state"].items():
        assert torch.equal(v["exp_avg"], sb["optimizer"]["state"][k]["exp_avg"]), k
