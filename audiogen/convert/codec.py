"""audiocraft's EnCodec (`compression_state_dict.bin`, as in `facebook/audiogen-medium`) ⇄ this
project's `Codec` (AUDIOCRAFT.md §A, §B.2, §C codec table, §D.2).

    codec = codec_from_audiocraft("compression_state_dict.bin", "models/audiogen-medium/codec")
    best_state, xp_cfg_yaml = codec_to_audiocraft("models/audiogen-medium/codec")

The release's codec is a non-causal SEANet EnCodec (centred per-layer padding, `seanet.pad_mode`
from its xp.cfg) with a 4 × 2048 RVQ at 50 Hz; it becomes `Codec(CodecConfig(causal=False,
pad_mode=..., vq_distance="full"))`, which gives audiocraft's codes bit for bit. Keys map one to one
(same module indices): old-style weight norm `X.conv.conv.weight_g / weight_v / bias` ↔
`X.conv.parametrizations.weight.original0 / original1`, `X.conv.bias` (`convtr.convtr` ↔ `conv` for
transposed convs), LSTMs unchanged, `quantizer.vq.layers.k._codebook.B` ↔ `quantizer.layers.k.B`.

Every xp.cfg setting the project's modules cannot reproduce is refused with a one-line
`ConversionError` naming the package and the setting (a `'pretrained'` package, a stereo codec,
another sample rate, a causal audiocraft codec, another activation or norm, ...).
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
from pathlib import Path
from typing import Any, Mapping

from audiogen.convert.package import CODEC_FILE, ConversionError, Package, read_package, section, staging_dir, value

FORMAT = "audiogen-codec/1"  # the project's codec checkpoint format (audiogen.codec.model.FORMAT)


# --- keys -----------------------------------------------------------------------------------------
_TO_PROJECT = [
    (re.compile(r"^(.*)\.(conv\.conv|convtr\.convtr)\.weight_g$"), r"\1.conv.parametrizations.weight.original0"),
    (re.compile(r"^(.*)\.(conv\.conv|convtr\.convtr)\.weight_v$"), r"\1.conv.parametrizations.weight.original1"),
    (re.compile(r"^(.*)\.(conv\.conv|convtr\.convtr)\.bias$"), r"\1.conv.bias"),
    (re.compile(r"^quantizer\.vq\.layers\.(\d+)\._codebook\.(inited|cluster_size|embed|embed_avg)$"),
     r"quantizer.layers.\1.\2"),
    (re.compile(r"^((?:encoder|decoder)\.model\.\d+\.lstm\.(?:weight|bias)_(?:ih|hh)_l\d+)$"), r"\1"),
]
_WN = {"original0": "weight_g", "original1": "weight_v"}


def audiocraft_to_project_key(key: str) -> str | None:
    """The project's state-dict key for an audiocraft EnCodec key, or None if it has no place."""
    for pattern, repl in _TO_PROJECT:
        if pattern.match(key):
            return pattern.sub(repl, key)
    return None


def project_to_audiocraft_key(key: str, transposed: bool) -> str:
    """The audiocraft key for a project codec key; `transposed`: the conv is a ConvTranspose1d."""
    m = re.match(r"^quantizer\.layers\.(\d+)\.(\w+)$", key)
    if m:
        return f"quantizer.vq.layers.{m[1]}._codebook.{m[2]}"
    m = re.match(r"^(.*)\.conv\.(?:parametrizations\.weight\.(original[01])|(bias))$", key)
    if m:
        inner = "convtr.convtr" if transposed else "conv.conv"
        return f"{m[1]}.{inner}.{_WN[m[2]] if m[2] else 'bias'}"
    if ".lstm." in key:
        return key
    raise ConversionError(f"codec key {key!r} has no audiocraft name")


