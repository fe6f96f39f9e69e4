"""Metric backends behind one interface, loaded from a spec string; nothing is ever downloaded.

Interface (each backend has the methods of its roles; audio is mono float32 numpy `[T]` at `sr`,
resampled to the backend's own rate inside):
    backend.name, backend.roles ⊆ {"fad", "kl", "clap"}, backend.sample_rate
    embed(audios, sr) -> [N, D]                    FAD: rows are the Gaussian's samples
                                                   (VGGish: one per 0.96 s example; others: one per clip)
    label_probs(audios, sr) -> [N, C]              KL: a softmax distribution over classes per clip
    text_audio_scores(texts, audios, sr) -> [N]    CLAP score per pair (CLAP: cosine; tagger: module doc)
    embed_text(texts) -> [N, D]                    CLAP only

Specs (`load_backend(spec, role)`):
    tagger | tagger:PATH          the in-domain tagger (default PATH models/tagger): fad, kl, clap
    aisfx | aisfx:HEAD            the aiSFX sound-effects judge from the installed `aisfx` package
                                  (`pip install --no-deps aisfx`): fad (512-d clip embeddings), kl and
                                  top-class agreement on a UCS head (default soundlyTrain; backends/aisfx.py)
    vggish:PATH                   VGGish from torchvggish weights (file or directory): fad
    ast:NAME_OR_PATH              an ASTForAudioClassification checkpoint: kl, fad
    clap:NAME_OR_PATH             a ClapModel checkpoint: clap, fad
    NAME_OR_PATH                  a Hugging Face checkpoint; its config's model_type picks ast or clap

Hugging Face checkpoints load with `local_files_only=True` (and `HF_HUB_OFFLINE=1`): a name that is not
in the local cache raises BackendUnavailable saying how to fetch it elsewhere and pass its path.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROLES = ("fad", "kl", "clap")
DEFAULT_TAGGER = "models/tagger"
HF_TYPES = {"audio-spectrogram-transformer": "ast", "clap": "clap"}


class BackendUnavailable(RuntimeError):
    """A backend that cannot be loaded here (missing files, offline hub name, wrong role)."""


def _offline_help(name: str, err: Exception) -> BackendUnavailable:
    local = "models/hub/" + name.replace("/", "--")
    return BackendUnavailable(
        f"cannot load {name!r} offline (HF_HUB_OFFLINE=1, local_files_only): "
        f"{type(err).__name__}: {str(err).strip().splitlines()[0].rstrip('.')}. "
        f"Fetch it on a machine with internet (`huggingface-cli download {name} --local-dir {local}`), "
        f"copy that folder here, and pass its path instead of the hub name (e.g. {local}).")


def _hf_kind(name: str) -> str:
    """'ast' or 'clap' from a checkpoint's config (local directory or cached hub name)."""
    path = Path(name)
    if path.is_dir():
        cfg_file = path / "config.json"
        if not cfg_file.exists():
            raise BackendUnavailable(f"{path}: no config.json (not a Hugging Face checkpoint, a tagger "
                                     f"checkpoint (use tagger:{path}) or VGGish weights (use vggish:{path}))")
        model_type = json.loads(cfg_file.read_text(encoding="utf-8")).get("model_type", "")
    else:
        from transformers import AutoConfig

        try:
            model_type = AutoConfig.from_pretrained(name, local_files_only=True).model_type
        except (OSError, ValueError) as err:
            raise _offline_help(name, err) from None
    if model_type not in HF_TYPES:
        raise BackendUnavailable(f"{name}: model_type {model_type!r} is not a supported metric backend "
                                 f"({sorted(HF_TYPES)})")
    return HF_TYPES[model_type]


def _load_hf(kind: str, name: str) -> Any:
    from audiogen.evaluation.backends.hf import AstBackend, ClapBackend

    cls = AstBackend if kind == "ast" else ClapBackend
    try:
        return cls.load(name)
    except (OSError, ValueError) as err:
        if Path(name).exists():
            raise BackendUnavailable(f"{name}: cannot load as a {kind} checkpoint: {err}") from None
        raise _offline_help(name, err) from None


def load_backend(spec: str, role: str, **options: Any) -> Any:
    """A backend for `role` ("fad", "kl" or "clap") from `spec` (module docstring). `options` go to
    the VGGish loader (`final_relu`, `postprocess`, `quantize`)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, got {role!r}")
    spec = str(spec).strip()
    kind, _, rest = spec.partition(":")
    if kind == "tagger":
        from audiogen.evaluation.tagger.model import Tagger, TaggerBackend

        path = rest or DEFAULT_TAGGER
        try:
            backend: Any = TaggerBackend(Tagger.from_pretrained(path), name=f"tagger:{path}")
        except (FileNotFoundError, ValueError) as err:
            raise BackendUnavailable(str(err)) from None
    elif kind == "aisfx":
        from audiogen.evaluation.backends.aisfx import DEFAULT_HEAD, AisfxBackend, AisfxUnavailable

        try:
            backend = AisfxBackend.load(rest or DEFAULT_HEAD, name=spec)
        except (AisfxUnavailable, OSError) as err:
            raise BackendUnavailable(str(err)) from None
    elif kind == "vggish":
        from audiogen.evaluation.backends.vggish import VGGishBackend, load_vggish

        if not rest:
            raise BackendUnavailable("vggish needs a path: vggish:/path/to/vggish-10086976.pth (or its directory)")
        try:
            backend = VGGishBackend(load_vggish(rest, **options), name=spec)
        except (FileNotFoundError, ValueError) as err:
            raise BackendUnavailable(str(err)) from None
    elif kind in ("ast", "clap") and rest:
        backend = _load_hf(kind, rest)
    else:
        backend = _load_hf(_hf_kind(spec), spec)
    if role not in backend.roles:
        raise BackendUnavailable(f"backend {spec!r} cannot compute {role} (it supplies {sorted(backend.roles)})")
    return backend


def describe(backend: Any) -> str:
    """What to write beside a number in a report: the backend's spec."""
    return str(getattr(backend, "name", type(backend).__name__))
