"""audiocraft's exported packages (`state_dict.bin`, `compression_state_dict.bin`): read, check, write.

A package is a `torch.save`d dict `{'best_state': flat state dict, 'xp.cfg': unresolved YAML string,
'version': str, 'exported': True}` (audiocraft/utils/export.py; AUDIOCRAFT.md §A). It is read with
`torch.load(weights_only=True)`, so nothing in it is ever unpickled as code.

    pkg = read_package("state_dict.bin", "LM")     # or a directory holding that name
    pkg.best_state, pkg.cfg, pkg.version            # tensors, OmegaConf DictConfig (unresolved)
    section(pkg, "transformer_lm")                  # one section, resolved → plain dict
    check(pkg, "codebooks_pattern.modeling", ["delay"])   # one-line ConversionError otherwise
    write_package(path, best_state, xp_cfg_yaml)    # temporary name, then os.replace

Only the sections a converter reads are resolved: resolving the whole config can fail (e.g.
`dora.dir: /checkpoint/${oc.env:USER}/...` when USER is unset).
"""
from __future__ import annotations

import os
import pickle
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

LM_FILE = "state_dict.bin"
CODEC_FILE = "compression_state_dict.bin"
FILE_NAMES = {"LM": LM_FILE, "codec": CODEC_FILE}
# The version written into exported packages when the source recorded none: AudioGen (v2,
# audiogen-medium) was released with audiocraft v1.0.0, whose loader reads packages of this format.
DEFAULT_VERSION = "1.0.0"


class ConversionError(ValueError):
    """A package that cannot be converted: the message is one line naming the file and the reason."""


@dataclass
class Package:
    """One audiocraft package: `best_state` (name → tensor), `cfg` (the xp.cfg as an unresolved
    OmegaConf DictConfig), `xp_cfg` (its YAML text), `version`, and the file it came from."""

    path: Path
    best_state: dict[str, Any]
    cfg: Any
    xp_cfg: str
    version: str

    @property
    def family(self) -> str:
        """'LM' (an `lm_model` config), 'codec' (a `compression_model` config) or 'unknown'."""
        if "lm_model" in self.cfg:
            return "LM"
        if "compression_model" in self.cfg:
            return "codec"
        return "unknown"


def staging_dir(final: str | os.PathLike) -> Path:
    """An empty temporary folder beside `final`, to be renamed onto it when complete. mkdtemp makes it
    0700; it gets the permissions an ordinary `mkdir` would (the umask's), so a converted model is as
    readable as any other folder the user makes."""
    final = Path(final)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)
    return tmp


def package_file(path: str | os.PathLike, what: str) -> Path:
    """A package file, or a directory holding audiocraft's name for it (`state_dict.bin` for the LM,
    `compression_state_dict.bin` for the codec)."""
    p = Path(path).expanduser()
    if p.is_dir():
        name = FILE_NAMES[what]
        if not (p / name).is_file():
            raise ConversionError(f"{p}: no {name} in this directory (the {what} package of an audiocraft model)")
        return p / name
    if not p.is_file():
        raise ConversionError(f"{p}: no such file (the {what} package, {FILE_NAMES[what]})")
    return p


