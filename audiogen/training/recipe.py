"""The LM trainer's recipe: the learning-rate schedule, the CFG dropout mask, the optimiser's
parameter groups and the EMA of the weights (`audiogen/training/loop.py` reads top to bottom; what
it calls lives here)."""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn


def inverse_sqrt_lr(step: int, base_lr: float, warmup: int) -> float:
    """Linear warm-up to `base_lr` over `warmup` steps, then base_lr · sqrt(warmup / step)
    (the reference's inverse-square-root schedule). `step` counts from 0."""
    s = step + 1
    if warmup <= 0:
        return base_lr
    return base_lr * min(s / warmup, math.sqrt(warmup / s))


def cfg_dropout_mask(batch: int, p: float, generator: torch.Generator) -> torch.Tensor:
    """`[batch]` bool: rows whose text becomes the null condition, each with probability `p`
    (per sample, as PAPER.md prefers to the reference's whole-batch dropout)."""
    return torch.rand(batch, generator=generator) < p


def param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Weight decay on matrices (2-D and up: linear and embedding weights) only; norms' gains and
    other vectors get none (nanoGPT's rule)."""
    decay, no_decay = [], []
    for _, p in sorted(model.named_parameters(), key=lambda kv: kv[0]):
        if p.requires_grad:
            (decay if p.dim() >= 2 else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


class EMA:
    """Exponential moving average of a model's floating-point parameters, kept in float32."""

    def __init__(self, model: nn.Module, decay: float):
        self.decay = decay
        self.shadow = {k: v.detach().float().clone() for k, v in model.state_dict().items() if v.is_floating_point()}

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        for k, v in model.state_dict().items():
            if k in self.shadow:
                self.shadow[k].mul_(self.decay).add_(v.detach().float(), alpha=1.0 - self.decay)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return dict(self.shadow)

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.shadow = {k: v.float().clone() for k, v in state.items()}

    def weights_for(self, model: nn.Module) -> dict[str, torch.Tensor]:
        """The model's state dict with the averaged weights in place of the live ones."""
        return {k: (self.shadow[k].to(v.dtype) if k in self.shadow else v) for k, v in model.state_dict().items()}
