"""LMConfig, presets and their parameter counts (built on the meta device: no memory)."""
from __future__ import annotations

import pytest
import torch

from audiogen.lm import PRESETS, AudioLM, LMConfig, lm_config


def meta_lm(cfg: LMConfig) -> AudioLM:
    with torch.device("meta"):
        return AudioLM(cfg)


def expected_params(cfg: LMConfig) -> int:
    """Written out: per block self-attention 4d², cross-attention 4d², FFN 2·d·ff, 3 norms of d;
    K embeddings of (card+1)·d, K heads of card·d, text projection text_dim·d, final norm d."""
    d, k = cfg.dim, cfg.num_codebooks
    block = 8 * d * d + 2 * d * cfg.ff_dim + 3 * d
    return cfg.num_layers * block + k * (cfg.cardinality + 1) * d + k * cfg.cardinality * d + cfg.text_dim * d + d


@pytest.mark.parametrize("name,text_dim,paper,low,high", [
    # The paper's 285M (768/24/16) does not say how it counts; this architecture (audiocraft's
    # block: 16·d² per layer) gives 239.7M with K=4, card 2048: 15.9 % under it.
    ("base", 768, 285e6, 0.80, 1.15),
    ("large", 1024, 1e9, 0.85, 1.15),
])
def test_paper_preset_sizes(name, text_dim, paper, low, high):
    cfg = lm_config(name, num_codebooks=4, cardinality=2048, text_dim=text_dim)
    lm = meta_lm(cfg)
    n = lm.num_parameters()
    assert n == expected_params(cfg)
    assert low * paper <= n <= high * paper, f"{name}: {n / 1e6:.1f}M"
    assert lm.num_parameters(exclude_embeddings=True) == n - 4 * 2049 * cfg.dim


def test_all_presets_build_on_meta():
    for name, shape in PRESETS.items():
        cfg = lm_config(name, num_codebooks=4, cardinality=2048, text_dim=1024)
        assert (cfg.dim, cfg.num_layers, cfg.num_heads) == (shape["dim"], shape["num_layers"], shape["num_heads"])
        assert meta_lm(cfg).num_parameters() == expected_params(cfg)
    assert lm_config("medium", num_codebooks=4, cardinality=2048, text_dim=1024).dim == 1536


def test_flops_per_token():
    cfg = lm_config("tiny", num_codebooks=2, cardinality=64, text_dim=32, num_layers=2)
    lm = meta_lm(cfg)
    d, ff = cfg.dim, cfg.ff_dim
    n_step = 2 * (4 * d * d + 2 * d * d + 2 * d * ff) + 2 * 64 * d
    n_text = 32 * d + 2 * 2 * d * d
    assert lm.flops_per_token() == 6 * n_step
    assert lm.flops_per_token(100, 10) == pytest.approx(6 * n_step + 12 * 2 * d * 110 + 6 * n_text * 10 / 100)


def test_config_dict_round_trip_and_errors():
    cfg = lm_config("tiny", num_codebooks=2, cardinality=128, text_dim=384, pattern="parallel", dropout=0.1)
    assert LMConfig.from_dict(cfg.to_dict()) == cfg and cfg.special_token == 128 and cfg.head_dim == 32
    with pytest.raises(ValueError, match=r"LM config: unknown key\(s\) \['n_q'\]"):
        LMConfig.from_dict({**cfg.to_dict(), "n_q": 4})
    with pytest.raises(ValueError, match=r"unknown LM preset 'huge'.*'base'.*'tiny'"):
        lm_config("huge", num_codebooks=2, cardinality=128, text_dim=384)
    with pytest.raises(ValueError, match="not divisible"):
        lm_config("tiny", num_codebooks=2, cardinality=128, text_dim=384, num_heads=3)
    with pytest.raises(ValueError, match="pattern 'zigzag'"):
        lm_config("tiny", num_codebooks=2, cardinality=128, text_dim=384, pattern="zigzag")
    with pytest.raises(ValueError, match="num_codebooks must be a positive int"):
        lm_config("tiny", num_codebooks=0, cardinality=128, text_dim=384)
