"""Fine-tuning an existing LM: `train.init_from` (full fine-tuning) and LoRA through peft (`train.lora`).

    ft = FineTune.open(cfg.init_from, cfg.lora)       # reads config.json only; one-line errors
    ft.check_codec(codec_sha, codec_dir)                # the run's codec (= its token shards') must be the checkpoint's
    encoder = ft.text_encoder()                         # the checkpoint's text encoder, not train.text_encoder
    model = ft.build_model()                            # AudioLM from the checkpoint (+ LoRA layers), train mode
    files = ft.public_files(model, ema, config, fmt)   # merged weights (a plain AudioLM checkpoint) + the adapter

The model's architecture and options (LayerNorm biases, text projection bias, text attention, ...)
come from the checkpoint's config.json through the LM's own loader, never from `train.lm_preset`.

LoRA (rank > 0): peft's LoRA layers are injected in place into the `AudioLM` (`inject_adapter_in_model`),
so the trainer keeps calling the same model (`compute_loss`, `config`, DDP) and only the adapters (and,
with `train_text_proj`, a trainable copy of the text projection: peft's `modules_to_save`) require
gradients; the base weights stay bit-identical. Target groups map to this LM's modules
(audiogen/lm/transformer.py), found by walking the first decoder block:

    attention        every nn.Linear of `self_attn` (the fused `qkv` and `out`)
    cross_attention  every nn.Linear of `cross_attn` (`q`, `kv`, `out`)
    feed_forward     the block's own nn.Linear children (`ff_up`, `ff_down`)

The fused projections get one low-rank update each (rank r for q, k and v together), as peft does
for audiocraft's fused `in_proj_weight`.

A checkpoint written here holds the merged weights (`W + (alpha/r)·B·A`, exactly peft's merge) as a
plain `AudioLM` checkpoint (config.json + model.safetensors), so generation and export need no peft,
plus the adapter alone beside them in peft's own layout (`adapter_config.json`,
`adapter_model.safetensors` with `base_model.model.` keys): small and shareable; `load_adapter` here
or `peft.PeftModel.from_pretrained(AudioLM.from_pretrained(base), folder)` applies it to the base.
The trainer commits all four files with its state at one point (audiogen.io.trainer_state); with
LoRA its state.pt holds only the trainable tensors (a resume rebuilds the base from `init_from`,
whose sha256 it records).
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from audiogen.training.config import LoraParams

if TYPE_CHECKING:
    import torch
    from audiogen.lm import AudioLM

ADAPTER_WEIGHTS = "adapter_model.safetensors"   # peft's file names (PeftModel.from_pretrained reads them)
ADAPTER_CONFIG = "adapter_config.json"
PEFT_PREFIX = "base_model.model."               # the key prefix PeftModel.save_pretrained writes
ADAPTER_NAME = "default"
TEXT_PROJ = "text_proj"


class FineTuneError(SystemExit):
    """A one-line error about `train.init_from` (exits the trainer without a traceback)."""


@dataclass
class FineTune:
    """An `init_from` checkpoint folder and the LoRA settings to apply to it."""

    path: Path
    config: dict[str, Any]          # the checkpoint's whole config.json
    lora: LoraParams
    sha256: str                     # of its model.safetensors (a resumed run must start from the same one)

    @classmethod
    def open(cls, path: str | os.PathLike, lora: LoraParams, out: str | os.PathLike | None = None) -> "FineTune":
        """`out`: the run's output folder, which must not be the base's (its checkpoints would replace it)."""
        from audiogen.io.shards import sha256_file
        from audiogen.lm.model import WEIGHTS_NAME, read_config

        p = Path(path)
        if not p.is_dir():
            raise FineTuneError(f"audiogen.train: train.init_from {p} is not a directory (an LM checkpoint: "
                                "config.json + model.safetensors)")
        if out is not None and Path(out).resolve() == p.resolve():
            raise FineTuneError(f"audiogen.train: train.init_from {p} is also --out: the fine-tuned checkpoints "
                                "would replace the base; write them to another folder")
        try:
            config = read_config(p)
        except (OSError, ValueError) as err:
            raise FineTuneError(f"audiogen.train: train.init_from: {err}") from None
        if not (p / WEIGHTS_NAME).is_file():
            raise FineTuneError(f"audiogen.train: train.init_from {p}: no {WEIGHTS_NAME} beside its config.json")
        return cls(path=p, config=config, lora=lora, sha256=sha256_file(p / WEIGHTS_NAME))

    @property
    def uses_lora(self) -> bool:
        return self.lora.rank > 0

    # --- checks ---------------------------------------------------------------------------------------
    def check_codec(self, codec_sha256: str, codec_dir: str | os.PathLike) -> None:
        """The run's codec (whose sha256 the token shards were already checked against) must be the
        one the checkpoint was trained on: a one-line error naming both digests otherwise."""
        codec = self.config.get("codec") or {}
        theirs = codec.get("sha256")
        if not theirs:
            raise FineTuneError(f"audiogen.train: train.init_from {self.path}/config.json records no codec.sha256: "
                                "cannot check that the token shards come from its codec")
        if theirs != codec_sha256:
            raise FineTuneError(
                f"audiogen.train: train.init_from {self.path} was trained on tokens of codec sha256 {theirs}, but "
                f"this run's codec {codec_dir} and its token shards have sha256 {codec_sha256}: tokenize your "
                f"corpus with the checkpoint's codec ({codec.get('path', 'its codec folder')}) and train with it")

    def text_encoder(self):
        """The frozen text encoder the checkpoint was trained with (its `text_proj` expects it)."""
        from audiogen.text.encoders import FrozenTextEncoder, TextEncoderNotFoundError

        described = self.config.get("text_encoder")
        if not described:
            raise FineTuneError(f"audiogen.train: train.init_from {self.path}/config.json names no text_encoder")
        try:
            enc = FrozenTextEncoder.from_description(described)
        except (TextEncoderNotFoundError, ValueError) as err:
            raise FineTuneError(f"audiogen.train: train.init_from {self.path}: {err}") from None
        text_dim = int(self.config["lm"]["text_dim"])
        if enc.hidden_size != text_dim:
            raise FineTuneError(f"audiogen.train: train.init_from {self.path}: text encoder {enc.config.name!r} has "
                                f"width {enc.hidden_size}, the LM's text_dim is {text_dim}")
        return enc

    # --- the model ------------------------------------------------------------------------------------
    def build_model(self) -> "AudioLM":
        """The checkpoint's AudioLM in train mode; with LoRA, the adapters injected and the base frozen.
        Seed torch first: the adapters' A matrices are drawn from torch's global generator."""
        from audiogen.lm import AudioLM

        try:
            model = AudioLM.from_pretrained(self.path).train()
        except (OSError, ValueError) as err:  # damaged or mismatched weights: one line naming the file
            raise FineTuneError(f"audiogen.train: train.init_from: {err}") from None
        if self.uses_lora:
            from peft import inject_adapter_in_model

            inject_adapter_in_model(self.lora_config(model), model, adapter_name=ADAPTER_NAME)
        return model

    def lora_config(self, model: "AudioLM"):
        """peft's LoraConfig for this LM: target modules as one regex over the decoder blocks."""
        from peft import LoraConfig

        return LoraConfig(r=self.lora.rank, lora_alpha=self.lora.alpha, lora_dropout=self.lora.dropout,
                          target_modules=target_regex(model, self.lora.targets),
                          modules_to_save=[TEXT_PROJ] if self.lora.train_text_proj else None, bias="none",
                          base_model_name_or_path=str(self.path))

    # --- saving and resuming --------------------------------------------------------------------------
    def checkpoint_keys(self, model: "AudioLM") -> dict[str, Any]:
        """config.json keys of the fine-tuned checkpoint: where it started, and the base's preset and
        pattern (train.lm_preset / train.pattern do not apply)."""
        return {"init_from": {"path": str(self.path), "sha256": self.sha256,
                              "lora": lora_dict(self.lora) if self.uses_lora else None,
                              "trainable_parameters": trainable_parameters(model)},
                "preset": self.config.get("preset"), "pattern": model.config.pattern}

    def public_files(self, model: "AudioLM", ema, config: dict[str, Any], fmt: str) -> dict[str, Any]:
        """The checkpoint's public files for `audiogen.io.trainer_state.commit_checkpoint`: config.json
        and model.safetensors of a plain AudioLM (with LoRA: the merged weights) and, with LoRA,
        `adapter_model.safetensors` + `adapter_config.json` beside them (peft's layout: the folder is
        also a peft adapter folder). With EMA on, both come from the averaged weights."""
        from audiogen.io.trainer_state import JsonFile, TensorFile, model_files

        if not self.uses_lora:
            return model_files(ema.weights_for(model) if ema is not None else model.state_dict(), config, fmt)
        with _swapped(model, ema.weights_for(model) if ema is not None else None):
            merged = {k: v.detach().cpu().clone() for k, v in merged_state_dict(model).items()}
            adapter = {k: v.clone() for k, v in adapter_state_dict(model).items()}
        return {**model_files(merged, config, fmt), ADAPTER_WEIGHTS: TensorFile(adapter, {"format": "pt"}),
                ADAPTER_CONFIG: JsonFile(adapter_config(model, self.path))}

    def live_state(self, model: "AudioLM") -> dict[str, "torch.Tensor"] | None:
        """With LoRA, the weights a resume needs beyond the (frozen) base: every trainable tensor."""
        if not self.uses_lora:
            return None
        return {k: p.detach().cpu().clone() for k, p in model.named_parameters() if p.requires_grad}

    def load_live_state(self, model: "AudioLM", state: dict[str, "torch.Tensor"], where: str) -> None:
        """Resume: what `live_state` kept (with LoRA), or every weight (full fine-tuning)."""
        import torch

        if not self.uses_lora:
            model.load_state_dict(state)
            return
        names = {k for k, p in model.named_parameters() if p.requires_grad}
        if set(state) != names:
            raise FineTuneError(f"audiogen.train: {where}: its LoRA weights do not match train.lora "
                                f"(missing {sorted(names - set(state))[:3]}, extra {sorted(set(state) - names)[:3]})")
        params = dict(model.named_parameters())
        with torch.no_grad():
            for k, v in state.items():
                params[k].copy_(v)


