"""A Ray Train worker of the codec trainer lost mid-run, for real: rank 1 SIGKILLs itself at the
checkpoint of step 4 (test hook); Ray Train restarts the group, which resumes from the last committed
checkpoint (step 2) and ends with the weights of a run never killed."""
from __future__ import annotations

import torch
import yaml

from audiogen.codec.train import main
from audiogen.io.trainer_state import KILL_WORKER_ENV, STATE_NAME, read_state


def test_lost_codec_worker_restarts_the_group_from_the_last_checkpoint(ray_local, synth_shards, tmp_path,
                                                                       monkeypatch):
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"codec": {
        "preset": "tiny", "segment_s": 0.25, "batch_size": 2, "valid_clips": 2, "valid_segment_s": 0.5,
        "checkpoint_every": 2, "valid_every": 100, "losses": {"disc_filters": 4, "disc_n_ffts": [256, 128]}}}))

    def run(name):
        return main(["--params", str(params), "--shards", str(synth_shards), "--out", str(tmp_path / name),
                     "--live-dir", str(tmp_path / name / "live"), "--steps", "6", "--num-workers", "2",
                     "--threads", "1", "--ray-storage", str(tmp_path / f"ray-{name}")])

    whole = run("whole")
    assert whole["step"] == 6 and whole["start_step"] == 0
    marker = tmp_path / "worker-killed"
    monkeypatch.setenv(KILL_WORKER_ENV, f"1:4:{marker}")
    result = run("lost")
    assert marker.read_text() == "rank 1 killed at step 4\n"  # the worker really died, once
    assert result["step"] == 6 and result["start_step"] == 2  # resumed from step 2's checkpoint
    assert result["ranks_in_sync"] is True
    assert (tmp_path / "lost" / "model.safetensors").read_bytes() == (tmp_path / "whole" / "model.safetensors").read_bytes()
    sa, sb = read_state(tmp_path / "whole" / STATE_NAME), read_state(tmp_path / "lost" / STATE_NAME)
    assert sa["positions"] == sb["positions"] and all(torch.equal(a, b) for a, b in zip(sa["rng"], sb["rng"]))
    for k, v in sa["disc"].items():
        assert torch.equal(v, sb["disc"][k]), k
