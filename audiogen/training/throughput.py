"""The device's FLOP rate, against which the trainer states its model FLOP utilisation (MFU)."""
from __future__ import annotations

import time

import torch


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
