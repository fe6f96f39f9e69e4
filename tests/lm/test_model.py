"""AudioLM: shapes, causality, the text mask, the loss's frame mask, the cache, checkpoints."""
from __future__ import annotations

import json

import pytest
import torch
from torch.nn import functional as F

from audiogen.lm import AudioLM, read_config

from ._helpers import CARD, random_codes, random_text, tiny_lm


def shifted(seq: torch.Tensor) -> torch.Tensor:
    """Teacher-forcing inputs: step s holds sequence step s - 1, step 0 the special token."""
    return torch.cat([torch.full_like(seq[..., :1], CARD), seq[..., :-1]], dim=-1)


@pytest.mark.parametrize("k", [1, 2, 4])
def test_forward_shapes(k):
    lm = tiny_lm("delay", k)
    text, mask = random_text([3, 5])
    inputs = torch.randint(0, CARD + 1, (2, k, 9))
    logits = lm(inputs, text, mask)
    assert logits.shape == (2, k, 9, CARD) and torch.isfinite(logits).all()
    with pytest.raises(ValueError, match=r"expected tokens \[B, %d, S\]" % k):
        lm(torch.zeros(2, k + 1, 3, dtype=torch.long), text, mask)
    with pytest.raises(ValueError, match="expected text states"):
        lm(inputs, torch.zeros(2, 5, 7), mask)


@pytest.mark.parametrize("pattern", ["delay", "parallel"])
def test_causality(pattern):
    lm = tiny_lm(pattern, 2)
    text, mask = random_text([4, 2])
    inputs = torch.randint(0, CARD + 1, (2, 2, 10))
    base = lm(inputs, text, mask)
    for j in (0, 4, 9):
        changed = inputs.clone()
        changed[:, 1, j] = (changed[:, 1, j] + 1) % (CARD + 1)
        out = lm(changed, text, mask)
        assert torch.allclose(out[:, :, :j], base[:, :, :j], atol=1e-6, rtol=0)
        assert not torch.allclose(out[:, :, j], base[:, :, j], atol=1e-4, rtol=0)  # the change is seen


def test_text_padding_never_changes_outputs():
    lm = tiny_lm("delay", 2)
    text, mask = random_text([3, 5], max_len=5)
    inputs = torch.randint(0, CARD + 1, (2, 2, 6))
    base = lm(inputs, text, mask)
    # Four more padding positions holding garbage, masked out.
    longer, longer_mask = random_text([3, 5], max_len=9, seed=7)
    longer[:, :5], longer_mask[:, :5] = text, mask
    assert torch.allclose(lm(inputs, longer, longer_mask), base, atol=1e-5, rtol=0)
    # Different garbage in the existing padding of row 0.
    other = text.clone()
    other[0, 3:] = 100.0
    assert torch.allclose(lm(inputs, other, mask), base, atol=1e-5, rtol=0)
    # ...but the real tokens matter.
    other[0, 0] += 1.0
    assert not torch.allclose(lm(inputs, other, mask)[0], base[0], atol=1e-4, rtol=0)


def test_all_masked_text_row_is_finite_and_ignores_the_text():
    lm = tiny_lm("delay", 2)
    text, mask = random_text([0, 4])
    inputs = torch.randint(0, CARD + 1, (2, 2, 5))
    out = lm(inputs, text, mask)
    assert torch.isfinite(out).all()
    # The empty row's cross-attention contributes exactly nothing: any text, or none at all.
    other = text.clone()
    other[0] = 5.0 * torch.randn_like(other[0])
    assert torch.allclose(lm(inputs, other, mask)[0], out[0], atol=1e-6, rtol=0)
    empty = lm(inputs[:1], torch.zeros(1, 0, text.shape[-1]), torch.zeros(1, 0, dtype=torch.bool))
    assert torch.allclose(empty[0], out[0], atol=1e-6, rtol=0)
    # null_condition drops exactly the chosen rows.
    nt, nm = AudioLM.null_condition(text, mask, torch.tensor([False, True]))
    assert torch.equal(nt[0], text[0]) and torch.equal(nm[0], mask[0])
    assert not nm[1].any() and (nt[1] == 0).all()
    assert torch.isfinite(lm(inputs, nt, nm)).all()


