"""The decoder: pre-norm blocks of causal self-attention, cross-attention to the text, and a GELU
feed-forward; no biases in the linears; LayerNorms bias-free unless `LMConfig.norm_bias` (audiocraft's
release has them); sinusoidal positions added to the input.

Shapes: `x [B, S, D]`, text states `[B, L, D]` (already projected to the model width), text mask
`[B, L]` bool (True = real token). With `LMConfig.text_attention == "all"` the mask is not used by
the attention: every one of the L positions is attended (audiocraft).
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from audiogen.lm.cache import KVCache, TextContext
from audiogen.lm.config import LMConfig


def sinusoidal_embedding(positions: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """positions `[S]` → `[S, dim]` float32: `[cos(p·f_i), sin(p·f_i)]` with
    `f_i = max_period^(-i / (dim/2 - 1))` (audiocraft's layout)."""
    half = dim // 2
    idx = torch.arange(half, device=positions.device, dtype=torch.float32)
    freqs = max_period ** (-idx / max(half - 1, 1))
    phase = positions.to(torch.float32)[:, None] * freqs[None, :]
    return torch.cat([torch.cos(phase), torch.sin(phase)], dim=-1)


class SelfAttention(nn.Module):
    """Causal multi-head self-attention; with a `KVCache`, attends to the cached past too."""

    def __init__(self, dim: int, num_heads: int, dropout: float):
        super().__init__()
        self.num_heads = num_heads
        self.dropout = dropout
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.out = nn.Linear(dim, dim, bias=False)

    def forward(self, x: torch.Tensor, cache: KVCache | None = None, layer: int = 0) -> torch.Tensor:
        b, s, d = x.shape
        q, k, v = self.qkv(x).view(b, s, 3, self.num_heads, d // self.num_heads).permute(2, 0, 3, 1, 4)
        mask, causal = None, True
        if cache is not None:
            pos = cache.pos
            k, v = cache.write(layer, k, v)
            k, v = k.to(q.dtype), v.to(q.dtype)
            if pos > 0:
                causal = False
                if s > 1:  # several new steps (a prompt prefill): causal among themselves
                    qpos = torch.arange(pos, pos + s, device=x.device)
                    mask = torch.arange(pos + s, device=x.device)[None, :] <= qpos[:, None]
        p = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal, dropout_p=p)
        return self.out(y.transpose(1, 2).reshape(b, s, d))


class CrossAttention(nn.Module):
    """Multi-head attention from the audio steps to the text, with the text padding mask (or, in
    "all" mode, `attn_mask` and `gate` None: every text position)."""

    def __init__(self, dim: int, num_heads: int, dropout: float):
        super().__init__()
        self.num_heads = num_heads
        self.dropout = dropout
        self.q = nn.Linear(dim, dim, bias=False)
        self.kv = nn.Linear(dim, 2 * dim, bias=False)
        self.out = nn.Linear(dim, dim, bias=False)

    def project_text(self, states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """states `[B, L, D]` → keys, values `[B, H, L, Dh]`."""
        b, n, d = states.shape
        k, v = self.kv(states).view(b, n, 2, self.num_heads, d // self.num_heads).permute(2, 0, 3, 1, 4)
        return k, v

    def forward(self, x: torch.Tensor, k: torch.Tensor, v: torch.Tensor, attn_mask: torch.Tensor | None,
                gate: torch.Tensor | None) -> torch.Tensor:
        b, s, d = x.shape
        q = self.q(x).view(b, s, self.num_heads, d // self.num_heads).transpose(1, 2)
        p = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k.to(q.dtype), v.to(q.dtype), attn_mask=attn_mask, dropout_p=p)
        y = self.out(y.transpose(1, 2).reshape(b, s, d))
        return y if gate is None else y * gate.to(y.dtype)  # exactly 0 for rows without any text (see TextContext)


class DecoderBlock(nn.Module):
    def __init__(self, cfg: LMConfig):
        super().__init__()
        d, h, p = cfg.dim, cfg.num_heads, cfg.dropout
        self.norm_self = nn.LayerNorm(d, eps=cfg.norm_eps, bias=cfg.norm_bias)
        self.self_attn = SelfAttention(d, h, p)
        self.norm_cross = nn.LayerNorm(d, eps=cfg.norm_eps, bias=cfg.norm_bias)
        self.cross_attn = CrossAttention(d, h, p)
        self.norm_ff = nn.LayerNorm(d, eps=cfg.norm_eps, bias=cfg.norm_bias)
        self.ff_up = nn.Linear(d, cfg.ff_dim, bias=False)
        self.ff_down = nn.Linear(cfg.ff_dim, d, bias=False)
        self.drop = nn.Dropout(p)

    def forward(self, x: torch.Tensor, text: TextContext, layer: int, cache: KVCache | None = None) -> torch.Tensor:
        x = x + self.drop(self.self_attn(self.norm_self(x), cache, layer))
        x = x + self.drop(self.cross_attn(self.norm_cross(x), text.keys[layer], text.values[layer],
                                          text.attn_mask, text.gate))
        return x + self.drop(self.ff_down(F.gelu(self.ff_up(self.norm_ff(x)))))


class Transformer(nn.Module):
    """`num_layers` decoder blocks and a final LayerNorm."""

    def __init__(self, cfg: LMConfig):
        super().__init__()
        self.cfg = cfg
        self.layers = nn.ModuleList(DecoderBlock(cfg) for _ in range(cfg.num_layers))
        self.norm_out = nn.LayerNorm(cfg.dim, eps=cfg.norm_eps, bias=cfg.norm_bias)

    def text_context(self, states: torch.Tensor, mask: torch.Tensor) -> TextContext:
        """Projected text `[B, L, D]` + mask `[B, L]` → every layer's cross-attention keys/values.
        `L == 0` is allowed (as if one padding token). In "all" mode there is no mask and no gate:
        padded positions (zero vectors, see `AudioLM.text_context`) take their share of the softmax."""
        if states.shape[1] == 0:
            states = states.new_zeros(states.shape[0], 1, states.shape[2])
            mask = torch.zeros(states.shape[0], 1, dtype=torch.bool, device=states.device)
        kv = [layer.cross_attn.project_text(states) for layer in self.layers]
        if self.cfg.text_attention == "all":
            return TextContext(keys=[k for k, _ in kv], values=[v for _, v in kv], attn_mask=None, gate=None)
        has_text = mask.any(dim=-1)
        attn_mask = (mask | ~has_text[:, None])[:, None, None, :]
        return TextContext(keys=[k for k, _ in kv], values=[v for _, v in kv], attn_mask=attn_mask,
                           gate=has_text.to(states.dtype)[:, None, None])

    def forward(self, x: torch.Tensor, text: TextContext, cache: KVCache | None = None) -> torch.Tensor:
        """x `[B, S, D]` (the steps after the cache's position, if any) → `[B, S, D]`; advances the cache."""
        offset = cache.pos if cache is not None else 0
        pos = torch.arange(offset, offset + x.shape[1], device=x.device)
        x = x + sinusoidal_embedding(pos, self.cfg.dim, self.cfg.max_period).to(x.dtype)
        for i, layer in enumerate(self.layers):
            x = layer(x, text, i, cache)
        if cache is not None:
            cache.advance(x.shape[1])
        return self.norm_out(x)


def init_weights(module: nn.Module, num_layers: int) -> None:
    """GPT-2 style: N(0, 0.02) for linears and embeddings, and the projections that write into the
    residual stream (attention `out`, `ff_down`) scaled by 1/sqrt(3 · num_layers) (three residual
    branches per block), so the stream's variance does not grow with depth."""
    residual_std = 0.02 / math.sqrt(3 * num_layers)
    for name, m in module.named_modules():
        if isinstance(m, (nn.Linear, nn.Embedding)):
            std = residual_std if name.endswith((".out", ".ff_down")) else 0.02
            nn.init.normal_(m.weight, mean=0.0, std=std)
            if getattr(m, "bias", None) is not None:  # the optional text_proj bias starts at 0
                nn.init.zeros_(m.bias)
