"""The checkpoint directory format shared by the codec, the LM and the tagger (DESIGN.md
"Checkpoints"): `config.json` (a `format` tag plus whatever rebuilds the model) and
`model.safetensors`, each written to a temporary name and renamed, so a directory never holds a
half-written file under its final name."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


def save_checkpoint(directory: str | os.PathLike, state_dict: Mapping[str, Any], config: dict[str, Any],
                    fmt: str) -> None:
    """Weights first, config second: a config.json always describes the weights beside it."""
    from safetensors.torch import save_file

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in state_dict.items()}
    tmp = d / f".{WEIGHTS_NAME}.{os.getpid()}.tmp"
    save_file(state, str(tmp), metadata={"format": fmt})
    os.replace(tmp, d / WEIGHTS_NAME)
    tmp = d / f".{CONFIG_NAME}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps({"format": fmt, **config}, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, d / CONFIG_NAME)


def read_checkpoint_config(directory: str | os.PathLike, fmt: str, what: str, hint: str = "") -> dict[str, Any]:
    """`config.json` of a checkpoint of format `fmt`; a clear error naming the file otherwise."""
    path = Path(directory) / CONFIG_NAME
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        article = "an" if what[:1].lower() in "aeiou" or what.isupper() else "a"
        raise FileNotFoundError(f"{path}: not {article} {what} checkpoint (no {CONFIG_NAME}){hint}") from None
    if not isinstance(meta, dict) or meta.get("format") != fmt:
        got = meta.get("format") if isinstance(meta, dict) else None
        raise ValueError(f"{path}: format {got!r}, expected {fmt!r}")
    return meta


def load_weights(directory: str | os.PathLike) -> dict[str, Any]:
    from safetensors.torch import load_file

    return load_file(str(Path(directory) / WEIGHTS_NAME), device="cpu")
