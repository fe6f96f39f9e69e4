"""Multi-scale STFT discriminator (EnCodec / audiocraft `MultiScaleSTFTDiscriminator`).

One 2-D conv net per STFT resolution (n_fft 1024/2048/512/256/128, hop n_fft/4, normalised),
reading the complex spectrogram as 2 channels (real, imaginary) laid out `[B, 2, frames, freq]`:
conv (3, 9) → 3 × conv (3, 9) with frequency stride 2 and time dilation 1/2/4 → conv (3, 3) →
conv (3, 3) to one logit map. Weight norm, LeakyReLU(0.2). Features of every hidden layer are
returned for the feature-matching loss.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.parametrizations import weight_norm


class STFTDiscriminator(nn.Module):
    """`[B, 1, T]` → (logits `[B, 1, frames, freq']`, features: list of `[B, filters, frames, freq_l]`)."""

    def __init__(self, n_fft: int, filters: int = 32, dilations: tuple[int, ...] = (1, 2, 4)):
        super().__init__()
        self.n_fft, self.hop = n_fft, n_fft // 4
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        convs = [weight_norm(nn.Conv2d(2, filters, (3, 9), padding=(1, 4)))]
        for d in dilations:
            convs.append(weight_norm(nn.Conv2d(filters, filters, (3, 9), stride=(1, 2), dilation=(d, 1),
                                               padding=(d, 4))))
        convs.append(weight_norm(nn.Conv2d(filters, filters, (3, 3), padding=(1, 1))))
        self.convs = nn.ModuleList(convs)
        self.post = weight_norm(nn.Conv2d(filters, 1, (3, 3), padding=(1, 1)))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        x = x.reshape(x.shape[0], -1)
        if x.shape[-1] < self.n_fft:
            x = F.pad(x, (0, self.n_fft - x.shape[-1]))
        z = torch.stft(x, self.n_fft, self.hop, window=self.window, normalized=True, center=False,
                       return_complex=True)                       # [B, freq, frames]
        z = torch.stack([z.real, z.imag], dim=1).transpose(2, 3)  # [B, 2, frames, freq]
        feats = []
        for conv in self.convs:
            z = F.leaky_relu(conv(z), 0.2)
            feats.append(z)
        return self.post(z), feats


class MultiScaleSTFTDiscriminator(nn.Module):
    """`[B, 1, T]` → (list of logits per scale, list of feature lists per scale)."""

    def __init__(self, filters: int = 32, n_ffts: tuple[int, ...] = (1024, 2048, 512, 256, 128)):
        super().__init__()
        self.discs = nn.ModuleList(STFTDiscriminator(n, filters) for n in n_ffts)

    def forward(self, x: torch.Tensor) -> tuple[list[torch.Tensor], list[list[torch.Tensor]]]:
        logits, feats = [], []
        for d in self.discs:
            lg, ft = d(x)
            logits.append(lg)
            feats.append(ft)
        return logits, feats