class _swapped:
    """Within the block, `model` holds `weights` (e.g. the EMA ones); the live ones come back after."""

    def __init__(self, model, weights):
        self.model, self.weights, self.live = model, weights, None

    def __enter__(self):
        if self.weights is not None:
            self.live = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
            self.model.load_state_dict(self.weights)
        return self.model

    def __exit__(self, *exc):
        if self.live is not None:
            self.model.load_state_dict(self.live)
        return False


# --- LoRA pieces (also for users: load an adapter onto its base) -------------------------------------------
def target_regex(model: "AudioLM", groups) -> str:
    """One regex (peft full-matches it against module names) for the nn.Linear modules of `groups`."""
    from torch import nn

    def linear(m) -> bool:  # a Linear, or one that peft has already wrapped
        return isinstance(m, nn.Linear) or isinstance(getattr(m, "base_layer", None), nn.Linear)

    block = model.transformer.layers[0]
    names: list[str] = []
    for group in groups:
        if group == "attention":
            names += [f"self_attn\\.{n}" for n, m in block.self_attn.named_children() if linear(m)]
        elif group == "cross_attention":
            names += [f"cross_attn\\.{n}" for n, m in block.cross_attn.named_children() if linear(m)]
        elif group == "feed_forward":
            names += [re.escape(n) for n, m in block.named_children() if linear(m)]
        else:
            raise ValueError(f"unknown LoRA target group {group!r}")
    if not names:
        raise ValueError(f"LoRA target groups {list(groups)} match no linear layer of this LM")
    return r"transformer\.layers\.\d+\.(" + "|".join(names) + ")"


