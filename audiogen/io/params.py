"""Reading params.yaml: the whole file, or one stage's section, with one-line errors.

    read_params(path=None) -> dict           # `path`, else $AUDIOGEN_PARAMS, else ./params.yaml
    params_section(name, path=None) -> dict  # e.g. "train"; {} when the file or the section is absent

A default params.yaml (./params.yaml, or $AUDIOGEN_PARAMS) that does not exist gives {} (the CLIs then
run anywhere with their built-in defaults), but a `--params` path that does not exist is an error: a typo must not silently train with
defaults. A file that is not UTF-8, not YAML, or not a mapping of sections, and a section that is not
a mapping of keys, raise `ParamsFileError` (a SystemExit: the CLI prints the line and exits 1).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

DEFAULT_NAME = "params.yaml"


class ParamsFileError(SystemExit):
    """params.yaml cannot be used; the message names the file, the place and the fix."""


def params_path(path: str | os.PathLike | None = None) -> Path:
    return Path(path or os.environ.get("AUDIOGEN_PARAMS", DEFAULT_NAME))


def read_params(path: str | os.PathLike | None = None, *, flag: str = "--params") -> dict[str, Any]:
    """The whole params file as a dict ({} when the default file is absent; `flag`: the CLI argument
    that named `path`, for the message when it does not exist)."""
    import yaml

    p = params_path(path)
    if not p.exists():
        if path is not None:
            raise ParamsFileError(f"{p}: no such file (check {flag})")
        return {}
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ParamsFileError(f"{p}: not UTF-8 text (byte {err.start}): save it as UTF-8 YAML") from None
    except OSError as err:
        raise ParamsFileError(f"{p}: cannot read params: {err.strerror or err}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ParamsFileError(f"{p}: not valid YAML ({_yaml_problem(err)}): fix that line") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ParamsFileError(f"{p}: expected a mapping of sections (train:, codec:, ...), got a "
                              f"{type(data).__name__}")
    return data


def section_of(params: dict[str, Any], name: str, path: str | os.PathLike | None = None) -> dict[str, Any]:
    """`params[name]` as a new dict ({} when absent or null); ParamsFileError when it is not a mapping."""
    value = params.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ParamsFileError(f"{params_path(path)}: section {name!r} must be a mapping of keys, got "
                              f"{type(value).__name__} {value!r:.60}")
    return dict(value)


def params_section(name: str, path: str | os.PathLike | None = None) -> dict[str, Any]:
    """One stage's section of the params file ({} when the file or the section is absent)."""
    return section_of(read_params(path), name, path)


def _yaml_problem(err: Exception) -> str:
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    return f"line {mark.line + 1}, column {mark.column + 1}: {problem}" if mark is not None else str(problem)
