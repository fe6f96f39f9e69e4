"""The shared argparse types and params checks (audiogen/io/arguments.py) and the params.yaml reader
(audiogen/io/params.py): every bad value is refused with the accepted range in the message."""
from __future__ import annotations

import argparse

import pytest

from audiogen.io.arguments import (ParamError, check_numbers, config_or_exit, float_in, int_in, key_value,
                                   nonnegative_float, nonnegative_int, number_list, positive_float, positive_int,
                                   probability, seed, with_overrides, word_or)
from audiogen.io.params import ParamsFileError, params_section, read_params


def parse_error(number, text: str, capsys) -> str:
    """The stderr of a real parser that refused `text` (after checking the exit code is 2)."""
    ap = argparse.ArgumentParser(prog="prog")
    ap.add_argument("--x", type=number)
    with pytest.raises(SystemExit) as exc:
        ap.parse_args([f"--x={text}"])  # `--x -inf` would read as an unknown option (refused too)
    assert exc.value.code == 2
    return capsys.readouterr().err.strip().splitlines()[-1]


@pytest.mark.parametrize("number, good, value", [
    (positive_int, "3", 3), (nonnegative_int, "0", 0), (positive_float, "0.5", 0.5), (nonnegative_float, "0", 0.0),
    (probability, "1", 1.0), (probability, "0", 0.0), (seed, "4294967295", 2**32 - 1), (float_in(-100, 0), "-16", -16.0),
    (int_in(2, 4), "4", 4),
])
def test_values_in_range_are_returned_typed(number, good, value):
    out = number(good)
    assert out == value and type(out) is type(value)


@pytest.mark.parametrize("number, bad, expected", [
    (positive_int, "0", "expected an integer >= 1, got '0'"),
    (positive_int, "2.5", "expected an integer >= 1, got '2.5'"),
    (positive_int, "ten", "expected an integer >= 1, got 'ten'"),
    (nonnegative_int, "-1", "expected an integer >= 0, got '-1'"),
    (positive_float, "0", "expected a number > 0, got '0'"),
    (positive_float, "nan", "expected a number > 0, got 'nan' (NaN and infinities are refused)"),
    (positive_float, "inf", "(NaN and infinities are refused)"),
    (nonnegative_float, "-inf", "(NaN and infinities are refused)"),
    (probability, "1.01", "expected a number in [0, 1], got '1.01'"),
    (probability, "-0.1", "expected a number in [0, 1]"),
    (probability, "NaN", "(NaN and infinities are refused)"),
    (float_in(0, 1, lo_open=True, hi_open=True), "1", "expected a number in (0, 1), got '1'"),
    (seed, "-1", "expected an integer in [0, 4294967295], got '-1'"),
    (seed, "4294967296", "expected an integer in [0, 4294967295]"),
    (float_in(-100, 0), "3", "expected a number in [-100, 0], got '3'"),
    (word_or("auto", nonnegative_float), "-1", "expected auto or a number >= 0, got '-1'"),
])
def test_out_of_range_text_is_an_argparse_error_naming_the_argument_and_range(number, bad, expected, capsys):
    line = parse_error(number, bad, capsys)
    assert line.startswith("prog: error: argument --x: ")
    assert expected in line


def test_word_or_number():
    t = word_or("auto", nonnegative_float)
    assert t("auto") == "auto" and t("0.5") == 0.5


@pytest.mark.parametrize("value, expected", [
    (True, "got True"), ("16", "got '16' (YAML read it as text"), ("1e5", "write 1e5 as 1.0e+5"), (16.0, "got 16.0"),
    ([1], "got [1]"), (None, "got None"), (0, "got 0"),
])
def test_params_values_must_have_the_right_type(value, expected):
    with pytest.raises(ParamError) as exc:
        positive_int.check(value, "train.batch_size")
    assert str(exc.value).startswith("train.batch_size: expected an integer >= 1")
    assert expected in str(exc.value)


def test_params_checks_accept_in_range_values_and_null_where_allowed():
    assert positive_int.check(16, "x") == 16
    assert positive_float.check(2, "x") == 2          # an integer is a number
    assert positive_int.or_none.check(None, "x") is None
    assert "or null" in positive_int.or_none.describe()
    with pytest.raises(ParamError, match=r"x: expected a number > 0, got nan \(NaN and infinities are refused\)"):
        positive_float.check(float("nan"), "x")


def test_check_numbers_names_the_first_bad_param_with_dotted_and_list_keys():
    values = {"lr": 0.1, "mix": {"p": 0.5}, "betas": (0.9, 1.5)}
    check_numbers({"lr": 0.1, "mix": {"p": 0.5}}, {"lr": positive_float, "mix.p": probability}, "train")
    with pytest.raises(ParamError, match=r"^train\.betas\[1\]: expected a number in \[0, 1\), got 1\.5$"):
        check_numbers(values, {"lr": positive_float, "mix.p": probability,
                               "betas": float_in(0, 1, hi_open=True)}, "train")
    with pytest.raises(ParamError, match=r"^train\.mix\.p: expected a number in \[0, 1\], got 2$"):
        check_numbers({"mix": {"p": 2}}, {"mix.p": probability}, "train")


