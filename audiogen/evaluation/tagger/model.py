"""The in-domain audio tagger: a small log-mel CNN trained on the pipeline's own labelled shards
(`python -m audiogen.evaluation.tagger.train`), the metric backend that needs no download.

Model: 16 kHz mono → log-mel (`n_mels` bands, 25 ms Hann window, 10 ms hop, Slaney mel scale,
log(mel + 1e-5), standardised per band with the training set's mean/std) `[B, 1, n_mels, frames]`
→ one block per entry of `channels` (conv3x3 → BatchNorm → ReLU → 2×2 average pool)
→ mean over frequency, max + mean over time `[B, C]` → Linear → ReLU = the embedding `[B, embed_dim]`
→ dropout → Linear = one logit per class `[B, num_classes]` (multi-label, trained with BCE).

What it gives the metrics (`TaggerBackend`, one row per clip, each clip run on its own so that
padding never enters the pooling):
- `embed`: the embedding `[N, embed_dim]` (FAD);
- `label_probs`: softmax over classes of the logits `[N, C]` (KL, as audiocraft's KL metric does
  with PaSST's logits);
- `text_audio_scores`: a CLAP-like text–audio score per pair: the mean of the tagger's sigmoid
  probabilities over the classes that appear among the caption's words (`tagger_vocab.classes_in_text`);
  NaN when the caption names no class (report the coverage beside the mean);
- `top_label(audio, sr)`: the most probable class and its probability.

Checkpoint (DESIGN.md "Checkpoints"): `config.json` (`format`, `tagger`: classes, mel params,
architecture; `training`: what it was trained on and its validation figures) + `model.safetensors`.

API:
    TaggerConfig(classes=[...], ...)                 Tagger(cfg) (nn.Module): forward(wav [B, T]) -> (logits [B, C], emb [B, E])
    tagger.save_pretrained(dir, training={...})      Tagger.from_pretrained(dir) (eval mode)
    TaggerBackend(tagger): embed / label_probs / text_audio_scores / top_label / logits
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from audiogen.io.checkpoint import CONFIG_NAME, WEIGHTS_NAME  # noqa: E402,F401 (re-exported)
from audiogen.io.configs import check_keys
FORMAT = "audiogen-tagger/1"
LOG_FLOOR = 1e-5


@dataclass(frozen=True)
class TaggerConfig:
    classes: tuple[str, ...] = ()
    sample_rate: int = 16000
    n_mels: int = 64
    n_fft: int = 512
    win_length: int = 400        # 25 ms
    hop_length: int = 160        # 10 ms
    f_min: float = 50.0
    f_max: float = 8000.0
    channels: tuple[int, ...] = (16, 32, 64, 128)
    embed_dim: int = 128
    dropout: float = 0.2

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def min_samples(self) -> int:
        """Shortest input that survives every pooling (2 frames left); shorter clips are zero-padded."""
        return max(self.n_fft, self.hop_length * 2 ** (len(self.channels) + 1))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["classes"], d["channels"] = list(self.classes), list(self.channels)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TaggerConfig":
        check_keys(cls, d, "tagger config")
        d = dict(d)
        for key in ("classes", "channels"):
            if key in d:
                d[key] = tuple(d[key])
        return cls(**d)


class LogMel(nn.Module):
    """`[B, T]` waveform → `[B, n_mels, frames]` standardised log-mel (frames = 1 + T // hop)."""

    def __init__(self, cfg: TaggerConfig):
        super().__init__()
        from audiogen.codec.losses import mel_filterbank

        self.cfg = cfg
        self.register_buffer("window", torch.hann_window(cfg.win_length), persistent=False)
        fb = mel_filterbank(cfg.sample_rate, cfg.n_fft, cfg.n_mels, cfg.f_min, cfg.f_max)
        self.register_buffer("fb", torch.from_numpy(fb), persistent=False)
        # Training-set statistics per band (set by the trainer, saved with the weights).
        self.register_buffer("mean", torch.zeros(cfg.n_mels))
        self.register_buffer("std", torch.ones(cfg.n_mels))

    def raw(self, wav: torch.Tensor) -> torch.Tensor:
        """Unstandardised log-mel `[B, n_mels, frames]`."""
        c = self.cfg
        spec = torch.stft(wav, c.n_fft, c.hop_length, c.win_length, self.window, center=True,
                          pad_mode="constant", return_complex=True).abs()
        return torch.log(self.fb @ spec + LOG_FLOOR)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        return (self.raw(wav) - self.mean[:, None]) / self.std[:, None]


class Tagger(nn.Module):
    def __init__(self, cfg: TaggerConfig):
        super().__init__()
        if cfg.num_classes < 1:
            raise ValueError("a tagger needs at least one class")
        self.config = cfg
        self.mel = LogMel(cfg)
        blocks: list[nn.Module] = []
        cin = 1
        for c in cfg.channels:
            blocks += [nn.Conv2d(cin, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True),
                       nn.AvgPool2d(2)]
            cin = c
        self.convs = nn.Sequential(*blocks)
        self.embedding = nn.Linear(2 * cin, cfg.embed_dim)
        self.dropout = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(cfg.embed_dim, cfg.num_classes)

    def forward_features(self, feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Standardised log-mel `[B, n_mels, frames]` → (logits `[B, C]`, embedding `[B, E]`)."""
        x = self.convs(feats.unsqueeze(1)).mean(dim=2)            # [B, C', T']
        x = torch.cat([x.amax(dim=-1), x.mean(dim=-1)], dim=-1)   # [B, 2C']
        emb = F.relu(self.embedding(x))
        return self.head(self.dropout(emb)), emb

    def forward(self, wav: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Waveform `[B, T]` at `sample_rate` → (logits `[B, C]`, embedding `[B, E]`)."""
        if wav.shape[-1] < self.config.min_samples:
            wav = F.pad(wav, (0, self.config.min_samples - wav.shape[-1]))
        return self.forward_features(self.mel(wav))

    # --- checkpoint format ------------------------------------------------------------------
    def save_pretrained(self, directory: str | os.PathLike, training: dict[str, Any] | None = None) -> None:
        """`config.json` + `model.safetensors`, each written atomically (audiogen.io.checkpoint)."""
        from audiogen.io.checkpoint import save_checkpoint

        save_checkpoint(directory, self.state_dict(), {"tagger": self.config.to_dict(), "training": training or {}},
                        FORMAT)

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike, device: str | torch.device = "cpu") -> "Tagger":
        from audiogen.io.checkpoint import config_section, load_weights_into, read_checkpoint_config

        meta = read_checkpoint_config(directory, FORMAT, "tagger", " (train one with "
                                      f"`python -m audiogen.evaluation.tagger.train --out {directory}`)")
        model = cls(config_section(directory, meta, "tagger", TaggerConfig.from_dict))
        load_weights_into(model, directory)
        model.training_info = meta.get("training", {})
        return model.to(device).eval()


class TaggerBackend:
    """The tagger as a metric backend (module docstring). Audio: mono `[T]` numpy at any rate."""

    roles = frozenset({"fad", "kl", "clap"})

    def __init__(self, tagger: Tagger, name: str = "tagger"):
        self.tagger, self.name = tagger.eval(), name
        self.classes = list(tagger.config.classes)
        self.sample_rate = tagger.config.sample_rate

    def _run(self, audios: Sequence[np.ndarray], sr: int) -> tuple[np.ndarray, np.ndarray]:
        from audiogen.io.audio import resample

        logits, embs = [], []
        device = next(self.tagger.parameters()).device
        with torch.no_grad():
            for audio in audios:
                x = resample(np.asarray(audio, dtype=np.float32), int(sr), self.sample_rate)
                lg, emb = self.tagger(torch.from_numpy(x)[None].to(device))
                logits.append(lg[0].double().cpu().numpy())
                embs.append(emb[0].double().cpu().numpy())
        if not logits:
            raise ValueError("no audio given")
        return np.stack(logits), np.stack(embs)

    def logits(self, audios: Sequence[np.ndarray], sr: int) -> np.ndarray:
        """`[N, C]` raw logits."""
        return self._run(audios, sr)[0]

    def embed(self, audios: Sequence[np.ndarray], sr: int) -> np.ndarray:
        """`[N, embed_dim]`: one embedding per clip."""
        return self._run(audios, sr)[1]

    def label_probs(self, audios: Sequence[np.ndarray], sr: int) -> np.ndarray:
        """`[N, C]`: softmax over classes of the logits (the distribution the KL metric compares)."""
        from audiogen.evaluation.metrics.kl import softmax

        return softmax(self.logits(audios, sr))

    def tag_probs(self, audios: Sequence[np.ndarray], sr: int) -> np.ndarray:
        """`[N, C]`: independent sigmoid probabilities (multi-label presence)."""
        return 1.0 / (1.0 + np.exp(-self.logits(audios, sr)))

    def text_audio_scores(self, texts: Sequence[str], audios: Sequence[np.ndarray], sr: int) -> np.ndarray:
        """`[N]`: mean sigmoid probability of the classes named in each caption; NaN where none is."""
        from audiogen.evaluation.tagger.vocab import classes_in_text

        if len(texts) != len(audios):
            raise ValueError(f"{len(texts)} texts for {len(audios)} clips")
        probs = self.tag_probs(audios, sr)
        out = np.full(len(texts), np.nan)
        for i, text in enumerate(texts):
            idx = classes_in_text(text, self.classes)
            if idx:
                out[i] = float(probs[i, idx].mean())
        return out

    def top_label(self, audio: np.ndarray, sr: int) -> tuple[str, float]:
        """(most probable class, its sigmoid probability)."""
        p = self.tag_probs([audio], sr)[0]
        i = int(np.argmax(p))
        return self.classes[i], float(p[i])
