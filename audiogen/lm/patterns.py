"""Codebook interleaving patterns: how `K` parallel codebooks of `T` frames become one sequence of
`S` LM steps (each step predicts one token per codebook).

Both patterns are "delay" patterns with a per-codebook delay: codebook `k` of frame `t` sits at
step `t + delays[k]`.

- `parallel` (the paper's multi-stream): delays all 0, `S = T`; all codebooks of frame `t` at step `t`.
- `delay` (audiocraft): delays `[0, 1, ..., K-1]`, `S = T + K - 1`; codebook `k` of frame `t` is
  predicted once codebooks `< k` of that frame are already in the past.

Positions whose frame is outside `[0, T)` are invalid and hold the special token.
"""
from __future__ import annotations

import torch


class DelayPattern:
    """Codebook `k` of frame `t` at step `t + delays[k]`."""

    def __init__(self, name: str, delays: list[int]):
        if not delays or any(d < 0 for d in delays):
            raise ValueError(f"pattern {name!r}: delays must be non-negative, got {delays}")
        self.name = name
        self.delays = list(delays)
        self.num_codebooks = len(delays)
        self.max_delay = max(delays)

    def __repr__(self) -> str:
        return f"DelayPattern({self.name!r}, delays={self.delays})"

    def num_steps(self, num_frames: int) -> int:
        """Sequence length `S` for `T = num_frames` frames."""
        return num_frames + self.max_delay

    def num_frames(self, num_steps: int) -> int:
        """Inverse of `num_steps`."""
        t = num_steps - self.max_delay
        if t < 0:
            raise ValueError(f"{num_steps} steps are fewer than the pattern's delay {self.max_delay}")
        return t

    def frame_of(self, k: int, s: int) -> int:
        """Frame of codebook `k` at step `s` (may lie outside `[0, T)`: then the position is invalid)."""
        return s - self.delays[k]

    def frame_index(self, num_steps: int, device: torch.device | str | None = None) -> torch.Tensor:
        """Vectorised `frame_of`: `[K, S]` long, frame of each position (may be < 0 or >= T)."""
        steps = torch.arange(num_steps, device=device)
        return steps[None, :] - torch.tensor(self.delays, device=device)[:, None]

    def valid_mask(self, num_frames: int, device: torch.device | str | None = None) -> torch.Tensor:
        """`[K, S]` bool: True where the position holds a real frame's token."""
        f = self.frame_index(self.num_steps(num_frames), device)
        return (f >= 0) & (f < num_frames)

    def build(self, codes: torch.Tensor, special: int) -> tuple[torch.Tensor, torch.Tensor]:
        """codes `[B, K, T]` long → (sequence `[B, K, S]` long, valid `[K, S]` bool); invalid
        positions hold `special`."""
        if codes.dim() != 3 or codes.shape[1] != self.num_codebooks:
            raise ValueError(f"pattern {self.name!r}: expected codes [B, {self.num_codebooks}, T], "
                             f"got {tuple(codes.shape)}")
        b, k_, t = codes.shape
        seq = codes.new_full((b, k_, self.num_steps(t)), special)
        for k, d in enumerate(self.delays):
            seq[:, k, d:d + t] = codes[:, k]
        return seq, self.valid_mask(t, codes.device)

    def revert(self, seq: torch.Tensor, num_frames: int | None = None) -> torch.Tensor:
        """sequence `[B, K, S]` → codes `[B, K, T]` (`T` inferred as `S - max_delay` when not given)."""
        if seq.dim() != 3 or seq.shape[1] != self.num_codebooks:
            raise ValueError(f"pattern {self.name!r}: expected sequence [B, {self.num_codebooks}, S], "
                             f"got {tuple(seq.shape)}")
        t = self.num_frames(seq.shape[-1]) if num_frames is None else num_frames
        if t + self.max_delay > seq.shape[-1]:
            raise ValueError(f"pattern {self.name!r}: {seq.shape[-1]} steps cannot hold {t} frames")
        return torch.stack([seq[:, k, d:d + t] for k, d in enumerate(self.delays)], dim=1)


def get_pattern(name: str, num_codebooks: int) -> DelayPattern:
    """`"parallel"` or `"delay"` for `num_codebooks` codebooks."""
    if num_codebooks < 1:
        raise ValueError(f"num_codebooks must be >= 1, got {num_codebooks}")
    if name == "parallel":
        return DelayPattern(name, [0] * num_codebooks)
    if name == "delay":
        return DelayPattern(name, list(range(num_codebooks)))
    raise ValueError(f"unknown codebook pattern {name!r}; choose one of ['delay', 'parallel']")
