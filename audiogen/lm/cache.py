"""Decoding state: the text's cross-attention keys/values (`TextContext`, computed once per
generation) and the self-attention KV cache (`KVCache`), allocated once for the whole generation
length and written in place, so a decoding step never concatenates or reallocates.

Shapes: `B` batch (2B with classifier-free guidance), `H` heads, `Dh` head size, `L` text tokens,
`S_max` the most steps the cache can hold.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class TextContext:
    """The projected text as every layer's cross-attention sees it.

    keys, values: one `[B, H, L, Dh]` per layer.
    attn_mask: `[B, 1, 1, L]` bool, True = attend. A row whose text mask is all False (empty
        caption, CFG null condition) attends to all its keys instead, because SDPA returns NaN for
        a fully masked row; `gate` then zeroes that row's cross-attention output exactly.
        None in `text_attention="all"` mode (audiocraft): every position is attended.
    gate: `[B, 1, 1]` float, 1.0 where the row has any real text token, else 0.0; None with no mask
        (a null row's keys and values are then all zero, so its cross-attention output is 0 anyway).
    """

    keys: list[torch.Tensor]
    values: list[torch.Tensor]
    attn_mask: torch.Tensor | None
    gate: torch.Tensor | None

    @property
    def batch_size(self) -> int:
        return int(self.keys[0].shape[0])


class KVCache:
    """Self-attention keys/values for every layer, `[B, H, S_max, Dh]` each, plus the text context.

    `pos` is the number of steps already written; a forward pass over `n` new steps writes positions
    `[pos, pos + n)` of every layer (`write`), attends to `[0, pos + n)`, then `advance(n)`.
    """

    def __init__(self, keys: list[torch.Tensor], values: list[torch.Tensor], text: TextContext):
        if len(keys) != len(values) or not keys:
            raise ValueError("KVCache needs one key and one value tensor per layer")
        if text.batch_size != keys[0].shape[0]:
            raise ValueError(f"KVCache: text batch {text.batch_size} != cache batch {keys[0].shape[0]}")
        self.keys = keys
        self.values = values
        self.text = text
        self.pos = 0

    @classmethod
    def allocate(cls, num_layers: int, batch: int, num_heads: int, max_steps: int, head_dim: int,
                 text: TextContext, *, dtype: torch.dtype, device: torch.device | str) -> "KVCache":
        """Allocate every layer's buffers once (uninitialised memory: only written positions are read)."""
        if max_steps < 1:
            raise ValueError(f"KVCache: max_steps must be >= 1, got {max_steps}")
        shape = (batch, num_heads, max_steps, head_dim)
        keys = [torch.empty(shape, dtype=dtype, device=device) for _ in range(num_layers)]
        values = [torch.empty(shape, dtype=dtype, device=device) for _ in range(num_layers)]
        return cls(keys, values, text)

    @property
    def max_steps(self) -> int:
        return int(self.keys[0].shape[2])

    @property
    def batch_size(self) -> int:
        return int(self.keys[0].shape[0])

    @property
    def remaining(self) -> int:
        return self.max_steps - self.pos

    def write(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store `n` new steps `[B, H, n, Dh]` at `pos` (in place) and return the views of the
        keys/values of steps `[0, pos + n)` (`[B, H, pos + n, Dh]`)."""
        end = self.pos + k.shape[2]
        if end > self.max_steps:
            raise ValueError(f"KVCache overflow: {k.shape[2]} new steps at position {self.pos} "
                             f"exceed the {self.max_steps} allocated")
        self.keys[layer][:, :, self.pos:end] = k
        self.values[layer][:, :, self.pos:end] = v
        return self.keys[layer][:, :, :end], self.values[layer][:, :, :end]

    def advance(self, n: int) -> None:
        self.pos += n

    def reset(self) -> None:
        """Start over with the same text (the buffers are reused)."""
        self.pos = 0
