"""Tiny random LMs and text batches for the LM tests."""
from __future__ import annotations

import torch

from audiogen.lm import AudioLM, LMConfig

CARD = 16
TEXT_DIM = 12


def tiny_lm(pattern: str = "delay", num_codebooks: int = 3, seed: int = 0, **overrides) -> AudioLM:
    """A 2-layer, 32-wide LM with random weights, in eval mode."""
    torch.manual_seed(seed)
    cfg = LMConfig(**{"dim": 32, "num_layers": 2, "num_heads": 2, "num_codebooks": num_codebooks,
                      "cardinality": CARD, "text_dim": TEXT_DIM, "pattern": pattern, **overrides})
    return AudioLM(cfg).eval()


def random_text(lengths: list[int], max_len: int | None = None, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Text states `[B, L, TEXT_DIM]` and mask `[B, L]` with `lengths[b]` real tokens per row;
    padding positions hold random garbage (the mask must hide it)."""
    g = torch.Generator().manual_seed(seed)
    max_len = max_len or max(max(lengths), 1)
    text = torch.randn(len(lengths), max_len, TEXT_DIM, generator=g)
    mask = torch.arange(max_len)[None, :] < torch.tensor(lengths)[:, None]
    return text, mask


def random_codes(batch: int, num_codebooks: int, frames: int, seed: int = 2) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, CARD, (batch, num_codebooks, frames), generator=g)
