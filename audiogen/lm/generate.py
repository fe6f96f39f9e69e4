"""Autoregressive decoding of codec tokens with classifier-free guidance and a KV cache.

    codes = generate_codes(lm, text, text_mask, num_frames, cfg=3.0, top_k=250)   # [B, K, num_frames]

Step `s` of the pattern sequence is predicted from the inputs of steps `[0, s]` (input `s` holds
sequence step `s - 1`; input 0 the special token). At each step the positions that the pattern
marks invalid (delay: codebook k before step k or after frame T-1) get the special token, the
positions of prompt frames keep the prompt's codes (teacher forcing), and the rest are sampled.
With guidance the conditional and the null rows run as one batch of 2B.
"""
from __future__ import annotations

import torch

from audiogen.lm.model import AudioLM
from audiogen.lm.sampling import cfg_logits, sample


@torch.inference_mode()
def generate_codes(model: AudioLM, text: torch.Tensor, text_mask: torch.Tensor, num_frames: int, *,
                   cfg: float = 3.0, temperature: float = 1.0, top_k: int = 250, top_p: float = 0.0,
                   generator: torch.Generator | None = None, prompt_codes: torch.Tensor | None = None,
                   use_cache: bool = True, progress: bool = False) -> torch.Tensor:
    """text `[B, L, text_dim]`, text_mask `[B, L]` bool, prompt_codes `[B, K, Tp]` (Tp <= num_frames)
    → codes `[B, K, num_frames]` long (the prompt's codes kept in the first Tp frames).

    cfg: guidance scale γ; 1.0 runs the conditional rows only (plain conditional sampling).
    temperature / top_k / top_p / generator: see `sampling.sample` (temperature 0: greedy).
    use_cache: False recomputes the whole prefix with `model.forward` at every step (the slow
    baseline; same tokens). The model runs in eval mode and is put back as it was.
    """
    lm_cfg = model.config
    k_, special = lm_cfg.num_codebooks, lm_cfg.special_token
    b = text.shape[0]
    device = model.text_proj.weight.device
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    text, text_mask = text.to(device), text_mask.to(device=device, dtype=torch.bool)
    pattern = model.pattern
    steps = pattern.num_steps(num_frames)
    frames = pattern.frame_index(steps, device)  # [K, S]
    valid = (frames >= 0) & (frames < num_frames)

    seq = torch.full((b, k_, steps), special, dtype=torch.long, device=device)
    fixed = torch.zeros_like(valid)
    if prompt_codes is not None:
        if prompt_codes.dim() != 3 or prompt_codes.shape[:2] != (b, k_):
            raise ValueError(f"prompt_codes must be [B={b}, K={k_}, Tp], got {tuple(prompt_codes.shape)}")
        tp = prompt_codes.shape[-1]
        if tp > num_frames:
            raise ValueError(f"prompt has {tp} frames, more than the {num_frames} to generate")
        if tp and (int(prompt_codes.min()) < 0 or int(prompt_codes.max()) >= special):
            raise ValueError(f"prompt codes must lie in [0, {special})")
        padded = torch.full((b, k_, num_frames), special, dtype=torch.long, device=device)
        padded[..., :tp] = prompt_codes.to(device=device, dtype=torch.long)
        seq = pattern.build(padded, special)[0]
        fixed = valid & (frames < tp)
    # Steps before `first` are fully determined (prompt or special): prefill them in one pass.
    todo = (valid & ~fixed).any(dim=0)
    first = int(todo.nonzero()[0]) if bool(todo.any()) else steps

    guided = cfg != 1.0
    if guided:
        null_text, null_mask = model.null_condition(text, text_mask, torch.ones(b, dtype=torch.bool, device=device))
        text, text_mask = torch.cat([text, null_text]), torch.cat([text_mask, null_mask])
    rows = 2 * b if guided else b
    # inputs[:, :, s] = seq[:, :, s - 1]; inputs[:, :, 0] = special.
    inputs = torch.cat([torch.full((b, k_, 1), special, dtype=torch.long, device=device), seq[..., :-1]], dim=-1)

    was_training = model.training
    model.eval()
    try:
        cache = model.init_cache(rows, steps, text, text_mask) if use_cache else None
        bar = range(first, steps)
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(bar, desc="generate", unit="step")
        for s in bar:
            x = inputs[..., cache.pos if cache is not None else 0: s + 1]
            if guided:
                x = x.repeat(2, 1, 1)
            if cache is not None:
                logits = model.forward_step(x, cache)[:, :, -1]
            else:
                logits = model(x, text, text_mask)[:, :, -1]  # [rows, K, card]
            if guided:
                logits = cfg_logits(logits[:b], logits[b:], cfg)
            tokens = sample(logits, temperature=temperature, top_k=top_k, top_p=top_p, generator=generator)
            keep = fixed[:, s] | ~valid[:, s]  # [K]: prompt codes or special stay as they are
            seq[:, :, s] = torch.where(keep[None], seq[:, :, s], tokens)
            if s + 1 < steps:
                inputs[:, :, s + 1] = seq[:, :, s]
    finally:
        model.train(was_training)
    return pattern.revert(seq, num_frames)