@pytest.mark.parametrize("pattern", ["delay", "parallel"])
def test_loss_ignores_padding_frames(pattern):
    k, t = 3, 8
    lm = tiny_lm(pattern, k)
    text, mask = random_text([3, 5])
    codes = random_codes(2, k, t)
    frame_mask = torch.ones(2, t, dtype=torch.bool)
    frame_mask[1, 5:] = False
    loss, ce_k, n = lm.compute_loss(codes, frame_mask, text, mask)
    assert n == k * (t + 5) and ce_k.shape == (k,) and loss.dim() == 0 and torch.isfinite(loss)
    assert torch.allclose(loss, ce_k.mean(), atol=1e-6)  # every codebook counts the same tokens here
    changed = codes.clone()
    changed[1, :, 5:] = (changed[1, :, 5:] + 3) % CARD
    loss2, ce_k2, n2 = lm.compute_loss(changed, frame_mask, text, mask)
    assert torch.equal(loss2, loss) and torch.equal(ce_k2, ce_k) and n2 == n
    changed[1, 0, 4] = (changed[1, 0, 4] + 3) % CARD  # a real frame does count
    assert not torch.equal(lm.compute_loss(changed, frame_mask, text, mask)[0], loss)
    loss.backward()
    assert lm.heads[0].weight.grad is not None


@pytest.mark.parametrize("pattern", ["delay", "parallel"])
def test_loss_is_teacher_forced_cross_entropy(pattern):
    k, t = 2, 6
    lm = tiny_lm(pattern, k)
    text, mask = random_text([2, 4])
    codes = random_codes(2, k, t)
    loss, ce_k, n = lm.compute_loss(codes, torch.ones(2, t, dtype=torch.bool), text, mask)
    # Written out by hand: codebook k of frame f sits at step f + delay_k.
    delays = list(range(k)) if pattern == "delay" else [0] * k
    steps = t + max(delays)
    seq = torch.full((2, k, steps), CARD)
    for kk, d in enumerate(delays):
        seq[:, kk, d:d + t] = codes[:, kk]
    logits = lm(shifted(seq), text, mask)
    ces = [F.cross_entropy(logits[:, kk, d:d + t].reshape(-1, CARD), codes[:, kk].reshape(-1))
           for kk, d in enumerate(delays)]
    assert n == 2 * k * t
    assert torch.allclose(ce_k, torch.stack(ces), atol=1e-5)
    assert torch.allclose(loss, torch.stack(ces).mean(), atol=1e-5)
    with pytest.raises(ValueError, match=r"codes must lie in \[0, 16\)"):
        lm.compute_loss(codes + CARD, torch.ones(2, t, dtype=torch.bool), text, mask)


@pytest.mark.parametrize("pattern", ["delay", "parallel"])
def test_cached_steps_match_the_full_pass(pattern):
    lm = tiny_lm(pattern, 2)
    text, mask = random_text([0, 3])
    inputs = torch.randint(0, CARD + 1, (2, 2, 11))
    full = lm(inputs, text, mask)
    cache = lm.init_cache(2, 11, text, mask)
    chunks = [lm.forward_step(inputs[..., :5], cache)]  # a prefill
    chunks += [lm.forward_step(inputs[..., s:s + 1], cache) for s in (5, 6)]
    chunks.append(lm.forward_step(inputs[..., 7:11], cache))  # several steps after a prefix
    assert cache.pos == 11 and cache.remaining == 0
    assert torch.allclose(torch.cat(chunks, dim=2), full, atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="KVCache overflow"):
        lm.forward_step(inputs[..., :1], cache)
    buffers = [t.data_ptr() for t in cache.keys]
    cache.reset()
    assert torch.allclose(lm.forward_step(inputs, cache), full, atol=1e-5, rtol=0)
    assert [t.data_ptr() for t in cache.keys] == buffers  # written in place, never reallocated


def test_save_load_round_trip(tmp_path):
    lm = tiny_lm("delay", 2, dropout=0.1)
    text, mask = random_text([2, 4])
    inputs = torch.randint(0, CARD + 1, (2, 2, 7))
    extra = {"codec": {"path": "models/codec", "sha256": "ab" * 32}, "text_encoder": {"name": "t5-base"}}
    lm.save_pretrained(tmp_path / "ckpt", extra_config=extra)
    meta = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    assert meta["format"] == "audiogen-lm/1" and meta["lm"] == lm.config.to_dict()
    assert meta["codec"] == extra["codec"] and read_config(tmp_path / "ckpt") == meta
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["config.json", "model.safetensors"]
    loaded = AudioLM.from_pretrained(tmp_path / "ckpt")
    assert not loaded.training and loaded.config == lm.config and loaded.checkpoint_config == meta
    assert torch.equal(loaded(inputs, text, mask), lm(inputs, text, mask))
    with pytest.raises(ValueError, match="reserved keys"):
        lm.save_pretrained(tmp_path / "bad", extra_config={"lm": {}})
    with pytest.raises(FileNotFoundError, match="not an LM checkpoint"):
        AudioLM.from_pretrained(tmp_path / "missing")
    (tmp_path / "ckpt" / "config.json").write_text(json.dumps({"format": "audiogen-codec/1"}))
    with pytest.raises(ValueError, match="expected 'audiogen-lm/1'"):
        read_config(tmp_path / "ckpt")
