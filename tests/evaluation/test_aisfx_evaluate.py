"""`python -m audiogen.evaluate` with the aiSFX judge as FAD, KL and judge backend: a tiny trained LM,
references made by the demo generator (siren, rain, footsteps, bell) in real audio shards whose
sound kinds come from a demo_expectations.json, and the judge's figures in metrics.json, per_clip.csv
and index.html. Also the retrieval figures on similarity matrices whose answers are known, and the
matching of shard clips to the demo's kinds."""
from __future__ import annotations

import csv
import json
import os

import numpy as np
import pytest
import yaml

from audiogen.evaluation.metrics.retrieval import (cosine_similarity, kind_accuracy, nearest_references,
                                                   own_reference_ranks, recall_at, recall_chance)
from audiogen.evaluation.reference_kinds import DemoKinds

SR = 16000
KINDS = ["siren", "rain", "footsteps", "bell"]


def test_own_reference_ranks_and_recall():
    sim = np.array([[0.9, 0.1, 0.5],    # own (0) first
                    [0.8, 0.2, 0.9],    # own (1) last
                    [0.3, 0.7, 0.7]])   # own (2) tied first: ties count in its favour
    ranks = own_reference_ranks(sim, [0, 1, 2])
    assert ranks.tolist() == [1, 3, 1]
    assert recall_at(ranks, 1) == pytest.approx(2 / 3) and recall_at(ranks, 5) == 1.0
    assert recall_chance(1, 3) == pytest.approx(1 / 3) and recall_chance(5, 3) == 1.0 and recall_chance(5, 20) == 0.25
    np.testing.assert_allclose(cosine_similarity(np.array([[1.0, 0.0], [0.0, 0.0]]), np.array([[2.0, 0.0]])), [[1.0], [0.0]])


def test_kind_accuracy_leaves_the_own_reference_out():
    kinds = [["rain"], ["rain"], ["siren"], ["siren", "rain"], []]
    sim = np.eye(5) + np.array([[0, .5, .1, .2, .9],     # rain → nearest known other: 1 (rain): hit
                                [.1, 0, .6, .2, .9],     # rain → 2 (siren): miss
                                [.1, .2, 0, .3, .9],     # siren → 3 (siren+rain): hit
                                [.4, .1, .2, 0, .9],     # a mix: not scored, its nearest still given
                                [.1, .1, .1, .1, 0]])    # unknown kind: not scored
    acc, nearest = kind_accuracy(sim, np.arange(5), [k[0] if len(k) == 1 else None for k in kinds], kinds)
    assert nearest.tolist() == [1, 2, 3, 0, 0]  # reference 4 has no kind: never a neighbour
    assert acc.accuracy == pytest.approx(2 / 3) and acc.n == 3 and acc.kinds == 2
    # chance: rain among the other known {1, 2, 3}: 2/3 (twice: 0 and 1); siren among {0, 1, 3}: 1/3
    assert acc.chance == pytest.approx((2 / 3 + 2 / 3 + 1 / 3) / 3)
    assert nearest_references(np.zeros((1, 1)), [0]).tolist() == [-1]


def test_demo_kinds_match_corpus_source_and_audio_path(tmp_path):
    doc = {"corpora": {"clotho": {"clips": [{"source": "dev.csv:3", "audio": "development/rain 1.wav",
                                             "kinds": ["rain"]}]}}}
    (tmp_path / "exp.json").write_text(json.dumps(doc))
    table = DemoKinds.read(tmp_path / "exp.json")
    assert table.lookup("clotho", "dev.csv:3", "/data/raw/demo/clotho/development/rain 1.wav") == ("rain",)
    assert table.lookup("clotho", "dev.csv:3", "/real/clotho/development/other.wav") == ()  # a real row, same name
    assert table.lookup("audiocaps", "dev.csv:3", "development/rain 1.wav") == ()
    assert len(DemoKinds.read(tmp_path / "absent.json")) == 0
    (tmp_path / "bad.json").write_text("{\"corpora\": 3}")
    with pytest.raises(ValueError, match="bad.json"):
        DemoKinds.read(tmp_path / "bad.json")


