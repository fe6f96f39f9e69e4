"""Bad input to `python -m audiogen.convert`: one-line errors naming the file and what is wrong, no
traceback, and nothing (not even a temporary folder) left where --out would be."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from audiogen.convert.cli import main
from audiogen.convert.package import write_package

from .lm_helpers import CODEC_PACKAGE, LM_PACKAGE


def repackage(src: Path, dst: Path, edits: dict | None = None, drop: str | None = None) -> Path:
    """A copy of an audiocraft package with xp.cfg keys set (dotted names) or a tensor dropped."""
    from omegaconf import OmegaConf

    raw = torch.load(src, map_location="cpu", weights_only=True)
    cfg = OmegaConf.create(raw["xp.cfg"])
    for key, v in (edits or {}).items():
        OmegaConf.update(cfg, key, v, force_add=True)
    state = {k: v for k, v in raw["best_state"].items() if k != drop}
    return write_package(dst, state, OmegaConf.to_yaml(cfg), raw["version"])


def convert_error(tmp_path: Path, lm: Path | str = LM_PACKAGE, codec: Path | str = CODEC_PACKAGE,
                  extra: tuple[str, ...] = ()) -> str:
    out = tmp_path / "out" / "model"
    with pytest.raises(SystemExit) as err:
        main(["from-audiocraft", "--lm", str(lm), "--codec", str(codec), "--out", str(out), *extra])
    msg = str(err.value.code)
    assert msg.startswith("audiogen.convert: ") and "\n" not in msg and "Traceback" not in msg, msg
    assert not out.exists() and not (out.parent.exists() and any(out.parent.iterdir())), "something was written"
    return msg


def test_not_an_audiocraft_package(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    assert f"{text}: not an audiocraft package" in convert_error(tmp_path, lm=text)
    other = tmp_path / "weights.pt"
    torch.save({"model": {"w": torch.zeros(2)}}, other)
    assert f"{other}: not an audiocraft package (no 'best_state'" in convert_error(tmp_path, lm=other)
    class_obj = tmp_path / "pickled.pt"
    torch.save({"best_state": {}, "xp.cfg": "a: 1", "solver": torch.nn.Identity()}, class_obj)
    assert "holds Python objects other than tensors" in convert_error(tmp_path, lm=class_obj)
    assert f"{tmp_path / 'missing.bin'}: no such file" in convert_error(tmp_path, lm=tmp_path / "missing.bin")


def test_truncated_file(tmp_path):
    cut = tmp_path / "state_dict.bin"
    cut.write_bytes(LM_PACKAGE.read_bytes()[: LM_PACKAGE.stat().st_size // 2])
    assert f"{cut}: not an audiocraft package (not a complete torch.save archive" in convert_error(tmp_path, lm=cut)


def test_packages_swapped(tmp_path):
    msg = convert_error(tmp_path, lm=CODEC_PACKAGE, codec=LM_PACKAGE)
    assert f"{CODEC_PACKAGE}: expected the LM package, but its xp.cfg describes a codec" in msg


@pytest.mark.parametrize("edits, expected", [
    ({"solver": "musicgen"}, "xp.cfg solver = 'musicgen' is not supported (this converter handles 'audiogen')"),
    ({"conditioners.self_wav": {"model": "chroma_stem", "chroma_stem": {"sample_rate": 32000}},
      "fuser.prepend": ["self_wav"]}, "xp.cfg conditioners ['description', 'self_wav'] are not supported"),
    ({"codebooks_pattern.modeling": "unroll"}, "xp.cfg codebooks_pattern.modeling = 'unroll' is not supported"),
    ({"codebooks_pattern.delay.delays": [0, 2, 4, 6]}, "codebooks_pattern.delay.delays = [0, 2, 4, 6] is not supported"),
    ({"transformer_lm.positional_embedding": "rope"}, "transformer_lm.positional_embedding = 'rope' is not supported"),
    ({"transformer_lm.layer_scale": 0.0001}, "transformer_lm.layer_scale = 0.0001 is not supported"),
    ({"transformer_lm.bias_attn": True}, "transformer_lm.bias_attn = True is not supported"),
    ({"conditioners.description.model": "clap"}, "xp.cfg conditioners.description.model = 'clap' is not supported"),
    ({"fuser.cross_attention_pos_emb": True}, "fuser.cross_attention_pos_emb = true is not supported"),
    ({"interleave_stereo_codebooks.use": True}, "interleave_stereo_codebooks.use = True is not supported"),
])
def test_another_model_or_setting(tmp_path, edits, expected):
    lm = repackage(LM_PACKAGE, tmp_path / "pkg" / "state_dict.bin", edits)
    msg = convert_error(tmp_path, lm=lm)
    assert f"{lm}: " in msg and expected in msg, msg


def test_weights_that_do_not_match_their_config(tmp_path):
    lm = repackage(LM_PACKAGE, tmp_path / "pkg" / "state_dict.bin", drop="transformer.layers.1.norm2.bias")
    msg = convert_error(tmp_path, lm=lm)
    assert f"{lm}: best_state does not match its xp.cfg's LM (missing ['transformer.layers.1.norm2.bias'])" in msg
    lm = repackage(LM_PACKAGE, tmp_path / "pkg2" / "state_dict.bin", {"transformer_lm.hidden_scale": 2})
    msg = convert_error(tmp_path, lm=lm)
    assert f"{lm}: transformer.layers.0.linear1.weight has shape [256, 64], the LM its xp.cfg describes wants [128, 64]" in msg


def test_codec_packages_the_project_cannot_use(tmp_path):
    pretrained = tmp_path / "pkg" / "compression_state_dict.bin"
    pretrained.parent.mkdir()
    torch.save({"pretrained": "facebook/encodec_32khz", "exported": True, "version": "1.0.0"}, pretrained)
    assert f"{pretrained}: a 'pretrained' reference to 'facebook/encodec_32khz'" in convert_error(tmp_path, codec=pretrained)
    stereo = repackage(CODEC_PACKAGE, tmp_path / "stereo" / "compression_state_dict.bin", {"channels": 2})
    msg = convert_error(tmp_path, codec=stereo)
    assert f"{stereo}: " in msg and "channels" in msg


@pytest.mark.parametrize("edits, expected", [
    ({"sample_rate": 32000}, "sample rate 16000 vs 32000"),
    ({"rvq.n_q": 8}, "codebooks 4 vs 8"),
    ({"rvq.bins": 1024}, "codebook size 32 vs 1024"),
])
def test_codec_that_does_not_match_the_lm(tmp_path, edits, expected):
    codec = repackage(CODEC_PACKAGE, tmp_path / "pkg" / "compression_state_dict.bin", edits)
    msg = convert_error(tmp_path, codec=codec)
    assert f"{codec}: this codec does not match the LM {LM_PACKAGE}" in msg and expected in msg, msg


def test_text_encoder_of_another_width(tmp_path):
    folder = tmp_path / "t5-base"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "t5", "d_model": 768}')
    msg = convert_error(tmp_path, extra=("--text-encoder", str(folder)))
    assert f"{folder}: text encoder width 768, but the LM's T5 projection takes 16" in msg
    assert "no such text encoder folder" in convert_error(tmp_path, extra=("--text-encoder", str(tmp_path / "nope")))


def test_out_not_empty_is_left_alone(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(SystemExit, match="exists and is not empty"):
        main(["from-audiocraft", "--lm", str(LM_PACKAGE), "--codec", str(CODEC_PACKAGE), "--out", str(out)])
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_hub_id_offline_says_how_to_download(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(SystemExit) as err:
        main(["from-audiocraft", "--from", "facebook/audiogen-medium", "--out", str(tmp_path / "out")])
    msg = str(err.value.code)
    assert "\n" not in msg and "facebook/audiogen-medium: could not get state_dict.bin" in msg
    assert "offline (HF_HUB_OFFLINE=1) and not in the local Hugging Face cache" in msg
    assert "hf download facebook/audiogen-medium state_dict.bin compression_state_dict.bin" in msg
    assert "--from DIR" in msg and "CC-BY-NC 4.0" in msg and not (tmp_path / "out").exists()


def test_export_of_a_folder_that_is_not_an_lm(tmp_path):
    with pytest.raises(SystemExit) as err:
        main(["to-audiocraft", "--lm", str(tmp_path), "--out", str(tmp_path / "x")])
    assert f"{tmp_path}/config.json: not an LM checkpoint" in str(err.value.code)
