"""audiocraft's `LMModel` (`state_dict.bin`, as in `facebook/audiogen-medium`) ⇄ this project's
`AudioLM` (AUDIOCRAFT.md §B.1, §C LM table, §D.1).

    config, info = lm_config_from_package(pkg)            # every xp.cfg setting checked
    state = project_state(pkg.best_state, config, pkg.path)   # keys mapped, fp16 → fp32
    best_state, xp_cfg_yaml = lm_to_audiocraft("models/audiogen-medium/lm")

The released LM is a pre-norm transformer with LayerNorm biases, a biased T5 projection and
cross-attention over every padded text position: it becomes `AudioLM(LMConfig(norm_bias=True,
text_proj_bias=True, text_attention="all"))`, which gives audiocraft's logits. Key mapping:

    condition_provider.conditioners.description.output_proj.{weight,bias} ↔ text_proj.{weight,bias}
    emb.k.weight ↔ emb.k.weight;  linears.k.weight ↔ heads.k.weight;  out_norm.* ↔ transformer.norm_out.*
    transformer.layers.i.  norm1.* ↔ norm_self.*   self_attn.in_proj_weight ↔ self_attn.qkv.weight
                           self_attn.out_proj.weight ↔ self_attn.out.weight
                           norm_cross.* ↔ norm_cross.*   cross_attention.in_proj_weight[:D] ↔ cross_attn.q.weight,
                           [D:] ↔ cross_attn.kv.weight (k then v)   cross_attention.out_proj.weight ↔ cross_attn.out.weight
                           norm2.* ↔ norm_ff.*   linear1.weight ↔ ff_up.weight   linear2.weight ↔ ff_down.weight
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

from audiogen.convert.package import ConversionError, Package, check, section, value

TEXT_PROJ = "condition_provider.conditioners.description.output_proj"
# audiocraft's T5Conditioner.MODELS and their widths: the names an exported xp.cfg may carry.
T5_WIDTHS = {"t5-small": 512, "t5-base": 768, "t5-large": 1024, "t5-3b": 1024, "t5-11b": 1024,
             "google/flan-t5-small": 512, "google/flan-t5-base": 768, "google/flan-t5-large": 1024,
             "google/flan-t5-xl": 2048, "google/flan-t5-xxl": 4096}
# audiocraft's AudioGen() generation defaults (audiogen.py:37, 63-66), recorded for the user.
GENERATION_DEFAULTS = {"use_sampling": True, "top_k": 250, "top_p": 0.0, "temperature": 1.0,
                       "duration_s": 5.0, "extend_stride_s": 2.0}


# --- xp.cfg → LMConfig ------------------------------------------------------------------------------
def lm_config_from_package(pkg: Package):
    """Check every xp.cfg setting the project's `AudioLM` must reproduce and build its `LMConfig`
    (shapes cross-checked against the tensors; `text_dim` from the T5 projection's weight).
    Returns `(LMConfig, info)` with info = `{t5_name, cfg_coef, segment_s, sample_rate, two_step_cfg,
    dropout}` for the checkpoint's config.json. Any other setting: a one-line ConversionError."""
    from audiogen.lm.config import LMConfig

    check(pkg, "solver", ["audiogen"])  # MusicGen (musicgen), MAGNeT, ... are other families
    check(pkg, "lm_model", ["transformer_lm"])
    tl = section(pkg, "transformer_lm")
    where = f"{pkg.path}: xp.cfg transformer_lm"
    expect = {"norm_first": True, "norm": "layer_norm", "bias_ff": False, "bias_attn": False, "bias_proj": False,
              "activation": "gelu", "positional_embedding": "sin", "layer_scale": None, "qk_layer_norm": False,
              "qk_layer_norm_cross": False, "kv_repeat": 1, "causal": True, "past_context": None, "xpos": False}
    for key, want in expect.items():
        if key in tl and tl[key] != want:
            raise ConversionError(f"{where}.{key} = {tl[key]!r} is not supported (this converter handles {want!r})")
    if tl.get("attention_dropout") not in (None, 0, 0.0):
        raise ConversionError(f"{where}.attention_dropout = {tl['attention_dropout']!r} is not supported (None or 0)")
    for key in ("dim", "num_heads", "num_layers", "n_q", "card"):
        if not isinstance(tl.get(key), int):
            raise ConversionError(f"{where}.{key} = {tl.get(key)!r}: expected an integer")
    n_q, card, dim = tl["n_q"], tl["card"], tl["dim"]

    check(pkg, "codebooks_pattern.modeling", ["delay"])
    delay = section(pkg, "codebooks_pattern.delay")
    delays = list(delay.get("delays") or [])
    patterns = {"delay": list(range(n_q)), "parallel": [0] * n_q}
    pattern = next((name for name, d in patterns.items() if delays == d), None)
    if pattern is None:
        raise ConversionError(f"{pkg.path}: xp.cfg codebooks_pattern.delay.delays = {delays} is not supported "
                              f"(this converter handles {patterns['delay']} or {patterns['parallel']})")
    for key in ("flatten_first", "empty_initial"):
        if delay.get(key, 0) != 0:
            raise ConversionError(f"{pkg.path}: xp.cfg codebooks_pattern.delay.{key} = {delay[key]!r} is not "
                                  "supported (this converter handles 0)")

    conditioners = {k: v for k, v in section(pkg, "conditioners").items() if k != "args"}
    if set(conditioners) != {"description"}:
        raise ConversionError(f"{pkg.path}: xp.cfg conditioners {sorted(conditioners)} are not supported (this "
                              "converter handles text-only AudioGen: ['description'] with t5; MusicGen-melody's "
                              "self_wav / chroma, CLAP or style conditioners are other models)")
    check(pkg, "conditioners.description.model", ["t5"])
    t5 = section(pkg, "conditioners.description.t5")
    for key, want in {"finetune": False, "word_dropout": 0.0, "normalize_text": False}.items():
        if t5.get(key, want) != want:
            raise ConversionError(f"{pkg.path}: xp.cfg conditioners.description.t5.{key} = {t5[key]!r} is not "
                                  f"supported (this converter handles {want!r})")
    fuser = section(pkg, "fuser")
    for key, want in {"cross": ["description"], "prepend": [], "sum": [], "input_interpolate": []}.items():
        if list(fuser.get(key) or []) != want:
            raise ConversionError(f"{pkg.path}: xp.cfg fuser.{key} = {fuser.get(key)!r} is not supported "
                                  f"(this converter handles {want!r})")
    if fuser.get("cross_attention_pos_emb", False):
        raise ConversionError(f"{pkg.path}: xp.cfg fuser.cross_attention_pos_emb = true is not supported (false)")
    check(pkg, "channels", [1])
    check(pkg, "interleave_stereo_codebooks.use", [False, None], default=False)
    nq_codec = value(pkg, "compression_model_n_q", None)
    if nq_codec not in (None, n_q):
        raise ConversionError(f"{pkg.path}: xp.cfg compression_model_n_q = {nq_codec} differs from transformer_lm.n_q "
                              f"= {n_q}: not supported")

    w = pkg.best_state.get(f"{TEXT_PROJ}.weight")
    if w is None or w.dim() != 2 or w.shape[0] != dim:
        raise ConversionError(f"{pkg.path}: best_state has no {TEXT_PROJ}.weight of shape [{dim}, text_dim]")
    hidden_scale = tl.get("hidden_scale", 4)
    try:
        config = LMConfig(dim=dim, num_layers=tl["num_layers"], num_heads=tl["num_heads"], num_codebooks=n_q,
                          cardinality=card, text_dim=int(w.shape[1]), ff_mult=float(hidden_scale),
                          dropout=float(tl.get("dropout") or 0.0), pattern=pattern, max_period=10000.0,
                          norm_eps=1e-5, norm_bias=True, text_proj_bias=True, text_attention="all")
    except ValueError as err:
        raise ConversionError(f"{pkg.path}: xp.cfg transformer_lm: {err}") from None
    if config.ff_dim != int(hidden_scale * dim):
        raise ConversionError(f"{where}.hidden_scale = {hidden_scale!r}: feed-forward width {int(hidden_scale * dim)} "
                              "is not reproducible")
    info = {"t5_name": str(t5.get("name")), "cfg_coef": float(value(pkg, "classifier_free_guidance.inference_coef", 3.0)),
            "segment_s": float(value(pkg, "dataset.segment_duration", 10.0)),
            "sample_rate": int(value(pkg, "sample_rate")),
            "two_step_cfg": bool(tl.get("two_step_cfg", False))}
    return config, info


# --- keys -----------------------------------------------------------------------------------------
def _layer_map(i: int) -> list[tuple[str, str]]:
    """(audiocraft, project) names of layer `i`, except the fused cross-attention projection."""
    a, p = f"transformer.layers.{i}.", f"transformer.layers.{i}."
    return [(a + "self_attn.in_proj_weight", p + "self_attn.qkv.weight"),
            (a + "self_attn.out_proj.weight", p + "self_attn.out.weight"),
            (a + "linear1.weight", p + "ff_up.weight"),
            (a + "linear2.weight", p + "ff_down.weight"),
            (a + "norm1.weight", p + "norm_self.weight"), (a + "norm1.bias", p + "norm_self.bias"),
            (a + "norm2.weight", p + "norm_ff.weight"), (a + "norm2.bias", p + "norm_ff.bias"),
            (a + "cross_attention.out_proj.weight", p + "cross_attn.out.weight"),
            (a + "norm_cross.weight", p + "norm_cross.weight"), (a + "norm_cross.bias", p + "norm_cross.bias")]


def audiocraft_keys(config) -> list[str]:
    """Every `best_state` key of the audiocraft LMModel that `config` describes, in its stored order."""
    keys = [f"{TEXT_PROJ}.weight", f"{TEXT_PROJ}.bias"] + [f"emb.{k}.weight" for k in range(config.num_codebooks)]
    for i in range(config.num_layers):
        a = f"transformer.layers.{i}."
        keys += [a + "self_attn.in_proj_weight", a + "self_attn.out_proj.weight", a + "linear1.weight",
                 a + "linear2.weight", a + "norm1.weight", a + "norm1.bias", a + "norm2.weight", a + "norm2.bias",
                 a + "cross_attention.in_proj_weight", a + "cross_attention.out_proj.weight",
                 a + "norm_cross.weight", a + "norm_cross.bias"]
    keys += ["out_norm.weight", "out_norm.bias"] + [f"linears.{k}.weight" for k in range(config.num_codebooks)]
    return keys


def project_state(best_state: Mapping[str, Any], config, name: Any) -> dict[str, Any]:
    """audiocraft `best_state` → an `AudioLM(config)` state dict in float32 (fp16 values are exact in
    fp32). The key set must be exactly the model's: a missing, unexpected or misshapen tensor is a
    ConversionError naming the package `name` and the key."""
    import torch

    want = audiocraft_keys(config)
    missing = [k for k in want if k not in best_state]
    extra = sorted(set(best_state) - set(want))
    if missing or extra:
        parts = ([f"missing {missing[:3]}{' …' if len(missing) > 3 else ''}"] if missing else []) + \
                ([f"unexpected {extra[:3]}{' …' if len(extra) > 3 else ''}"] if extra else [])
        raise ConversionError(f"{name}: best_state does not match its xp.cfg's LM ({'; '.join(parts)})")
    d = config.dim
    pairs = [(f"{TEXT_PROJ}.weight", "text_proj.weight"), (f"{TEXT_PROJ}.bias", "text_proj.bias"),
             ("out_norm.weight", "transformer.norm_out.weight"), ("out_norm.bias", "transformer.norm_out.bias")]
    pairs += [(f"emb.{k}.weight", f"emb.{k}.weight") for k in range(config.num_codebooks)]
    pairs += [(f"linears.{k}.weight", f"heads.{k}.weight") for k in range(config.num_codebooks)]
    out: dict[str, Any] = {}
    for i in range(config.num_layers):
        pairs += _layer_map(i)
        fused = best_state[f"transformer.layers.{i}.cross_attention.in_proj_weight"]
        if tuple(fused.shape) != (3 * d, d):
            raise ConversionError(f"{name}: transformer.layers.{i}.cross_attention.in_proj_weight has shape "
                                  f"{list(fused.shape)}, expected {[3 * d, d]}")
        out[f"transformer.layers.{i}.cross_attn.q.weight"] = _fp32(fused[:d])
        out[f"transformer.layers.{i}.cross_attn.kv.weight"] = _fp32(fused[d:])
    from audiogen.lm.model import AudioLM

    with torch.device("meta"):
        shapes = {k: list(v.shape) for k, v in AudioLM(config).state_dict().items()}
    for src, dst in pairs:
        t = best_state[src]
        if not torch.is_floating_point(t):
            raise ConversionError(f"{name}: {src} is {t.dtype}, expected a floating-point tensor")
        if list(t.shape) != shapes[dst]:
            raise ConversionError(f"{name}: {src} has shape {list(t.shape)}, the LM its xp.cfg describes "
                                  f"wants {shapes[dst]}")
        out[dst] = _fp32(t)
    assert set(out) == set(shapes)
    return out


def _fp32(t):
    """A float32 copy that shares no memory with the package (fp16 → fp32 copies anyway)."""
    import torch

    return t.float() if t.dtype != torch.float32 else t.clone()


def audiocraft_state(state: Mapping[str, Any], config, dtype=None) -> dict[str, Any]:
    """An `AudioLM` state dict → audiocraft's `best_state` (release key order, `dtype`, default
    float16 as released). A bias-free LM gets zero LayerNorm / projection biases (the same function)."""
    import torch

    dtype = dtype or torch.float16
    d = config.dim

    def get(key: str, like: str | None = None):
        if key in state:
            return state[key]
        if like is not None and like in state:  # absent bias of a bias-free model
            return torch.zeros(state[like].shape[0], dtype=state[like].dtype)
        raise ConversionError(f"LM state dict has no {key}")

    out = {f"{TEXT_PROJ}.weight": get("text_proj.weight"), f"{TEXT_PROJ}.bias": get("text_proj.bias", "text_proj.weight")}
    out.update({f"emb.{k}.weight": get(f"emb.{k}.weight") for k in range(config.num_codebooks)})
    for i in range(config.num_layers):
        for a, p in _layer_map(i):
            out[a] = get(p, p.replace(".bias", ".weight") if p.endswith(".bias") else None)
        q, kv = get(f"transformer.layers.{i}.cross_attn.q.weight"), get(f"transformer.layers.{i}.cross_attn.kv.weight")
        out[f"transformer.layers.{i}.cross_attention.in_proj_weight"] = torch.cat([q, kv], dim=0)
        assert out[f"transformer.layers.{i}.cross_attention.in_proj_weight"].shape[0] == 3 * d
    out["out_norm.weight"] = get("transformer.norm_out.weight")
    out["out_norm.bias"] = get("transformer.norm_out.bias", "transformer.norm_out.weight")
    out.update({f"linears.{k}.weight": get(f"heads.{k}.weight") for k in range(config.num_codebooks)})
    return {k: out[k].detach().to(dtype).contiguous() for k in audiocraft_keys(config)}


# --- export: the xp.cfg audiocraft's loader builds the same LMModel from ---------------------------------
def audiocraft_lm_xpcfg(config, *, t5_name: str, cfg_coef: float = 3.0, segment_s: float = 10.0,
                        sample_rate: int = 16000, two_step_cfg: bool = False) -> dict[str, Any]:
    """The xp.cfg (as a dict, resolved) from which audiocraft's `load_lm_model` / `get_lm_model`
    builds the LMModel `config` describes: the sections it reads (lm_model, transformer_lm,
    codebooks_pattern, fuser, conditioners, classifier_free_guidance, attribute_dropout,
    dataset.segment_duration, device/dtype), with the release's values for what the project does not model."""
    delays = get_delays(config)
    return {
        "device": "cpu", "dtype": "float32", "autocast": False, "autocast_dtype": "float16",
        "solver": "audiogen", "sample_rate": int(sample_rate), "channels": 1,
        "dataset": {"segment_duration": float(segment_s) if float(segment_s) % 1 else int(segment_s)},
        "classifier_free_guidance": {"training_dropout": 0.1, "inference_coef": float(cfg_coef)},
        "attribute_dropout": {},
        "fuser": {"cross_attention_pos_emb": False, "cross_attention_pos_emb_scale": 1, "sum": [], "prepend": [],
                  "cross": ["description"], "input_interpolate": []},
        "conditioners": {"description": {"model": "t5", "t5": {"name": t5_name, "finetune": False,
                                                                "word_dropout": 0.0, "normalize_text": False}}},
        "compression_model_n_q": None,
        "tokens": {"padding_with_special_token": False},
        "interleave_stereo_codebooks": {"use": False, "per_timestep": False},
        "generate": {"lm": {"use_sampling": True, "temp": 1.0, "top_k": 250, "top_p": 0.0}},
        "lm_model": "transformer_lm",
        "codebooks_pattern": {"modeling": "delay",
                              "delay": {"delays": delays, "flatten_first": 0, "empty_initial": 0}},
        "transformer_lm": {
            "dim": config.dim, "num_heads": config.num_heads, "num_layers": config.num_layers,
            "hidden_scale": config.ff_mult if config.ff_mult % 1 else int(config.ff_mult),
            "n_q": config.num_codebooks, "card": config.cardinality, "dropout": float(config.dropout),
            "emb_lr": None, "activation": "gelu", "norm_first": True, "bias_ff": False, "bias_attn": False,
            "bias_proj": False, "past_context": None, "causal": True, "custom": False, "memory_efficient": True,
            "attention_as_float32": False, "layer_scale": None, "positional_embedding": "sin", "xpos": False,
            "checkpointing": "none", "weight_init": "gaussian", "depthwise_init": "current", "zero_bias_init": True,
            "norm": "layer_norm", "cross_attention": False, "qk_layer_norm": False, "qk_layer_norm_cross": False,
            "attention_dropout": None, "kv_repeat": 1, "two_step_cfg": bool(two_step_cfg)},
    }


def get_delays(config) -> list[int]:
    from audiogen.lm.patterns import get_pattern

    return list(get_pattern(config.pattern, config.num_codebooks).delays)


def lm_to_audiocraft(lm_dir: str | os.PathLike, t5_name: str | None = None) -> tuple[dict[str, Any], str]:
    """An LM checkpoint directory (converted, fine-tuned, or trained here with the audiocraft-compatible
    layout) → (`best_state` float16 in the release's key order, xp.cfg YAML). The T5 name comes from
    `t5_name`, else what the conversion recorded, else the checkpoint's text encoder if it is one of
    audiocraft's T5 names; its width must equal the LM's text_dim."""
    import yaml

    from audiogen.io.checkpoint import load_weights
    from audiogen.lm.config import LMConfig
    from audiogen.lm.model import read_config

    lm_dir = Path(lm_dir)
    try:
        meta = read_config(lm_dir)
    except (OSError, ValueError) as err:
        raise ConversionError(str(err)) from None
    config = LMConfig.from_dict(meta["lm"])
    src = meta.get("converted_from") or {}
    enc = meta.get("text_encoder") or {}
    name = t5_name or src.get("t5_name") or enc.get("name")
    if name not in T5_WIDTHS:
        raise ConversionError(f"{lm_dir}: text encoder {name!r} is not one of audiocraft's T5 models "
                              f"({sorted(T5_WIDTHS)}); audiocraft's AudioGen conditions on T5 only (pass t5_name)")
    # A converted LM re-exports under the name its package carried, whatever its width (the oracle's tiny
    # stand-in for t5-large is 16 wide); any other name must fit the LM.
    if T5_WIDTHS[name] != config.text_dim and name != src.get("t5_name"):
        raise ConversionError(f"{lm_dir}: the LM's text_dim {config.text_dim} is not the width of {name} "
                              f"({T5_WIDTHS[name]})")
    for key, want in {"max_period": 10000.0, "norm_eps": 1e-5}.items():
        if getattr(config, key) != want:
            raise ConversionError(f"{lm_dir}: LM {key} = {getattr(config, key)} has no audiocraft equivalent ({want})")
    codec = meta.get("codec") or {}
    xp = audiocraft_lm_xpcfg(config, t5_name=name, cfg_coef=float(src.get("cfg_coef", 3.0)),
                             segment_s=float(meta.get("segment_s") or 10.0),
                             sample_rate=int(codec.get("sample_rate") or src.get("sample_rate") or 16000),
                             two_step_cfg=bool(src.get("two_step_cfg", False)))
    best_state = audiocraft_state(load_weights(lm_dir), config)
    return best_state, yaml.safe_dump(xp, sort_keys=False)
