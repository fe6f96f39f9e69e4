"""The checkpoint directory format shared by the codec, the LM and the tagger (DESIGN.md
"Checkpoints"): `config.json` (a `format` tag plus whatever rebuilds the model) and
`model.safetensors`, each written to a temporary name and renamed, so a directory never holds a
half-written file under its final name. Trainers write the same two files through
`audiogen.io.trainer_state`, which adds the one commit point of a checkpoint with its resume state.

Reading: a missing, truncated, garbled or wrong-typed `config.json` or `model.safetensors` is a
one-line `CheckpointError` (a ValueError; `CheckpointNotFoundError` is also a FileNotFoundError)
naming the file and the fix, never a traceback from deep inside json, safetensors or torch.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used; the message is one line naming the file and the fix."""


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """A checkpoint file that is not there."""


def first_line(err: BaseException, limit: int = 160) -> str:
    """The first line of an exception's message, shortened: for one-line errors."""
    text = (str(err).strip().splitlines() or [type(err).__name__])[0]
    return text if len(text) <= limit else text[: limit - 1] + "…"


def config_text(data: Mapping[str, Any]) -> str:
    """How every checkpoint writes its config.json (sorted keys: the same bytes for the same dict)."""
    return json.dumps(dict(data), indent=2, sort_keys=True) + "\n"


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
    tmp.write_text(config_text({"format": fmt, **config}), encoding="utf-8")
    os.replace(tmp, d / CONFIG_NAME)


def read_checkpoint_config(directory: str | os.PathLike, fmt: str, what: str, hint: str = "",
                           sections: tuple[str, ...] = ()) -> dict[str, Any]:
    """`config.json` of a checkpoint of format `fmt` (and a JSON object under each of `sections`);
    a one-line error naming the file and the fix otherwise."""
    path = Path(directory) / CONFIG_NAME
    fix = f"copy the checkpoint again or retrain it{hint}"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        article = "an" if what[:1].lower() in "aeiou" or what.isupper() else "a"
        raise CheckpointNotFoundError(f"{path}: not {article} {what} checkpoint (no {CONFIG_NAME}){hint}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{path}: cannot be read as text ({first_line(err)}); {fix}") from None
    try:
        meta = json.loads(text)
    except json.JSONDecodeError as err:
        state = Path(directory) / "state.pt"
        repair = (f"; `--resume auto` writes it again from {state}" if state.is_file() else "")
        raise CheckpointError(f"{path}: not valid JSON ({err.msg} at line {err.lineno}, column {err.colno}: "
                              f"truncated or damaged); {fix}{repair}") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: holds a JSON {type(meta).__name__}, not an object; {fix}")
    if meta.get("format") != fmt:
        raise CheckpointError(f"{path}: format {meta.get('format')!r}, expected {fmt!r} (not {what} checkpoint "
                              f"of this audiogen); point at the right directory")
    for key in sections:
        if not isinstance(meta.get(key), dict):
            raise CheckpointError(f"{path}: '{key}' should be a JSON object, got {meta.get(key)!r:.60}; {fix}")
    return meta


def load_weights(directory: str | os.PathLike) -> dict[str, Any]:
    """`model.safetensors` of a checkpoint directory (CPU tensors); a one-line error naming the file
    when it is missing, truncated or not a safetensors file."""
    from safetensors.torch import load_file

    path = Path(directory) / WEIGHTS_NAME
    if not path.is_file():
        raise CheckpointNotFoundError(f"{path}: missing (a checkpoint needs {CONFIG_NAME} and {WEIGHTS_NAME}); "
                                      "copy the checkpoint again or retrain it")
    try:
        return load_file(str(path), device="cpu")
    except Exception as err:  # SafetensorError, OSError, ... by kind of damage
        raise CheckpointError(f"{path}: not a readable safetensors file ({first_line(err)}: truncated or "
                              "damaged); copy the checkpoint again or retrain it") from None


def config_section(directory: str | os.PathLike, meta: Mapping[str, Any], key: str, from_dict: Any) -> Any:
    """`from_dict(meta[key])`: the model config a checkpoint's config.json describes; a section that
    is missing, not an object, or holds wrong-typed or unknown fields is one line naming the file."""
    path = Path(directory) / CONFIG_NAME
    section = meta.get(key)
    if not isinstance(section, dict):
        raise CheckpointError(f"{path}: '{key}' should be a JSON object, got {section!r:.60}; "
                              "copy the checkpoint again or retrain it")
    try:
        return from_dict(section)
    except (TypeError, ValueError, KeyError, AttributeError) as err:
        raise CheckpointError(f"{path}: '{key}' does not describe a model ({first_line(err)}); "
                              "copy the checkpoint again or retrain it") from None


def load_weights_into(model: Any, directory: str | os.PathLike, assign: bool = False) -> None:
    """`model.load_state_dict` from the directory's `model.safetensors` (`assign`: as torch's, for a
    model built on the meta device); weights that do not fit the model its config.json describes
    (missing, unexpected or reshaped tensors) are one line."""
    weights = load_weights(directory)
    try:
        model.load_state_dict(weights, assign=assign)
    except (RuntimeError, ValueError, KeyError) as err:
        expected = model.state_dict()
        missing = sorted(set(expected) - set(weights))
        extra = sorted(set(weights) - set(expected))
        shapes = sorted(k for k in set(expected) & set(weights) if tuple(expected[k].shape) != tuple(weights[k].shape))
        detail = "; ".join(f"{label} {names[0]}" + (f" (+{len(names) - 1} more)" if len(names) > 1 else "")
                           for label, names in (("missing", missing), ("unexpected", extra), ("reshaped", shapes))
                           if names) or first_line(err)
        raise CheckpointError(f"{Path(directory) / WEIGHTS_NAME}: weights do not fit the model of {CONFIG_NAME} "
                              f"({detail}); the two files come from different checkpoints: copy both "
                              "again") from None
