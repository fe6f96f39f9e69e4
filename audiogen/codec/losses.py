"""Codec losses and metrics: L1 waveform, multi-scale mel, hinge adversarial, feature matching,
SI-SNR, mel distance, and the gradient balancer. Mel filterbanks are computed here (Slaney mel
scale and area normalisation, as librosa's default) so nothing needs torchaudio or librosa.

Shapes: waveforms are `[B, 1, T]` (or `[B, T]`); every loss returns a scalar tensor.
"""
from __future__ import annotations

import math
from typing import Mapping

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

# --- mel filterbank -------------------------------------------------------------------------
_F_SP = 200.0 / 3          # Slaney: linear below 1 kHz, 3 mels per 200 Hz
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOGSTEP = math.log(6.4) / 27.0


def hz_to_mel(f: np.ndarray, htk: bool = False) -> np.ndarray:
    f = np.asarray(f, dtype=np.float64)
    if htk:
        return 2595.0 * np.log10(1.0 + f / 700.0)
    return np.where(f >= _MIN_LOG_HZ, _MIN_LOG_MEL + np.log(np.maximum(f, 1e-10) / _MIN_LOG_HZ) / _LOGSTEP, f / _F_SP)


def mel_to_hz(m: np.ndarray, htk: bool = False) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    if htk:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    return np.where(m >= _MIN_LOG_MEL, _MIN_LOG_HZ * np.exp(_LOGSTEP * (m - _MIN_LOG_MEL)), _F_SP * m)


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, f_min: float = 0.0,
                   f_max: float | None = None, htk: bool = False, norm: bool = True) -> np.ndarray:
    """Triangular mel filters `[n_mels, n_fft // 2 + 1]` (float32). With `norm`, each filter has
    unit area (Slaney), so a filter narrower than one FFT bin is all zeros."""
    f_max = sample_rate / 2 if f_max is None else f_max
    fft_freqs = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    mel_freqs = mel_to_hz(np.linspace(hz_to_mel(f_min, htk), hz_to_mel(f_max, htk), n_mels + 2), htk)
    fdiff = np.diff(mel_freqs)
    ramps = mel_freqs[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    if norm:
        weights *= (2.0 / (mel_freqs[2:] - mel_freqs[:-2]))[:, None]
    return weights.astype(np.float32)


class MelSpectrogram(nn.Module):
    """Magnitude mel spectrogram: `[B, 1, T]` or `[B, T]` → `[B, n_mels, frames]`. Reflect-pads by
    (n_fft - hop) / 2 each side, hop = n_fft / 4, Hann window."""

    def __init__(self, sample_rate: int, n_fft: int, n_mels: int, hop: int | None = None):
        super().__init__()
        self.n_fft, self.hop = n_fft, hop or n_fft // 4
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        self.register_buffer("fb", torch.from_numpy(mel_filterbank(sample_rate, n_fft, n_mels)), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(x.shape[0], -1)
        pad = (self.n_fft - self.hop) // 2
        mode = "reflect" if x.shape[-1] > pad else "constant"
        x = F.pad(x[:, None], (pad, pad), mode=mode)[:, 0]
        if x.shape[-1] < self.n_fft:  # shorter than one window: zero-pad to one frame
            x = F.pad(x, (0, self.n_fft - x.shape[-1]))
        spec = torch.stft(x, self.n_fft, self.hop, window=self.window, center=False, return_complex=True).abs()
        return self.fb @ spec


class MultiScaleMelLoss(nn.Module):
    """Σ_i L1(mel_i(x), mel_i(y)) + α_i · MSE(log10(mel_i(x) + ε), log10(mel_i(y) + ε)) over
    windows 2^i, i in [min_exp, max_exp]; α_i = sqrt(2^i - 1) (EnCodec) or 1; normalised by Σ(1 + α_i)."""

    def __init__(self, sample_rate: int, n_mels: int = 64, min_exp: int = 5, max_exp: int = 11,
                 alphas: bool = True, floor: float = 1e-5):
        super().__init__()
        exps = range(min_exp, max_exp + 1)
        self.mels = nn.ModuleList(MelSpectrogram(sample_rate, 2**i, n_mels) for i in exps)
        self.alphas = [math.sqrt(2**i - 1) if alphas else 1.0 for i in exps]
        self.total = sum(1 + a for a in self.alphas)
        self.floor = floor

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        loss = x.new_zeros(())
        for mel, alpha in zip(self.mels, self.alphas):
            mx, my = mel(x), mel(y)
            loss = loss + F.l1_loss(mx, my)
            loss = loss + alpha * F.mse_loss(torch.log10(mx + self.floor), torch.log10(my + self.floor))
        return loss / self.total


def l1_wave(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.l1_loss(x, y)


# --- adversarial ------------------------------------------------------------------------------
def hinge_disc_loss(real_logits: list[torch.Tensor], fake_logits: list[torch.Tensor]) -> torch.Tensor:
    """Discriminator hinge loss: mean over scales of E[relu(1 - D(x))] + E[relu(1 + D(x̂))]."""
    terms = [F.relu(1 - r).mean() + F.relu(1 + f).mean() for r, f in zip(real_logits, fake_logits)]
    return torch.stack(terms).mean()


def hinge_gen_loss(fake_logits: list[torch.Tensor]) -> torch.Tensor:
    """Generator hinge loss (EnCodec): mean over scales of E[relu(1 - D(x̂))]."""
    return torch.stack([F.relu(1 - f).mean() for f in fake_logits]).mean()


def feature_matching_loss(real_feats: list[list[torch.Tensor]], fake_feats: list[list[torch.Tensor]]) -> torch.Tensor:
    """Mean over scales and layers of ||D_l(x) - D_l(x̂)||_1 / mean(|D_l(x)|) (real features detached)."""
    terms = []
    for rs, fs in zip(real_feats, fake_feats):
        for r, f in zip(rs, fs):
            r = r.detach()
            terms.append(F.l1_loss(f, r) / (r.abs().mean() + 1e-8))
    return torch.stack(terms).mean()


# --- metrics ----------------------------------------------------------------------------------
def si_snr(estimate: torch.Tensor, reference: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Scale-invariant SNR in dB per item: `[B, ..., T]` → `[B]` (means removed first)."""
    est = estimate.reshape(estimate.shape[0], -1)
    ref = reference.reshape(reference.shape[0], -1)
    est = est - est.mean(-1, keepdim=True)
    ref = ref - ref.mean(-1, keepdim=True)
    target = (est * ref).sum(-1, keepdim=True) / (ref.pow(2).sum(-1, keepdim=True) + eps) * ref
    noise = est - target
    return 10 * torch.log10((target.pow(2).sum(-1) + eps) / (noise.pow(2).sum(-1) + eps))


class MelDistance(nn.Module):
    """Validation metric: mean |log10(mel(x) + 1e-5) - log10(mel(y) + 1e-5)|, n_fft 1024, 64 bins."""

    def __init__(self, sample_rate: int, n_fft: int = 1024, n_mels: int = 64):
        super().__init__()
        self.mel = MelSpectrogram(sample_rate, n_fft, n_mels)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (torch.log10(self.mel(x) + 1e-5) - torch.log10(self.mel(y) + 1e-5)).abs().mean()


# --- gradient balancer ------------------------------------------------------------------------
class Balancer:
    """Gradient balancer (EnCodec §3.4): each loss's gradient at the model output is rescaled so
    that its share of the total equals its weight's share, using an EMA of the gradient norms.
    Under torch.distributed the norms are averaged across ranks so every rank scales alike.

    `output_grad(losses, output)` → the combined gradient for `output` (call
    `torch.autograd.backward([output, ...], [grad, ...])`), and `last` holds the scales used."""

    def __init__(self, weights: Mapping[str, float], ema: float = 0.999, total_norm: float = 1.0,
                 eps: float = 1e-12, balance: bool = True):
        self.weights = {k: float(w) for k, w in weights.items() if w > 0}
        self.ema, self.total_norm, self.eps, self.balance = ema, total_norm, eps, balance
        self.avg: dict[str, float] = {}
        self.fix: dict[str, float] = {}
        self.last: dict[str, float] = {}

    def state_dict(self) -> dict[str, dict[str, float]]:
        return {"avg": dict(self.avg), "fix": dict(self.fix)}

    def load_state_dict(self, state: Mapping[str, Mapping[str, float]]) -> None:
        self.avg, self.fix = dict(state["avg"]), dict(state["fix"])

    def output_grad(self, losses: Mapping[str, torch.Tensor], output: torch.Tensor) -> torch.Tensor:
        names = [k for k in losses if k in self.weights]
        grads, norms = {}, []
        for name in names:
            (g,) = torch.autograd.grad(losses[name], [output], retain_graph=True)
            grads[name] = g
            norms.append(g.flatten(1).norm(dim=1).mean())
        if not self.balance:
            self.last = {k: self.weights[k] for k in names}
            return sum(self.weights[k] * grads[k] for k in names)
        norms_t = torch.stack(norms).detach()
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.all_reduce(norms_t)
            norms_t /= torch.distributed.get_world_size()
        for name, n in zip(names, norms_t.tolist()):
            # Bias-corrected EMA (like Adam): early steps are not dominated by the zero start.
            self.avg[name] = self.ema * self.avg.get(name, 0.0) + n
            self.fix[name] = self.ema * self.fix.get(name, 0.0) + 1.0
        total_w = sum(self.weights[k] for k in names)
        out = torch.zeros_like(output)
        for name in names:
            avg = self.avg[name] / self.fix[name]
            scale = self.weights[name] / total_w * self.total_norm / (self.eps + avg)
            self.last[name] = scale
            out = out + scale * grads[name]
        return out
