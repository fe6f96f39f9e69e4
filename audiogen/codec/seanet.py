"""SEANet encoder and decoder (EnCodec / AudioGen codec), causal.

Encoder: conv k=7 → per stride [residual unit, ELU, strided conv with kernel 2·stride, channels ×2]
→ 2-layer LSTM (residual) → ELU → conv k=7 to `dimension`. The decoder mirrors it with transposed
convolutions. Weight norm on every conv, ELU activations.

Every conv is *causal* (all padding on the left) and the LSTM runs forwards, so latent frame `i`
depends only on input samples `< (i + 1) · hop`. That is what makes batched encoding exact: a clip
right-padded with zeros (to a multiple of hop, or to the longest clip of a batch) gives the same
frames for its own span as it does alone. No op mixes samples of a batch (no batch norm).
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.parametrizations import weight_norm

from audiogen.codec.config import CodecConfig


class CausalConv1d(nn.Module):
    """Weight-normed Conv1d with left padding `(k - 1)·d - (s - 1)`: for an input length that is a
    multiple of the stride, the output has exactly `T / stride` frames. `[B, Cin, T] → [B, Cout, T/s]`."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, dilation: int = 1):
        super().__init__()
        self.conv = weight_norm(nn.Conv1d(cin, cout, kernel, stride=stride, dilation=dilation))
        self.pad = (kernel - 1) * dilation - (stride - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (self.pad, 0)))


class CausalConvTranspose1d(nn.Module):
    """Weight-normed ConvTranspose1d trimmed on the right: `[B, Cin, T] → [B, Cout, T·s]`."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int):
        super().__init__()
        self.conv = weight_norm(nn.ConvTranspose1d(cin, cout, kernel, stride=stride))
        self.trim = kernel - stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return y[..., : y.shape[-1] - self.trim] if self.trim else y


class ResidualUnit(nn.Module):
    """x + conv1(ELU(conv_k(ELU(x)))) with a dim // compress bottleneck. `[B, C, T] → [B, C, T]`."""

    def __init__(self, dim: int, kernel: int, dilation: int, compress: int):
        super().__init__()
        hidden = max(1, dim // compress)
        self.block = nn.Sequential(nn.ELU(), CausalConv1d(dim, hidden, kernel, dilation=dilation),
                                   nn.ELU(), CausalConv1d(hidden, dim, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class ResidualLSTM(nn.Module):
    """Unidirectional LSTM over time with a skip connection. `[B, C, T] → [B, C, T]`."""

    def __init__(self, dim: int, layers: int):
        super().__init__()
        self.lstm = nn.LSTM(dim, dim, layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x.permute(2, 0, 1)  # [T, B, C]
        out, _ = self.lstm(y)
        return (out + y).permute(1, 2, 0)


def _residuals(cfg: CodecConfig, dim: int) -> list[nn.Module]:
    return [ResidualUnit(dim, cfg.residual_kernel_size, 2**j, cfg.compress) for j in range(cfg.n_residual_layers)]


class SEANetEncoder(nn.Module):
    """`[B, channels, T]` (T a multiple of hop) → latents `[B, dimension, T / hop]`."""

    def __init__(self, cfg: CodecConfig):
        super().__init__()
        mult = 1
        layers: list[nn.Module] = [CausalConv1d(cfg.channels, cfg.n_filters, cfg.kernel_size)]
        for s in cfg.strides:
            dim = mult * cfg.n_filters
            layers += _residuals(cfg, dim)
            layers += [nn.ELU(), CausalConv1d(dim, dim * 2, 2 * s, stride=s)]
            mult *= 2
        dim = mult * cfg.n_filters
        if cfg.lstm_layers:
            layers.append(ResidualLSTM(dim, cfg.lstm_layers))
        layers += [nn.ELU(), CausalConv1d(dim, cfg.dimension, cfg.last_kernel_size)]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class SEANetDecoder(nn.Module):
    """Latents `[B, dimension, T']` → waveform `[B, channels, T' · hop]`."""

    def __init__(self, cfg: CodecConfig):
        super().__init__()
        mult = 2 ** len(cfg.strides)
        dim = mult * cfg.n_filters
        layers: list[nn.Module] = [CausalConv1d(cfg.dimension, dim, cfg.kernel_size)]
        if cfg.lstm_layers:
            layers.append(ResidualLSTM(dim, cfg.lstm_layers))
        for s in reversed(cfg.strides):
            dim = mult * cfg.n_filters
            layers += [nn.ELU(), CausalConvTranspose1d(dim, dim // 2, 2 * s, s)]
            layers += _residuals(cfg, dim // 2)
            mult //= 2
        layers += [nn.ELU(), CausalConv1d(cfg.n_filters, cfg.channels, cfg.last_kernel_size)]
        self.model = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.model(z)
