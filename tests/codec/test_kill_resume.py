"""The codec trainer stopped before each file operation of a checkpoint's commit (the writer's test
hook), then `--resume auto`: the same weights, bit for bit, as a run never stopped."""
from __future__ import annotations

import torch
import yaml

from audiogen.codec.train import main
from audiogen.io.trainer_state import KILL_AT_ENV, KILL_MODE_ENV, STATE_NAME, SimulatedKill, read_state

STEPS, EVERY, KILLED_COMMIT = 6, 2, 4


def test_codec_killed_at_every_commit_operation_resumes_exactly(synth_shards, tmp_path, monkeypatch, caplog):
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"codec": {
        "preset": "tiny", "segment_s": 0.25, "batch_size": 2, "valid_clips": 2, "valid_segment_s": 0.5,
        "checkpoint_every": EVERY, "valid_every": 100,
        "losses": {"balancer": True, "disc_filters": 4, "disc_n_ffts": [256, 128]}}}))

    def run(out, resume=False):
        return main(["--params", str(params), "--shards", str(synth_shards), "--out", str(out),
                     "--live-dir", str(out / "live"), "--steps", str(STEPS), "--threads", "1"]
                    + (["--resume", "auto"] if resume else []))

    run(tmp_path / "whole")
    reference = (tmp_path / "whole" / "model.safetensors").read_bytes()
    ref_state = read_state(tmp_path / "whole" / STATE_NAME)
    monkeypatch.setenv(KILL_MODE_ENV, "raise")
    k = 0
    while True:
        out = tmp_path / f"killed{k}"
        monkeypatch.setenv(KILL_AT_ENV, f"{KILLED_COMMIT}:{k}")
        try:
            run(out)
        except SimulatedKill:
            pass
        else:
            break  # k is past the last operation: nothing left to stop
        finally:
            monkeypatch.delenv(KILL_AT_ENV)
        # Stopped before the commit rename (k <= 3): step 2's checkpoint; after it: step 4's.
        committed = read_state(out / STATE_NAME)["step"]
        assert committed == (EVERY if k <= 3 else KILLED_COMMIT), k
        caplog.clear()
        with caplog.at_level("INFO", logger="audiogen.codec"):
            result = run(out, resume=True)
        # It continued from the committed step (a fresh run would end the same: that proves nothing).
        assert f"at step {committed}" in caplog.text, k
        assert result["step"] == STEPS, k
        assert (out / "model.safetensors").read_bytes() == reference, k
        state = read_state(out / STATE_NAME)
        for name, v in ref_state["disc"].items():
            assert torch.equal(v, state["disc"][name]), (k, name)
        assert state["positions"] == ref_state["positions"], k
        k += 1
    assert k == 7  # every file operation of a commit was a kill point
