"""Every model loader (codec, LM, tagger) turns a damaged checkpoint folder into one line naming the
file and the fix: config.json truncated, garbled or with a wrong-typed section; model.safetensors
truncated or holding another model's weights."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from audiogen.codec import Codec, preset
from audiogen.evaluation.tagger.model import Tagger, TaggerConfig
from audiogen.io.checkpoint import CheckpointError
from audiogen.lm import AudioLM, lm_config


def _codec(d: Path, **kw) -> type:
    torch.manual_seed(0)
    Codec(preset("tiny", **kw)).save_pretrained(d)
    return Codec


def _lm(d: Path, dim: int = 32) -> type:
    torch.manual_seed(0)
    AudioLM(lm_config("tiny", num_codebooks=2, cardinality=16, text_dim=8, dim=dim, num_layers=1,
                      num_heads=2)).save_pretrained(d)
    return AudioLM


def _tagger(d: Path, embed_dim: int = 8) -> type:
    Tagger(TaggerConfig(classes=("a", "b"), channels=(4,), embed_dim=embed_dim)).save_pretrained(d)
    return Tagger


MODELS = {"codec": (_codec, "codec"), "lm": (_lm, "lm"), "tagger": (_tagger, "tagger")}


def _one_line(err: pytest.ExceptionInfo, path: Path, expect: str) -> None:
    msg = str(err.value)
    assert msg.startswith(f"{path}:") and expect in msg and "\n" not in msg, msg


@pytest.mark.parametrize("kind", MODELS)
def test_damaged_config_json_is_one_line(kind, tmp_path):
    make, section = MODELS[kind]
    loader = make(tmp_path)
    path = tmp_path / "config.json"
    good = path.read_text()
    path.write_text(good[: len(good) // 3])
    with pytest.raises(CheckpointError) as err:
        loader.from_pretrained(tmp_path)
    _one_line(err, path, "not valid JSON")
    meta = json.loads(good)
    meta[section] = ["not", "an", "object"]
    path.write_text(json.dumps(meta))
    with pytest.raises(CheckpointError) as err:
        loader.from_pretrained(tmp_path)
    _one_line(err, path, f"'{section}' should be a JSON object")
    meta = json.loads(good)
    meta[section]["no_such_field"] = 1
    path.write_text(json.dumps(meta))
    with pytest.raises(CheckpointError) as err:
        loader.from_pretrained(tmp_path)
    _one_line(err, path, f"'{section}' does not describe a model")


@pytest.mark.parametrize("kind", MODELS)
def test_damaged_or_foreign_weights_are_one_line(kind, tmp_path):
    make, _ = MODELS[kind]
    loader = make(tmp_path / "a")
    weights = tmp_path / "a" / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError) as err:
        loader.from_pretrained(tmp_path / "a")
    _one_line(err, weights, "not a readable safetensors file")
    # The weights of another shape of the same model beside this config.json.
    if kind == "codec":
        make(tmp_path / "b", dimension=16)
    elif kind == "lm":
        make(tmp_path / "b", dim=64)
    else:
        make(tmp_path / "b", embed_dim=16)
    weights.write_bytes((tmp_path / "b" / "model.safetensors").read_bytes())
    with pytest.raises(CheckpointError) as err:
        loader.from_pretrained(tmp_path / "a")
    _one_line(err, weights, "weights do not fit the model of config.json")
