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


def cfg_dropout_mask(batch: int, p: float, generator: torch.Generator, scope: str = "sample") -> torch.Tensor:
    """`[batch]` bool: rows whose text becomes the null condition, each with probability `p`
    (scope "sample", as PAPER.md prefers), or all rows at once with probability `p` (scope "batch":
    the reference's whole-batch dropout, audiocraft's `ClassifierFreeGuidanceDropout`)."""
    if scope == "batch":
        return (torch.rand(1, generator=generator) < p).expand(batch).clone()
    if scope != "sample":
        raise ValueError(f"cfg dropout scope {scope!r}: use sample or batch")
    return torch.rand(batch, generator=generator) < p


def micro_objective(loss: torch.Tensor, ce_per_codebook: torch.Tensor, num_tokens: int, global_tokens: float,
                    micro_steps: int, average: str = "token") -> torch.Tensor:
    """What one micro-batch adds to the step's objective (its backward accumulates the gradient).

    "token" (this project): `loss · n / N`, N = the tokens of all micro-batches and ranks divided by
    the number of ranks, so DDP's gradient average equals the gradient of one big batch's token mean.
    "codebook" (audiocraft, AUDIOCRAFT.md §E): the mean of the K per-codebook means `[K]`, each
    micro-batch (and, through DDP's average, each rank) weighing the same whatever its token count.
    In this project's loss every codebook counts the same tokens (all real frames), so the two
    differ in how micro-batches and ranks are weighted.
    """
    if average == "codebook":
        return ce_per_codebook.mean() / micro_steps
    if average != "token":
        raise ValueError(f"loss average {average!r}: use token or codebook")
    return loss * num_tokens / max(global_tokens, 1.0)


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
