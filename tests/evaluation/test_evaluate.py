"""`python -m audiogen.evaluate` end to end on a tiny trained LM and a tiny trained tagger (real
shards, real codec), and its report opened in a real headless Chromium."""
from __future__ import annotations

import csv
import json
import os

import pytest
import yaml

from audiogen.evaluate import main as evaluate_main
from tests.evaluation.browser import find_browser, inspect_page
from tests.lm_fixtures import build_lm_data


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    from audiogen.evaluation.tagger.train import main as tagger_main
    from audiogen.train import main as train_main

    root = tmp_path_factory.mktemp("eval")
    data = build_lm_data(root / "data", clips_per_class=2, lengths=(0.6, 1.2))
    params = root / "params.yaml"
    params.write_text(yaml.safe_dump({
        "train": {"lm_overrides": {"dim": 64, "num_layers": 2, "num_heads": 2}, "segment_s": 1.0,
                  "batch_size": 4, "max_steps": 5, "warmup_steps": 1, "checkpoint_every": 5, "valid_every": 5},
        "tagger": {"epochs": 3, "min_count": 1, "batch_size": 8},
        "evaluate": {"cfg": 3.0, "cfg_sweep": [1.0, 3.0], "splits": ["valid", "train"], "num_clips": 6,
                     "generations_per_caption": 2, "top_k": 20, "report_clips": 3, "tagger": str(root / "tagger")},
    }))
    train_main(["--tokens", str(data["tokens"]), "--audio", str(data["audio"]), "--codec", str(data["codec"]),
                "--out", str(root / "lm"), "--live-dir", str(root / "live"), "--params", str(params)])
    tagger_main(["--shards", str(data["audio"]), "--out", str(root / "tagger"), "--metrics",
                 str(root / "tagger.json"), "--params", str(params)])
    metrics = evaluate_main(["--lm", str(root / "lm"), "--audio", str(data["audio"]), "--out", str(root / "report"),
                             "--params", str(params)])
    return root / "report", metrics


def test_metrics_json_is_flat_and_complete(evaluated):
    out, metrics = evaluated
    saved = json.loads((out / "metrics.json").read_text())
    assert saved == json.loads(json.dumps(metrics))
    for key in ("fad", "kl", "clap", "codec_fad", "codec_kl", "codec_clap", "sweep_fad_cfg1", "sweep_kl_cfg3",
                "fad_backend", "kl_backend", "clap_backend", "n_references", "n_generated", "top_label_match",
                "kl_vs_codec_ref", "top_label_match_codec_ref", "sweep_kl_codec_ref_cfg1"):
        assert key in saved, key
    assert saved["n_references"] == 6 and saved["n_generated"] == 12
    assert all(not isinstance(v, (dict, list)) for v in saved.values())  # dvc exp show needs flat keys
    assert saved["fad"] >= 0 and saved["kl"] >= 0 and saved["codec_fad"] >= 0
    sweep = json.loads((out / "cfg_sweep.json").read_text())
    assert [r["cfg"] for r in sweep] == [1.0, 3.0]
    assert saved["sweep_fad_cfg3"] == saved["fad"]  # the headline γ is one of the sweep's points


def test_per_clip_csv_and_pictures(evaluated):
    out, _ = evaluated
    rows = list(csv.DictReader(open(out / "per_clip.csv", encoding="utf-8")))
    assert len(rows) == 12 and {r["generation"] for r in rows} == {"0", "1"}
    assert all(float(r["kl"]) >= 0 for r in rows)
    assert (out / "sweep.png").stat().st_size > 1000
    pngs = sorted((out / "spectrograms").glob("*.png"))
    wavs = sorted((out / "audio").glob("*.wav"))
    assert len(pngs) == len(wavs) == 9  # 3 captions × reference, codec, generated


def test_report_renders_in_a_real_browser(evaluated):
    out, _ = evaluated
    if find_browser() is None:
        if os.environ.get("CI"):
            pytest.fail("CI must install chromium-headless-shell (.ci/run does)")
        pytest.skip("no Chromium here: apt-get install chromium-headless-shell")
    html = (out / "index.html").read_text()
    assert "http://" not in html and "https://" not in html  # opens from disk, no network
    page = inspect_page(out / "index.html")
    assert len(page["images"]) == 10  # the sweep plot + 9 spectrograms
    assert all(i["ok"] and i["width"] > 0 for i in page["images"]), page["images"]
    assert len(page["audios"]) == 9
    assert all(a["ok"] and a["duration"] > 0 for a in page["audios"]), page["audios"]
    assert page["errors"] == [], page["errors"]


def test_missing_lm_is_a_clear_error(tmp_path):
    with pytest.raises(SystemExit, match="no LM checkpoint"):
        evaluate_main(["--lm", str(tmp_path), "--out", str(tmp_path / "r")])


def test_unloadable_backend_says_how_to_point_at_a_path(evaluated, tmp_path):
    out, _ = evaluated
    lm = out.parent / "lm"
    with pytest.raises(SystemExit, match="local"):
        evaluate_main(["--lm", str(lm), "--audio", str(out.parent / "data" / "audio"), "--out", str(tmp_path / "r"),
                       "--set", f"tagger={out.parent / 'tagger'}", "--set", "kl_backend=some-org/not-downloaded-ast",
                       "--split", "valid"])