# --- reading the package ------------------------------------------------------------------------
def _as_package(pkg: str | os.PathLike | Package | Mapping[str, Any]) -> Package:
    """A codec `Package` from a path (file, or a directory holding compression_state_dict.bin), a
    Package, or an already loaded package dict."""
    if isinstance(pkg, Package):
        return pkg
    if not isinstance(pkg, Mapping):
        return read_package(pkg, "codec")
    from omegaconf import OmegaConf

    where = Path(f"<{CODEC_FILE}>")
    if "pretrained" in pkg:
        raise ConversionError(f"{where}: a 'pretrained' reference to {pkg['pretrained']!r}, not an exported model")
    if not isinstance(pkg.get("best_state"), Mapping) or not isinstance(pkg.get("xp.cfg"), str):
        raise ConversionError(f"{where}: not an audiocraft package (needs a 'best_state' dict and an 'xp.cfg' string)")
    return Package(path=where, best_state=dict(pkg["best_state"]), cfg=OmegaConf.create(pkg["xp.cfg"]),
                   xp_cfg=pkg["xp.cfg"], version=str(pkg.get("version") or ""))


def _require(name: Any, what: str, got: Any, ok: bool, want: str) -> None:
    if not ok:
        raise ConversionError(f"{name}: xp.cfg {what} = {got!r} is not supported (this converter handles {want})")


def codec_config_from_xpcfg(pkg: Package, sample_rate: int | None = 16000):
    """The `CodecConfig` that rebuilds the package's EnCodec, read from its xp.cfg (only the
    sections used, resolved); refuses what the project cannot reproduce. `sample_rate`: the rate
    the codec must have (None: any)."""
    from audiogen.codec.config import CodecConfig

    name = pkg.path
    model = value(pkg, "compression_model")
    _require(name, "compression_model", model, model == "encodec", "'encodec'")
    enc, sea, rvq = section(pkg, "encodec"), section(pkg, "seanet"), section(pkg, "rvq")
    _require(name, "encodec.autoencoder", enc.get("autoencoder"), enc.get("autoencoder") == "seanet", "seanet")
    _require(name, "encodec.quantizer", enc.get("quantizer"), enc.get("quantizer") == "rvq", "rvq")
    _require(name, "encodec.renormalize", enc.get("renormalize"), not enc.get("renormalize"), "false")
    channels = enc.get("channels", value(pkg, "channels", 1))
    _require(name, "channels", channels, channels == 1 and sea.get("channels", 1) == 1, "1 (mono)")
    rate = enc.get("sample_rate", value(pkg, "sample_rate", None))
    _require(name, "sample_rate", rate, isinstance(rate, int) and (sample_rate is None or rate == sample_rate),
             f"{sample_rate} Hz" if sample_rate else "an integer rate")
    causal = enc.get("causal", sea.get("causal"))
    _require(name, "encodec.causal", causal, causal is False,
             "false: audiocraft's causal codecs pad per layer where this project pre-pads the waveform")
    _require(name, "seanet.activation", sea.get("activation"), sea.get("activation") == "ELU", "ELU")
    alpha = (sea.get("activation_params") or {}).get("alpha", 1.0)
    _require(name, "seanet.activation_params.alpha", alpha, float(alpha) == 1.0, "1.0")
    _require(name, "seanet.norm", sea.get("norm"), sea.get("norm") == "weight_norm", "weight_norm")
    _require(name, "seanet.norm_params", sea.get("norm_params"), not sea.get("norm_params"), "{}")
    _require(name, "seanet.pad_mode", sea.get("pad_mode"), sea.get("pad_mode") in ("constant", "reflect"),
             "constant or reflect")
    _require(name, "seanet.dilation_base", sea.get("dilation_base"), sea.get("dilation_base") == 2, "2")
    _require(name, "seanet.true_skip", sea.get("true_skip"), sea.get("true_skip") is True, "true")
    _require(name, "seanet.disable_norm_outer_blocks", sea.get("disable_norm_outer_blocks"),
             not sea.get("disable_norm_outer_blocks"), "0")
    dec = sea.get("decoder") or {}
    _require(name, "seanet.decoder.trim_right_ratio", dec.get("trim_right_ratio", 1.0),
             float(dec.get("trim_right_ratio", 1.0)) == 1.0, "1.0")
    _require(name, "seanet.decoder.final_activation", dec.get("final_activation"),
             dec.get("final_activation") is None, "null")
    extra_dec = set(dec) - {"trim_right_ratio", "final_activation", "final_activation_params"}
    _require(name, "seanet.decoder", sorted(extra_dec), not extra_dec, "trim_right_ratio / final_activation only")
    _require(name, "seanet.encoder", sea.get("encoder"), not sea.get("encoder"), "{} (no encoder overrides)")
    ratios = sea.get("ratios")
    _require(name, "seanet.ratios", ratios, isinstance(ratios, list) and ratios and all(
        isinstance(r, int) and r > 0 for r in ratios), "a list of positive integers")
    n_q, bins = rvq.get("n_q"), rvq.get("bins")
    _require(name, "rvq.n_q", n_q, isinstance(n_q, int) and n_q > 0, "a positive integer")
    _require(name, "rvq.bins", bins, isinstance(bins, int) and 0 < bins <= 32768,
             "1..32768 (codes are stored as int16)")
    for key in ("dimension", "n_filters", "n_residual_layers", "kernel_size", "last_kernel_size",
                "residual_kernel_size", "compress", "lstm"):
        got = sea.get(key)
        _require(name, f"seanet.{key}", got, isinstance(got, int) and got >= 0, "a non-negative integer")
    return CodecConfig(
        sample_rate=int(rate), channels=1, n_filters=sea["n_filters"],
        strides=tuple(int(r) for r in reversed(ratios)),  # audiocraft's ratios are in decoder order
        dimension=sea["dimension"], n_residual_layers=sea["n_residual_layers"],
        residual_kernel_size=sea["residual_kernel_size"], kernel_size=sea["kernel_size"],
        last_kernel_size=sea["last_kernel_size"], lstm_layers=sea["lstm"], compress=sea["compress"],
        num_codebooks=n_q, codebook_size=bins, ema_decay=float(rvq.get("decay", 0.99)),
        kmeans_iters=int(rvq.get("kmeans_iters", 50)),
        dead_code_threshold=float(rvq.get("threshold_ema_dead_code", 2)),
        causal=False, pad_mode=sea["pad_mode"], vq_distance="full")


