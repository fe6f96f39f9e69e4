"""Bad inputs of `python -m audiogen.train` are clear errors before any model loads: a `--set` value
out of range is an argparse error (exit 2) naming the param and its range; a params.yaml that is
missing, garbled or holds a bad value, and a token-shard index that is missing, truncated or garbled,
are one line naming the file (exit 1)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from audiogen.train import main as train_main

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def dirs(tmp_path) -> list[str]:
    """Existing --tokens/--codec folders (with a good shards.json) and an empty params file."""
    (tmp_path / "tokens").mkdir()
    (tmp_path / "codec").mkdir()
    (tmp_path / "tokens" / "shards.json").write_text(json.dumps(
        {"shards": [{"name": "train-a-000000.tar", "clips": 2, "seconds": 3.0}], "frame_rate": 125.0,
         "num_codebooks": 2, "codec_sha256": "ab"}))
    (tmp_path / "params.yaml").write_text("train: {}\n")
    return ["--tokens", str(tmp_path / "tokens"), "--codec", str(tmp_path / "codec"), "--out", str(tmp_path / "lm"),
            "--params", str(tmp_path / "params.yaml")]


@pytest.mark.parametrize("item, expected", [
    ("batch_size=0", "train.batch_size: expected an integer >= 1, got 0"),
    ("batch_size='16'", "train.batch_size: expected an integer >= 1, got '16' (YAML read it as text"),
    ("batch_size=16.0", "train.batch_size: expected an integer >= 1, got 16.0"),
    ("grad_accum=-1", "train.grad_accum: expected an integer >= 1"),
    ("max_steps=-5", "train.max_steps: expected an integer >= 0"),
    ("lr=0", "train.lr: expected a number > 0, got 0"),
    ("lr=.nan", "train.lr: expected a number > 0, got nan (NaN and infinities are refused)"),
    ("betas=[0.9, 1.0]", "train.betas[1]: expected a number in [0, 1), got 1.0"),
    ("betas=0.9", "train.betas: expected a list of 2 numbers, got 0.9"),
    ("weight_decay=-0.1", "train.weight_decay: expected a number >= 0"),
    ("warmup_steps=1.5", "train.warmup_steps: expected an integer >= 0"),
    ("grad_clip=0", "train.grad_clip: expected a number > 0"),
    ("cfg_dropout=1.5", "train.cfg_dropout: expected a number in [0, 1]"),
    ("mix.p=-0.1", "train.mix.p: expected a number in [0, 1]"),
    ("mix.snr_db=[-5, .inf]", "train.mix.snr_db: expected a list of 2 numbers"),
    ("mix.min_overlap=0", "train.mix.min_overlap: expected a number in (0, 1]"),
    ("mix=5", "train.mix: expected a mapping of keys, got 5"),
    ("segment_s=0", "train.segment_s: expected a number > 0"),
    ("text_max_length=0", "train.text_max_length: expected an integer >= 1"),
    ("shuffle_buffer=-1", "train.shuffle_buffer: expected an integer >= 0"),
    ("loader_workers=-1", "train.loader_workers: expected an integer >= 0"),
    ("checkpoint_every=0", "train.checkpoint_every: expected an integer >= 1"),
    ("valid_every=0", "train.valid_every: expected an integer >= 1"),
    ("log_every=0", "train.log_every: expected an integer >= 1"),
    ("seed=-1", "train.seed: expected an integer in [0, 4294967295]"),
    ("seed=true", "train.seed: expected an integer in [0, 4294967295], got True"),
    ("num_workers=-1", "train.num_workers: expected an integer >= 0"),
    ("ema=1", "train.ema: expected a number in [0, 1), got 1"),
    ("threads=0", "train.threads: expected an integer >= 1 or null"),
    ("corpus_weights={a: -1}", "train.corpus_weights.a: expected a number >= 0, got -1"),
    ("corpus_weights=[1]", "train.corpus_weights: expected a mapping of keys"),
])
def test_a_bad_set_value_is_an_argparse_error(dirs, item, expected, capsys):
    with pytest.raises(SystemExit) as exc:
        train_main(dirs + ["--set", item])
    err = capsys.readouterr().err
    assert exc.value.code == 2, err
    assert err.strip().splitlines()[-1].startswith(f"python -m audiogen.train: error: argument --set: {expected}")


@pytest.mark.parametrize("item, expected", [
    ("max_steps", "argument --set: expected KEY=VALUE (e.g. max_steps=100), got 'max_steps'"),
    ("lr=[1", "argument --set: lr: the value '[1' is not YAML"),
])
def test_a_malformed_set_is_an_argparse_error(dirs, item, expected, capsys):
    with pytest.raises(SystemExit) as exc:
        train_main(dirs + ["--set", item])
    assert exc.value.code == 2
    assert expected in capsys.readouterr().err


PARAMS_CASES = [
    ("train:\n  batch_size: 0\n", "params.yaml: train.batch_size: expected an integer >= 1, got 0"),
    ("train:\n  lr: -1\n", "params.yaml: train.lr: expected a number > 0, got -1"),
    ("train:\n  mix:\n    p: 2\n", "params.yaml: train.mix.p: expected a number in [0, 1], got 2"),
    ("train: [1, 2]\n", "params.yaml: section 'train' must be a mapping of keys, got list"),
    ("train:\n  lr: [1\n", "params.yaml: not valid YAML (line 3, column 1"),
    ("- train\n", "params.yaml: expected a mapping of sections"),
]


@pytest.mark.parametrize("content, expected", PARAMS_CASES)
def test_a_bad_params_file_is_one_line(dirs, content, expected):
    Path(dirs[-1]).write_text(content)
    with pytest.raises(SystemExit) as exc:
        train_main(dirs)
    message = str(exc.value.code)
    assert "\n" not in message and expected in message and dirs[-1] in message, message


def test_a_set_value_repairs_a_bad_params_value(dirs):
    """--set wins over params.yaml: the run gets past the config (to the token folder's missing tars)."""
    Path(dirs[-1]).write_text("train:\n  batch_size: 0\n")
    with pytest.raises(SystemExit) as exc:
        train_main(dirs + ["--set", "batch_size=2", "--tokens", "/nonexistent"])
    assert "--tokens /nonexistent is not a directory" in str(exc.value.code)


def test_a_missing_params_file_is_one_line(dirs):
    with pytest.raises(SystemExit) as exc:
        train_main(dirs[:-1] + ["/nonexistent/params.yaml"])
    assert exc.value.code == "/nonexistent/params.yaml: no such file (check --params)"


@pytest.mark.parametrize("content, expected", [
    (None, "shards.json: no shard index; re-run the tokenize stage"),
    ('{"shards": [{"name": "train-a-0', "shards.json: not valid JSON (Unterminated string"),
    ("\x00\x01garbage", "shards.json: not valid JSON"),
    ("[1, 2]", "shards.json: expected a JSON object with a 'shards' list, got list"),
    ('{"shards": {"a": 1}}', "shards.json: 'shards' must be a list, got dict"),
    ('{"shards": [{"name": "x.tar"}]}', "shards.json: shards[0].name 'x.tar' is not <split>-<corpus>-NNNNNN.tar"),
    ('{"shards": [{"name": "train-a-000000.tar", "clips": "two"}]}',
     "shards.json: shards[0] (train-a-000000.tar).clips: expected an integer >= 0, got 'two'"),
    ('{"shards": [], "frame_rate": 0}', "shards.json: frame_rate: expected a number > 0, got 0"),
    ('{"shards": [], "num_codebooks": "2"}', "shards.json: num_codebooks: expected an integer >= 1"),
])
def test_a_bad_token_index_is_one_line_before_any_model_loads(dirs, content, expected):
    index = Path(dirs[1]) / "shards.json"
    if content is None:
        index.unlink()
    else:
        index.write_bytes(content.encode("utf-8"))
    with pytest.raises(SystemExit) as exc:
        train_main(dirs)
    message = str(exc.value.code)
    assert "\n" not in message and message.startswith(f"data: {index}: ") and expected in message, message
    assert "re-run the tokenize stage" in message


def test_the_real_cli_exits_2_before_importing_torch(dirs):
    code = ("import sys\nfrom audiogen.train import main\n"
            f"try:\n    main({dirs!r} + ['--set', 'lr=-1'])\nexcept SystemExit as e:\n"
            "    print('CODE', e.code, 'TORCH', 'torch' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert out.stdout.strip() == "CODE 2 TORCH False", out.stdout + out.stderr
    assert "argument --set: train.lr: expected a number > 0, got -1" in out.stderr


@pytest.mark.parametrize("content, expected", [
    (b"\xff\xfe garbage", "config.json: cannot be read as text"),
    (b'{"format": "audiogen-codec/1", "codec": {', "config.json: not valid JSON"),
])
def test_a_damaged_codec_checkpoint_is_one_line(dirs, content, expected):
    codec = Path(dirs[3])
    (codec / "config.json").write_bytes(content)
    (codec / "model.safetensors").write_bytes(b"\0" * 16)
    with pytest.raises(SystemExit) as exc:
        train_main(dirs)
    message = str(exc.value.code)
    assert "\n" not in message and message.startswith(f"audiogen.train: {codec / 'config.json'}: ") and expected in message
