"""Meta's released audiocraft models (AudioGen) in and out of this project's checkpoint format.
May import: audiogen.io, text, codec, lm.

    python -m audiogen.convert from-audiocraft --lm state_dict.bin --codec compression_state_dict.bin --out DIR
    python -m audiogen.convert to-audiocraft --lm DIR/lm --out export/

    from audiogen.convert import from_audiocraft, to_audiocraft, ConversionError
"""
from __future__ import annotations

from audiogen.convert.package import ConversionError

__all__ = ["ConversionError", "from_audiocraft", "to_audiocraft"]


def __getattr__(name: str):
    # The API pulls in torch; keep `import audiogen.convert` (and the CLI's --help) light.
    if name in ("from_audiocraft", "to_audiocraft"):
        from audiogen.convert import api

        return getattr(api, name)
    raise AttributeError(name)
