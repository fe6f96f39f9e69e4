"""params-paper.yaml names only keys params.yaml has, and applies as `dvc exp run -S` flags or in place."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pipeline.params_overlay import main

REPO = Path(__file__).resolve().parents[2]


def test_paper_overlay_flags(capsys):
    main([str(REPO / "params-paper.yaml"), "--params", str(REPO / "params.yaml")])
    flags = capsys.readouterr().out.split()
    assert flags[::2] == ["-S"] * (len(flags) // 2)
    pairs = dict(f.split("=", 1) for f in flags[1::2])
    assert pairs["train.lm_preset"] == "base" and pairs["codec.preset"] == "audiocraft"
    assert pairs["train.segment_s"] == "5.0"


def test_write_merges_and_unknown_keys_fail(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"train": {"lm_preset": "tiny", "mix": {"p": 0.5, "snr_db": [-5, 5]}}}))
    overlay = tmp_path / "o.yaml"
    overlay.write_text(yaml.safe_dump({"train": {"mix": {"p": 0.0}}}))
    main([str(overlay), "--params", str(params), "--write"])
    assert yaml.safe_load(params.read_text()) == {"train": {"lm_preset": "tiny", "mix": {"p": 0.0, "snr_db": [-5, 5]}}}
    overlay.write_text(yaml.safe_dump({"train": {"mixx": {"p": 0.0}}}))
    with pytest.raises(SystemExit, match="train.mixx.p"):
        main([str(overlay), "--params", str(params)])
