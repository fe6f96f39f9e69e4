"""Next-token rules: classifier-free guidance on log-probabilities, and temperature / top-k /
top-p sampling. Shapes: logits `[..., V]` (in generation `[B, K, V]`)."""
from __future__ import annotations

import torch
from torch.nn import functional as F


def cfg_logits(cond: torch.Tensor, uncond: torch.Tensor, gamma: float) -> torch.Tensor:
    """γ·log p(v | text, past) + (1 − γ)·log p(v | past) (float32, unnormalised; `sample`
    normalises). γ = 1 gives the conditional log-probabilities."""
    if cond.shape != uncond.shape:
        raise ValueError(f"cfg_logits: cond {tuple(cond.shape)} and uncond {tuple(uncond.shape)} differ")
    return gamma * F.log_softmax(cond.float(), dim=-1) + (1.0 - gamma) * F.log_softmax(uncond.float(), dim=-1)


def sample(logits: torch.Tensor, temperature: float = 1.0, top_k: int = 0, top_p: float = 0.0,
           generator: torch.Generator | None = None) -> torch.Tensor:
    """logits `[..., V]` → token ids `[...]` long.

    temperature 0 (or top_k 1): greedy (argmax, first index on ties). Otherwise softmax of
    logits / temperature, restricted, as in audiocraft, to the smallest set of tokens whose
    probability reaches `top_p` when 0 < top_p < 1, else to the `top_k` most likely tokens when
    0 < top_k < V, else unrestricted. The draw uses `generator` (on its own device: a CPU
    generator works for CUDA logits), so a seeded generator gives the same tokens every run.
    """
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if top_k < 0 or not 0.0 <= top_p <= 1.0:
        raise ValueError(f"need top_k >= 0 and 0 <= top_p <= 1, got top_k={top_k}, top_p={top_p}")
    if temperature == 0 or top_k == 1:
        return logits.argmax(dim=-1)
    v = logits.shape[-1]
    x = logits.float() / temperature
    if 0.0 < top_p < 1.0:
        sorted_x, order = x.sort(dim=-1, descending=True)
        probs = sorted_x.softmax(dim=-1)
        # Drop a token when the tokens ranked above it already reach top_p (the first always stays).
        drop_sorted = (probs.cumsum(dim=-1) - probs) >= top_p
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        x = x.masked_fill(drop, float("-inf"))
    elif 0 < top_k < v:
        kth = x.topk(top_k, dim=-1).values[..., -1:]
        x = x.masked_fill(x < kth, float("-inf"))
    probs = x.softmax(dim=-1).reshape(-1, v)
    if generator is not None and generator.device != probs.device:
        probs = probs.to(generator.device)  # e.g. a CPU generator for a CUDA model: same draws anywhere
    flat = torch.multinomial(probs, 1, generator=generator)
    return flat.view(logits.shape[:-1]).to(logits.device)
