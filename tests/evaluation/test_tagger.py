"""The in-domain tagger: vocabulary, training on real synthetic shards (tones vs noise), checkpoints,
and its use as a metric backend."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from audiogen.io.audio import encode_flac, to_pcm16
from audiogen.evaluation.backends.registry import BackendUnavailable, load_backend
from audiogen.evaluation.tagger.vocab import build_classes, class_form, classes_in_text, clip_terms, targets
from audiogen.io.shards import ShardWriter, shard_name

SR = 16000


def tone(rng: np.random.Generator, seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (0.4 * np.sin(2 * np.pi * rng.uniform(300, 900) * t)).astype(np.float32)


def noise(rng: np.random.Generator, seconds: float) -> np.ndarray:
    return np.clip(rng.normal(0, 0.2, int(seconds * SR)), -1, 1).astype(np.float32)


KINDS = {"tone": (tone, ["Tone"], "a steady beep tone"), "noise": (noise, ["Noise"], "hissing white noise")}


def write_shards(directory: Path, split: str, per_kind: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    with ShardWriter(directory / shard_name(split, "synth", 0)) as w:
        for i in range(per_kind):
            for kind, (make, labels, caption) in KINDS.items():
                audio = make(rng, rng.uniform(1.0, 1.6))
                key = f"synth-{split}-{kind}-{i}"
                meta = {"key": key, "split": split, "labels": labels, "caption": caption,
                        "sample_rate": SR, "num_samples": len(audio)}
                w.write(key, {"flac": encode_flac(to_pcm16(audio), SR), "json": json.dumps(meta).encode()})
    return directory


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from audiogen.evaluation.tagger.train import main

    root = tmp_path_factory.mktemp("tagger")
    shards = root / "shards"
    write_shards(shards, "train", 8, seed=0)
    write_shards(shards, "valid", 3, seed=1)
    params = root / "params.yaml"
    params.write_text(yaml.safe_dump({"tagger": {
        "min_count": 3, "channels": [8, 16], "embed_dim": 16, "segment_s": 0.8, "batch_size": 8,
        "epochs": 12, "lr": 0.01, "seed": 0, "threads": 1, "metrics": str(root / "metrics.json")}}))
    result = main(["--shards", str(shards), "--out", str(root / "model"), "--params", str(params)])
    return root, result, params


def test_vocabulary_merges_labels_and_caption_words():
    assert class_form("Barking") == "bark" and class_form("Church bell") == "church bell"
    metas = [{"labels": ["Dog", "Barking"], "caption": "a dog barks loudly"},
             {"labels": ["Dog"], "caption": "dogs barking at a cat"},
             {"labels": [], "caption": "a cat meows"},
             {"labels": ["Church bell"], "captions": ["the church bell rings"]}]
    assert clip_terms(metas[0]) == {"dog", "bark", "loudly"}
    assert clip_terms(metas[0], use_caption_words=False) == {"dog", "bark"}
    classes, counts = build_classes(metas, min_count=2)
    assert classes == ["bark", "cat", "dog"] and counts == {"bark": 2, "dog": 2, "cat": 2}  # ties by name
    assert build_classes(metas, min_count=1, max_classes=2)[0] == ["bark", "cat"]
    assert "church bell" in build_classes(metas, min_count=1)[0]
    assert targets(metas[2], {c: i for i, c in enumerate(classes)}) == [1]
    assert classes_in_text("The dogs are barking", classes + ["church bell"]) == [0, 2]
    assert classes_in_text("a bell", ["church bell", "bell"]) == [1]   # every word of a class must occur


def test_training_separates_tones_from_noise(trained):
    root, result, _ = trained
    assert result["valid_clips"] == 6 and result["train_clips"] == 16
    assert result["valid_top1"] == 1.0 and result["valid_map"] == 1.0
    saved = json.loads((root / "metrics.json").read_text())
    assert saved["valid_top1"] == 1.0 and saved["classes"] == result["classes"]
    cfg = json.loads((root / "model" / "config.json").read_text())
    assert cfg["format"] == "audiogen-tagger/1"
    assert {"tone", "noise", "beep", "hiss", "steady", "white"} == set(cfg["tagger"]["classes"])
    assert cfg["tagger"]["n_mels"] == 64 and cfg["tagger"]["channels"] == [8, 16]

    backend = load_backend(f"tagger:{root / 'model'}", "kl")
    rng = np.random.default_rng(7)
    fresh_tone, fresh_noise = tone(rng, 2.0), noise(rng, 2.0)
    assert backend.top_label(fresh_tone, SR)[0] in {"tone", "beep", "steady"}
    assert backend.top_label(fresh_noise, SR)[0] in {"noise", "hiss", "white"}
    # The label distributions differ, the KL between tone and noise clips is larger than within.
    from audiogen.evaluation.metrics.kl import kl_divergence

    p = backend.label_probs([fresh_tone, tone(rng, 1.5), fresh_noise], SR)
    assert p.shape == (3, 6) and np.allclose(p.sum(axis=1), 1.0)
    assert kl_divergence(p[:1], p[1:2]).kld < kl_divergence(p[:1], p[2:3]).kld
    # CLAP-like score: a caption matches its own kind better; a caption naming no class is NaN.
    s = backend.text_audio_scores(["a beep tone", "a beep tone", "white noise", "a dog"],
                                  [fresh_tone, fresh_noise, fresh_noise, fresh_tone], SR)
    assert s[0] > s[1] and s[2] > s[1] and np.isnan(s[3])
    assert backend.embed([fresh_tone, fresh_noise], SR).shape == (2, 16)


def test_checkpoint_round_trip_and_determinism(trained, tmp_path):
    import torch

    from audiogen.evaluation.tagger.model import Tagger
    from audiogen.evaluation.tagger.train import main

    root, _, params = trained
    model = Tagger.from_pretrained(root / "model")
    model.save_pretrained(tmp_path / "copy", model.training_info)
    again = Tagger.from_pretrained(tmp_path / "copy")
    x = torch.from_numpy(noise(np.random.default_rng(3), 1.2))[None]
    with torch.no_grad():
        torch.testing.assert_close(model(x), again(x), rtol=0, atol=0)
    # Same shards, params and seed: byte-identical checkpoint.
    main(["--shards", str(root / "shards"), "--out", str(tmp_path / "rerun"), "--params", str(params),
          "--metrics", str(tmp_path / "m.json")])
    for name in ("model.safetensors", "config.json"):
        assert (tmp_path / "rerun" / name).read_bytes() == (root / "model" / name).read_bytes()


def test_bad_inputs_are_clear(tmp_path):
    from audiogen.evaluation.tagger.train import main

    with pytest.raises(BackendUnavailable, match="not a tagger checkpoint"):
        load_backend(f"tagger:{tmp_path}", "fad")
    (tmp_path / "none.yaml").write_text("{}\n")  # an empty params file (a --params that does not exist is an error)
    with pytest.raises(SystemExit, match="no train shards"):
        main(["--shards", str(tmp_path), "--out", str(tmp_path / "m"), "--params", str(tmp_path / "none.yaml")])
    write_shards(tmp_path / "few", "train", 1, seed=0)
    with pytest.raises(SystemExit, match="lower tagger.min_count"):
        main(["--shards", str(tmp_path / "few"), "--out", str(tmp_path / "m"), "--min-count", "5",
              "--params", str(tmp_path / "none.yaml")])