def read_package(path: str | os.PathLike, what: str) -> Package:
    """Load and validate the envelope of an audiocraft package (`what` = 'LM' or 'codec'); the
    family is checked too (an LM package given as the codec is an error that says so)."""
    import torch
    from omegaconf import OmegaConf

    if what not in FILE_NAMES:
        raise ValueError(f"what must be one of {sorted(FILE_NAMES)}, got {what!r}")
    p = package_file(path, what)
    if not zipfile.is_zipfile(p):  # torch.save writes a zip; a cut-off download loses its directory
        raise ConversionError(f"{p}: not an audiocraft package (not a complete torch.save archive: "
                              "truncated, or another format)")
    try:
        raw = torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise ConversionError(f"{p}: holds Python objects other than tensors, strings and numbers, so it is "
                              "not loaded (weights_only); not an audiocraft export") from None
    except Exception as err:  # a damaged member inside the archive
        first = str(err).strip().splitlines()[0][:160] if str(err).strip() else type(err).__name__
        raise ConversionError(f"{p}: damaged torch.save archive ({first})") from None
    if not isinstance(raw, dict):
        raise ConversionError(f"{p}: not an audiocraft package (a {type(raw).__name__}, expected a dict "
                              "with 'best_state' and 'xp.cfg')")
    if "pretrained" in raw:
        raise ConversionError(f"{p}: a 'pretrained' reference to {raw['pretrained']!r}, not an exported model; "
                              "download that model's own compression_state_dict.bin and convert it instead")
    missing = [k for k in ("best_state", "xp.cfg") if k not in raw]
    if missing:
        raise ConversionError(f"{p}: not an audiocraft package (no {' and no '.join(map(repr, missing))}; "
                              f"keys: {sorted(map(str, raw))[:8]})")
    state, text = raw["best_state"], raw["xp.cfg"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ConversionError(f"{p}: 'best_state' is not a flat dict of tensors")
    if not isinstance(text, str):
        raise ConversionError(f"{p}: 'xp.cfg' is a {type(text).__name__}, expected a YAML string")
    try:
        cfg = OmegaConf.create(text)
    except Exception as err:
        raise ConversionError(f"{p}: xp.cfg is not valid YAML ({str(err).splitlines()[0][:200]})") from None
    pkg = Package(path=p, best_state=state, cfg=cfg, xp_cfg=text, version=str(raw.get("version") or ""))
    if pkg.family != what:
        other = {"LM": "an LM (lm_model)", "codec": "a codec (compression_model)"}.get(pkg.family, "neither an LM nor a codec")
        raise ConversionError(f"{p}: expected the {what} package, but its xp.cfg describes {other}")
    return pkg


def value(pkg: Package, key: str, default: Any = "__required__") -> Any:
    """One config value (dotted key), resolved; a missing key is an error unless `default` is given."""
    from omegaconf import OmegaConf

    try:
        node = OmegaConf.select(pkg.cfg, key, throw_on_missing=True, default="__absent__")
    except Exception as err:
        raise ConversionError(f"{pkg.path}: xp.cfg {key} cannot be resolved ({str(err).splitlines()[0][:160]})") from None
    if isinstance(node, str) and node == "__absent__":
        if default == "__required__":
            raise ConversionError(f"{pkg.path}: xp.cfg has no {key}")
        return default
    if OmegaConf.is_config(node):
        return OmegaConf.to_container(node, resolve=True)
    return node


def section(pkg: Package, key: str) -> dict[str, Any]:
    """One section of the xp.cfg as a plain dict, with its `${...}` interpolations resolved."""
    v = value(pkg, key)
    if not isinstance(v, dict):
        raise ConversionError(f"{pkg.path}: xp.cfg {key} is not a section")
    return v


def check(pkg: Package, key: str, allowed: Iterable[Any], default: Any = "__required__") -> Any:
    """The value of `key`, which must be one of `allowed`; else a one-line ConversionError naming the
    file, the setting and what is supported."""
    allowed = list(allowed)
    v = value(pkg, key, default)
    if v not in allowed:
        want = repr(allowed[0]) if len(allowed) == 1 else f"one of {allowed}"
        raise ConversionError(f"{pkg.path}: xp.cfg {key} = {v!r} is not supported (this converter handles {want})")
    return v


def write_package(path: str | os.PathLike, best_state: dict[str, Any], xp_cfg: str,
                  version: str | None = None) -> Path:
    """Write a package in audiocraft's export format (`export_lm` / `export_encodec`): a temporary
    name first, then renamed, so `path` never holds a half-written file."""
    import torch

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    pkg = {"best_state": {k: v.detach().cpu().contiguous() for k, v in best_state.items()},
           "xp.cfg": xp_cfg, "version": version or DEFAULT_VERSION, "exported": True}
    # Saved under its final name inside a temporary folder: torch.save names the zip's root folder after
    # the file ("state_dict/data.pkl", as audiocraft's own exports), so the bytes never depend on a temp name.
    tmp = staging_dir(p)
    try:
        torch.save(pkg, tmp / p.name)
        os.replace(tmp / p.name, p)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return p
