"""Every bad input of `python -m audiogen.generate` is a clear error before any model is loaded:
numbers out of range are argparse errors (exit 2) naming the flag and the accepted range; caption
files, prompt audio and LM checkpoints that are missing, truncated, garbled or of the wrong type are
one line naming the file (exit 1, no traceback)."""
from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiogen.generate import main as generate_main

REPO = Path(__file__).resolve().parents[2]
NO_LM = "/nonexistent/lm"  # a number check that ran after loading would say "no LM checkpoint" instead


def argparse_error(argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as exc:
        generate_main(argv)
    err = capsys.readouterr().err
    assert exc.value.code == 2, err
    return err.strip().splitlines()[-1]


@pytest.mark.parametrize("flag, value, expected", [
    ("--duration", "0", "expected a number in (0, 600]"),
    ("--duration", "-1", "expected a number in (0, 600]"),
    ("--duration", "601", "expected a number in (0, 600]"),
    ("--duration", "nan", "(NaN and infinities are refused)"),
    ("--duration", "inf", "(NaN and infinities are refused)"),
    ("--duration", "five", "expected a number in (0, 600], got 'five'"),
    ("--cfg", "-1", "expected a number >= 0"),
    ("--cfg", "nan", "(NaN and infinities are refused)"),
    ("--cfg", "1e400", "(NaN and infinities are refused)"),
    ("--top-k", "-1", "expected an integer >= 0"),
    ("--top-k", "2.5", "expected an integer >= 0, got '2.5'"),
    ("--top-p", "-0.1", "expected a number in [0, 1]"),
    ("--top-p", "1.5", "expected a number in [0, 1]"),
    ("--top-p", "nan", "(NaN and infinities are refused)"),
    ("--temperature", "-0.5", "expected a number >= 0"),
    ("--temperature", "inf", "(NaN and infinities are refused)"),
    ("--seed", "-1", "expected an integer in [0, 4294967295]"),
    ("--seed", "4294967296", "expected an integer in [0, 4294967295]"),
    ("--seed", "1.5", "expected an integer in [0, 4294967295]"),
    ("--stride", "0", "expected a number > 0"),
    ("--stride", "-2", "expected a number > 0"),
    ("--stride", "nan", "(NaN and infinities are refused)"),
    ("--batch-size", "0", "expected an integer >= 1"),
    ("--batch-size", "-3", "expected an integer >= 1"),
    ("--loudness", "3", "expected a number in [-100, 0]"),
    ("--loudness", "-101", "expected a number in [-100, 0]"),
    ("--loudness", "nan", "(NaN and infinities are refused)"),
])
def test_numbers_out_of_range_are_argparse_errors(flag, value, expected, capsys):
    line = argparse_error(["a dog barks", "--lm", NO_LM, f"{flag}={value}"], capsys)
    assert line.startswith(f"python -m audiogen.generate: error: argument {flag}: ")
    assert expected in line


def test_boundary_values_pass_the_parser(capsys):
    """In-range edge values get past argparse (to the missing LM, exit 1): the ranges are not too tight."""
    with pytest.raises(SystemExit) as exc:
        generate_main(["x", "--lm", NO_LM, "--duration", "600", "--cfg", "0", "--top-k", "0", "--top-p", "1",
                       "--temperature", "0", "--seed", "4294967295", "--stride", "0.01", "--batch-size", "1",
                       "--loudness", "-100"])
    assert "no LM checkpoint" in str(exc.value.code)


# --- caption files ---------------------------------------------------------------------------------
def one_line_error(argv: list[str]) -> str:
    with pytest.raises(SystemExit) as exc:
        generate_main(argv)
    message = exc.value.code
    assert isinstance(message, str) and "\n" not in message, message
    return message


@pytest.mark.parametrize("kind, expected", [
    ("missing", "no such file (give a UTF-8 text file with one caption per line)"),
    ("folder", "is a folder"),
    ("binary", "holds NUL bytes, not text"),
    ("latin1", "not UTF-8 text (byte 3): save it as UTF-8"),
    ("blank", "no captions (the file is empty or holds only blank lines"),
    ("empty", "no captions"),
])
def test_bad_caption_files(tmp_path, kind, expected):
    path = tmp_path / "captions.txt"
    if kind == "folder":
        path.mkdir()
    elif kind == "binary":
        sf.write(str(path), np.zeros(1600, np.float32), 16000, format="WAV")
    elif kind == "latin1":
        path.write_bytes("café au lait\n".encode("latin-1"))
    elif kind == "blank":
        path.write_text("\n   \n\t\n")
    elif kind == "empty":
        path.write_bytes(b"")
    message = one_line_error(["--captions", str(path), "--lm", NO_LM])
    assert message.startswith(f"audiogen.generate: --captions {path}: ")
    assert expected in message


# --- prompt audio ------------------------------------------------------------------------------------
def _wav(path: Path, seconds: float = 0.5, subtype: str = "PCM_16") -> bytes:
    x = 0.3 * np.sin(np.arange(int(16000 * seconds)) / 7.0).astype(np.float32)
    sf.write(str(path), x, 16000, subtype=subtype)
    return path.read_bytes()


@pytest.mark.parametrize("kind, expected", [
    ("missing", "no such file (give an audio file soundfile reads"),
    ("folder", "is a folder"),
    ("text", "not audio soundfile can read, or cut short (Error opening"),
    ("garbled", "not audio soundfile can read, or cut short"),
    ("empty_file", "not audio soundfile can read, or cut short"),
    ("header_only", "not audio soundfile can read, or cut short"),
    ("cut_wav", "cut short: its header declares 16000 bytes of samples, the file holds"),
    ("cut_flac", "not audio soundfile can read, or cut short"),
    ("no_samples", "no samples"),
    ("nan_samples", "holds NaN or infinite samples"),
])
def test_bad_prompt_files(tmp_path, kind, expected):
    path = tmp_path / "prompt.wav"
    if kind == "folder":
        path.mkdir()
    elif kind == "text":
        path.write_text("a dog barks\n")
    elif kind == "garbled":
        path.write_bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    elif kind == "empty_file":
        path.write_bytes(b"")
    elif kind == "header_only":
        path.write_bytes(_wav(tmp_path / "ok.wav")[:30])
    elif kind == "cut_wav":
        path.write_bytes(_wav(tmp_path / "ok.wav")[:8000])
    elif kind == "cut_flac":
        path = tmp_path / "prompt.flac"
        x = np.random.default_rng(1).uniform(-0.5, 0.5, 32000).astype(np.float32)
        sf.write(str(tmp_path / "ok.flac"), x, 16000)
        path.write_bytes((tmp_path / "ok.flac").read_bytes()[:20000])
    elif kind == "no_samples":
        sf.write(str(path), np.zeros(0, np.float32), 16000)
    elif kind == "nan_samples":
        data = bytearray(_wav(tmp_path / "f.wav", subtype="FLOAT"))
        data[-40:-36] = struct.pack("<f", float("nan"))
        path.write_bytes(bytes(data))
    message = one_line_error(["x", "--prompt", str(path), "--lm", NO_LM])
    assert message.startswith(f"audiogen.generate: --prompt {path}: ")
    assert expected in message


def test_a_whole_prompt_is_read_before_the_model(tmp_path):
    """A good prompt passes its checks: the error is then about the missing LM."""
    path = tmp_path / "ok.wav"
    _wav(path)
    assert "no LM checkpoint" in one_line_error(["x", "--prompt", str(path), "--lm", NO_LM])


# --- LM checkpoints -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def real_lm(tmp_path_factory) -> Path:
    from tests.lm._helpers import tiny_lm

    d = tmp_path_factory.mktemp("lm") / "lm"
    tiny_lm().save_pretrained(d)
    return d


def damaged_copy(real_lm: Path, tmp_path: Path, kind: str) -> Path:
    d = tmp_path / f"lm_{kind}"
    d.mkdir()
    config = (real_lm / "config.json").read_bytes()
    weights = (real_lm / "model.safetensors").read_bytes()
    if kind == "garbled_config":
        config = np.random.default_rng(2).integers(0, 256, 300, dtype=np.uint8).tobytes()
    elif kind == "truncated_config":
        config = config[: len(config) // 2]
    elif kind == "list_config":
        config = b"[1, 2, 3]"
    elif kind == "other_format":
        config = json.dumps({**json.loads(config), "format": "audiogen-codec"}).encode()
    elif kind == "truncated_weights":
        weights = weights[: len(weights) // 2]
    elif kind == "garbled_weights":
        weights = b"\x00" * 64
    (d / "config.json").write_bytes(config)
    (d / "model.safetensors").write_bytes(weights)
    return d


@pytest.mark.parametrize("kind, expected", [
    ("garbled_config", "config.json: cannot be read as text"),
    ("truncated_config", "config.json: not valid JSON"),
    ("list_config", "config.json: holds a JSON list, not an object"),
    ("other_format", "config.json: format 'audiogen-codec'"),
    ("truncated_weights", "model.safetensors: not a readable safetensors file"),
    ("garbled_weights", "model.safetensors: not a readable safetensors file"),
])
def test_damaged_lm_checkpoints_are_one_line(real_lm, tmp_path, kind, expected):
    d = damaged_copy(real_lm, tmp_path, kind)
    message = one_line_error(["x", "--lm", str(d)])
    assert message.startswith("audiogen.generate: ") and str(d) in message
    assert expected in message


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "audiogen.generate", *args], capture_output=True, text=True,
                          cwd=REPO, env=env, timeout=300)


@pytest.mark.parametrize("kind", ["garbled_config", "truncated_weights"])
def test_the_real_cli_says_one_line_for_a_damaged_checkpoint(real_lm, tmp_path, kind):
    out = run_cli("a dog barks", "--lm", str(damaged_copy(real_lm, tmp_path, kind)), "-o", str(tmp_path / "o.wav"))
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines()[-1].startswith("audiogen.generate: ")
    assert not (tmp_path / "o.wav").exists()


def test_the_real_cli_refuses_a_bad_number_before_importing_torch():
    code = ("import sys\nfrom audiogen.generate import main\n"
            "try:\n    main(['x', '--top-p', '2'])\nexcept SystemExit as e:\n"
            "    print('CODE', e.code, 'TORCH', 'torch' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.stdout.strip() == "CODE 2 TORCH False", out.stdout + out.stderr
    assert "argument --top-p: expected a number in [0, 1], got '2'" in out.stderr
