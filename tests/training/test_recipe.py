"""The trainer's small parts: CFG dropout per sample, the schedule, weight-decay groups, EMA."""
from __future__ import annotations

import math

import torch

from audiogen.training.recipe import EMA, cfg_dropout_mask, inverse_sqrt_lr, param_groups


def test_cfg_dropout_rate_is_per_sample():
    gen = torch.Generator().manual_seed(0)
    masks = torch.stack([cfg_dropout_mask(16, 0.1, gen) for _ in range(2000)])  # [steps, B]
    assert abs(float(masks.float().mean()) - 0.1) < 0.01  # 32,000 draws: 3 sigma ≈ 0.005
    # per sample, not per batch: most batches drop some rows but not all
    per_batch = masks.float().mean(1)
    assert float(((per_batch > 0) & (per_batch < 1)).float().mean()) > 0.7
    gen = torch.Generator().manual_seed(0)
    assert not cfg_dropout_mask(64, 0.0, gen).any() and cfg_dropout_mask(64, 1.0, gen).all()


def test_inverse_sqrt_schedule():
    lrs = [inverse_sqrt_lr(s, 5e-4, 100) for s in range(1000)]
    assert lrs[0] == 5e-6 and math.isclose(lrs[99], 5e-4)  # linear warm-up to the peak
    assert math.isclose(lrs[399], 5e-4 * math.sqrt(100 / 400))  # then 1/sqrt(step)
    assert all(a >= b for a, b in zip(lrs[99:], lrs[100:]))


def test_weight_decay_on_matrices_only_and_ema():
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.LayerNorm(4))
    decay, no_decay = param_groups(model, 0.1)
    assert {p.dim() for p in decay["params"]} == {2} and decay["weight_decay"] == 0.1
    assert {p.dim() for p in no_decay["params"]} == {1} and no_decay["weight_decay"] == 0.0
    ema = EMA(model, 0.5)
    before = model[0].weight.detach().clone()
    with torch.no_grad():
        model[0].weight.add_(2.0)
    ema.update(model)
    torch.testing.assert_close(ema.weights_for(model)["0.weight"], before + 1.0)
