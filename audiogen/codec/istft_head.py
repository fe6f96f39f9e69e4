"""A Fourier decoder (`CodecConfig.decoder = "istft"`): latents → ConvNeXt blocks at the frame rate →
per-frame magnitude and phase of an STFT → inverse STFT (as Vocos, Siuzdak 2023, and WavTokenizer).

Why, for the CPU demo: the SEANet decoder has to build every harmonic out of transposed
convolutions at the sample rate, and a few hundred steps turn a siren's harmonics into broadband
noise. Here the network runs at the frame rate only (one STFT frame per codec frame, hop = the
codec's hop) and says, per frequency bin, how loud and at which phase: a steady partial is one
steady bin, and a step costs a fraction of SEANet's. The inverse STFT is a fixed linear map.
(Measured with the aiSFX judge: BENCHMARKS.md "Demo codec"; tonal sounds are still what a CPU
budget renders worst.)

Shapes: latents `[B, dimension, T']` → waveform `[B, 1, T' · hop]` (the SEANet decoder's shape).

Why a codec's output leaves [−1, 1] (issue 16: a demo-settings codec trained on other corpora gave a
2 s generation cut at full scale by the generator's clamp): nothing in its training holds the peak.
The demo trains on the multi-scale mel loss (plus a small waveform L1, no adversarial terms), which
sees STFT magnitudes only, and the decoder's last layer is linear and unbounded. The phase, and with
it the crest factor, is left free: the demo's clips, scaled to a 0.99 peak as mastered
sound-effects libraries are, with the same STFT magnitudes and RMS but other phases, peak above 1.0
in 78 of 134 clips (up to 2.3×); a mel-only demo codec's reconstructions have a crest factor of 10.9
where the originals have 7.7. And the mel filters are zero at 0 Hz, so a DC offset costs nothing.
The fix, in the model rather than after it: the decoder's output is `tanh` of the inverse STFT,
inside the training graph, so the losses see the bound and the decoder learns to stay inside it (a
loud request saturates smoothly, never cut), and the DC bin is not produced at all. Magnitudes are
a sigmoid times `max_magnitude` (n_fft / 4, a full-scale sinusoid), not Vocos's exp clipped at 100.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from audiogen.codec.config import CodecConfig


class ConvNeXtBlock(nn.Module):
    """Depthwise conv k=7 → LayerNorm → Linear ×mult → GELU → Linear → layer scale, residual.
    `causal`: the conv pads 6 frames on the left (the encoder: frame i sees frames ≤ i); else 3 each
    side (the decoder: it never changes the codes, so looking ahead keeps batching exact).
    `[B, C, T] → [B, C, T]`."""

    def __init__(self, dim: int, mult: int = 3, layer_scale: float = 0.1, causal: bool = False):
        super().__init__()
        self.pad = (6, 0) if causal else (3, 3)
        self.dwconv = nn.Conv1d(dim, dim, 7, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.up = nn.Linear(dim, dim * mult)
        self.down = nn.Linear(dim * mult, dim)
        self.gamma = nn.Parameter(torch.full((dim,), layer_scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.norm(self.dwconv(F.pad(x, self.pad)).transpose(1, 2))
        y = self.down(F.gelu(self.up(y))) * self.gamma
        return x + y.transpose(1, 2)


class InverseSTFT(nn.Module):
    """Complex spectrogram `[B, n_fft // 2 + 1, T']` → waveform `[B, T' · hop]`: irfft of each frame,
    Hann window, overlap-add, divided by the summed squared window, trimmed by (n_fft − hop) / 2 at
    both ends ("same" padding, as Vocos): frame t is centred on samples t·hop .. t·hop + hop."""

    def __init__(self, n_fft: int, hop: int):
        super().__init__()
        if n_fft < hop or (n_fft - hop) % 2:
            raise ValueError(f"inverse STFT: n_fft {n_fft} must be >= hop {hop} with an even difference")
        self.n_fft, self.hop, self.pad = n_fft, hop, (n_fft - hop) // 2
        self.register_buffer("window", torch.hann_window(n_fft, periodic=True), persistent=False)

    def _overlap_add(self, frames: torch.Tensor) -> torch.Tensor:
        """`[B, n_fft, T']` → `[B, (T' − 1)·hop + n_fft]`."""
        t = frames.shape[-1]
        size = (t - 1) * self.hop + self.n_fft
        return F.fold(frames, output_size=(1, size), kernel_size=(1, self.n_fft),
                      stride=(1, self.hop))[:, 0, 0]

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        frames = torch.fft.irfft(spec, n=self.n_fft, dim=1) * self.window[None, :, None]
        t = frames.shape[-1]
        y = self._overlap_add(frames)
        env = self._overlap_add(self.window.square()[None, :, None].expand(1, -1, t).contiguous())
        end = y.shape[-1] - self.pad
        # The envelope is ≥ a fraction of its peak everywhere inside the trim (n_fft ≤ 4·hop with a
        # Hann window keeps it above ~0.4 of the 4-frame sum); the floor only guards the edges.
        return y[:, self.pad:end] / env[:, self.pad:end].clamp(min=1e-3)


class ISTFTDecoder(nn.Module):
    """Latents `[B, dimension, T']` → waveform `[B, 1, T' · hop]` in [−1, 1] (module docstring).

    conv k=7 (dimension → fourier_dim) → LayerNorm → `fourier_layers` ConvNeXt blocks → LayerNorm →
    Linear to (n_fft/2 + 1) magnitudes (the DC one zero) and phases → inverse STFT → tanh."""

    def __init__(self, cfg: CodecConfig):
        super().__init__()
        if cfg.channels != 1:
            raise ValueError("the istft decoder is mono (channels 1)")
        hop = cfg.hop_length
        n_fft = cfg.n_fft or 4 * hop
        dim = cfg.fourier_dim
        self.embed = nn.Conv1d(cfg.dimension, dim, 7, padding=3)
        self.norm_in = nn.LayerNorm(dim, eps=1e-6)
        self.blocks = nn.Sequential(*[ConvNeXtBlock(dim) for _ in range(cfg.fourier_layers)])
        self.norm_out = nn.LayerNorm(dim, eps=1e-6)
        self.bins = n_fft // 2 + 1
        self.out = nn.Linear(dim, 2 * self.bins)
        self.istft = InverseSTFT(n_fft, hop)
        # A magnitude of one in every bin of a Hann-windowed frame gives a sample of n_fft / 2 · 2/n_fft
        # ~ 1 at the frame centre; the cap lets one bin reach full scale with room to spare.
        self.max_magnitude = float(n_fft) / 4
        with torch.no_grad():  # start quiet (magnitudes ~ sigmoid(−6)·cap) with random phases
            self.out.bias[: self.bins].fill_(-6.0)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.norm_in(self.embed(z).transpose(1, 2)).transpose(1, 2)
        x = self.norm_out(self.blocks(x).transpose(1, 2))
        mag_logit, phase = self.out(x).transpose(1, 2).split(self.bins, dim=1)  # [B, bins, T'] each
        # No DC bin: the mel loss cannot see 0 Hz (every mel filter is zero there), so nothing would
        # hold whatever the head put there, and an offset eats headroom.
        mag = F.pad(torch.sigmoid(mag_logit[:, 1:]) * self.max_magnitude, (0, 0, 1, 0))
        spec = torch.polar(mag, phase)
        return torch.tanh(self.istft(spec))[:, None]
