"""Hugging Face metric backends: an AST AudioSet classifier (KL; the reference uses PaSST, which has
no `transformers` port) and CLAP (text–audio score; FAD embeddings too). Both load by hub name or
local path with `local_files_only=True`: nothing is downloaded (`load_backend` turns a miss into
an error that says how to point at a local copy).

- AST (`ASTForAudioClassification` + `ASTFeatureExtractor`, e.g. MIT/ast-finetuned-audioset-10-10-0.4593):
  16 kHz; the feature extractor's numpy Kaldi fbank (no torchaudio); clips longer than the model's
  window (`max_length` frames of 10 ms) are cut into windows, tails under 0.15 s dropped unless
  alone (as audiocraft's PaSST metric), and a clip's softmax distributions / pooled embeddings are
  averaged over its windows.
- CLAP (`ClapModel` + `ClapProcessor`, e.g. laion/clap-htsat-unfused): 48 kHz; clips cut into
  windows of the feature extractor's `max_length_s` (so its random crop never applies: results
  are deterministic), window embeddings averaged and L2-normalised; text embeddings from the
  tokenizer + text tower; the score is the cosine (`audiogen.evaluation.metrics.clap`).

API:
    AstBackend.load(name_or_path) : embed(audios, sr) [N, H], label_probs(audios, sr) [N, C], labels
    ClapBackend.load(name_or_path): embed(audios, sr) [N, D], embed_text(texts) [N, D],
                                    text_audio_scores(texts, audios, sr) [N]
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

MIN_WINDOW_S = 0.15  # audiocraft's PaSST metric drops shorter tails


def _windows(x: np.ndarray, size: int, min_size: int) -> list[np.ndarray]:
    """Consecutive windows of `size` samples; a tail shorter than `min_size` is dropped unless alone."""
    parts = [x[i: i + size] for i in range(0, max(len(x), 1), size)]
    kept = [p for p in parts if len(p) >= min_size]
    return kept or parts[:1]


def _features(out: Any):
    """`get_*_features` return a tensor (transformers 4) or an output whose pooler_output it is (5)."""
    import torch

    return out if torch.is_tensor(out) else out.pooler_output


class AstBackend:
    roles = frozenset({"kl", "fad"})

    def __init__(self, model, extractor, name: str):
        self.model, self.extractor, self.name = model.eval(), extractor, name
        self.sample_rate = int(extractor.sampling_rate)
        cfg = model.config
        self.labels = [cfg.id2label.get(i, str(i)) for i in range(cfg.num_labels)]
        # Samples covered by `max_length` fbank frames (25 ms window, 10 ms shift).
        self.window = int(self.sample_rate * (0.010 * (extractor.max_length - 1) + 0.025))

    @classmethod
    def load(cls, name: str) -> "AstBackend":
        from transformers import ASTFeatureExtractor, ASTForAudioClassification

        model = ASTForAudioClassification.from_pretrained(name, local_files_only=True)
        extractor = ASTFeatureExtractor.from_pretrained(name, local_files_only=True)
        return cls(model, extractor, name)

    def _per_clip(self, audios: Sequence[np.ndarray], sr: int) -> tuple[np.ndarray, np.ndarray]:
        """(mean softmax over windows `[N, C]`, mean pooled embedding `[N, H]`)."""
        import torch

        from audiogen.io.audio import resample

        probs, embs = [], []
        min_size = int(MIN_WINDOW_S * self.sample_rate)
        with torch.no_grad():
            for i, audio in enumerate(audios):
                x = resample(np.asarray(audio, dtype=np.float32), int(sr), self.sample_rate)
                if x.size == 0:
                    raise ValueError(f"clip {i} is empty")
                wins = _windows(x, self.window, min_size)
                inputs = self.extractor(wins, sampling_rate=self.sample_rate, return_tensors="pt")
                # The classifier's own path (pooled [CLS, distillation] token → head), kept in two
                # steps so that the pooled vector doubles as the embedding.
                pooled = self.model.audio_spectrogram_transformer(**inputs).pooler_output
                logits = self.model.classifier(pooled)
                probs.append(torch.softmax(logits.double(), dim=-1).mean(0).numpy())
                embs.append(pooled.double().mean(0).numpy())
        if not probs:
            raise ValueError("no audio given")
        return np.stack(probs), np.stack(embs)

    def label_probs(self, audios: Sequence[np.ndarray], sr: int) -> np.ndarray:
        """`[N, C]` softmax over the classifier's classes (what the KL metric compares)."""
        return self._per_clip(audios, sr)[0]

    def embed(self, audios: Sequence[np.ndarray], sr: int) -> np.ndarray:
        """`[N, hidden]`: the pooled output the classifier head reads, averaged over windows."""
        return self._per_clip(audios, sr)[1]


class ClapBackend:
    roles = frozenset({"clap", "fad"})

    def __init__(self, model, processor, name: str):
        self.model, self.processor, self.name = model.eval(), processor, name
        fe = processor.feature_extractor
        self.sample_rate = int(fe.sampling_rate)
        self.window = int(round(fe.nb_max_samples))

    @classmethod
    def load(cls, name: str) -> "ClapBackend":
        from transformers import ClapModel, ClapProcessor

        model = ClapModel.from_pretrained(name, local_files_only=True)
        processor = ClapProcessor.from_pretrained(name, local_files_only=True)
        return cls(model, processor, name)

    def embed(self, audios: Sequence[np.ndarray], sr: int) -> np.ndarray:
        """`[N, projection_dim]` unit-norm audio embeddings (window means, renormalised)."""
        import torch

        from audiogen.io.audio import resample

        out = []
        fe = self.processor.feature_extractor
        with torch.no_grad():
            for i, audio in enumerate(audios):
                x = resample(np.asarray(audio, dtype=np.float32), int(sr), self.sample_rate)
                if x.size == 0:
                    raise ValueError(f"clip {i} is empty")
                wins = _windows(x, self.window, int(MIN_WINDOW_S * self.sample_rate))
                inputs = fe(wins, sampling_rate=self.sample_rate, return_tensors="pt")
                e = _features(self.model.get_audio_features(**inputs)).double().mean(0)
                out.append(torch.nn.functional.normalize(e, dim=-1).numpy())
        if not out:
            raise ValueError("no audio given")
        return np.stack(out)

    def embed_text(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """`[N, projection_dim]` unit-norm text embeddings."""
        import torch

        out = []
        tok = self.processor.tokenizer
        with torch.no_grad():
            for i in range(0, len(texts), batch_size):
                enc = tok(list(texts[i: i + batch_size]), padding=True, truncation=True, return_tensors="pt")
                e = _features(self.model.get_text_features(**enc)).double()
                out.append(torch.nn.functional.normalize(e, dim=-1).numpy())
        if not out:
            raise ValueError("no text given")
        return np.concatenate(out)

    def text_audio_scores(self, texts: Sequence[str], audios: Sequence[np.ndarray], sr: int) -> np.ndarray:
        """`[N]` cosine between each caption and its clip."""
        from audiogen.evaluation.metrics.clap import cosine_per_pair

        if len(texts) != len(audios):
            raise ValueError(f"{len(texts)} texts for {len(audios)} clips")
        return cosine_per_pair(self.embed_text(texts), self.embed(audios, sr))
