"""The converter's Python API: a released audiocraft AudioGen (two packages) → `OUT/lm` + `OUT/codec`
in this project's checkpoint format, and back.

    from audiogen.convert import from_audiocraft, to_audiocraft
    out = from_audiocraft(lm="state_dict.bin", codec="compression_state_dict.bin", out="models/audiogen-medium")
    out = from_audiocraft(source="facebook/audiogen-medium")     # or a folder holding both files
    to_audiocraft("models/audiogen-medium/lm", "export/")        # → export/state_dict.bin + compression_state_dict.bin

`OUT/lm` loads with `AudioGen.from_pretrained(OUT/lm)` (its config.json records the codec at
`OUT/codec` with its sha256, the T5 text encoder by name, and every compatibility option), and
`Codec.from_pretrained(OUT/codec)` with the tokenize stage. Everything is written into a temporary
folder beside OUT and renamed at the end: a failed or killed conversion leaves nothing in OUT.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from audiogen.convert.package import CODEC_FILE, LM_FILE, ConversionError, Package, read_package, staging_dir

HF_FILES = (LM_FILE, CODEC_FILE)


def _sha256(path: Path) -> str:
    from audiogen.io.shards import sha256_file

    return sha256_file(path)


def _is_hub_id(source: str) -> bool:
    """`owner/name` that is not an existing path (audiocraft's loader makes the same guess)."""
    parts = source.split("/")
    return len(parts) == 2 and all(parts) and not Path(source).exists() and not source.startswith((".", "~"))


def default_cache_dir(repo_id: str) -> Path:
    """Where `from_audiocraft(source=<hub id>)` converts to when no `out` is given:
    `$AUDIOGEN_CACHE/converted/<owner>--<name>` (default `~/.cache/audiogen`)."""
    root = Path(os.environ.get("AUDIOGEN_CACHE") or Path.home() / ".cache" / "audiogen")
    return root / "converted" / repo_id.replace("/", "--")


def download(repo_id: str) -> tuple[Path, Path]:
    """Both package files of a Hugging Face model repo (e.g. `facebook/audiogen-medium`) through
    `huggingface_hub` (its cache; offline: only what is already there) → (LM file, codec file)."""
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:  # pragma: no cover - a declared dependency
        raise ConversionError("huggingface_hub is not installed (pip install huggingface_hub)") from None
    paths = []
    for name in HF_FILES:
        try:
            paths.append(Path(hf_hub_download(repo_id, name)))
        except Exception as err:  # offline, not cached, no such repo, no network, gated repo...
            if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
                reason = "offline (HF_HUB_OFFLINE=1) and not in the local Hugging Face cache"
            else:
                text = str(err).strip()
                reason = f"{type(err).__name__}: {text.splitlines()[0][:120] if text else ''}"
            raise ConversionError(
                f"{repo_id}: could not get {name} through huggingface_hub ({reason}). "
                f"On a connected machine run `hf download {repo_id} {' '.join(HF_FILES)} "
                f"--local-dir DIR`, copy DIR here, and run `python -m audiogen.convert from-audiocraft --from DIR "
                f"--out OUT` (the weights of facebook/audiogen-medium are CC-BY-NC 4.0)") from None
    return paths[0], paths[1]


def _resolve_sources(lm: Any, codec: Any, source: Any) -> tuple[Path | Package, Path | Package, str | None]:
    if source is not None:
        if lm is not None or codec is not None:
            raise ConversionError("give either source (a folder or a Hugging Face id) or the lm and codec files")
        s = str(source)
        if _is_hub_id(s):
            lm_file, codec_file = download(s)
            return lm_file, codec_file, s
        folder = Path(s).expanduser()
        if not folder.is_dir():
            raise ConversionError(f"{folder}: no such folder (expected one holding {LM_FILE} and {CODEC_FILE}, "
                                  "or a Hugging Face id such as facebook/audiogen-medium)")
        return folder, folder, None
    if lm is None or codec is None:
        raise ConversionError("both packages are needed: the LM (state_dict.bin) and the codec "
                              "(compression_state_dict.bin), or a folder / Hugging Face id holding them")
    return lm, codec, None


def from_audiocraft(lm: str | os.PathLike | Package | None = None, codec: str | os.PathLike | Package | None = None,
                    out: str | os.PathLike | None = None, *, source: str | os.PathLike | None = None,
                    text_encoder: str | None = None, overwrite: bool = False) -> Path:
    """Convert audiocraft's LM and codec packages into `out/lm` and `out/codec`; returns `out`.

    lm / codec: the package files (or folders holding them, or `Package`s); or `source`: a folder
    holding both, or a Hugging Face id (downloaded through huggingface_hub; `out` then defaults to
    `default_cache_dir(id)`, reused if already converted). `text_encoder`: the T5 to record instead of
    the xp.cfg's name (a local folder for offline use; its width must equal the LM's text_dim).
    Raises ConversionError (one line, naming the file) for anything the project cannot reproduce."""
    import torch

    from audiogen.convert.codec import codec_config_from_xpcfg, codec_from_audiocraft
    from audiogen.convert.lm import GENERATION_DEFAULTS, lm_config_from_package, project_state
    from audiogen.lm.model import AudioLM

    lm_src, codec_src, hub_id = _resolve_sources(lm, codec, source)
    if out is None:
        if hub_id is None:
            raise ConversionError("no output folder: pass out (--out)")
        out = default_cache_dir(hub_id)
        if _already_converted(out, text_encoder) and not overwrite:
            return out
        overwrite = True  # the cache folder is ours: a stale or partial one is replaced
    out = Path(out).expanduser()
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
        raise ConversionError(f"{out}: exists and is not empty (choose another --out, or --overwrite)")

    lm_pkg = lm_src if isinstance(lm_src, Package) else read_package(lm_src, "LM")
    codec_pkg = codec_src if isinstance(codec_src, Package) else read_package(codec_src, "codec")
    config, info = lm_config_from_package(lm_pkg)
    codec_cfg = codec_config_from_xpcfg(codec_pkg, None)
    mismatch = [f"{what} {a} vs {b}" for what, a, b in (
        ("sample rate", info["sample_rate"], codec_cfg.sample_rate),
        ("codebooks", config.num_codebooks, codec_cfg.num_codebooks),
        ("codebook size", config.cardinality, codec_cfg.codebook_size)) if a != b]
    if mismatch:
        raise ConversionError(f"{codec_pkg.path}: this codec does not match the LM {lm_pkg.path} "
                              f"({', '.join(mismatch)}; LM vs codec)")
    t5_name = info["t5_name"]
    if text_encoder is not None:
        text_encoder = _check_text_encoder(text_encoder, config.text_dim)
    encoder = {"name": text_encoder or t5_name, "kind": "t5", "max_length": None, "hidden_size": config.text_dim}

    with torch.device("meta"):  # the mapped tensors become the parameters: no second copy of 7 GB
        model = AudioLM(config)
    model.load_state_dict(project_state(lm_pkg.best_state, config, lm_pkg.path), assign=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    final = out.resolve()
    tmp = staging_dir(out)
    try:
        codec_model = codec_from_audiocraft(codec_pkg, tmp / "codec", sample_rate=None)
        codec_sha = _sha256(tmp / "codec" / "model.safetensors")
        extra = {
            "codec": {"path": str(final / "codec"), "sha256": codec_sha, "frame_rate": codec_model.frame_rate,
                      "num_codebooks": codec_model.num_codebooks, "cardinality": codec_model.cardinality,
                      "sample_rate": codec_model.sample_rate, "hop_length": codec_model.hop_length},
            "text_encoder": encoder,
            "pattern": config.pattern, "segment_s": info["segment_s"],
            "generation": {**GENERATION_DEFAULTS, "cfg": info["cfg_coef"]},
            "converted_from": {"format": "audiocraft", "version": lm_pkg.version, "t5_name": t5_name,
                               "cfg_coef": info["cfg_coef"], "two_step_cfg": info["two_step_cfg"],
                               "sample_rate": info["sample_rate"], "file": lm_pkg.path.name,
                               "sha256": _sha256(lm_pkg.path), "source": hub_id},
        }
        model.save_pretrained(tmp / "lm", extra_config=extra)
        _replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _already_converted(out: Path, text_encoder: str | None) -> bool:
    """A complete earlier conversion in the cache folder, with the text encoder asked for (if any)."""
    try:
        meta = json.loads((out / "lm" / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not (out / "lm" / "model.safetensors").is_file() or not (out / "codec" / "model.safetensors").is_file():
        return False
    recorded = (meta.get("text_encoder") or {}).get("name")
    wanted = str(Path(text_encoder).expanduser().resolve()) if text_encoder and Path(text_encoder).expanduser().is_dir() \
        else text_encoder
    return wanted is None or recorded == wanted


def _check_text_encoder(name: str, text_dim: int) -> str:
    """A local T5 folder given with --text-encoder: its absolute path, once its width is checked against
    the LM's (a hub name is recorded as given and checked when loaded)."""
    folder = Path(name).expanduser()
    if not folder.is_dir():
        if name.startswith(("/", "./", "../", "~")):
            raise ConversionError(f"{folder}: no such text encoder folder (--text-encoder)")
        return name
    try:
        cfg = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ConversionError(f"{folder}: not a Hugging Face model folder (config.json: {err})") from None
    width = cfg.get("d_model", cfg.get("hidden_size"))
    if width != text_dim:
        raise ConversionError(f"{folder}: text encoder width {width}, but the LM's T5 projection takes {text_dim} "
                              "(t5-large: 1024)")
    return str(folder.resolve())


def _replace_dir(tmp: Path, out: Path) -> None:
    """Put the finished folder `tmp` at `out` (an existing, overwritten `out` is moved aside first)."""
    old = None
    if out.exists():
        old = out.parent / f".{out.name}.old.{os.getpid()}"
        os.replace(out, old)
    os.replace(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def to_audiocraft(lm: str | os.PathLike, out: str | os.PathLike, *, codec: str | os.PathLike | None = None,
                  t5_name: str | None = None, overwrite: bool = False) -> Path:
    """Export an LM checkpoint (and its codec: `codec`, else the one its config.json records, checked
    against the recorded sha256) as audiocraft's `out/state_dict.bin` (fp16, the release's keys) and
    `out/compression_state_dict.bin`, which audiocraft's loaders (`load_lm_model`,
    `load_compression_model`) build the same models from. Returns `out`."""
    from audiogen.convert.codec import codec_to_audiocraft
    from audiogen.convert.lm import lm_to_audiocraft
    from audiogen.convert.package import DEFAULT_VERSION, write_package
    from audiogen.lm.model import read_config

    lm_dir = Path(lm)
    best_state, xp_cfg = lm_to_audiocraft(lm_dir, t5_name=t5_name)
    meta = read_config(lm_dir)
    info = meta.get("codec") or {}
    codec_dir = Path(codec) if codec is not None else Path(info.get("path") or "")
    if not (codec_dir / "model.safetensors").is_file():
        raise ConversionError(f"{lm_dir}: its codec {codec_dir} is missing; pass codec (--codec DIR)")
    if info.get("sha256") and _sha256(codec_dir / "model.safetensors") != info["sha256"]:
        raise ConversionError(f"{codec_dir}: not the codec the LM {lm_dir} was trained on (sha256 differs from "
                              "the one its config.json records)")
    from audiogen.lm.config import LMConfig

    config = LMConfig.from_dict(meta["lm"])
    try:
        codec_cfg = json.loads((codec_dir / "config.json").read_text(encoding="utf-8"))["codec"]
    except (OSError, ValueError, KeyError) as err:
        raise ConversionError(f"{codec_dir}: not a codec checkpoint ({type(err).__name__}: {err})") from None
    mismatch = [f"{what} {a} vs {b}" for what, a, b in (
        ("codebooks", config.num_codebooks, codec_cfg.get("num_codebooks")),
        ("codebook size", config.cardinality, codec_cfg.get("codebook_size"))) if a != b]
    if mismatch:
        raise ConversionError(f"{codec_dir}: this codec does not match the LM {lm_dir} ({', '.join(mismatch)}; "
                              "LM vs codec)")
    codec_state, codec_xp = codec_to_audiocraft(codec_dir)
    out = Path(out).expanduser()
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
        raise ConversionError(f"{out}: exists and is not empty (choose another --out, or --overwrite)")
    version = (meta.get("converted_from") or {}).get("version") or DEFAULT_VERSION
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = staging_dir(out)
    try:
        write_package(tmp / LM_FILE, best_state, xp_cfg, version)
        write_package(tmp / CODEC_FILE, codec_state, codec_xp, version)
        _replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