def lora_dict(lora: LoraParams) -> dict[str, Any]:
    return {"rank": lora.rank, "alpha": lora.alpha, "dropout": lora.dropout, "targets": list(lora.targets),
            "train_text_proj": lora.train_text_proj}


def trainable_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def merged_state_dict(model: "AudioLM") -> dict[str, "torch.Tensor"]:
    """The state dict of the plain AudioLM that computes what the LoRA model computes: each adapted
    Linear's weight plus peft's `get_delta_weight` (what `merge_and_unload` adds), the trained copy of
    the text projection in place of the frozen one. The model itself is left as it is."""
    import torch
    from peft.tuners.lora import LoraLayer
    from peft.utils import ModulesToSaveWrapper

    merged: dict[str, torch.Tensor] = {}
    replaced: list[str] = []
    with torch.no_grad():
        for name, module in model.named_modules():
            if isinstance(module, LoraLayer):
                base = module.get_base_layer()
                merged[f"{name}.weight"] = base.weight + module.get_delta_weight(ADAPTER_NAME).to(base.weight.dtype)
                if getattr(base, "bias", None) is not None:
                    merged[f"{name}.bias"] = base.bias
                replaced.append(name + ".")
            elif isinstance(module, ModulesToSaveWrapper):
                for k, v in module.modules_to_save[ADAPTER_NAME].state_dict().items():
                    merged[f"{name}.{k}"] = v
                replaced.append(name + ".")
        for k, v in model.state_dict().items():
            if not k.startswith(tuple(replaced)):
                merged[k] = v
    return {k: v.detach() for k, v in merged.items()}


