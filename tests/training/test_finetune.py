"""Fine-tuning (`train.init_from`, `train.lora`) on real token shards, a real tiny codec and a real tiny
LM checkpoint trained here: the architecture comes from the checkpoint, LoRA keeps the base frozen,
the merged checkpoint loads without peft and computes what the peft model computes, the adapter is
small and reloads (here and through peft's own PeftModel), LoRA resumes exactly, and a checkpoint of
another codec is a one-line error."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from audiogen.train import main as train_main
from tests.lm_fixtures import build_lm_data

# The base: a tiny LM with the release's compatibility options on (LayerNorm and text projection
# biases), which fine-tuning must take from its config.json.
BASE = {"lm_preset": "tiny", "lm_overrides": {"dim": 32, "num_layers": 2, "num_heads": 2, "norm_bias": True,
                                              "text_proj_bias": True},
        "segment_s": 1.0, "batch_size": 4, "max_steps": 2, "warmup_steps": 1, "checkpoint_every": 2,
        "valid_every": 2, "log_every": 1, "cfg_dropout": 0.25, "mix": {"p": 0.0}, "shuffle_buffer": 8, "seed": 0}
# Fine-tuning runs: other lm_preset/lm_overrides/pattern on purpose (the checkpoint's must win).
TUNE = {**BASE, "lm_overrides": {"dim": 48, "num_layers": 1, "num_heads": 3}, "pattern": "parallel", "max_steps": 4,
        "lr": 3e-3, "mix": {"p": 0.5}}
LORA = {"rank": 4, "alpha": 8.0, "targets": ["attention", "cross_attention", "feed_forward"]}


@pytest.fixture(scope="module")
def lm_data(tmp_path_factory):
    return build_lm_data(tmp_path_factory.mktemp("lmdata"))


@pytest.fixture(scope="module")
def base(lm_data, tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("base")
    _train(lm_data, tmp / "lm", tmp, **BASE)
    return tmp / "lm"


def _train(data, out: Path, tmp: Path, resume: bool = False, dump: bool = False, **section) -> dict:
    params = tmp / "params.yaml"
    params.write_text(yaml.safe_dump({"train": section}))
    args = ["--tokens", str(data["tokens"]), "--audio", str(data["audio"]), "--codec", str(data["codec"]),
            "--out", str(out), "--live-dir", str(out / "live"), "--params", str(params),
            "--ray-storage", str(tmp / "ray")]
    return train_main(args + (["--resume", "auto"] if resume else []) + (["--dump-first-step"] if dump else []))


def _batch(lm, seed: int = 0):
    """Fixed inputs `[2, K, 9]` and text `[2, 5, text_dim]` (second row partly padded)."""
    g = torch.Generator().manual_seed(seed)
    cfg = lm.config
    inputs = torch.randint(0, cfg.cardinality + 1, (2, cfg.num_codebooks, 9), generator=g)
    text = torch.randn(2, 5, cfg.text_dim, generator=g)
    mask = torch.tensor([[True] * 5, [True, True, False, False, False]])
    return inputs, text, mask


def test_full_finetune_takes_the_checkpoints_architecture(lm_data, base, tmp_path):
    from audiogen.lm import AudioLM

    _train(lm_data, tmp_path / "ft", tmp_path, init_from=str(base), **TUNE)
    tuned, start = AudioLM.from_pretrained(tmp_path / "ft"), AudioLM.from_pretrained(base)
    assert tuned.config == start.config and tuned.config.norm_bias and tuned.config.text_proj_bias
    cfg = json.loads((tmp_path / "ft" / "config.json").read_text())
    assert cfg["init_from"]["path"] == str(base) and cfg["init_from"]["lora"] is None
    assert cfg["init_from"]["trainable_parameters"] == tuned.num_parameters()
    assert cfg["pattern"] == "delay" and cfg["text_encoder"] == start.checkpoint_config["text_encoder"]
    assert cfg["step"] == TUNE["max_steps"]
    a, b = tuned.state_dict(), start.state_dict()
    assert all(not torch.equal(a[k], b[k]) for k in a if k.endswith("weight") and "norm" not in k), \
        "every matrix trains in full fine-tuning"
    assert not (tmp_path / "ft" / "adapter_model.safetensors").exists()


@pytest.mark.parametrize("train_text_proj", [True, False])
def test_lora_trains_adapters_only(lm_data, base, tmp_path, train_text_proj):
    """Non-LoRA weights stay bit-identical (the text projection too unless it is set to train);
    every adapted layer and the trained text projection moved; state.pt holds only what trained."""
    from audiogen.lm import AudioLM

    lora = {**LORA, "targets": ["attention", "feed_forward"], "train_text_proj": train_text_proj}
    _train(lm_data, tmp_path / "lora", tmp_path, init_from=str(base), lora=lora, **TUNE)
    merged = load_file(str(tmp_path / "lora" / "model.safetensors"))
    start = load_file(str(base / "model.safetensors"))
    assert merged.keys() == start.keys()
    adapted = ("self_attn.qkv.weight", "self_attn.out.weight", "ff_up.weight", "ff_down.weight")
    for k in start:
        trains = k.endswith(adapted) or (train_text_proj and k.startswith("text_proj."))
        assert torch.equal(merged[k], start[k]) != trains, k
    state = torch.load(tmp_path / "lora" / "state.pt", weights_only=True)
    assert all(".lora_" in k or k.startswith("text_proj.modules_to_save.") for k in state["model"])
    assert any(k.startswith("text_proj.") for k in state["model"]) == train_text_proj
    cfg = json.loads((tmp_path / "lora" / "config.json").read_text())
    assert cfg["init_from"]["lora"]["rank"] == 4
    assert cfg["init_from"]["trainable_parameters"] == sum(v.numel() for v in state["model"].values())
    assert AudioLM.from_pretrained(tmp_path / "lora").config == AudioLM.from_pretrained(base).config


def test_lora_checkpoint_merged_and_adapter(lm_data, base, tmp_path):
    """The merged weights load without peft (a process where `import peft` fails) and give the
    logits of the base + adapter (loaded here and by peft's own PeftModel); the adapter is small."""
    from peft import PeftModel

    from audiogen.lm import AudioLM
    from audiogen.training.finetune import load_adapter

    out = tmp_path / "lora"
    _train(lm_data, out, tmp_path, init_from=str(base), lora=LORA, **TUNE)
    adapter = out / "adapter_model.safetensors"
    assert adapter.stat().st_size < 0.35 * (out / "model.safetensors").stat().st_size
    assert json.loads((out / "adapter_config.json").read_text())["r"] == 4

    with_adapter = load_adapter(base, out)
    through_peft = PeftModel.from_pretrained(AudioLM.from_pretrained(base), str(out)).eval()
    inputs, text, mask = _batch(with_adapter)
    with torch.no_grad():
        expected = with_adapter(inputs, text, mask)
        torch.testing.assert_close(through_peft(inputs, text, mask), expected, rtol=0, atol=0)
    assert not torch.allclose(expected, AudioLM.from_pretrained(base).eval()(inputs, text, mask), atol=1e-4)

    script = f"""
import sys, torch
sys.modules["peft"] = None  # any import of peft now fails
from audiogen.generation import AudioGen
from audiogen.lm import AudioLM
from tests.training.test_finetune import _batch
gen = AudioGen.from_pretrained({str(out)!r})
lm = AudioLM.from_pretrained({str(out)!r})
with torch.no_grad():
    torch.save(lm(*_batch(lm)), {str(tmp_path / "logits.pt")!r})
assert "peft" not in {{m.split(".")[0] for m in sys.modules if sys.modules[m] is not None}}
"""
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env,
                          cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 0, proc.stderr[-3000:]
    merged_logits = torch.load(tmp_path / "logits.pt", weights_only=True)
    torch.testing.assert_close(merged_logits, expected, rtol=1e-5, atol=1e-5)


def test_lora_resume_is_exact(lm_data, base, tmp_path):
    """4 steps in one run == 2 steps, then --resume auto to 4: merged weights and adapter bit for
    bit (LoRA dropout on: torch's generator is part of the resume state)."""
    lora = {**LORA, "dropout": 0.1}
    _train(lm_data, tmp_path / "whole", tmp_path, init_from=str(base), lora=lora, **TUNE)
    _train(lm_data, tmp_path / "half", tmp_path, init_from=str(base), lora=lora, **{**TUNE, "max_steps": 2})
    assert torch.load(tmp_path / "half" / "state.pt", weights_only=True)["step"] == 2
    result = _train(lm_data, tmp_path / "half", tmp_path, resume=True, init_from=str(base), lora=lora, **TUNE)
    assert result["step"] == 4
    for name in ("model.safetensors", "adapter_model.safetensors"):
        a, b = load_file(str(tmp_path / "whole" / name)), load_file(str(tmp_path / "half" / name))
        assert a.keys() == b.keys()
        for k in a:
            assert torch.equal(a[k], b[k]), (name, k)


def test_init_from_of_another_codec_is_one_line(lm_data, base, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(base, other, ignore=shutil.ignore_patterns("state.pt", "live"))
    cfg = json.loads((other / "config.json").read_text())
    cfg["codec"]["sha256"] = "f" * 64  # e.g. a converted release: trained on the 16 kHz EnCodec's tokens
    (other / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(SystemExit) as err:
        _train(lm_data, tmp_path / "run", tmp_path, init_from=str(other), lora=LORA, **TUNE)
    msg = str(err.value)
    assert "\n" not in msg and "f" * 64 in msg and json.loads((lm_data["tokens"] / "shards.json").read_text())[
        "codec_sha256"] in msg
    assert not (tmp_path / "run" / "state.pt").exists()


def test_init_from_must_not_be_the_output(lm_data, base, tmp_path):
    with pytest.raises(SystemExit, match="also --out"):
        _train(lm_data, base, tmp_path, init_from=str(base), **TUNE)
    assert json.loads((base / "config.json").read_text())["step"] == BASE["max_steps"]


def test_lora_needs_init_from(lm_data, tmp_path):
    with pytest.raises(SystemExit, match="lora.rank > 0 needs init_from"):
        _train(lm_data, tmp_path / "run", tmp_path, lora=LORA, **TUNE)


def test_dvc_exp_set_lora_rank_reaches_the_trainer_config(tmp_path):
    """Real DVC in a temporary git repo holding the project's params.yaml and a one-line stage that
    reads `train` as the trainer does: `dvc exp run -S train.lora.rank=N` gives N to TrainConfig, and
    each rank is its own experiment with its own fingerprint."""
    repo = tmp_path / "repo"
    repo.mkdir()
    root = Path(__file__).resolve().parents[2]
    shutil.copy2(root / "params.yaml", repo / "params.yaml")
    probe = ("import json, yaml; from audiogen.training.config import TrainConfig; "
             "c = TrainConfig.from_dict(yaml.safe_load(open('params.yaml'))['train']); "
             "json.dump({'rank': c.lora.rank, 'fingerprint': c.fingerprint()}, open('probe.json', 'w'))")
    (repo / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"train": {
        "cmd": f"{sys.executable} -c \"{probe}\"", "params": ["train"], "metrics": [{"probe.json": {"cache": False}}]}}}))
    env = dict(os.environ, DVC_NO_ANALYTICS="1", PYTHONPATH=str(root))

    def run(*cmd):
        proc = subprocess.run(list(cmd), cwd=repo, env=env, capture_output=True, text=True)
        assert proc.returncode == 0, (cmd, proc.stdout[-2000:], proc.stderr[-2000:])
        return proc.stdout

    run("git", "-c", "init.defaultBranch=main", "init", "-q")
    run("git", "config", "user.name", "audiogen tests")
    run("git", "config", "user.email", "tests@audiogen.invalid")
    run("dvc", "init", "-q")
    run("git", "add", "-A")
    run("git", "commit", "-qm", "params")
    probes = {}
    for rank in (4, 16):
        run("dvc", "exp", "run", "-S", "train.init_from=models/base", "-S", f"train.lora.rank={rank}")
        probes[rank] = json.loads((repo / "probe.json").read_text())
        assert probes[rank]["rank"] == rank
    assert probes[4]["fingerprint"] != probes[16]["fingerprint"]
    shown = json.loads(run("dvc", "exp", "show", "--json"))
    ranks = {e["revs"][0]["data"]["params"]["params.yaml"]["data"]["train"]["lora"]["rank"]
             for rev in shown for e in (rev.get("experiments") or [])}
    assert ranks == {4, 16}


