"""SEANet encoder and decoder (EnCodec / AudioGen codec): causal (this project's codecs) or
non-causal (audiocraft's, e.g. the released AudioGen codec).

Encoder: conv k=7 → per stride [residual unit, ELU, strided conv with kernel 2·stride, channels ×2]
→ 2-layer LSTM (residual) → ELU → conv k=7 to `dimension`. The decoder mirrors it with transposed
convolutions. Weight norm on every conv, ELU activations.

Causal (`CodecConfig.causal`, the default): every conv pads on the left only and the LSTM runs
forwards, so latent frame `i` depends only on input samples `< (i + 1) · hop`. That is what makes
batched encoding exact: a clip right-padded with zeros (to a multiple of hop, or to the longest clip
of a batch) gives the same frames for its own span as it does alone. No op mixes samples of a batch
(no batch norm).

Non-causal (audiocraft's `StreamableConv1d` with `causal=False`): each conv pads
`total = (k − 1)·d + 1 − s` split `(total − total//2, total//2)` around the input, plus on the right
the *extra* padding that makes the last window full — recomputed at every layer from that layer's
input length, so any waveform length works without pre-padding (frames = ceil(L / hop)). Pads are
zeros (`pad_mode="constant"`) or a reflection (`"reflect"`). Transposed convs trim `k − s` as
`(total − total//2, total//2)`. The encoder then looks a few frames ahead, so zero-padding a clip
changes its last frames: batch only clips of equal length (`Codec.encode_clips` does).
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.parametrizations import weight_norm

from audiogen.codec.config import CodecConfig

PAD_MODES = ("constant", "reflect")


def pad1d(x: torch.Tensor, left: int, right: int, mode: str) -> torch.Tensor:
    """`F.pad` of the last dim, where `reflect` also works on inputs shorter than the pad (they get
    zeros on the right first, cut again after the reflection — audiocraft's `pad1d`)."""
    if mode != "reflect":
        return F.pad(x, (left, right))
    length = x.shape[-1]
    extra = max(left, right) - length + 1 if length <= max(left, right) else 0
    if extra:
        x = F.pad(x, (0, extra))
    padded = F.pad(x, (left, right), mode="reflect")
    return padded[..., : padded.shape[-1] - extra]


class PaddedConv1d(nn.Module):
    """Weight-normed Conv1d. Causal: left padding `(k - 1)·d - (s - 1)`: for an input length that is
    a multiple of the stride, the output has exactly `T / stride` frames. Non-causal: centred padding
    plus the extra right padding of a full last window: `ceil(T / stride)` frames for any T.
    `[B, Cin, T] → [B, Cout, T/s]`."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, dilation: int = 1,
                 causal: bool = True, pad_mode: str = "constant"):
        super().__init__()
        if pad_mode not in PAD_MODES:
            raise ValueError(f"pad_mode must be one of {PAD_MODES}, got {pad_mode!r}")
        self.conv = weight_norm(nn.Conv1d(cin, cout, kernel, stride=stride, dilation=dilation))
        self.causal, self.pad_mode, self.stride = causal, pad_mode, stride
        self.kernel_eff = (kernel - 1) * dilation + 1
        self.pad = self.kernel_eff - stride  # = (k - 1)·d - (s - 1)

    def _extra(self, length: int) -> int:
        """Zeros (or reflection) on the right so that the last window is full (audiocraft's
        `get_extra_padding_for_conv1d`; its float division is kept for the same rounding)."""
        n_frames = (length - self.kernel_eff + self.pad) / self.stride + 1
        return (math.ceil(n_frames) - 1) * self.stride + (self.kernel_eff - self.pad) - length

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.causal:
            return self.conv(F.pad(x, (self.pad, 0)) if self.pad_mode == "constant"
                             else pad1d(x, self.pad, 0, self.pad_mode))
        right = self.pad // 2
        return self.conv(pad1d(x, self.pad - right, right + self._extra(x.shape[-1]), self.pad_mode))


class TrimmedConvTranspose1d(nn.Module):
    """Weight-normed ConvTranspose1d trimmed by `k - s`: all on the right (causal) or split
    `(total − total//2, total//2)` (non-causal). `[B, Cin, T] → [B, Cout, T·s]`."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, causal: bool = True):
        super().__init__()
        self.conv = weight_norm(nn.ConvTranspose1d(cin, cout, kernel, stride=stride))
        self.trim = kernel - stride
        self.causal = causal

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        if not self.trim:
            return y
        right = self.trim if self.causal else self.trim // 2
        left = self.trim - right
        return y[..., left: y.shape[-1] - right]


class ResidualUnit(nn.Module):
    """x + conv1(ELU(conv_k(ELU(x)))) with a dim // compress bottleneck. `[B, C, T] → [B, C, T]`."""

    def __init__(self, dim: int, kernel: int, dilation: int, compress: int, causal: bool = True,
                 pad_mode: str = "constant"):
        super().__init__()
        hidden = max(1, dim // compress)
        self.block = nn.Sequential(nn.ELU(), PaddedConv1d(dim, hidden, kernel, dilation=dilation, causal=causal,
                                                          pad_mode=pad_mode),
                                   nn.ELU(), PaddedConv1d(hidden, dim, 1, causal=causal, pad_mode=pad_mode))

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
    return [ResidualUnit(dim, cfg.residual_kernel_size, 2**j, cfg.compress, cfg.causal, cfg.pad_mode)
            for j in range(cfg.n_residual_layers)]


def _conv(cfg: CodecConfig, cin: int, cout: int, kernel: int, stride: int = 1) -> PaddedConv1d:
    return PaddedConv1d(cin, cout, kernel, stride=stride, causal=cfg.causal, pad_mode=cfg.pad_mode)


class SEANetEncoder(nn.Module):
    """`[B, channels, T]` → latents `[B, dimension, T / hop]` (causal: T a multiple of hop;
    non-causal: any T, ceil(T / hop) frames)."""

    def __init__(self, cfg: CodecConfig):
        super().__init__()
        mult = 1
        layers: list[nn.Module] = [_conv(cfg, cfg.channels, cfg.n_filters, cfg.kernel_size)]
        for s in cfg.strides:
            dim = mult * cfg.n_filters
            layers += _residuals(cfg, dim)
            layers += [nn.ELU(), _conv(cfg, dim, dim * 2, 2 * s, stride=s)]
            mult *= 2
        dim = mult * cfg.n_filters
        if cfg.lstm_layers:
            layers.append(ResidualLSTM(dim, cfg.lstm_layers))
        layers += [nn.ELU(), _conv(cfg, dim, cfg.dimension, cfg.last_kernel_size)]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class SEANetDecoder(nn.Module):
    """Latents `[B, dimension, T']` → waveform `[B, channels, T' · hop]`."""

    def __init__(self, cfg: CodecConfig):
        super().__init__()
        mult = 2 ** len(cfg.strides)
        dim = mult * cfg.n_filters
        layers: list[nn.Module] = [_conv(cfg, cfg.dimension, dim, cfg.kernel_size)]
        if cfg.lstm_layers:
            layers.append(ResidualLSTM(dim, cfg.lstm_layers))
        for s in reversed(cfg.strides):
            dim = mult * cfg.n_filters
            layers += [nn.ELU(), TrimmedConvTranspose1d(dim, dim // 2, 2 * s, s, causal=cfg.causal)]
            layers += _residuals(cfg, dim // 2)
            mult //= 2
        layers += [nn.ELU(), _conv(cfg, cfg.n_filters, cfg.channels, cfg.last_kernel_size)]
        self.model = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.model(z)
