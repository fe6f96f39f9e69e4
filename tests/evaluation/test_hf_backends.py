"""AST (KL) and CLAP backends from tiny random checkpoints built offline and saved to disk."""
from __future__ import annotations

import json

import numpy as np
import pytest

from audiogen.evaluation.backends.registry import BackendUnavailable, load_backend
from audiogen.evaluation.metrics.clap import cosine_per_pair

SR = 16000
CAPTIONS = ["a dog barks", "rain falls on a roof", "a bell rings twice", "wind blows through trees"]


def _clips(seconds=(1.0, 2.5), seed=0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(0, 0.1, int(s * SR)).astype(np.float32) for s in seconds]


@pytest.fixture(scope="module")
def ast_dir(tmp_path_factory):
    import torch
    from transformers import ASTConfig, ASTFeatureExtractor, ASTForAudioClassification

    torch.manual_seed(0)
    labels = ["dog", "rain", "bell", "wind", "engine"]
    cfg = ASTConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                    max_length=128, num_mel_bins=64, num_labels=5, id2label=dict(enumerate(labels)),
                    label2id={n: i for i, n in enumerate(labels)})
    d = tmp_path_factory.mktemp("ast")
    ASTForAudioClassification(cfg).save_pretrained(d)
    ASTFeatureExtractor(num_mel_bins=64, max_length=128, sampling_rate=SR).save_pretrained(d)
    return d


@pytest.fixture(scope="module")
def clap_dir(tmp_path_factory):
    import torch
    from tokenizers import ByteLevelBPETokenizer
    from transformers import (ClapAudioConfig, ClapConfig, ClapFeatureExtractor, ClapModel, ClapProcessor,
                              ClapTextConfig, RobertaTokenizerFast)

    torch.manual_seed(0)
    d = tmp_path_factory.mktemp("clap")
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(CAPTIONS, vocab_size=300, min_frequency=1,
                            special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    (d / "bpe").mkdir()
    bpe.save_model(str(d / "bpe"))
    tok = RobertaTokenizerFast(vocab=str(d / "bpe" / "vocab.json"), merges=str(d / "bpe" / "merges.txt"),
                               model_max_length=32)
    assert len(tok("a dog barks")["input_ids"]) > 3   # the vocabulary really loaded
    text = ClapTextConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                          intermediate_size=64, max_position_embeddings=40, projection_dim=16)
    audio = ClapAudioConfig(window_size=4, num_mel_bins=16, spec_size=64, patch_size=4, patch_stride=(4, 4),
                            hidden_size=32, depths=[1, 1], num_attention_heads=[2, 2], patch_embeds_hidden_size=16,
                            projection_dim=16, enable_fusion=False)
    model = ClapModel(ClapConfig(text_config=text.to_dict(), audio_config=audio.to_dict(), projection_dim=16))
    fe = ClapFeatureExtractor(feature_size=16, sampling_rate=48000, hop_length=480, max_length_s=1,
                              fft_window_size=1024, truncation="rand_trunc", padding="repeatpad")
    ClapProcessor(feature_extractor=fe, tokenizer=tok).save_pretrained(d)
    model.save_pretrained(d)
    return d


def test_ast_label_probs_are_distributions(ast_dir):
    backend = load_backend(str(ast_dir), "kl")          # bare path: config.json says AST
    assert backend.labels == ["dog", "rain", "bell", "wind", "engine"]
    clips = _clips((1.0, 2.5, 0.1))                      # 2.5 s: two windows (1.3 s each at most); 0.1 s: padded
    p = backend.label_probs(clips, SR)
    assert p.shape == (3, 5) and np.allclose(p.sum(axis=1), 1.0) and (p > 0).all()
    # Deterministic, and order-independent per clip.
    np.testing.assert_allclose(backend.label_probs(clips[::-1], SR)[::-1], p, rtol=1e-6)
    # 48 kHz input is resampled to the extractor's 16 kHz: same clip, nearly the same distribution.
    import soxr

    p48 = backend.label_probs([soxr.resample(clips[0], SR, 48000)], 48000)
    np.testing.assert_allclose(p48[0], p[0], atol=1e-2)
    emb = load_backend(f"ast:{ast_dir}", "fad").embed(clips, SR)
    assert emb.shape == (3, 32)


def test_clap_text_and_audio_embeddings(clap_dir):
    backend = load_backend(str(clap_dir), "clap")
    t = backend.embed_text(CAPTIONS[:2])
    a = backend.embed(_clips((1.0, 2.5)), SR)            # 2.5 s at 48 kHz: three 1 s windows
    assert t.shape == (2, 16) and a.shape == (2, 16)
    np.testing.assert_allclose(np.linalg.norm(t, axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, rtol=1e-6)
    assert not np.allclose(t[0], t[1])                   # different captions, different embeddings
    scores = backend.text_audio_scores(CAPTIONS[:2], _clips((1.0, 2.5)), SR)
    np.testing.assert_allclose(scores, cosine_per_pair(t, a), rtol=1e-6)
    assert ((-1 <= scores) & (scores <= 1)).all()
    np.testing.assert_allclose(backend.embed(_clips((1.0, 2.5)), SR), a, rtol=1e-6)   # deterministic


def test_roles_and_offline_errors(ast_dir, clap_dir, tmp_path):
    with pytest.raises(BackendUnavailable, match="cannot compute clap"):
        load_backend(str(ast_dir), "clap")
    with pytest.raises(BackendUnavailable, match="cannot compute kl"):
        load_backend(f"clap:{clap_dir}", "kl")
    with pytest.raises(BackendUnavailable, match="offline.*pass its path"):
        load_backend("nobody-here/no-such-audio-model", "kl")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(BackendUnavailable, match="'bert' is not a supported"):
        load_backend(str(tmp_path / "other"), "kl")
    with pytest.raises(BackendUnavailable, match="no config.json"):
        load_backend(str(tmp_path), "kl")
    with pytest.raises(ValueError, match="role must be"):
        load_backend(str(ast_dir), "fid")