def _project_state(best_state: Mapping[str, Any], model_state: Mapping[str, Any], name: Any) -> dict[str, Any]:
    """audiocraft `best_state` → the project's state dict (float32), every key and shape checked."""
    import torch

    out: dict[str, Any] = {}
    for key, tensor in best_state.items():
        target = audiocraft_to_project_key(key)
        if target is None or target not in model_state:
            raise ConversionError(f"{name}: best_state key {key!r} has no place in the codec its xp.cfg describes")
        if not isinstance(tensor, torch.Tensor):
            raise ConversionError(f"{name}: best_state[{key!r}] is a {type(tensor).__name__}, not a tensor")
        if tuple(tensor.shape) != tuple(model_state[target].shape):
            raise ConversionError(f"{name}: best_state[{key!r}] has shape {list(tensor.shape)}, the codec its "
                                  f"xp.cfg describes wants {list(model_state[target].shape)}")
        out[target] = tensor.detach().to(torch.float32).contiguous()
    missing = sorted(set(model_state) - set(out))
    if missing:
        raise ConversionError(f"{name}: best_state lacks {len(missing)} tensor(s) of the codec its xp.cfg "
                              f"describes (project names: {missing[:3]})")
    return out


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def codec_from_audiocraft(pkg: str | os.PathLike | Package | Mapping[str, Any], out_dir: str | os.PathLike,
                          sample_rate: int | None = 16000, overwrite: bool = False):
    """Convert an audiocraft codec package (a `compression_state_dict.bin` path, a directory holding
    one, a `Package`, or the loaded dict) into a checkpoint directory `out_dir` (config.json + model.safetensors,
    `Codec.from_pretrained(out_dir)` loads it). Written to a temporary sibling and renamed, so
    `out_dir` never holds half a checkpoint. Returns the Codec (eval mode)."""
    import torch

    from audiogen.codec.model import Codec
    from audiogen.io.checkpoint import save_checkpoint

    package = _as_package(pkg)
    name = package.path
    cfg = codec_config_from_xpcfg(package, sample_rate)
    codec = Codec(cfg)
    codec.load_state_dict(_project_state(package.best_state, codec.state_dict(), name), strict=True)
    codec.eval()

    out = Path(out_dir)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise ConversionError(f"{out}: exists and is not empty (remove it or pass overwrite)")
    source: dict[str, Any] = {"format": "audiocraft", "version": package.version}
    if name.is_file():  # provenance without the local path (outputs must not depend on where files sit)
        source.update(file=name.name, sha256=_sha256(name))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = staging_dir(out)
    try:
        save_checkpoint(tmp, codec.state_dict(), {"codec": cfg.to_dict(), "converted_from": source}, FORMAT)
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return codec


