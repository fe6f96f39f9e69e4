"""Shared pieces of the LM conversion tests: the fixture files, the stand-in T5 saved as a local
Hugging Face model folder, and a converted tiny AudioGen.

The oracle (AUDIOCRAFT.md §G) replaced t5-large by a tiny random `T5EncoderModel` (`tiny_t5.pt`) and a
word-hash tokenizer; here the same T5 weights are saved with a word-level tokenizer that gives the
oracle's token ids for its prompts (ids read from `lm_reference.pt`: pad 0, `</s>` 1), so captions go
through this project's real `FrozenTextEncoder` exactly as they went through audiocraft's T5Conditioner.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "audiocraft"
LM_PACKAGE = FIXTURES / "lm_state_dict.bin"
CODEC_PACKAGE = FIXTURES / "compression_state_dict.bin"


def load(name: str):
    return torch.load(FIXTURES / name, map_location="cpu", weights_only=True)


def save_tiny_t5(out: Path, reference: dict) -> Path:
    """The oracle's T5 (config + weights) and a tokenizer reproducing its ids → `out` (a model folder)."""
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast, T5Config, T5EncoderModel

    t5 = load("tiny_t5.pt")
    model = T5EncoderModel(T5Config(**t5["config"]))
    model.load_state_dict(t5["state_dict"])
    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2}
    same: dict[str, str] = {}  # the oracle's hash collides ('barks'/'busy', 'road'/'rain'): a word-level
    for text in (reference["text"], reference["text_row1_alone"]):  # vocab needs one word per id
        for prompt, ids in zip(text["prompts"], text["input_ids"].tolist()):
            words = prompt.split()
            assert ids[len(words)] == 1, "each oracle prompt ends with </s>"
            for w, i in zip(words, ids):
                first = next((k for k, v in vocab.items() if v == i), None)
                if first is None:
                    vocab[w] = i
                elif first != w:
                    same[w] = first
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.normalizer = normalizers.Sequence([normalizers.Replace(Regex(rf"\b{w}\b"), first) for w, first in same.items()])
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    fast.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def lm_reference() -> dict:
    return load("lm_reference.pt")


@pytest.fixture(scope="session")
def tiny_t5_dir(tmp_path_factory, lm_reference) -> Path:
    return save_tiny_t5(tmp_path_factory.mktemp("tiny-t5"), lm_reference)


@pytest.fixture(scope="session")
def converted(tmp_path_factory, tiny_t5_dir) -> Path:
    """The oracle's LM and codec packages converted (OUT/lm, OUT/codec), T5 pointed at the stand-in."""
    from audiogen.convert import from_audiocraft

    out = tmp_path_factory.mktemp("converted") / "audiogen-tiny"
    return from_audiocraft(LM_PACKAGE, CODEC_PACKAGE, out, text_encoder=str(tiny_t5_dir))
