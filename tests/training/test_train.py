"""The LM trainer (`python -m audiogen.train`) on real token + audio shards and a real tiny codec:
exact resume, a changed param starts fresh, the codec guard, learning below the unigram entropy,
logs as DVC plots, and Ray Train with 2 gloo workers against one worker on the summed batch."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from audiogen.train import main as train_main
from tests.lm_fixtures import build_lm_data

TINY = {"lm_preset": "tiny", "lm_overrides": {"dim": 64, "num_layers": 2, "num_heads": 2}, "segment_s": 1.0,
        "batch_size": 4, "max_steps": 6, "warmup_steps": 2, "checkpoint_every": 3, "valid_every": 3,
        "log_every": 1, "cfg_dropout": 0.25, "mix": {"p": 0.5}, "shuffle_buffer": 8, "seed": 0}


@pytest.fixture(scope="module")
def lm_data(tmp_path_factory):
    return build_lm_data(tmp_path_factory.mktemp("lmdata"))


def _train(data, out: Path, tmp: Path, resume: bool = False, dump: bool = False, **overrides) -> dict:
    params = tmp / "params.yaml"
    params.write_text(yaml.safe_dump({"train": {**TINY, **overrides}}))
    args = ["--tokens", str(data["tokens"]), "--audio", str(data["audio"]), "--codec", str(data["codec"]),
            "--out", str(out), "--live-dir", str(out / "live"), "--params", str(params),
            "--ray-storage", str(tmp / "ray")]
    return train_main(args + (["--resume", "auto"] if resume else []) + (["--dump-first-step"] if dump else []))


def test_resume_is_exact(lm_data, tmp_path):
    """6 steps in one run == 3 steps, then --resume auto to 6 (weights, bit for bit)."""
    _train(lm_data, tmp_path / "full", tmp_path)
    _train(lm_data, tmp_path / "half", tmp_path, max_steps=3)
    state = torch.load(tmp_path / "half" / "state.pt", weights_only=True)
    assert state["step"] == 3
    result = _train(lm_data, tmp_path / "half", tmp_path, resume=True)
    assert result["step"] == 6
    a = load_file(str(tmp_path / "full" / "model.safetensors"))
    b = load_file(str(tmp_path / "half" / "model.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_changed_param_starts_fresh(lm_data, tmp_path):
    _train(lm_data, tmp_path / "run", tmp_path, max_steps=3)
    result = _train(lm_data, tmp_path / "run", tmp_path, resume=True, max_steps=3, cfg_dropout=0.5)
    assert result["step"] == 3  # trained 3 new steps from scratch, not resumed at 3
    state = torch.load(tmp_path / "run" / "state.pt", weights_only=True)
    assert state["step"] == 3


def test_other_codec_starts_fresh_on_resume(lm_data, tmp_path_factory, tmp_path):
    """A run resumed with --resume auto over an LM trained on another codec (retrained, converted,
    another codebook count) starts fresh: the result equals a fresh run on the new codec, bit for bit."""
    other = build_lm_data(tmp_path_factory.mktemp("lmdata_other"), seed=1)
    _train(lm_data, tmp_path / "run", tmp_path, max_steps=3)
    result = _train(other, tmp_path / "run", tmp_path, resume=True, max_steps=3)
    assert result["step"] == 3 and result["start_step"] == 0
    _train(other, tmp_path / "fresh", tmp_path, max_steps=3)
    a = load_file(str(tmp_path / "run" / "model.safetensors"))
    b = load_file(str(tmp_path / "fresh" / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_checkpoint_config_names_what_generation_needs(lm_data, tmp_path):
    _train(lm_data, tmp_path / "run", tmp_path, max_steps=2)
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    codec = cfg["codec"]
    assert codec["sha256"] and codec["frame_rate"] == 125.0 and codec["num_codebooks"] == 2
    assert codec["cardinality"] == 128 and Path(codec["path"]).is_dir()
    assert cfg["text_encoder"]["hidden_size"] == cfg["lm"]["text_dim"]
    assert cfg["pattern"] == "delay" and cfg["segment_s"] == 1.0 and cfg["train"]["cfg_dropout"] == 0.25
    # dvclive wrote the curves that `dvc plots show` draws
    plots = tmp_path / "run" / "live" / "plots" / "metrics"
    for name in ("train/loss.tsv", "valid/loss.tsv", "train/ce_0.tsv", "train/ppl_1.tsv", "mfu.tsv",
                 "tokens_per_s.tsv", "train/mixed_fraction.tsv"):
        assert (plots / name).is_file(), name
    assert any(p.name.startswith("alpha") or p.name.startswith("beta") for p in (plots / "seconds_seen").iterdir())


def test_other_codec_stops_at_start(lm_data, tmp_path):
    import shutil

    from audiogen.codec import Codec, preset

    other = tmp_path / "other_codec"
    torch.manual_seed(123)
    Codec(preset("tiny")).save_pretrained(other)
    data = dict(lm_data, codec=other)
    with pytest.raises(SystemExit, match="sha256"):
        _train(data, tmp_path / "run", tmp_path)
    shutil.rmtree(other)


def test_no_valid_split_is_a_clear_error(lm_data, tmp_path):
    import shutil

    tokens = tmp_path / "tokens"
    shutil.copytree(lm_data["tokens"], tokens)
    (tokens / "valid-alpha-000000.tar").unlink()
    index = json.loads((tokens / "shards.json").read_text())
    index["shards"] = [s for s in index["shards"] if s["split"] != "valid"]
    (tokens / "shards.json").write_text(json.dumps(index))
    with pytest.raises(SystemExit, match="valid"):
        _train(dict(lm_data, tokens=tokens), tmp_path / "run", tmp_path)


def test_learns_below_unigram_entropy(lm_data, tmp_path):
    """Tonal clips have predictable codes: a few dozen steps get the validation loss clearly
    below the unigram entropy of the codes (what a model that ignores context reaches)."""
    result = _train(lm_data, tmp_path / "run", tmp_path, max_steps=300, lr=3e-3, warmup_steps=10,
                    checkpoint_every=300, valid_every=300, log_every=50, mix={"p": 0.0}, cfg_dropout=0.1,
                    batch_size=8)
    assert result["valid_loss"] < 0.8 * result["valid_unigram_entropy"], result


def test_ray_train_two_workers_match_one_worker_summed_batch(lm_data, tmp_path, ray_local):
    """DDP with 2 gloo workers: the averaged first-step gradient equals the gradient of one
    process on the union of both workers' batches (loss normalised by the global token count)."""
    from audiogen.lm import AudioLM, lm_config
    from audiogen.text.encoders import FrozenTextEncoder, TextEncoderConfig

    out = tmp_path / "ddp"
    _train(lm_data, out, tmp_path, dump=True, max_steps=1, num_workers=2, threads=1, mix={"p": 0.0}, cfg_dropout=0.0,
           checkpoint_every=1, valid_every=1)
    dumps = [torch.load(out / f"first_step_rank{r}.pt", weights_only=True) for r in range(2)]
    grads = [torch.load(out / f"grad_rank{r}.pt", weights_only=True) for r in range(2)]
    for k in grads[0]:  # DDP: every rank holds the same averaged gradient
        torch.testing.assert_close(grads[0][k], grads[1][k])
    assert dumps[0]["texts"] != dumps[1]["texts"] or not torch.equal(dumps[0]["codes"], dumps[1]["codes"])

    enc = FrozenTextEncoder(TextEncoderConfig())
    cfg = lm_config("tiny", num_codebooks=2, cardinality=128, text_dim=enc.hidden_size, pattern="delay",
                    **TINY["lm_overrides"])
    torch.manual_seed(0)  # the trainer's seed: the same initial weights
    model = AudioLM(cfg)
    codes = torch.cat([d["codes"] for d in dumps])
    mask = torch.cat([d["frame_mask"] for d in dumps])
    text, text_mask = enc([t for d in dumps for t in d["texts"]])
    loss, _, _ = model.compute_loss(codes, mask, text, text_mask)
    loss.backward()
    for name, p in model.named_parameters():
        torch.testing.assert_close(p.grad, grads[0][name], rtol=1e-4, atol=1e-6, msg=name)


