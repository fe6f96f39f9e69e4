"""The text-conditioned audio language model: config and presets, codebook patterns, the decoder,
the KV cache, sampling and code generation. May import: audiogen.io.

    from audiogen.lm import AudioLM, lm_config, generate_codes
    lm = AudioLM(lm_config("tiny", num_codebooks=4, cardinality=2048, text_dim=768))
    codes = generate_codes(lm, text, text_mask, num_frames=250, cfg=3.0, top_k=250)
"""
from __future__ import annotations

from audiogen.lm.cache import KVCache, TextContext
from audiogen.lm.config import PRESETS, LMConfig, lm_config
from audiogen.lm.generate import generate_codes
from audiogen.lm.model import AudioLM, read_config
from audiogen.lm.patterns import DelayPattern, get_pattern
from audiogen.lm.sampling import cfg_logits, sample

__all__ = ["AudioLM", "DelayPattern", "KVCache", "LMConfig", "PRESETS", "TextContext", "cfg_logits",
           "generate_codes", "get_pattern", "lm_config", "read_config", "sample"]
