"""The tagger trainer commits a checkpoint at every epoch's end: stopped before each file operation of
a commit (mid-run, and the final one that carries the validation), then `--resume auto`, it ends
with the same checkpoint bytes and metrics as a run never stopped."""
from __future__ import annotations

import json

import pytest
import yaml

from audiogen.evaluation.tagger.train import main
from audiogen.io.trainer_state import KILL_AT_ENV, KILL_MODE_ENV, STATE_NAME, SimulatedKill, read_state
from tests.evaluation.test_tagger import write_shards

EPOCHS, STEPS_PER_EPOCH = 3, 2  # 16 training clips, batch 8


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    root = tmp_path_factory.mktemp("tagger_resume")
    write_shards(root / "shards", "train", 8, seed=0)
    write_shards(root / "shards", "valid", 2, seed=1)
    return root / "shards"


def _run(shards, tmp_path, out, resume=False, **params):
    p = tmp_path / "params.yaml"
    p.write_text(yaml.safe_dump({"tagger": {
        "min_count": 3, "channels": [8, 16], "embed_dim": 16, "segment_s": 0.5, "batch_size": 8,
        "epochs": EPOCHS, "lr": 0.01, "seed": 0, "threads": 1, **params}}))
    return main(["--shards", str(shards), "--out", str(out), "--params", str(p), "--metrics", str(out / "m.json")]
                + (["--resume", "auto"] if resume else []))


@pytest.mark.parametrize("killed_step", [2 * STEPS_PER_EPOCH, EPOCHS * STEPS_PER_EPOCH], ids=["mid", "final"])
def test_tagger_killed_at_every_commit_operation_resumes_exactly(shards, tmp_path, monkeypatch, caplog, killed_step):
    whole = tmp_path / "whole"
    expected = _run(shards, tmp_path, whole)
    monkeypatch.setenv(KILL_MODE_ENV, "raise")
    k = 0
    while True:
        out = tmp_path / f"killed{k}"
        monkeypatch.setenv(KILL_AT_ENV, f"{killed_step}:{k}")
        try:
            _run(shards, tmp_path, out)
        except SimulatedKill:
            pass
        else:
            break
        finally:
            monkeypatch.delenv(KILL_AT_ENV)
        committed = read_state(out / STATE_NAME)
        assert committed["step"] == (killed_step - STEPS_PER_EPOCH if k <= 3 else killed_step), k
        caplog.clear()
        with caplog.at_level("INFO", logger="audiogen.tagger"):
            result = _run(shards, tmp_path, out, resume=True)
        # It continued from the committed epoch (a fresh run would end the same: that proves nothing).
        assert f"after epoch {committed['epoch']} of {EPOCHS}" in caplog.text, k
        for name in ("model.safetensors", "config.json"):
            assert (out / name).read_bytes() == (whole / name).read_bytes(), (k, name)
        assert {n: v for n, v in result.items() if n != "seconds"} == \
            {n: v for n, v in expected.items() if n != "seconds"}, k
        assert json.loads((out / "m.json").read_text())["valid_map"] == expected["valid_map"]
        k += 1
    assert k == 7


def test_tagger_resume_starts_fresh_on_other_params(shards, tmp_path):
    """A checkpoint trained with other params is not continued: a fresh run, the same as without it."""
    _run(shards, tmp_path, tmp_path / "a", lr=0.02)
    _run(shards, tmp_path, tmp_path / "a", resume=True)
    _run(shards, tmp_path, tmp_path / "b")
    assert (tmp_path / "a" / "model.safetensors").read_bytes() == (tmp_path / "b" / "model.safetensors").read_bytes()
    assert read_state(tmp_path / "a" / STATE_NAME)["epoch"] == EPOCHS