def test_lora_rank_changes_the_run_fingerprint():
    """`dvc exp run -S train.lora.rank=N` changes params.yaml `train`, the train stage's params: DVC
    reruns the stage and `--resume auto` starts fresh instead of resuming the other setting."""
    from audiogen.training.config import TrainConfig

    stage = yaml.safe_load((Path(__file__).resolve().parents[2] / "dvc.yaml").read_text())["stages"]["train"]
    assert "train" in stage["params"] and "--resume auto" in stage["cmd"]
    prints = {TrainConfig.from_dict({"init_from": "lm", "lora": {"rank": r}}).fingerprint() for r in (0, 4, 16)}
    assert len(prints) == 3


# --- recipe options for parity with the release (AUDIOCRAFT.md §E) ---------------------------------------
def test_whole_batch_cfg_dropout():
    """scope "batch": every row or none, each batch with probability p; "sample" drops rows apart."""
    from audiogen.training.recipe import cfg_dropout_mask

    g = torch.Generator().manual_seed(0)
    masks = torch.stack([cfg_dropout_mask(8, 0.1, g, scope="batch") for _ in range(2000)])
    assert bool(((masks.all(1)) | (~masks.any(1))).all())
    assert 0.08 < float(masks[:, 0].float().mean()) < 0.12
    rows = torch.stack([cfg_dropout_mask(8, 0.5, g) for _ in range(200)])
    assert bool((rows.any(1) & ~rows.all(1)).any())


