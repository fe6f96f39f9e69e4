"""The LM's audiocraft-compatibility options (LayerNorm biases, the text projection's bias with the
mask applied after it, cross-attention over every text position): off by default, so a model trained
here keeps its parameters and outputs; on, they behave as audiocraft's release does."""
from __future__ import annotations

import pytest
import torch

from audiogen.lm import AudioLM, LMConfig, generate_codes

from ._helpers import CARD, random_text, tiny_lm

COMPAT = {"norm_bias": True, "text_proj_bias": True, "text_attention": "all"}


def _randomize_biases(lm: AudioLM, seed: int = 3) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in lm.named_parameters():
            if name.endswith(".bias"):
                p.copy_(0.5 * torch.randn(p.shape, generator=g))


def test_defaults_keep_the_bias_free_masked_model():
    lm = tiny_lm()
    assert not [k for k in lm.state_dict() if k.endswith(".bias")]
    assert lm.config.text_attention == "masked" and not lm.config.norm_bias and not lm.config.text_proj_bias
    # A config.json written before these options existed still loads, with today's behaviour.
    old = {k: v for k, v in lm.config.to_dict().items() if k not in COMPAT}
    assert LMConfig.from_dict(old) == lm.config


def test_compat_options_add_exactly_the_release_biases():
    lm = tiny_lm(**COMPAT)
    biases = sorted(k for k in lm.state_dict() if k.endswith(".bias"))
    norms = [f"transformer.layers.{i}.{n}.bias" for i in range(2) for n in ("norm_cross", "norm_ff", "norm_self")]
    assert biases == sorted(norms + ["text_proj.bias", "transformer.norm_out.bias"])
    assert float(lm.text_proj.bias.detach().abs().sum()) == 0.0  # starts at 0 (init_weights)
    assert LMConfig.from_dict(lm.config.to_dict()) == lm.config
    with pytest.raises(ValueError, match="text_attention 'none'"):
        LMConfig(**{**lm.config.to_dict(), "text_attention": "none"})
    with pytest.raises(ValueError, match="norm_bias must be true or false"):
        LMConfig(**{**lm.config.to_dict(), "norm_bias": 1})


def test_norm_biases_change_the_output():
    lm = tiny_lm(norm_bias=True)
    text, mask = random_text([3])
    inputs = torch.randint(0, CARD + 1, (1, 3, 6))
    before = lm(inputs, text, mask)
    _randomize_biases(lm)
    assert (lm(inputs, text, mask) - before).abs().max() > 1e-2


def test_all_mode_attends_to_padding_masked_mode_does_not():
    """audiocraft's cross-attention gives padded (zero) positions softmax weight: a caption's logits
    depend on how far its batch pads it. The masked default makes them independent of padding."""
    inputs = torch.randint(0, CARD + 1, (1, 3, 6), generator=torch.Generator().manual_seed(5))
    text, mask = random_text([2], max_len=2)
    padded = torch.cat([text, torch.randn(1, 5, text.shape[-1])], dim=1)  # garbage behind the mask
    padded_mask = torch.cat([mask, torch.zeros(1, 5, dtype=torch.bool)], dim=1)
    for mode, should_differ in (("masked", False), ("all", True)):
        lm = tiny_lm(text_proj_bias=True, text_attention=mode)
        _randomize_biases(lm)
        diff = (lm(inputs, text, mask) - lm(inputs, padded, padded_mask)).abs().max()
        assert (diff > 1e-3) == should_differ, (mode, float(diff))


def test_bias_never_leaks_into_padded_or_null_positions():
    """The mask multiplies the projected states after the bias (audiocraft's T5Conditioner order):
    a null row (all-False mask) gives the same logits whatever its states and length, and they equal
    those of a row without any cross-attention contribution."""
    lm = tiny_lm(**COMPAT)
    _randomize_biases(lm)
    inputs = torch.randint(0, CARD + 1, (2, 3, 6), generator=torch.Generator().manual_seed(6))
    garbage = torch.randn(2, 4, lm.config.text_dim)
    null = lm(inputs, garbage, torch.zeros(2, 4, dtype=torch.bool))
    short = lm(inputs, torch.zeros(2, 1, lm.config.text_dim), torch.zeros(2, 1, dtype=torch.bool))
    assert torch.equal(null, short)
    ctx = lm.text_context(garbage, torch.zeros(2, 4, dtype=torch.bool))
    assert ctx.attn_mask is None and ctx.gate is None
    assert all(float(k.detach().abs().max()) == 0.0 for k in ctx.keys)  # zero keys and values: output 0


@pytest.mark.parametrize("cfg", [1.0, 3.0])
def test_cached_generation_equals_recomputation_in_all_mode(cfg):
    lm = tiny_lm(**COMPAT)
    _randomize_biases(lm)
    text, mask = random_text([4, 1])
    a = generate_codes(lm, text, mask, 7, cfg=cfg, temperature=0)
    b = generate_codes(lm, text, mask, 7, cfg=cfg, temperature=0, use_cache=False)
    assert torch.equal(a, b) and a.shape == (2, 3, 7)


def test_checkpoint_round_trip_keeps_the_options(tmp_path):
    lm = tiny_lm(**COMPAT)
    _randomize_biases(lm)
    lm.save_pretrained(tmp_path / "lm")
    back = AudioLM.from_pretrained(tmp_path / "lm")
    assert back.config == lm.config
    assert all(torch.equal(v, back.state_dict()[k]) for k, v in lm.state_dict().items())
