"""The trainers' checkpoint writer/reader (audiogen.io.trainer_state) and the checkpoint file readers
(audiogen.io.checkpoint): one commit point, a writer stopped before each of its file operations
leaves a whole checkpoint (the previous one or the new one, never a mixture), old-format folders,
and one-line errors for missing, truncated, garbled and wrong-typed files."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from audiogen.io.checkpoint import (CheckpointError, CheckpointNotFoundError, load_weights, load_weights_into,
                                    read_checkpoint_config, save_checkpoint)
from audiogen.io.trainer_state import (KILL_AT_ENV, KILL_MODE_ENV, KILLED_EXIT, STATE_NAME, SimulatedKill,
                                       commit_checkpoint, load_resume_state, model_files, read_state)

FMT = "audiogen-test/1"


def _weights(step: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(step)
    return {"layer.weight": torch.randn(4, 3, generator=g), "layer.bias": torch.randn(4, generator=g)}


def _commit(out: Path, step: int) -> None:
    w = _weights(step)
    state = {"step": step, "model": w, "optimizer": {"moment": {k: 2 * v for k, v in w.items()}}}
    commit_checkpoint(out, "test", state, model_files(w, {"test": {"step": step}}, FMT))


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _public_matches_pins(out: Path) -> bool:
    pins = read_state(out / STATE_NAME)["sha256"]
    return all((out / n).is_file() and _sha(out / n) == sha for n, sha in pins.items())


def test_commit_round_trip_and_public_files_as_save_pretrained(tmp_path):
    _commit(tmp_path / "a", 3)
    save_checkpoint(tmp_path / "b", _weights(3), {"test": {"step": 3}}, FMT)
    for name in ("config.json", "model.safetensors"):  # the public folder format is unchanged
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    state = load_resume_state(tmp_path / "a", "test")
    assert state["step"] == 3 and torch.equal(state["model"]["layer.weight"], _weights(3)["layer.weight"])
    assert torch.equal(state["optimizer"]["moment"]["layer.bias"], 2 * _weights(3)["layer.bias"])
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["config.json", "model.safetensors", STATE_NAME]
    assert load_resume_state(tmp_path / "empty", "test") is None
    with pytest.raises(CheckpointError, match="state of a test trainer, not of the lm trainer"):
        load_resume_state(tmp_path / "a", "lm")


def test_writer_stopped_before_every_file_operation_leaves_a_whole_checkpoint(tmp_path, monkeypatch):
    """Step 2 committed, then the commit of step 4 stopped before operation k, for every k: the
    folder resumes to step 2 (stopped before the commit rename) or step 4 (after it), with the
    weights and optimiser of that same step, and public files that match it once read."""
    monkeypatch.setenv(KILL_MODE_ENV, "raise")
    files = 2  # config.json, model.safetensors
    k, outcomes = 0, []
    while True:
        out = tmp_path / f"k{k}"
        _commit(out, 2)
        monkeypatch.setenv(KILL_AT_ENV, f"4:{k}")
        try:
            _commit(out, 4)
            killed = False
        except SimulatedKill:
            killed = True
        monkeypatch.delenv(KILL_AT_ENV)
        if not killed:
            break
        before_commit = k <= files + 1  # writes of the files and of state.pt, then the commit rename
        public_whole = _public_matches_pins(out)
        assert load_resume_state(out, "test", repair=False)["step"] in (2, 4)  # ranks > 0 only read
        assert _public_matches_pins(out) == public_whole, k
        state = load_resume_state(out, "test")
        step = 2 if before_commit else 4
        assert state["step"] == step, k
        assert torch.equal(state["model"]["layer.weight"], _weights(step)["layer.weight"]), k
        assert torch.equal(state["optimizer"]["moment"]["layer.weight"], 2 * _weights(step)["layer.weight"]), k
        assert _public_matches_pins(out), k  # rewritten from the state where the kill left them stale
        assert torch.equal(load_file(str(out / "model.safetensors"))["layer.bias"], _weights(step)["layer.bias"])
        assert read_checkpoint_config(out, FMT, "test")["test"]["step"] == step
        assert not list(out.glob(".*.tmp")), k  # the killed commit's temporary files are gone
        outcomes.append((k, step, public_whole))
        k += 1
    assert k == 2 * files + 3  # every operation: 2 writes, state write, commit, 2 renames, done
    # Before the commit the previous checkpoint is whole; between the commit and the last rename the
    # public files lag behind (and are repaired from state.pt); after the last one all is in place.
    assert [(s, whole) for _, s, whole in outcomes] == [(2, True)] * 4 + [(4, False)] * 2 + [(4, True)]


def test_exit_mode_ends_the_process_at_the_chosen_operation(tmp_path):
    code = ("import sys, torch; from audiogen.io.trainer_state import commit_checkpoint, model_files; "
            "w = {'x': torch.ones(2)}; out = sys.argv[1]; "
            "commit_checkpoint(out, 'test', {'step': 1, 'model': w}, model_files(w, {}, 'f')); "
            "w = {'x': torch.zeros(2)}; "
            "commit_checkpoint(out, 'test', {'step': 2, 'model': w}, model_files(w, {}, 'f')); print('done')")
    env = {**os.environ, KILL_AT_ENV: "2:3"}
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path)], env=env, capture_output=True, text=True)
    assert proc.returncode == KILLED_EXIT and "done" not in proc.stdout, proc.stderr
    assert read_state(tmp_path / STATE_NAME)["step"] == 1  # stopped before the commit rename
    assert torch.equal(load_resume_state(tmp_path, "test")["model"]["x"], torch.ones(2))


def _legacy_folder(out: Path, weights_after_state: bool) -> None:
    """A folder as the old writers left it: model.safetensors and state.pt renamed in turn."""
    save_checkpoint(out, _weights(2), {"test": {}}, FMT)
    torch.save({"step": 2, "optimizer": {}}, out / STATE_NAME)
    if weights_after_state:  # killed after the weights of step 4, before its state
        os.utime(out / "model.safetensors", ns=(os.stat(out / STATE_NAME).st_mtime_ns + 10**9,) * 2)
    else:
        os.utime(out / STATE_NAME, ns=(os.stat(out / "model.safetensors").st_mtime_ns + 10**9,) * 2)


def test_old_format_folder_resumes_when_whole_and_is_refused_when_it_may_mix(tmp_path):
    _legacy_folder(tmp_path / "whole", weights_after_state=False)
    state = load_resume_state(tmp_path / "whole", "test")
    assert state["step"] == 2 and torch.equal(state["model"]["layer.bias"], _weights(2)["layer.bias"])
    _legacy_folder(tmp_path / "mixed", weights_after_state=True)
    with pytest.raises(CheckpointError, match=r"model.safetensors is newer than it .*refusing to mix") as err:
        load_resume_state(tmp_path / "mixed", "test")
    assert "\n" not in str(err.value) and str(tmp_path / "mixed" / STATE_NAME) in str(err.value)
    # The LM with EMA kept its live weights in state.pt: whole on its own.
    torch.save({"step": 5, "live_weights": _weights(5)}, tmp_path / "mixed" / STATE_NAME)
    assert torch.equal(load_resume_state(tmp_path / "mixed", "lm")["model"]["layer.weight"], _weights(5)["layer.weight"])


@pytest.mark.parametrize("damage", ["truncated", "garbled", "empty", "wrong type", "no step"])
def test_damaged_state_is_one_line_naming_the_file(tmp_path, damage):
    _commit(tmp_path, 2)
    path = tmp_path / STATE_NAME
    data = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbled":
        path.write_bytes(bytes(b ^ 0x5A for b in data))
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "wrong type":
        torch.save([1, 2, 3], path)
    else:
        torch.save({"optimizer": {}}, path)
    with pytest.raises(CheckpointError) as err:
        load_resume_state(tmp_path, "test")
    msg = str(err.value)
    assert msg.startswith(str(path) + ":") and "\n" not in msg and "delete" in msg, msg


@pytest.mark.parametrize("damage,expect", [
    ("missing", "not a test checkpoint"), ("truncated", "not valid JSON"), ("garbled", "cannot be read as text"),
    ("list", "holds a JSON list"), ("format", "format 'other/1'"), ("section", "'test' should be a JSON object"),
    ("directory", "cannot be read"),
])
def test_damaged_config_is_one_line_naming_the_file(tmp_path, damage, expect):
    save_checkpoint(tmp_path, _weights(1), {"test": {"a": 1}}, FMT)
    path = tmp_path / "config.json"
    text = path.read_text()
    if damage == "missing":
        path.unlink()
    elif damage == "truncated":
        path.write_text(text[: len(text) // 2])
    elif damage == "garbled":
        path.write_bytes(b"\xff\xfe\x00garbage\x9c")
    elif damage == "list":
        path.write_text("[1, 2]")
    elif damage == "format":
        path.write_text('{"format": "other/1"}')
    elif damage == "section":
        path.write_text(f'{{"format": "{FMT}", "test": "oops"}}')
    else:
        path.unlink()
        path.mkdir()
    with pytest.raises(CheckpointError) as err:
        read_checkpoint_config(tmp_path, FMT, "test", sections=("test",))
    msg = str(err.value)
    assert msg.startswith(str(path) + ":") and expect in msg and "\n" not in msg, msg
    if damage == "missing":
        assert isinstance(err.value, FileNotFoundError)


@pytest.mark.parametrize("damage", ["missing", "truncated", "garbled", "json"])
def test_damaged_weights_are_one_line_naming_the_file(tmp_path, damage):
    save_checkpoint(tmp_path, _weights(1), {}, FMT)
    path = tmp_path / "model.safetensors"
    data = path.read_bytes()
    if damage == "missing":
        path.unlink()
    elif damage == "truncated":
        path.write_bytes(data[: len(data) - 7])
    elif damage == "garbled":
        path.write_bytes(b"\x00" * 3 + data[3:])
    else:
        path.write_text('{"not": "weights"}')
    with pytest.raises(CheckpointError) as err:
        load_weights(tmp_path)
    msg = str(err.value)
    assert msg.startswith(str(path) + ":") and "\n" not in msg, msg
    assert ("missing" if damage == "missing" else "not a readable safetensors file") in msg
    if damage == "missing":
        assert isinstance(err.value, CheckpointNotFoundError)


def test_weights_of_another_model_are_one_line(tmp_path):
    save_checkpoint(tmp_path, {"layer.weight": torch.zeros(4, 2), "extra": torch.zeros(1)}, {}, FMT)
    model = torch.nn.Module()
    model.layer = torch.nn.Linear(3, 4)
    with pytest.raises(CheckpointError) as err:
        load_weights_into(model, tmp_path)
    msg = str(err.value)
    assert "missing layer.bias" in msg and "unexpected extra" in msg and "reshaped layer.weight" in msg, msg
    assert "\n" not in msg