@pytest.mark.parametrize("average", ["token", "codebook"])
def test_loss_average_option_sets_the_gradient(lm_data, tmp_path, average):
    """The trainer's first-step gradient is that of the token mean (default) or of the mean of the
    K per-codebook means (audiocraft's), recomputed here from the same batch and initial weights."""
    from audiogen.lm import AudioLM, lm_config
    from audiogen.text.encoders import FrozenTextEncoder, TextEncoderConfig

    out = tmp_path / "run"
    overrides = {"lm_overrides": {"dim": 32, "num_layers": 1, "num_heads": 2}, "max_steps": 1, "cfg_dropout": 0.0,
                 "mix": {"p": 0.0}, "checkpoint_every": 1, "valid_every": 1, "loss_average": average}
    _train(lm_data, out, tmp_path, dump=True, **{**BASE, **overrides})
    batch = torch.load(out / "first_step_rank0.pt", weights_only=True)
    grads = torch.load(out / "grad_rank0.pt", weights_only=True)
    enc = FrozenTextEncoder(TextEncoderConfig())
    torch.manual_seed(BASE["seed"])
    model = AudioLM(lm_config("tiny", num_codebooks=2, cardinality=128, text_dim=enc.hidden_size,
                              **overrides["lm_overrides"]))
    loss, ce_k, _ = model.compute_loss(batch["codes"], batch["frame_mask"], *enc(batch["texts"]))
    (ce_k.mean() if average == "codebook" else loss).backward()
    for name, p in model.named_parameters():
        torch.testing.assert_close(p.grad, grads[name], rtol=1e-4, atol=1e-7, msg=name)


