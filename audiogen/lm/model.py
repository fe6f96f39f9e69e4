"""`AudioLM`: the text-conditioned language model over codec tokens, and its checkpoint format.

    lm = AudioLM(lm_config("tiny", num_codebooks=4, cardinality=2048, text_dim=768))
    logits = lm(inputs, text, text_mask)            # [B, K, S] long → [B, K, S, card]
    loss, ce_k, n = lm.compute_loss(codes, frame_mask, text, text_mask)   # codes [B, K, T]
    cache = lm.init_cache(B, max_steps, text, text_mask)
    logits = lm.forward_step(inputs_n, cache)       # [B, K, n] → [B, K, n, card], advances the cache
    lm.save_pretrained(dir, extra_config={...}); lm = AudioLM.from_pretrained(dir)
    lm.checkpoint_config                            # the whole config.json (extra keys included)

Input at step `s` is the pattern sequence at step `s - 1` (step 0: all special tokens); the K
codebook embeddings are summed per step; K bias-free heads give the logits of the K tokens of step
`s`. The text (`[B, L, text_dim]`, mask `[B, L]` True = real token) goes through a trained
projection `text_proj` inside the LM (bias-free unless `text_proj_bias`), then is multiplied by the
mask (audiocraft's order: a bias never leaks into padded or null positions); the encoder itself
stays outside (frozen).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from audiogen.lm.cache import KVCache, TextContext
from audiogen.lm.config import LMConfig
from audiogen.lm.patterns import DelayPattern, get_pattern
from audiogen.lm.transformer import Transformer, init_weights

from audiogen.io.checkpoint import CONFIG_NAME, WEIGHTS_NAME  # noqa: E402,F401 (re-exported)
FORMAT = "audiogen-lm/1"


class AudioLM(nn.Module):
    def __init__(self, config: LMConfig):
        super().__init__()
        self.config = config
        self.pattern: DelayPattern = get_pattern(config.pattern, config.num_codebooks)
        self.emb = nn.ModuleList(nn.Embedding(config.cardinality + 1, config.dim)
                                 for _ in range(config.num_codebooks))
        self.text_proj = nn.Linear(config.text_dim, config.dim, bias=config.text_proj_bias)
        self.transformer = Transformer(config)
        self.heads = nn.ModuleList(nn.Linear(config.dim, config.cardinality, bias=False)
                                   for _ in range(config.num_codebooks))
        self.checkpoint_config: dict[str, Any] = {"format": FORMAT, "lm": config.to_dict()}
        init_weights(self, config.num_layers)

    @property
    def special_token(self) -> int:
        return self.config.special_token

    # --- pieces --------------------------------------------------------------------------------
    def _check_inputs(self, inputs: torch.Tensor) -> None:
        if inputs.dim() != 3 or inputs.shape[1] != self.config.num_codebooks:
            raise ValueError(f"expected tokens [B, {self.config.num_codebooks}, S], got {tuple(inputs.shape)}")

    def text_context(self, text: torch.Tensor, text_mask: torch.Tensor) -> TextContext:
        """text `[B, L, text_dim]` float, mask `[B, L]` bool → the cross-attention context."""
        if text.dim() != 3 or text.shape[-1] != self.config.text_dim:
            raise ValueError(f"expected text states [B, L, {self.config.text_dim}], got {tuple(text.shape)}")
        if text_mask.shape != text.shape[:2]:
            raise ValueError(f"text mask {tuple(text_mask.shape)} does not match text {tuple(text.shape[:2])}")
        text_mask = text_mask.to(torch.bool)
        states = self.text_proj(text.to(self.text_proj.weight.dtype))
        states = states * text_mask[..., None].to(states.dtype)  # after the bias (audiocraft's T5Conditioner)
        return self.transformer.text_context(states, text_mask)

    def _run(self, inputs: torch.Tensor, text: TextContext, cache: KVCache | None) -> torch.Tensor:
        x = sum(emb(inputs[:, k]) for k, emb in enumerate(self.emb))  # [B, S, D]
        h = self.transformer(x, text, cache)
        return torch.stack([head(h) for head in self.heads], dim=1)  # [B, K, S, card]

    # --- full pass and training loss ------------------------------------------------------------
    def forward(self, inputs: torch.Tensor, text: torch.Tensor, text_mask: torch.Tensor) -> torch.Tensor:
        """inputs `[B, K, S]` long (pattern steps, shifted: see module doc) → logits `[B, K, S, card]`;
        step `s` sees inputs `[0, s]` only."""
        self._check_inputs(inputs)
        if inputs.shape[0] != text.shape[0]:
            raise ValueError(f"batch mismatch: tokens {inputs.shape[0]}, text {text.shape[0]}")
        return self._run(inputs, self.text_context(text, text_mask), None)

    def compute_loss(self, codes: torch.Tensor, frame_mask: torch.Tensor, text: torch.Tensor,
                     text_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
        """codes `[B, K, T]` long in `[0, card)`, frame_mask `[B, T]` bool (True = real frame) →
        (mean cross-entropy over the counted tokens, per-codebook mean `[K]`, number of tokens).

        Counted: positions where the pattern is valid and the frame is real. Padded frames are also
        replaced by the special token before building the inputs, so they never leak into the
        prediction of real frames (with the delay pattern the last real frames of codebook k > 0
        see codebook 0 of later frames): a padded clip trains exactly like a clip of its length.
        """
        self._check_inputs(codes)
        b, k_, t = codes.shape
        if frame_mask.shape != (b, t):
            raise ValueError(f"frame mask {tuple(frame_mask.shape)} does not match codes [B, T] = {(b, t)}")
        if t == 0:
            raise ValueError("compute_loss: codes have no frames")
        special = self.special_token
        if int(codes.min()) < 0 or int(codes.max()) >= special:
            raise ValueError(f"codes must lie in [0, {special}), got [{int(codes.min())}, {int(codes.max())}]")
        frame_mask = frame_mask.to(torch.bool)
        codes = codes.masked_fill(~frame_mask[:, None, :], special)
        seq, valid = self.pattern.build(codes, special)  # [B, K, S], [K, S]
        start = seq.new_full((b, k_, 1), special)
        logits = self(torch.cat([start, seq[..., :-1]], dim=-1), text, text_mask)  # [B, K, S, card]
        frames = self.pattern.frame_index(seq.shape[-1], codes.device).clamp(0, t - 1)  # [K, S]
        counted = valid[None] & frame_mask[:, frames]  # [B, K, S]
        targets = seq.masked_fill(~counted, 0)  # special is not a class; masked out below anyway
        ce = F.cross_entropy(logits.float().flatten(0, 2), targets.flatten(), reduction="none").view_as(seq)
        ce = ce * counted
        per_k = counted.sum(dim=(0, 2))  # [K]
        ce_per_codebook = ce.sum(dim=(0, 2)) / per_k.clamp(min=1)
        num_tokens = int(per_k.sum())
        # The per-codebook means keep their graph: their mean is the codebook-averaged training loss
        # (train.loss_average: codebook, audiocraft's); callers that only log them detach.
        return ce.sum() / max(num_tokens, 1), ce_per_codebook, num_tokens

    @staticmethod
    def null_condition(text: torch.Tensor, text_mask: torch.Tensor,
                       drop: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Rows where `drop [B]` is True become the CFG null condition: zero states, all-False mask."""
        drop = drop.to(device=text.device, dtype=torch.bool)
        text = torch.where(drop[:, None, None], torch.zeros((), dtype=text.dtype, device=text.device), text)
        return text, text_mask.to(torch.bool) & ~drop[:, None]

    # --- cached decoding ------------------------------------------------------------------------
    def init_cache(self, batch: int, max_steps: int, text: torch.Tensor, text_mask: torch.Tensor,
                   dtype: torch.dtype | None = None) -> KVCache:
        """A cache for `batch` rows and up to `max_steps` steps; the text K/V are computed here, once."""
        if text.shape[0] != batch:
            raise ValueError(f"init_cache: batch {batch} but text has {text.shape[0]} rows")
        ctx = self.text_context(text, text_mask)
        w = self.text_proj.weight
        return KVCache.allocate(self.config.num_layers, batch, self.config.num_heads, max_steps,
                                self.config.head_dim, ctx, dtype=dtype or w.dtype, device=w.device)

    def forward_step(self, inputs: torch.Tensor, cache: KVCache) -> torch.Tensor:
        """inputs `[B, K, n]`: the next `n` steps (n > 1 for a prompt prefill; causal among them)
        → logits `[B, K, n, card]`; the cache advances by `n`."""
        self._check_inputs(inputs)
        if inputs.shape[0] != cache.batch_size:
            raise ValueError(f"forward_step: batch {inputs.shape[0]} but cache holds {cache.batch_size}")
        return self._run(inputs, cache.text, cache)

    # --- size and cost --------------------------------------------------------------------------
    def num_parameters(self, exclude_embeddings: bool = False) -> int:
        """All parameters, or without the K input embedding tables."""
        n = sum(p.numel() for p in self.parameters())
        if exclude_embeddings:
            n -= sum(p.numel() for p in self.emb.parameters())
        return n

    def flops_per_token(self, seq_len: int = 0, text_len: int = 0) -> float:
        """Training FLOPs (forward + backward) per audio step, for MFU:

            6 · N_step + 12 · n_layers · dim · (seq_len + text_len) + 6 · N_text · text_len / seq_len

        N_step: matmul weights applied to every step (self-attention, cross-attention queries and
        outputs, feed-forward, the K heads; not the embedding lookups or norms). N_text: weights
        applied once per text token (`text_proj`, the cross-attention key/value projections),
        shared by the `seq_len` steps of a sequence. The attention term counts QKᵀ and AV at
        2 FLOPs per multiply-add (PaLM's convention: no discount for the causal mask). With the
        defaults (0) it is 6 · N_step, the usual 6N.
        """
        n_text = self.text_proj.weight.numel()
        n_step = sum(h.weight.numel() for h in self.heads)
        for layer in self.transformer.layers:
            n_text += layer.cross_attn.kv.weight.numel()
            n_step += sum(p.numel() for name, p in layer.named_parameters()
                          if p.dim() == 2 and not name.startswith("cross_attn.kv"))
        cfg = self.config
        flops = 6.0 * n_step + 12.0 * cfg.num_layers * cfg.dim * (seq_len + text_len)
        if seq_len > 0:
            flops += 6.0 * n_text * text_len / seq_len
        return flops

    # --- checkpoint format (DESIGN.md "LM checkpoint") ------------------------------------------
    def save_pretrained(self, directory: str | os.PathLike, extra_config: dict[str, Any] | None = None) -> None:
        """Write `config.json` (`{"format", "lm": LMConfig dict, **extra_config}`) and
        `model.safetensors`, each to a temporary name first, then renamed (audiogen.io.checkpoint)."""
        from audiogen.io.checkpoint import save_checkpoint

        extra = dict(extra_config or {})
        clash = {"format", "lm"} & set(extra)
        if clash:
            raise ValueError(f"extra_config may not set the reserved keys {sorted(clash)}")
        cfg = {"lm": self.config.to_dict(), **extra}
        save_checkpoint(directory, self.state_dict(), cfg, FORMAT)
        self.checkpoint_config = {"format": FORMAT, **cfg}

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike, device: str | torch.device = "cpu") -> "AudioLM":
        """Load a checkpoint directory (eval mode). The whole config.json, extra keys included,
        is on `model.checkpoint_config`."""
        from audiogen.io.checkpoint import config_section, load_weights_into

        meta = read_config(directory)
        with torch.device("meta"):  # no random init of weights that are replaced right away (1.8B at the released size)
            model = cls(config_section(directory, meta, "lm", LMConfig.from_dict))
        load_weights_into(model, directory, assign=True)
        model.checkpoint_config = meta
        return model.to(device).eval()


def read_config(directory: str | os.PathLike) -> dict[str, Any]:
    """An LM checkpoint's config.json (checked format), without loading the weights."""
    from audiogen.io.checkpoint import read_checkpoint_config

    meta = read_checkpoint_config(directory, FORMAT, "LM")
    if "lm" not in meta:
        raise ValueError(f"{Path(directory) / CONFIG_NAME}: format {FORMAT!r} without an 'lm' section")
    return meta
