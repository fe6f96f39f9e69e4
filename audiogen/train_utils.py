"""Small pieces of the LM trainer: the schedule, the optimiser's parameter groups, the EMA of the
weights, the device's FLOP rate (for MFU) and distributed helpers. `audiogen/train.py` reads top to
bottom; what it calls lives here."""
from __future__ import annotations

import math
import time
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


def measured_matmul_flops(dim: int, device: torch.device, dtype: torch.dtype = torch.float32,
                          seconds: float = 0.3) -> float:
    """FLOP/s of dense `[4·dim, dim] @ [dim, 4·dim]` matmuls on this device, in this process (the
    ceiling against which CPU MFU is stated: a CPU has no published peak that it reaches)."""
    n = max(64, int(dim))
    a = torch.randn(4 * n, n, device=device, dtype=dtype)
    b = torch.randn(n, 4 * n, device=device, dtype=dtype)
    for _ in range(2):  # warm-up (thread pools, allocator)
        a @ b
    _sync(device)
    reps, t0 = 0, time.perf_counter()
    while True:
        a @ b
        reps += 1
        if reps % 4 == 0:
            _sync(device)
            if time.perf_counter() - t0 >= seconds:
                break
    return 2.0 * (4 * n) * n * (4 * n) * reps / (time.perf_counter() - t0)


# Published dense bf16 peaks (no sparsity), by substring of the device name.
GPU_PEAK_BF16 = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "A10G": 125e12,
                 "L4": 121e12, "4090": 165e12, "3090": 71e12, "V100": 125e12, "T4": 65e12}


def device_peak_flops(device: torch.device, dim: int) -> tuple[float, str]:
    """(peak FLOP/s, how it was obtained): a GPU's published bf16 peak, else the measured matmul rate."""
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        for key, peak in GPU_PEAK_BF16.items():
            if key in name:
                return peak, f"{name} bf16 peak"
        return measured_matmul_flops(dim, device, torch.bfloat16), f"{name} measured bf16 matmul"
    return measured_matmul_flops(dim, device), "measured fp32 matmul (this process)"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def dist_info() -> tuple[int, int]:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def all_reduce_sum(x: torch.Tensor) -> torch.Tensor:
    """Sum over ranks (identity without distributed)."""
    import torch.distributed as dist

    if dist_info()[1] > 1:
        x = x.clone()
        dist.all_reduce(x)
    return x


def gather_objects(obj: Any) -> list[Any]:
    """Every rank's `obj`, indexed by rank (`[obj]` without distributed)."""
    import torch.distributed as dist

    world = dist_info()[1]
    if world == 1:
        return [obj]
    out: list[Any] = [None] * world
    dist.all_gather_object(out, obj)
    return out
