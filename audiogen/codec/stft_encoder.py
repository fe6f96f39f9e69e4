"""A causal Fourier encoder (`CodecConfig.encoder = "stft"`): waveform → STFT log-magnitudes, one frame
per codec frame → ConvNeXt blocks at the frame rate → latents.

Why, for the CPU demo: the SEANet encoder runs strided convolutions at the sample rate and costs
most of a training step; this one computes a fixed STFT and then works only at the frame rate (about
a tenth of the arithmetic), so the same minutes buy several times the steps. The phase is dropped:
the codes say what is loud where; the istft decoder makes its own phase.

Causal, like the SEANet encoder of this project: frame `i` is the Hann-windowed window of `n_fft`
samples ending at sample `(i + 1) · hop` (zeros before the clip), and every conv looks only back, so a
clip right-padded with zeros gives the same frames for its own span as alone (`Codec.encode_clips`).

Shapes: `[B, 1, T]` (T a multiple of hop; otherwise zero-padded to one) → `[B, dimension, T / hop]`.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from audiogen.codec.config import CodecConfig
from audiogen.codec.istft_head import ConvNeXtBlock


class STFTEncoder(nn.Module):
    def __init__(self, cfg: CodecConfig):
        super().__init__()
        if cfg.channels != 1:
            raise ValueError("the stft encoder is mono (channels 1)")
        self.hop = cfg.hop_length
        self.n_fft = cfg.n_fft or 4 * self.hop
        if self.n_fft < self.hop:
            raise ValueError(f"stft encoder: n_fft {self.n_fft} must be >= hop {self.hop}")
        bins, dim = self.n_fft // 2 + 1, cfg.fourier_dim
        self.register_buffer("window", torch.hann_window(self.n_fft, periodic=True), persistent=False)
        self.embed = nn.Conv1d(bins, dim, 3)  # causal: 2 frames of left padding
        self.norm_in = nn.LayerNorm(dim, eps=1e-6)
        self.blocks = nn.Sequential(*[ConvNeXtBlock(dim, causal=True) for _ in range(cfg.fourier_layers)])
        self.norm_out = nn.LayerNorm(dim, eps=1e-6)
        self.out = nn.Linear(dim, cfg.dimension)

    def spectrum(self, wav: torch.Tensor) -> torch.Tensor:
        """`[B, 1, T]` → log-magnitudes `[B, n_fft // 2 + 1, ceil(T / hop)]` (causal frames)."""
        x = wav[:, 0]
        extra = (-x.shape[-1]) % self.hop
        x = F.pad(x, (self.n_fft - self.hop, extra))
        frames = x.unfold(-1, self.n_fft, self.hop) * self.window  # [B, T', n_fft]
        mag = torch.fft.rfft(frames, dim=-1).abs()
        return torch.log(mag + 1e-4).transpose(1, 2)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        x = self.embed(F.pad(self.spectrum(wav), (2, 0)))
        x = self.norm_in(x.transpose(1, 2)).transpose(1, 2)
        x = self.norm_out(self.blocks(x).transpose(1, 2))
        return self.out(x).transpose(1, 2)
