"""The neural audio codec (SEANet encoder/decoder + residual VQ), its losses and its trainer
(`python -m audiogen.codec.train`). May import: audiogen.io.

    from audiogen.codec import Codec
    codec = Codec.from_pretrained("models/codec")
    codes = codec.encode(wav)      # [B, 1, T] → [B, K, T'] int64
    wav = codec.decode(codes)      # [B, K, T'] → [B, 1, T' · hop]

Names are imported lazily so `import audiogen.codec` does not load torch.
"""
from __future__ import annotations

from typing import Any

__all__ = ["Codec", "CodecConfig", "LossConfig", "TrainConfig", "PRESETS", "preset"]


def __getattr__(name: str) -> Any:
    if name == "Codec":
        from audiogen.codec.model import Codec

        return Codec
    if name in ("CodecConfig", "LossConfig", "TrainConfig", "PRESETS", "preset"):
        from audiogen.codec import config

        return getattr(config, name)
    raise AttributeError(f"module 'audiogen.codec' has no attribute {name!r}")