def test_number_list():
    assert number_list([1, 2.5], "b", 2) == (1.0, 2.5)
    assert number_list([16, 32], "c", kind=int) == (16, 32)
    for bad in (0.9, [0.9], "0.9,0.95", [0.9, "x"], [0.9, float("inf")]):
        with pytest.raises(ParamError, match=r"^b: expected a list of 2 numbers"):
            number_list(bad, "b", 2)


def test_key_value_reads_yaml_and_refuses_a_missing_equals_sign(capsys):
    assert key_value("mix.p=0") == ("mix.p", 0)
    assert key_value("cfg_sweep=[1, 3]") == ("cfg_sweep", [1, 3])
    assert key_value("threads=null") == ("threads", None)
    ap = argparse.ArgumentParser(prog="prog")
    ap.add_argument("--set", type=key_value, action="append")
    for bad, expected in (("max_steps", "expected KEY=VALUE"), ("=3", "expected KEY=VALUE"),
                          ("x=[1", "x: the value '[1' is not YAML")):
        with pytest.raises(SystemExit) as exc:
            ap.parse_args(["--set", bad])
        assert exc.value.code == 2
        assert f"argument --set: {expected}" in capsys.readouterr().err


def test_with_overrides_reaches_nested_keys_and_copies():
    section = {"mix": {"p": 0.5, "snr_db": [-5, 5]}, "lr": 1}
    out = with_overrides(section, [("mix.p", 0), ("lr", 2), ("new.deep", 1)])
    assert out == {"mix": {"p": 0, "snr_db": [-5, 5]}, "lr": 2, "new": {"deep": 1}}
    assert section["mix"]["p"] == 0.5


def _build(d):
    check_numbers(d, {"n": positive_int}, "sec")
    return d


def test_config_or_exit_tells_a_bad_set_from_a_bad_params_file(capsys):
    ap = argparse.ArgumentParser(prog="prog")
    assert config_or_exit(ap, _build, {"n": 1}, [("n", 2)], "params.yaml") == {"n": 2}
    with pytest.raises(SystemExit) as exc:          # --set made it bad: argparse error, exit 2
        config_or_exit(ap, _build, {"n": 1}, [("n", 0)], "params.yaml")
    assert exc.value.code == 2
    assert "prog: error: argument --set: sec.n: expected an integer >= 1, got 0" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:          # the file is bad: one line naming file and param
        config_or_exit(ap, _build, {"n": -1}, [], "p.yaml")
    assert exc.value.code == "prog: p.yaml: sec.n: expected an integer >= 1, got -1"
    with pytest.raises(SystemExit) as exc:          # both bad: the file is reported
        config_or_exit(ap, _build, {"n": -1}, [("n", 0)], "p.yaml")
    assert exc.value.code == "prog: p.yaml: sec.n: expected an integer >= 1, got -1"
    # a --set that repairs a bad file value is accepted
    assert config_or_exit(ap, _build, {"n": -1}, [("n", 3)], "p.yaml") == {"n": 3}


# --- params.yaml -------------------------------------------------------------------------------------
def test_read_params_absent_default_is_empty_but_a_named_file_must_exist(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AUDIOGEN_PARAMS", raising=False)
    assert read_params() == {}
    with pytest.raises(ParamsFileError, match=r"^nope\.yaml: no such file \(check --params\)$"):
        read_params("nope.yaml")


@pytest.mark.parametrize("content, expected", [
    (b"train:\n  lr: [1\n", r"p\.yaml: not valid YAML \(line 3, column 1: .*\): fix that line"),
    (b"train:\n  lr: 1\n\tbad: tab\n", r"p\.yaml: not valid YAML \(line \d+, column \d+: .*\): fix that line"),
    (b"- a\n- b\n", r"p\.yaml: expected a mapping of sections \(train:, codec:, \.\.\.\), got a list"),
    (b"\xff\xfe\x00t", r"p\.yaml: not UTF-8 text \(byte 0\): save it as UTF-8 YAML"),
])
def test_garbled_params_files_are_one_line(tmp_path, content, expected):
    p = tmp_path / "p.yaml"
    p.write_bytes(content)
    with pytest.raises(ParamsFileError) as exc:
        read_params(p)
    message = str(exc.value)
    assert "\n" not in message
    assert __import__("re").fullmatch(f".*{expected}", message), message


def test_a_section_must_be_a_mapping(tmp_path):
    p = tmp_path / "p.yaml"
    p.write_text("train: 5\ncodec:\n  lr: 1\nempty:\n")
    assert params_section("codec", p) == {"lr": 1}
    assert params_section("empty", p) == {} and params_section("absent", p) == {}
    with pytest.raises(ParamsFileError, match=r"p\.yaml: section 'train' must be a mapping of keys, got int 5$"):
        params_section("train", p)
    p.write_text("")
    assert read_params(p) == {}


def test_no_cli_parses_a_number_with_a_bare_int_or_float():
    """Every numeric flag of audiogen/ and pipeline/ goes through a checked type of this module: a bare
    `type=int` / `type=float` would take -1, nan or inf without a word."""
    import ast
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    bare = []
    for path in sorted([*(repo / "audiogen").rglob("*.py"), *(repo / "pipeline").rglob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "add_argument":
                for kw in node.keywords:
                    if kw.arg == "type" and isinstance(kw.value, ast.Name) and kw.value.id in ("int", "float"):
                        bare.append(f"{path.relative_to(repo)}:{node.lineno}")
    assert not bare, f"numeric flags without a range check (use audiogen.io.arguments): {bare}"