def save_merged(model: "AudioLM", out: str | os.PathLike, extra_config: dict[str, Any]) -> None:
    """`merged_state_dict` as an AudioLM checkpoint, through the LM's own writer (a plain AudioLM
    built on the meta device takes the tensors: its strict load checks every key)."""
    import torch

    from audiogen.lm import AudioLM

    with torch.device("meta"):
        plain = AudioLM(model.config)
    plain.load_state_dict(merged_state_dict(model), strict=True, assign=True)
    plain.save_pretrained(out, extra_config=extra_config)


def adapter_state_dict(model: "AudioLM") -> dict[str, "torch.Tensor"]:
    """The adapter alone (LoRA A/B and a trained text projection), keyed as PeftModel saves it."""
    from peft import get_peft_model_state_dict

    return {PEFT_PREFIX + k: v.detach().cpu().contiguous()
            for k, v in get_peft_model_state_dict(model, adapter_name=ADAPTER_NAME).items()}


def adapter_config(model: "AudioLM", base: str | os.PathLike | None = None) -> dict[str, Any]:
    """The injected adapter's LoraConfig as peft's `adapter_config.json` holds it (sets as lists)."""
    config = model.peft_config[ADAPTER_NAME].to_dict()
    config = {k: (sorted(v) if isinstance(v, set) else v) for k, v in config.items()}
    if base is not None:
        config["base_model_name_or_path"] = str(base)
    return json.loads(json.dumps(config, default=str))  # enums and the like as plain JSON values


def save_adapter(model: "AudioLM", directory: str | os.PathLike, base: str | os.PathLike | None = None) -> None:
    """`directory/adapter_model.safetensors` + `adapter_config.json` in peft's layout, outside a
    trainer (the trainer commits them with its checkpoint: `FineTune.public_files`)."""
    from audiogen.io.atomic import write_bytes, write_text
    from safetensors.torch import save

    write_bytes(Path(directory) / ADAPTER_WEIGHTS, save(adapter_state_dict(model), metadata={"format": "pt"}))
    write_text(Path(directory) / ADAPTER_CONFIG, json.dumps(adapter_config(model, base), indent=2, sort_keys=True) + "\n")


def load_adapter(base: str | os.PathLike, adapter: str | os.PathLike, device: str = "cpu") -> "AudioLM":
    """The base checkpoint with the adapter in folder `adapter` injected (peft layers, eval mode)."""
    from peft import LoraConfig, inject_adapter_in_model, set_peft_model_state_dict
    from safetensors.torch import load_file

    from audiogen.lm import AudioLM

    model = AudioLM.from_pretrained(base)
    config = LoraConfig.from_pretrained(str(adapter))
    inject_adapter_in_model(config, model, adapter_name=ADAPTER_NAME)
    state = {k.removeprefix(PEFT_PREFIX): v for k, v in load_file(str(Path(adapter) / ADAPTER_WEIGHTS)).items()}
    result = set_peft_model_state_dict(model, state, adapter_name=ADAPTER_NAME)
    unexpected = list(getattr(result, "unexpected_keys", []) or [])
    if unexpected:
        raise ValueError(f"{adapter}: adapter keys that match no module of {base}: {unexpected[:3]}")
    return model.to(device).eval()