def write_references(root, seconds=(2.0, 3.5)) -> tuple:
    """Audio shards of demo-generator clips, two per kind (split valid), and their demo_expectations.json."""
    from audiogen.io.audio import encode_flac, to_pcm16
    from audiogen.io.shards import INDEX_NAME, ShardWriter
    from pipeline.demo.sounds import Layer, render
    from pipeline.demo.writer import rng_for

    clips, total = [], 0.0
    with ShardWriter(root / "audio" / "valid-demo-000000.tar") as w:
        for kind in KINDS:
            for i, s in enumerate(seconds):
                audio = f"clips/{kind}_{i}.wav"
                x = render((Layer(kind),), rng_for(i, kind), SR, s)[:, 0]
                meta = {"key": f"demo-{kind}-{i}", "corpus": "demo", "split": "valid", "caption": f"a {kind} sound",
                        "source": f"meta.csv:{len(clips) + 2}", "audio_path": f"/somewhere/demo/{audio}",
                        "labels": [], "sample_rate": SR, "num_samples": len(x)}
                w.write(meta["key"], {"flac": encode_flac(to_pcm16(x), SR), "json": json.dumps(meta).encode()})
                clips.append({"source": meta["source"], "audio": audio, "kinds": [kind]})
                total += s
    (root / "audio" / INDEX_NAME).write_text(json.dumps({"shards": [
        {"name": "valid-demo-000000.tar", "split": "valid", "corpus": "demo", "clips": len(clips),
         "seconds": total, "sha256": w.sha256}]}))
    (root / "demo_expectations.json").write_text(json.dumps({"corpora": {"demo": {"root": "demo", "clips": clips}}}))
    return root / "audio", root / "demo_expectations.json"


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    if not os.environ.get("CI"):
        pytest.importorskip("aisfx", reason="pip install --no-deps aisfx (make install)")
    from audiogen.evaluate import main as evaluate_main
    from audiogen.evaluation.tagger.train import main as tagger_main
    from audiogen.train import main as train_main
    from tests.lm_fixtures import build_lm_data

    root = tmp_path_factory.mktemp("judge_eval")
    data = build_lm_data(root / "data", clips_per_class=1, lengths=(0.6, 1.0))
    audio, kinds = write_references(root)
    params = root / "params.yaml"
    params.write_text(yaml.safe_dump({
        "train": {"lm_overrides": {"dim": 32, "num_layers": 1, "num_heads": 2}, "segment_s": 1.0,
                  "batch_size": 4, "max_steps": 2, "warmup_steps": 1, "checkpoint_every": 2, "valid_every": 2},
        "tagger": {"epochs": 1, "min_count": 1, "batch_size": 8},
        "evaluate": {"cfg": 3.0, "cfg_sweep": [1.0, 3.0], "splits": ["valid"], "generations_per_caption": 2,
                     "top_k": 20, "report_clips": 2, "tagger": str(root / "tagger"), "fad_backend": "aisfx",
                     "kl_backend": "aisfx", "judge": "aisfx", "kinds": str(kinds)},
    }))
    train_main(["--tokens", str(data["tokens"]), "--audio", str(data["audio"]), "--codec", str(data["codec"]),
                "--out", str(root / "lm"), "--live-dir", str(root / "live"), "--params", str(params)])
    tagger_main(["--shards", str(data["audio"]), "--out", str(root / "tagger"), "--metrics",
                 str(root / "tagger.json"), "--params", str(params)])
    metrics = evaluate_main(["--lm", str(root / "lm"), "--audio", str(audio), "--out", str(root / "report"),
                             "--params", str(params)])
    return root / "report", metrics


def test_judge_figures_in_metrics(evaluated):
    out, m = evaluated
    assert json.loads((out / "metrics.json").read_text()) == json.loads(json.dumps(m))
    assert m["fad_backend"] == "aisfx" and m["kl_backend"] == "aisfx (soundlyTrain head)" and m["judge_backend"] == "aisfx"
    assert m["n_references"] == 8 and m["n_generated"] == 16
    assert m["judge_r1_chance"] == pytest.approx(1 / 8) and m["judge_r5_chance"] == pytest.approx(5 / 8)
    for k in ("judge_r1", "judge_r5", "judge_codec_r1", "judge_codec_r5", "judge_kind_codec", "judge_kind_generated",
              "sweep_judge_kind_cfg1", "sweep_judge_kind_cfg3", "sweep_judge_r5_cfg1"):
        assert 0.0 <= m[k] <= 1.0, k
    # the judge tells the demo generator's kinds apart (its two clips of a kind are each other's nearest)
    assert m["judge_kind_reference"] == 1.0 and m["judge_kind_n"] == 8 and m["judge_kinds"] == 4
    assert m["judge_kind_chance"] == pytest.approx(1 / 7)  # one other clip of its kind among 7
    assert m["sweep_judge_kind_cfg3"] == m["judge_kind_generated"]
    assert "top_label_match" in m  # top-class agreement on the UCS head


def test_per_clip_and_report_show_the_judges_nearest_reference(evaluated):
    out, m = evaluated
    rows = list(csv.DictReader(open(out / "per_clip.csv", encoding="utf-8")))
    assert len(rows) == 16
    assert {r["kinds"] for r in rows} == set(KINDS)
    assert all(1 <= int(r["judge_rank_of_reference"]) <= 8 for r in rows)
    for r in rows:  # a reference's nearest other reference is the other clip of its kind
        assert r["judge_nearest_to_reference"].startswith(r["kinds"] + " ("), r
        assert r["judge_nearest_to_codec"].split(" (")[0] in KINDS and r["judge_nearest_to_generation"].split(" (")[0] in KINDS
    share = np.mean([r["judge_nearest_to_generation"].split(" (")[0] == r["kinds"] for r in rows])
    assert share == pytest.approx(m["judge_kind_generated"])
    html = (out / "index.html").read_text(encoding="utf-8")
    assert html.count("judge's nearest reference:") == 3 * 2  # reference, codec, generated × 2 report clips
    assert "nearest reference kind = own: codec renderings (ceiling)" in html and "R@5" in html
    assert "aisfx (soundlyTrain head)" in html
