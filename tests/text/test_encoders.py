"""Frozen text encoders: tiny random T5 and BERT built offline in tmp dirs, and the real packaged MiniLM."""
from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest
import torch

from audiogen.text.encoders import (
    DEFAULT_TEXT_ENCODER,
    FrozenTextEncoder,
    TextEncoderConfig,
    TextEncoderNotFoundError,
    resolve_text_encoder,
)

CAPTIONS = ["a dog barks", "rain on a tin roof, thunder in the distance", "a bell"]


@pytest.fixture(scope="module")
def t5_dir(tmp_path_factory) -> Path:
    """A tiny random T5 encoder + ByT5 tokenizer (no files needed), saved like a hub download."""
    from transformers import ByT5Tokenizer, T5Config, T5EncoderModel

    torch.manual_seed(0)
    cfg = T5Config(d_model=32, d_kv=8, num_heads=2, num_layers=2, d_ff=64, vocab_size=384)
    out = tmp_path_factory.mktemp("tiny-t5")
    T5EncoderModel(cfg).save_pretrained(out)
    ByT5Tokenizer().save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def t5(t5_dir) -> FrozenTextEncoder:
    return FrozenTextEncoder(TextEncoderConfig(name=str(t5_dir)))


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory) -> Path:
    """A tiny random BERT with a word-level vocab written here."""
    from transformers import BertConfig, BertModel, BertTokenizerFast

    out = tmp_path_factory.mktemp("tiny-bert")
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "dog", "barks", "rain", "on", "tin", "roof"]
    (out / "vocab.txt").write_text("\n".join(words) + "\n")
    tok = BertTokenizerFast.from_pretrained(out)
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=len(words), hidden_size=24, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=48, max_position_embeddings=64)
    BertModel(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return out


def test_shapes_mask_and_describe(t5, t5_dir):
    states, mask = t5(CAPTIONS)
    ref = t5.tokenizer(CAPTIONS, padding="longest", truncation=True, max_length=64, return_tensors="pt")
    assert states.dtype == torch.float32 and mask.dtype == torch.bool
    assert states.shape == (3, ref["input_ids"].shape[1], 32) and t5.hidden_size == 32
    assert torch.equal(mask, ref["attention_mask"].bool())
    # ByT5: one token per byte plus </s>
    assert mask.sum(1).tolist() == [len(c.encode()) + 1 for c in CAPTIONS]
    assert (states[mask].abs().sum(-1) > 0).all()
    assert (states[~mask] == 0).all()  # padded positions are zeroed
    d = t5.describe()
    assert d == {"name": str(t5_dir), "path": str(t5_dir.resolve()), "kind": "t5", "model_type": "t5",
                 "hidden_size": 32, "max_length": 64}
    # the LM rebuilds its config from describe(), with the kind that "auto" resolved to
    assert TextEncoderConfig.from_dict(d) == TextEncoderConfig(name=str(t5_dir), kind="t5", max_length=64)


def test_padding_does_not_change_a_rows_states(t5):
    alone, m_alone = t5(["a dog barks"])
    batched, m_batch = t5(["a dog barks", "a very long caption about rain falling on a tin roof all night"])
    n = int(m_alone[0].sum())
    assert m_batch.shape[1] > m_alone.shape[1] and int(m_batch[0].sum()) == n
    torch.testing.assert_close(batched[0, :n], alone[0, :n], atol=1e-5, rtol=1e-5)
    assert (batched[0, n:] == 0).all()


def test_empty_captions_are_the_null_condition(t5):
    states, mask = t5(["", "a bell", "   \t", None])
    assert not mask[0].any() and not mask[2].any() and not mask[3].any() and mask[1].any()
    assert (states[[0, 2, 3]] == 0).all()
    alone, _ = t5(["a bell"])
    n = int(mask[1].sum())
    torch.testing.assert_close(states[1, :n], alone[0, :n], atol=1e-5, rtol=1e-5)
    only_empty, m = t5(["", " "])  # a whole batch of null conditions still has a token axis
    assert m.shape[0] == 2 and m.shape[1] >= 1 and not m.any() and (only_empty == 0).all()


def test_truncation_at_max_length(t5_dir):
    enc = FrozenTextEncoder(TextEncoderConfig(name=str(t5_dir), max_length=8))
    states, mask = enc(["a very long caption indeed", "dog"])
    assert states.shape[1] == 8 and mask[0].all() and int(mask[1].sum()) == 4


def test_no_truncation_when_max_length_is_none(t5_dir):
    """audiocraft's T5Conditioner never truncates: max_length None keeps every token (here > 64)."""
    long = " ".join(["thunder"] * 30)  # ByT5: one token per byte, 210 tokens
    enc = FrozenTextEncoder(TextEncoderConfig(name=str(t5_dir), kind="t5", max_length=None))
    states, mask = enc([long, "dog"])
    n = len(enc.tokenizer(long)["input_ids"])
    assert n > 64 and states.shape[1] == n and int(mask[0].sum()) == n and int(mask[1].sum()) == 4
    assert TextEncoderConfig.from_dict(enc.describe()) == enc.config and enc.describe()["max_length"] is None
    truncated, _ = FrozenTextEncoder(TextEncoderConfig(name=str(t5_dir)))([long])
    assert truncated.shape[1] == 64  # the default is unchanged


def test_frozen_and_not_part_of_the_parent_state(t5):
    params = list(t5.model.parameters())
    assert params and not any(p.requires_grad for p in params)
    assert not t5.model.training
    parent = torch.nn.Sequential()
    parent.add_module("text", t5)
    parent.add_module("proj", torch.nn.Linear(32, 8))
    parent.train()  # the LM in train mode must not switch dropout on in the encoder
    assert not t5.model.training
    # only the LM's own projection is saved and optimised
    assert set(parent.state_dict()) == {"proj.weight", "proj.bias"}
    assert len(list(parent.parameters())) == 2
    states, mask = t5(CAPTIONS)
    assert not states.requires_grad
    parent.proj(states).sum().backward()  # the projection above it still trains
    assert parent.proj.weight.grad is not None


def test_save_load_round_trip_gives_identical_states(t5, tmp_path):
    t5.model.save_pretrained(tmp_path)
    t5.tokenizer.save_pretrained(tmp_path)
    again = FrozenTextEncoder.from_description({**t5.describe(), "name": str(tmp_path)})
    a, ma = t5(CAPTIONS)
    b, mb = again(CAPTIONS)
    assert torch.equal(a, b) and torch.equal(ma, mb)
    with pytest.raises(ValueError, match="hidden size"):
        FrozenTextEncoder.from_description({**t5.describe(), "name": str(tmp_path), "hidden_size": 64})


def test_cache_matches_uncached_and_is_bounded(t5_dir, t5):
    cached = FrozenTextEncoder(TextEncoderConfig(name=str(t5_dir)), cache_size=3)
    batch = ["a dog barks", "", "a bell", "a dog barks"]
    plain, pm = t5(batch)
    first, fm = cached(batch)
    assert torch.equal(fm, pm)
    torch.testing.assert_close(first, plain, atol=1e-5, rtol=1e-5)
    assert torch.equal(first[0], first[3])  # a caption repeated in the batch: encoded once
    assert len(cached._cache) == 2  # "" is never cached nor encoded
    second, sm = cached(["a bell", "wind", "sea", "a bell"])
    assert len(cached._cache) == 3  # LRU bound: "a dog barks" (least recent) went
    assert "a dog barks" not in cached._cache and "a bell" in cached._cache
    n = int(fm[2].sum())
    assert torch.equal(second[0, :n], first[2, :n])  # a hit gives the stored states
    cached.to(torch.float64)  # .to() reaches the hidden model and drops the cache
    assert next(cached.model.parameters()).dtype == torch.float64 and not cached._cache
    s64, _ = cached(["a bell"])
    assert s64.dtype == torch.float32


def test_tiny_bert_through_auto_model(bert_dir):
    for kind in ("auto_model", "auto"):
        enc = FrozenTextEncoder(TextEncoderConfig(name=str(bert_dir), kind=kind))
        assert enc.kind == "auto_model" and enc.model_type == "bert" and enc.hidden_size == 24
        states, mask = enc(["a dog barks", "rain on a tin roof", ""])
        assert states.shape == (3, 7, 24)  # [CLS] rain on a tin roof [SEP]
        assert mask.sum(1).tolist() == [5, 7, 0] and (states[~mask] == 0).all()
    with pytest.raises(ValueError, match="T5-family"):
        FrozenTextEncoder(TextEncoderConfig(name=str(bert_dir), kind="t5"))


def test_unknown_name_offline_says_how_to_use_a_local_path(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty hub cache
    name = "no-such-owner/t5-nonexistent-xyz"
    assert resolve_text_encoder(name) == name  # a hub name is passed through...
    with pytest.raises(TextEncoderNotFoundError) as e:  # ...and loading it fails clearly
        FrozenTextEncoder(TextEncoderConfig(name=name))
    msg = str(e.value)
    assert name in msg and "offline" in msg and "local path" in msg
    assert "train.text_encoder: /path/to/t5-nonexistent-xyz" in msg and "huggingface-cli download" in msg
    with pytest.raises(TextEncoderNotFoundError, match="does not exist"):
        resolve_text_encoder(str(tmp_path / "missing-model"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(TextEncoderNotFoundError, match="no config.json"):
        resolve_text_encoder(str(tmp_path / "empty"))


def test_config_round_trip_and_validation():
    cfg = TextEncoderConfig(name="t5-base", kind="t5", max_length=32)
    assert TextEncoderConfig.from_dict(cfg.to_dict()) == cfg
    assert TextEncoderConfig().name == DEFAULT_TEXT_ENCODER
    with pytest.raises(ValueError, match="kind"):
        TextEncoderConfig(kind="gpt")
    with pytest.raises(ValueError, match=r"text encoder options: unknown key\(s\)"):
        TextEncoderConfig.from_dict({"nme": "t5-base"})


def _minilm_installed() -> bool:
    try:
        importlib.metadata.distribution(DEFAULT_TEXT_ENCODER)
        return True
    except importlib.metadata.PackageNotFoundError:
        return False


@pytest.mark.skipif(not _minilm_installed(), reason=f"{DEFAULT_TEXT_ENCODER} is not installed")
def test_packaged_minilm_loads_offline_and_is_semantic(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    folder = Path(resolve_text_encoder(DEFAULT_TEXT_ENCODER))
    assert (folder / "config.json").is_file() and (folder / "model.safetensors").is_file()
    assert resolve_text_encoder(DEFAULT_TEXT_ENCODER.replace("-", "_")) == str(folder)  # module name too
    enc = FrozenTextEncoder()  # the default config
    assert enc.hidden_size == 384 and enc.kind == "auto_model" and enc.model_type == "bert"
    states, mask = enc(["a dog barks", "dog barking loudly", "rain on a tin roof"])
    pooled = states.sum(1) / mask.sum(1, keepdim=True)  # mean over real tokens (padding is zero)
    cos = torch.nn.functional.cosine_similarity
    dog_dog, dog_rain = cos(pooled[0], pooled[1], dim=0), cos(pooled[0], pooled[2], dim=0)
    assert dog_dog > dog_rain + 0.2, (float(dog_dog), float(dog_rain))
