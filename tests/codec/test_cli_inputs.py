"""Bad inputs of `python -m audiogen.codec.train` are clear errors before any model loads: a flag out of
range is an argparse error (exit 2) naming it and its range; a bad params.yaml `codec:` value or file
is one line naming the file and the param (exit 1)."""
from __future__ import annotations

from pathlib import Path

import pytest

from audiogen.codec.train import main as codec_main


@pytest.fixture
def base(tmp_path) -> list[str]:
    (tmp_path / "params.yaml").write_text("codec: {}\n")
    return ["--shards", str(tmp_path / "no_shards"), "--out", str(tmp_path / "codec"),
            "--params", str(tmp_path / "params.yaml")]


@pytest.mark.parametrize("flag, value, expected", [
    ("--steps", "-1", "expected an integer >= 0, got '-1'"),
    ("--steps", "1e3", "expected an integer >= 0, got '1e3'"),
    ("--batch-size", "0", "expected an integer >= 1"),
    ("--segment-s", "0", "expected a number > 0"),
    ("--segment-s", "nan", "(NaN and infinities are refused)"),
    ("--seed", "-1", "expected an integer in [0, 4294967295]"),
    ("--checkpoint-every", "0", "expected an integer >= 1"),
    ("--valid-every", "-3", "expected an integer >= 1"),
    ("--num-workers", "-1", "expected an integer >= 0"),
    ("--loader-workers", "x", "expected an integer >= 0, got 'x'"),
    ("--threads", "0", "expected an integer >= 1"),
    ("--preset", "huge", "invalid choice: 'huge'"),
])
def test_flags_out_of_range_are_argparse_errors(base, flag, value, expected, capsys):
    with pytest.raises(SystemExit) as exc:
        codec_main(base + [f"{flag}={value}"])
    err = capsys.readouterr().err
    assert exc.value.code == 2, err
    assert err.strip().splitlines()[-1].startswith(f"python -m audiogen.codec.train: error: argument {flag}: ")
    assert expected in err


@pytest.mark.parametrize("content, expected", [
    ("codec:\n  lr: -1\n", "codec.lr: expected a number > 0, got -1"),
    ("codec:\n  steps: 1.5\n", "codec.steps: expected an integer >= 0, got 1.5"),
    ("codec:\n  betas: [0.5]\n", "codec.betas: expected a list of 2 numbers, got [0.5]"),
    ("codec:\n  losses:\n    mel: -2\n", "codec.losses.mel: expected a number >= 0, got -2"),
    ("codec:\n  losses:\n    disc_n_ffts: [1024, x]\n", "codec.losses.disc_n_ffts: expected a list of integers"),
    ("codec:\n  losses: 4\n", "codec.losses: expected a mapping of keys, got 4"),
    ("codec:\n  valid_segment_s: .inf\n", "codec.valid_segment_s: expected a number > 0, got inf"),
    ("codec: 3\n", "section 'codec' must be a mapping of keys"),
    ("codec:\n  lr: [\n", "not valid YAML"),
])
def test_a_bad_params_file_is_one_line(base, content, expected):
    Path(base[-1]).write_text(content)
    with pytest.raises(SystemExit) as exc:
        codec_main(base)
    message = str(exc.value.code)
    assert "\n" not in message and base[-1] in message and expected in message, message


def test_a_flag_overrides_a_bad_params_value(base):
    """--steps given: params codec.steps is not used, so the run reaches the missing shards."""
    Path(base[-1]).write_text("codec:\n  steps: -1\n")
    with pytest.raises(SystemExit) as exc:
        codec_main(base + ["--steps", "2"])
    assert "no_shards" in str(exc.value.code)