# --- export ---------------------------------------------------------------------------------------
def audiocraft_codec_xpcfg(cfg) -> dict[str, Any]:
    """The xp.cfg (as a dict) from which audiocraft's `get_compression_model` builds the codec that
    `cfg` describes: the sections it reads (`compression_model`, `encodec`, `seanet`, `rvq`),
    resolved, with the release's values for what the project does not model."""
    return {
        "device": "cpu",
        "dtype": "float32",
        "sample_rate": cfg.sample_rate,
        "channels": cfg.channels,
        "compression_model": "encodec",
        "encodec": {"autoencoder": "seanet", "quantizer": "rvq", "sample_rate": cfg.sample_rate,
                    "channels": cfg.channels, "causal": cfg.causal, "renormalize": False},
        "seanet": {
            "dimension": cfg.dimension, "channels": cfg.channels, "causal": cfg.causal, "n_filters": cfg.n_filters,
            "n_residual_layers": cfg.n_residual_layers, "ratios": [int(s) for s in reversed(cfg.strides)],
            "activation": "ELU", "activation_params": {"alpha": 1.0}, "norm": "weight_norm", "norm_params": {},
            "kernel_size": cfg.kernel_size, "residual_kernel_size": cfg.residual_kernel_size,
            "last_kernel_size": cfg.last_kernel_size, "dilation_base": 2, "pad_mode": cfg.pad_mode,
            "true_skip": True, "compress": cfg.compress, "lstm": cfg.lstm_layers, "disable_norm_outer_blocks": 0,
            "decoder": {"trim_right_ratio": 1.0, "final_activation": None, "final_activation_params": None},
            "encoder": {},
        },
        "rvq": {"n_q": cfg.num_codebooks, "q_dropout": False, "bins": cfg.codebook_size, "decay": cfg.ema_decay,
                "kmeans_init": True, "kmeans_iters": cfg.kmeans_iters,
                "threshold_ema_dead_code": cfg.dead_code_threshold, "orthogonal_reg_weight": 0.0,
                "orthogonal_reg_active_codes_only": False},
    }


def audiocraft_state(codec) -> dict[str, Any]:
    """The codec's tensors under audiocraft's `EncodecModel` names, float32, in the release's order
    (encoder, decoder, quantizer). Works on a meta-device codec too (names and shapes only)."""
    from torch import nn

    transposed = {n for n, m in codec.named_modules() if isinstance(m, nn.ConvTranspose1d)}
    out = {}
    for key, tensor in codec.state_dict().items():
        owner = key.rsplit(".conv.", 1)[0] + ".conv" if ".conv." in key else ""
        out[project_to_audiocraft_key(key, owner in transposed)] = tensor.detach().float().contiguous()
    return _release_order(out)


def codec_to_audiocraft(codec_dir: str | os.PathLike) -> tuple[dict[str, Any], str]:
    """A codec checkpoint directory → (`best_state` in audiocraft's key names, float32, in the
    release's key order; the xp.cfg YAML string). `audiogen.convert.package.write_package` turns
    them into a `compression_state_dict.bin` that audiocraft's `load_compression_model` loads.

    A causal codec (trained here) exports as audiocraft `causal: true`: audiocraft pads per layer
    where this project pads the waveform, so its codes equal ours for lengths that are a multiple
    of hop. A `vq_distance: reduced` codec may differ from audiocraft's on exact fp32 near-ties."""
    import yaml

    from audiogen.codec.model import Codec

    codec = Codec.from_pretrained(codec_dir)
    return audiocraft_state(codec), yaml.safe_dump(audiocraft_codec_xpcfg(codec.config), sort_keys=False)


def _release_order(best_state: dict[str, Any]) -> dict[str, Any]:
    """Keys in audiocraft's module order: encoder, decoder, then the quantizer (EncodecModel
    registers them in that order; the project's Codec has the quantizer in the middle)."""
    rank = {"encoder": 0, "decoder": 1, "quantizer": 2}
    return dict(sorted(best_state.items(), key=lambda kv: rank[kv[0].split(".", 1)[0]]))
