"""The codec: SEANet encoder → residual VQ → SEANet decoder, and its checkpoint format.

API (what the tokenizer and the LM use):
    codec = Codec.from_pretrained(dir)          # config.json + model.safetensors, eval mode
    codes = codec.encode(wav)                   # [B, 1, T] float → [B, K, ceil(T / hop)] int64
    wav = codec.decode(codes)                   # [B, K, T'] → [B, 1, T' · hop] float
    codes = codec.encode_clips([a, b, ...])     # 1-D clips of any lengths → [K, num_frames(len)] each
    codec.frame_rate, .num_codebooks, .cardinality, .sample_rate, .hop_length, .num_frames(n)
    codec.save_pretrained(dir)

Batching never changes codes. A causal codec (this project's): the encoder is causal and the
quantiser per frame, so a clip right-padded with zeros (to a multiple of hop, or inside a longer
batch) gives exactly the codes it gives alone for its first `num_frames(len)` frames; `encode_clips`
does that padding and cropping. A non-causal codec (`config.causal = False`, audiocraft's EnCodec as
in the released AudioGen) looks ahead about 4 frames, so padding would change a clip's last frames:
`encode` then takes the waveform at its own length (no pre-padding, as audiocraft) and
`encode_clips` batches only clips of equal length.
"""
from __future__ import annotations

import math
import os
from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from audiogen.codec.config import CodecConfig
from audiogen.codec.quantizer import ResidualVQ
from audiogen.codec.seanet import SEANetDecoder, SEANetEncoder

from audiogen.io.checkpoint import CONFIG_NAME, WEIGHTS_NAME  # noqa: E402,F401 (re-exported)
FORMAT = "audiogen-codec/1"


class Codec(nn.Module):
    def __init__(self, config: CodecConfig):
        super().__init__()
        self.config = config
        if config.encoder == "stft":  # issue 16: the Fourier encoder (audiogen/codec/stft_encoder.py)
            from audiogen.codec.stft_encoder import STFTEncoder

            self.encoder = STFTEncoder(config)
        else:
            self.encoder = SEANetEncoder(config)
        self.quantizer = ResidualVQ(config)
        if config.decoder == "istft":  # issue 16: the Fourier decoder (audiogen/codec/istft_head.py)
            from audiogen.codec.istft_head import ISTFTDecoder

            self.decoder = ISTFTDecoder(config)
        else:
            self.decoder = SEANetDecoder(config)

    # --- properties the tokenizer and the LM rely on -------------------------------------------
    @property
    def sample_rate(self) -> int:
        return self.config.sample_rate

    @property
    def hop_length(self) -> int:
        return self.config.hop_length

    @property
    def frame_rate(self) -> float:
        return self.config.frame_rate

    @property
    def num_codebooks(self) -> int:
        return self.config.num_codebooks

    @property
    def cardinality(self) -> int:
        return self.config.codebook_size

    def num_frames(self, num_samples: int) -> int:
        """Frames `encode` gives for a clip of `num_samples`: ceil(num_samples / hop)."""
        return math.ceil(num_samples / self.hop_length)

    # --- training forward --------------------------------------------------------------------
    def _pad(self, wav: torch.Tensor) -> torch.Tensor:
        """The causal encoder wants a multiple of hop (zeros on the right do not change the clip's
        frames); the non-causal one pads per layer itself and must see the clip's own length."""
        if wav.dim() != 3 or wav.shape[1] != self.config.channels:
            raise ValueError(f"expected wav [B, {self.config.channels}, T], got {tuple(wav.shape)}")
        if self.config.looks_ahead:
            return wav
        extra = (-wav.shape[-1]) % self.hop_length
        return F.pad(wav, (0, extra)) if extra else wav

    def forward(self, wav: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """`[B, 1, T]` → (reconstruction `[B, 1, T]`, codes `[B, K, T']`, commitment loss scalar).
        In train mode the codebooks update (EMA, k-means on the first call)."""
        t = wav.shape[-1]
        z = self.encoder(self._pad(wav))
        q, codes, commit = self.quantizer(z)
        return self.decoder(q)[..., :t], codes, commit

    # --- inference ---------------------------------------------------------------------------
    @torch.no_grad()
    def encode(self, wav: torch.Tensor) -> torch.Tensor:
        """`[B, 1, T]` float in [-1, 1] at `sample_rate` → codes `[B, K, ceil(T / hop)]` int64.
        Causal: right-pads with zeros to a multiple of hop; non-causal: as audiocraft (per-layer
        padding). Call in eval mode for stable codebooks."""
        return self.quantizer.encode(self.encoder(self._pad(wav)))

    @torch.no_grad()
    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes `[B, K, T']` (any integer dtype) → waveform `[B, 1, T' · hop]`."""
        return self.decoder(self.quantizer.decode(codes.long()))

    @torch.no_grad()
    def encode_clips(self, clips: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """1-D clips `[T_i]` of any lengths → one `[K, num_frames(T_i)]` int64 tensor per clip,
        equal to encoding each clip alone. Causal codec: one batch, zero right-padded to the longest
        clip, each clip's codes cropped. Non-causal codec: one batch per distinct length (padding
        would change the last frames), in order of first appearance."""
        if not clips:
            return []
        device = next(self.parameters()).device
        if self.config.looks_ahead:
            groups: dict[int, list[int]] = {}
            for i, c in enumerate(clips):
                groups.setdefault(int(c.shape[-1]), []).append(i)
            out: list[torch.Tensor] = [torch.empty(0)] * len(clips)
            for idx in groups.values():
                batch = torch.stack([clips[i].to(device=device, dtype=torch.float32) for i in idx])[:, None]
                for i, codes in zip(idx, self.encode(batch)):
                    out[i] = codes
            return out
        longest = max(int(c.shape[-1]) for c in clips)
        batch = torch.zeros(len(clips), 1, longest, device=device)
        for i, c in enumerate(clips):
            batch[i, 0, : c.shape[-1]] = c.to(device=device, dtype=batch.dtype)
        codes = self.encode(batch)
        return [codes[i, :, : self.num_frames(int(c.shape[-1]))] for i, c in enumerate(clips)]

    # --- checkpoint format (DESIGN.md "Checkpoints") ----------------------------------------
    def save_pretrained(self, directory: str | os.PathLike) -> None:
        """Write `config.json` and `model.safetensors` (atomically: temp names, then rename)."""
        from audiogen.io.checkpoint import save_checkpoint

        save_checkpoint(directory, self.state_dict(), {"codec": self.config.to_dict()}, FORMAT)

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike, device: str | torch.device = "cpu") -> "Codec":
        """Load a checkpoint directory; the model comes back in eval mode."""
        from audiogen.io.checkpoint import config_section, load_weights_into, read_checkpoint_config

        meta = read_checkpoint_config(directory, FORMAT, "codec")
        model = cls(config_section(directory, meta, "codec", CodecConfig.from_dict))
        load_weights_into(model, directory)
        return model.to(device).eval()