def test_killed_run_resumes_from_its_last_checkpoint(lm_data, tmp_path):
    """SIGKILL in the middle of training, then `--resume auto`: the same weights as a run never killed."""
    import os
    import signal
    import subprocess
    import sys
    import time

    steps = {"max_steps": 30, "checkpoint_every": 4, "valid_every": 100, "log_every": 5}
    _train(lm_data, tmp_path / "whole", tmp_path, **steps)
    params = tmp_path / "params.yaml"  # _train wrote it with these steps
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "audiogen.train", "--tokens", str(lm_data["tokens"]), "--audio", str(lm_data["audio"]),
           "--codec", str(lm_data["codec"]), "--out", str(out), "--live-dir", str(out / "live"), "--params", str(params)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ))
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if (out / "state.pt").exists() and torch.load(out / "state.pt", weights_only=True)["step"] >= 8:
            break
        time.sleep(0.05)
    killed_during_run = proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert killed_during_run, "training finished before it could be killed"
    state = torch.load(out / "state.pt", weights_only=True)
    assert 8 <= state["step"] < 30
    result = _train(lm_data, out, tmp_path, resume=True, **steps)
    assert result["step"] == 30
    a = load_file(str(tmp_path / "whole" / "model.safetensors"))
    b = load_file(str(out / "model.safetensors"))
    for k in a:
        assert torch.equal(a[k], b[k]), k
