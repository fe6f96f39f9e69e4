"""Bad inputs of every pipeline CLI are clear errors before any work starts: a number out of range is
an argparse error (exit 2) naming the flag and its range; a params.yaml that is garbled or holds a bad
value, and an overlay file that is missing or garbled, are one line naming the file and the param."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import pipeline.common
from pipeline.demo.build import main as demo_main
from pipeline.export import main as export_main
from pipeline.filter import main as filter_main
from pipeline.ingest import main as ingest_main
from pipeline.params_overlay import main as overlay_main
from pipeline.prepare import main as prepare_main
from pipeline.summary import main as summary_main
from pipeline.tokenize import main as tokenize_main

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def params(tmp_path, monkeypatch) -> Path:
    """An empty params.yaml that every pipeline CLI reads (tests write into it)."""
    p = tmp_path / "params.yaml"
    p.write_text("{}\n")
    monkeypatch.setattr(pipeline.common, "PARAMS_FILE", p)
    return p


def argparse_error(main, argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    err = capsys.readouterr().err
    assert exc.value.code == 2, err
    return err.strip().splitlines()[-1]


def one_line(main, argv: list[str]) -> str:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    message = exc.value.code
    assert isinstance(message, str) and "\n" not in message, message
    return message


FLAG_CASES = [
    # (CLI, prog, argv, flag, expected)
    (ingest_main, "pipeline.ingest", ["--corpus", "clotho"], "--max-reject-fraction=1.5", "expected a number in [0, 1]"),
    (ingest_main, "pipeline.ingest", ["--corpus", "clotho"], "--max-reject-fraction=nan", "(NaN and infinities are refused)"),
    (ingest_main, "pipeline.ingest", ["--root", "."], "--corpus=nope", "unknown corpus 'nope'; known: audiocaps"),
    (ingest_main, "pipeline.ingest", ["--corpus", "clotho"], "--options=[1]", "expected a JSON object"),
    (ingest_main, "pipeline.ingest", ["--corpus", "clotho"], "--options={x", "not valid JSON"),
    (filter_main, "pipeline.filter", [], "--speech-mode=sometimes", "invalid choice: 'sometimes'"),
    (prepare_main, "pipeline.prepare", [], "--segment-s=0", "expected a number > 0, got '0'"),
    (prepare_main, "pipeline.prepare", [], "--min-segment-s=-1", "expected a number > 0"),
    (prepare_main, "pipeline.prepare", [], "--shard-mb=inf", "(NaN and infinities are refused)"),
    (prepare_main, "pipeline.prepare", [], "--seed=-1", "expected an integer in [0, 4294967295]"),
    (prepare_main, "pipeline.prepare", [], "--workers=0", "expected an integer >= 1"),
    (prepare_main, "pipeline.prepare", [], "--max-speech-fraction=1.5", "expected a number in [0, 1]"),
    (tokenize_main, "pipeline/tokenize.py", [], "--batch-size=0", "expected an integer >= 1"),
    (tokenize_main, "pipeline/tokenize.py", [], "--concurrency=1.5", "expected an integer >= 1, got '1.5'"),
    (tokenize_main, "pipeline/tokenize.py", [], "--num-gpus-per-actor=-1", "expected auto or a number >= 0"),
    (tokenize_main, "pipeline/tokenize.py", [], "--num-gpus-per-actor=nan", "(NaN and infinities are refused)"),
    (tokenize_main, "pipeline/tokenize.py", [], "--num-cpus-per-actor=-0.5", "expected a number >= 0"),
    (tokenize_main, "pipeline/tokenize.py", [], "--max-reject-fraction=2", "expected a number in [0, 1]"),
    (export_main, "pipeline.export", ["--out", "x"], "--format=kaldi", "invalid choice: 'kaldi'"),
    (demo_main, "pipeline.demo", [], "--seed=-1", "expected an integer in [0, 4294967295]"),
    (demo_main, "pipeline.demo", [], "--seed=2.5", "expected an integer in [0, 4294967295], got '2.5'"),
    (summary_main, "pipeline.summary", [], "--verbose", "unrecognized arguments: --verbose"),
]


@pytest.mark.parametrize("main, prog, argv, flag, expected", FLAG_CASES,
                         ids=[f"{c[1]} {c[3]}" for c in FLAG_CASES])
def test_bad_flags_are_argparse_errors(params, main, prog, argv, flag, expected, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    line = argparse_error(main, argv + [flag], capsys)
    name = flag.split("=")[0]
    prefix = f"python {prog}" if prog.endswith(".py") else f"python -m {prog}"
    if name.startswith("--") and "unrecognized" not in expected:
        assert line.startswith(f"{prefix}: error: argument {name}: "), line
    assert expected in line, line


def test_prepare_refuses_a_minimum_above_the_segment(params, capsys):
    line = argparse_error(prepare_main, ["--segment-s", "2", "--min-segment-s", "5"], capsys)
    assert "need 0 < min_segment_s (5.0) <= segment_s (2.0)" in line


PARAMS_CASES = [
    # (CLI, argv, params.yaml, expected)
    (ingest_main, ["--corpus", "clotho", "--root", "."], "ingest:\n  probe_batch_size: 0\n",
     "params.yaml ingest.probe_batch_size: expected an integer >= 1, got 0"),
    (ingest_main, ["--corpus", "clotho", "--root", "."], "ingest:\n  max_reject_fraction: .nan\n",
     "params.yaml ingest.max_reject_fraction: expected a number in [0, 1], got nan"),
    (ingest_main, ["--corpus", "clotho", "--root", "."], "corpora:\n  clotho: 5\n",
     "params corpora.clotho must be a mapping"),
    (ingest_main, ["--corpus", "clotho", "--root", "."], "corpora: [clotho]\n",
     "section 'corpora' must be a mapping of keys, got list"),
    (filter_main, [], "filter:\n  speech_mode: [\n", "not valid YAML (line"),
    (filter_main, [], "filter: yes\n", "section 'filter' must be a mapping of keys, got bool"),
    (prepare_main, [], "prepare:\n  clip_level: 2\n", "prepare.clip_level: expected a number in (0, 1], got 2"),
    (prepare_main, [], "prepare:\n  seed: x\n", "prepare.seed: expected an integer in [0, 4294967295], got 'x'"),
    (prepare_main, [], "prepare:\n  vad: 5\n", "prepare.vad: expected a mapping of keys, got 5"),
    (prepare_main, [], "prepare:\n  vad:\n    threshold: x\n", "prepare.vad.threshold: expected a number in (0, 1), got 'x'"),
    (tokenize_main, [], "tokenize:\n  max_reject_fraction: 5\n",
     "tokenize.max_reject_fraction: expected a number in [0, 1], got 5"),
    (tokenize_main, [], "tokenize:\n  batch_size: '16'\n", "tokenize.batch_size: expected an integer >= 1, got '16'"),
    (tokenize_main, [], "tokenize:\n  torch_threads: 0\n", "tokenize.torch_threads: expected an integer >= 1 or null"),
    (demo_main, [], "demo:\n  seed: abc\n", "params.yaml demo.seed: expected an integer in [0, 4294967295], got 'abc'"),
    (demo_main, [], "demo:\n  seed: 1\n   out: x\n", "not valid YAML (line 3"),
]


@pytest.mark.parametrize("main, argv, content, expected", PARAMS_CASES,
                         ids=[f"{c[0].__module__} {c[2].strip()[:30]}" for c in PARAMS_CASES])
def test_bad_params_are_one_line(params, main, argv, content, expected, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # were a check missing, the CLI would write under here, not in the repo
    params.write_text(content, encoding="utf-8")
    message = one_line(main, argv)
    assert expected in message, message


def test_a_params_file_that_is_not_utf8_is_one_line(params):
    params.write_bytes("prepare:\n  resampler: s\xf6xr\n".encode("latin-1"))
    assert one_line(prepare_main, []) == f"{params}: not UTF-8 text (byte 23): save it as UTF-8 YAML"


@pytest.mark.parametrize("content, expected", [
    (None, "no such file (check the OVERLAY argument)"),
    ("train: [\n", "not valid YAML"),
    ("- a\n", "expected a mapping of sections"),
])
def test_params_overlay_files(tmp_path, content, expected):
    overlay = tmp_path / "overlay.yaml"
    if content is not None:
        overlay.write_text(content)
    message = one_line(overlay_main, [str(overlay), "--params", str(REPO / "params.yaml")])
    assert message.startswith(f"{overlay}: ") and expected in message, message


@pytest.mark.parametrize("content, expected", [
    (b"\xff\xfe garbage", "(UnicodeDecodeError: "),
    (b'{"format": "audiogen-codec/1", "codec": {', "(JSONDecodeError: "),
    (b"[1, 2]", "(TypeError: "),
    (b'{"format": "audiogen-lm/1", "lm": {}}', "(KeyError: "),
])
def test_tokenize_a_damaged_codec_config_is_one_line(params, tmp_path, content, expected):
    codec = tmp_path / "codec"
    codec.mkdir()
    (codec / "config.json").write_bytes(content)
    (codec / "model.safetensors").write_bytes(b"\0" * 16)
    message = one_line(tokenize_main, ["--codec", str(codec), "--shards", str(tmp_path), "--out", str(tmp_path / "t")])
    assert message.startswith(f"tokenize: {codec / 'config.json'}: not a readable codec config ") and expected in message
    assert "point --codec at train_codec's output" in message


@pytest.mark.parametrize("args, expected", [
    (["-m", "pipeline.prepare", "--workers", "-2"], "argument --workers: expected an integer >= 1, got '-2'"),
    (["pipeline/tokenize.py", "--batch-size", "nan"], "argument --batch-size: expected an integer >= 1, got 'nan'"),
])
def test_the_real_clis_exit_2_with_one_error_line(args, expected, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "AUDIOGEN_PARAMS": str(tmp_path / "absent.yaml")}
    out = subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=REPO, env=env, timeout=120)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert expected in out.stderr.strip().splitlines()[-1]
