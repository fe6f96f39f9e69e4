"""The generator: LM + frozen codec + frozen text encoder rebuilt from an LM checkpoint, with
sliding windows past the training segment and audio-prompt continuation (`AudioGen`).

    from audiogen.generate import AudioGen
    gen = AudioGen.from_pretrained("models/lm")          # finds its codec and text encoder from config.json
    wavs = gen.generate(["a dog barks"], duration_s=5)    # list of float32 [T] at 16 kHz

Longer than the training segment: sliding windows, each re-prompted with the last
`segment − stride` seconds of what was generated (the reference's `extend_stride`, 2 s). With
`--prompt`, the sound continues the prompt (any sample rate, resampled; with or without text) and
the output starts with it.
"""
from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np

log = logging.getLogger("audiogen.generate")
MAX_DURATION_S = 600.0


class GenerationError(ValueError):
    """A user error (bad duration, prompt, checkpoint): the CLI prints it without a traceback."""


class AudioGen:
    """The whole generator: LM + frozen codec + frozen text encoder, rebuilt from an LM checkpoint."""

    def __init__(self, lm, codec, text_encoder, config: dict[str, Any]):
        self.lm, self.codec, self.text_encoder, self.config = lm, codec, text_encoder, config
        self.segment_s = float(config.get("segment_s") or 10.0)

    @property
    def sample_rate(self) -> int:
        return self.codec.sample_rate

    @property
    def frame_rate(self) -> float:
        return self.codec.frame_rate

    @property
    def device(self):
        return next(self.lm.parameters()).device

    @classmethod
    def from_pretrained(cls, lm_dir: str | Path, device: str = "cpu", codec_dir: str | Path | None = None) -> "AudioGen":
        """Load `models/lm`: the codec from the path its config records (or `codec_dir`), checked
        against the recorded sha256; the text encoder by the recorded name or path."""
        from audiogen.codec import Codec
        from audiogen.lm import AudioLM
        from audiogen.io.shards import sha256_file
        from audiogen.text.encoders import FrozenTextEncoder, TextEncoderNotFoundError

        lm_dir = Path(lm_dir)
        if not (lm_dir / "config.json").is_file() or not (lm_dir / "model.safetensors").is_file():
            raise GenerationError(f"{lm_dir}: no LM checkpoint here (config.json + model.safetensors); "
                                  "train one with `python -m audiogen.train` or `dvc repro train`")
        lm = AudioLM.from_pretrained(lm_dir, device=device)
        config = lm.checkpoint_config
        codec_info = config.get("codec") or {}
        codec_path = Path(codec_dir or codec_info.get("path") or "")
        if not (codec_path / "model.safetensors").is_file():
            raise GenerationError(f"{lm_dir}: its codec {codec_path} is missing; pass codec_dir / --codec")
        sha = sha256_file(codec_path / "model.safetensors")
        if codec_info.get("sha256") and sha != codec_info["sha256"]:
            raise GenerationError(f"codec {codec_path} has sha256 {sha[:12]}…, but the LM {lm_dir} was trained on "
                                  f"tokens of codec {codec_info['sha256'][:12]}…: point --codec at that codec")
        codec = Codec.from_pretrained(codec_path, device=device)
        try:
            encoder = FrozenTextEncoder.from_description(config.get("text_encoder") or {}, cache_size=256).to(device)
        except TextEncoderNotFoundError as err:
            raise GenerationError(str(err)) from None
        return cls(lm, codec, encoder, config)

    # --- generation ---------------------------------------------------------------------------------
    def generate(self, captions: Sequence[str], duration_s: float, *, cfg: float = 3.0, top_k: int = 250,
                 top_p: float = 0.0, temperature: float = 1.0, seed: int = 0, prompt: np.ndarray | None = None,
                 prompt_sr: int | None = None, stride_s: float | None = None, progress: bool = False) -> list[np.ndarray]:
        """One float32 waveform `[round(duration_s · sr)]` per caption ("" = no text). `prompt`: a
        mono waveform `[T]` (at `prompt_sr`, resampled) that every output continues and starts with."""
        codes = self.generate_codes(captions, duration_s, cfg=cfg, top_k=top_k, top_p=top_p, temperature=temperature,
                                    seed=seed, prompt=prompt, prompt_sr=prompt_sr, stride_s=stride_s, progress=progress)
        return self.decode(codes, duration_s)

    def decode(self, codes, duration_s: float) -> list[np.ndarray]:
        """Codes `[B, K, T]` → float32 waveforms cut to `duration_s`."""
        wav = self.codec.decode(codes.to(self.device)).float().cpu().numpy()[:, 0]
        n = int(round(duration_s * self.sample_rate))
        return [np.ascontiguousarray(np.clip(w[:n], -1.0, 1.0), dtype=np.float32) for w in wav]

    def generate_codes(self, captions: Sequence[str], duration_s: float, *, cfg: float = 3.0, top_k: int = 250,
                       top_p: float = 0.0, temperature: float = 1.0, seed: int = 0, prompt: np.ndarray | None = None,
                       prompt_sr: int | None = None, stride_s: float | None = None, progress: bool = False):
        """Codes `[B, K, ceil(duration_s · frame_rate)]`, by sliding windows past the training segment."""
        import torch

        from audiogen.lm.generate import generate_codes

        captions = [str(c) for c in captions]
        if not captions:
            raise GenerationError("no captions to generate")
        if stride_s is None:  # the reference's 2 s, or half the segment for LMs trained on short ones
            stride_s = min(2.0, self.segment_s / 2)
        total = self._check_duration(duration_s, stride_s)
        window = max(1, int(round(self.segment_s * self.frame_rate)))
        stride = max(1, int(round(stride_s * self.frame_rate)))
        text, mask = self.text_encoder(captions, device=self.device)
        gen = torch.Generator(device="cpu").manual_seed(int(seed))
        done = None
        if prompt is not None:
            done = self._encode_prompt(prompt, prompt_sr or self.sample_rate, len(captions))
            if done.shape[-1] >= total:
                raise GenerationError(f"the prompt ({done.shape[-1] / self.frame_rate:.2f} s) is not shorter than "
                                      f"--duration {duration_s} s")
        kwargs = dict(cfg=cfg, temperature=temperature, top_k=top_k, top_p=top_p, generator=gen)
        while done is None or done.shape[-1] < total:
            have = 0 if done is None else done.shape[-1]
            # Each window re-prompts with at most `window - stride` frames of what exists, so that
            # it adds at least `stride` new frames and never exceeds the training length.
            keep = min(have, window - stride) if have + (total - have) > window else have
            context = None if done is None or keep == 0 else done[..., have - keep:]
            n = min(window, keep + (total - have))
            out = generate_codes(self.lm, text, mask, n, prompt_codes=context, progress=progress, **kwargs)
            new = out[..., keep:]
            done = new if done is None else torch.cat([done, new], dim=-1)
        return done[..., :total]

    def _check_duration(self, duration_s: float, stride_s: float) -> int:
        if not math.isfinite(duration_s) or duration_s <= 0:
            raise GenerationError(f"--duration must be > 0 seconds, got {duration_s}")
        if duration_s > MAX_DURATION_S:
            raise GenerationError(f"--duration {duration_s} s is beyond the {MAX_DURATION_S:.0f} s this tool "
                                  "generates by sliding windows")
        if duration_s > self.segment_s and not (0 < stride_s < self.segment_s):
            raise GenerationError(f"--stride must be in (0, {self.segment_s}) s (the training segment) to slide "
                                  f"windows past {self.segment_s} s, got {stride_s}")
        return math.ceil(duration_s * self.frame_rate)

    def _encode_prompt(self, prompt: np.ndarray, sr: int, batch: int):
        import torch

        from audiogen.io.audio import resample

        x = np.asarray(prompt, dtype=np.float32)
        if x.ndim == 2:
            x = x.mean(axis=1)
        if sr != self.sample_rate:
            x = resample(x, sr, self.sample_rate)
        if x.size < self.codec.hop_length:
            raise GenerationError(f"the prompt is shorter than one codec frame ({self.codec.hop_length} samples)")
        codes = self.codec.encode(torch.from_numpy(x)[None, None].to(self.device))
        return codes.expand(batch, -1, -1).clone()