def test_codebook_average_weighs_micro_batches_equally():
    """Two micro-batches with different token counts: "token" gives the gradient of the token mean
    of both together (one big batch), "codebook" the mean of each batch's per-codebook means."""
    from audiogen.lm import AudioLM, lm_config
    from audiogen.training.recipe import micro_objective

    torch.manual_seed(0)
    model = AudioLM(lm_config("tiny", num_codebooks=3, cardinality=16, text_dim=8, dim=32, num_layers=1,
                              num_heads=2))
    g = torch.Generator().manual_seed(1)
    codes = torch.randint(0, 16, (4, 3, 10), generator=g)
    frame_mask = torch.ones(4, 10, dtype=torch.bool)
    frame_mask[2:, 4:] = False  # the second micro-batch has fewer real frames
    text, text_mask = torch.randn(4, 2, 8, generator=g), torch.ones(4, 2, dtype=torch.bool)
    halves = [slice(0, 2), slice(2, 4)]

    def grads(average):
        model.zero_grad()
        counts = [int(frame_mask[h].sum()) * 3 for h in halves]
        for h in halves:
            loss, ce_k, n = model.compute_loss(codes[h], frame_mask[h], text[h], text_mask[h])
            micro_objective(loss, ce_k, n, float(sum(counts)), len(halves), average).backward()
        return {k: p.grad.clone() for k, p in model.named_parameters()}

    def reference(objective):
        model.zero_grad()
        objective().backward()
        return {k: p.grad.clone() for k, p in model.named_parameters()}

    token = reference(lambda: model.compute_loss(codes, frame_mask, text, text_mask)[0])
    codebook = reference(lambda: sum(model.compute_loss(codes[h], frame_mask[h], text[h], text_mask[h])[1].mean()
                                     for h in halves) / 2)
    for average, expected in (("token", token), ("codebook", codebook)):
        got = grads(average)
        for k in got:
            torch.testing.assert_close(got[k], expected[k], rtol=1e-5, atol=1e-7, msg=f"{average} {k}")
    assert not torch.allclose(token["heads.0.weight"], codebook["heads.0.weight"])
