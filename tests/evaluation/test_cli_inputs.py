"""Bad inputs of `python -m audiogen.evaluate` and `python -m audiogen.evaluation.tagger.train` are
clear errors before any model loads: a number out of range (flag or `--set`) is an argparse error
(exit 2) naming it and its range; a bad params.yaml value or file is one line naming it (exit 1)."""
from __future__ import annotations

from pathlib import Path

import pytest

from audiogen.evaluate import main as evaluate_main
from audiogen.evaluation.tagger.train import main as tagger_main


@pytest.fixture
def params(tmp_path) -> Path:
    p = tmp_path / "params.yaml"
    p.write_text("evaluate: {}\ntagger: {}\n")
    return p


def argparse_error(main, argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    err = capsys.readouterr().err
    assert exc.value.code == 2, err
    return err.strip().splitlines()[-1]


@pytest.mark.parametrize("item, expected", [
    ("cfg=-1", "evaluate.cfg: expected a number >= 0, got -1"),
    ("cfg=.nan", "evaluate.cfg: expected a number >= 0, got nan (NaN and infinities are refused)"),
    ("top_k=-1", "evaluate.top_k: expected an integer >= 0"),
    ("top_k=2.5", "evaluate.top_k: expected an integer >= 0, got 2.5"),
    ("top_p=1.5", "evaluate.top_p: expected a number in [0, 1]"),
    ("temperature=-.inf", "evaluate.temperature: expected a number >= 0, got -inf"),
    ("seed=-1", "evaluate.seed: expected an integer in [0, 4294967295]"),
    ("cfg_sweep=[1, -2]", "evaluate.cfg_sweep[1]: expected a number >= 0, got -2.0"),
    ("cfg_sweep=3", "evaluate.cfg_sweep: expected a list of numbers, got 3"),
    ("num_clips=-1", "evaluate.num_clips: expected an integer >= 0"),
    ("generations_per_caption=0", "evaluate.generations_per_caption: expected an integer >= 1"),
    ("max_duration_s=0", "evaluate.max_duration_s: expected a number > 0"),
    ("report_clips=-1", "evaluate.report_clips: expected an integer >= 0"),
    ("batch_size=0", "evaluate.batch_size: expected an integer >= 1"),
    ("splits=test", "evaluate.splits: expected a list of split names (e.g. [test]), got 'test'"),
    ("oops", "expected KEY=VALUE"),
])
def test_evaluate_bad_set_values_are_argparse_errors(params, item, expected, capsys):
    line = argparse_error(evaluate_main, ["--lm", "/nonexistent", "--params", str(params), "--set", item], capsys)
    assert line.startswith(f"python -m audiogen.evaluate: error: argument --set: {expected}"), line


@pytest.mark.parametrize("content, expected", [
    ("evaluate:\n  top_k: 2.5\n", "evaluate.top_k: expected an integer >= 0, got 2.5"),
    ("evaluate:\n  batch_size: '8'\n", "evaluate.batch_size: expected an integer >= 1, got '8' (YAML read it as text"),
    ("evaluate:\n  cfg_sweep: [1, .nan]\n", "evaluate.cfg_sweep: expected a list of numbers"),
    ("evaluate: 1\n", "section 'evaluate' must be a mapping of keys"),
    ("evaluate:\n  cfg: [\n", "not valid YAML"),
])
def test_evaluate_bad_params_files_are_one_line(params, content, expected):
    params.write_text(content)
    with pytest.raises(SystemExit) as exc:
        evaluate_main(["--lm", "/nonexistent", "--params", str(params)])
    message = str(exc.value.code)
    assert "\n" not in message and str(params) in message and expected in message, message


def test_evaluate_good_values_reach_the_checkpoint(params):
    with pytest.raises(SystemExit) as exc:
        evaluate_main(["--lm", "/nonexistent", "--params", str(params), "--set", "cfg_sweep=[0, 1.5]",
                       "--set", "top_p=1", "--split", "valid"])
    assert "no LM checkpoint" in str(exc.value.code)


@pytest.mark.parametrize("flag, value, expected", [
    ("--epochs", "0", "expected an integer >= 1, got '0'"),
    ("--min-count", "x", "expected an integer >= 1, got 'x'"),
    ("--batch-size", "-4", "expected an integer >= 1"),
    ("--seed", "99999999999", "expected an integer in [0, 4294967295]"),
    ("--threads", "0", "expected an integer >= 1"),
])
def test_tagger_flags_out_of_range_are_argparse_errors(params, flag, value, expected, capsys):
    line = argparse_error(tagger_main, ["--params", str(params), f"{flag}={value}"], capsys)
    assert line.startswith(f"python -m audiogen.evaluation.tagger.train: error: argument {flag}: ")
    assert expected in line


@pytest.mark.parametrize("content, expected", [
    ("tagger:\n  dropout: 1.0\n", "params tagger.dropout: expected a number in [0, 1), got 1.0"),
    ("tagger:\n  channels: 16\n", "params tagger.channels: expected a list of integers, got 16"),
    ("tagger:\n  noise_snr_db: [5, .inf]\n", "params tagger.noise_snr_db: expected a list of 2 numbers"),
    ("tagger:\n  lr: 0\n", "params tagger.lr: expected a number > 0, got 0"),
    ("tagger:\n  max_classes: 0\n", "params tagger.max_classes: expected an integer >= 1 or null, got 0"),
    ("tagger:\n  valid_fraction: 1\n", "params tagger.valid_fraction: expected a number in (0, 1), got 1"),
    ("tagger: [\n", "not valid YAML"),
])
def test_tagger_bad_params_are_one_line(params, content, expected):
    params.write_text(content)
    with pytest.raises(SystemExit) as exc:
        tagger_main(["--params", str(params), "--shards", "/nonexistent"])
    message = str(exc.value.code)
    assert "\n" not in message and expected in message, message


@pytest.mark.parametrize("content, expected", [
    (b"\xff\xfe garbage", "config.json: cannot be read as text"),
    (b'{"format": "audiogen-lm', "config.json: not valid JSON"),
    (b"[1, 2]", "config.json: holds a JSON list, not an object"),
])
def test_evaluate_a_damaged_lm_checkpoint_is_one_line(params, tmp_path, content, expected):
    lm = tmp_path / "lm"
    lm.mkdir()
    (lm / "config.json").write_bytes(content)
    (lm / "model.safetensors").write_bytes(b"\0" * 16)
    with pytest.raises(SystemExit) as exc:
        evaluate_main(["--lm", str(lm), "--params", str(params)])
    message = str(exc.value.code)
    assert "\n" not in message and message.startswith(f"evaluate: {lm / 'config.json'}: ") and expected in message
