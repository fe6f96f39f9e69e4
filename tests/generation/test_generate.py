"""`python -m audiogen.generate` and `AudioGen.from_pretrained` on an LM trained here by the real
trainer (tiny, a few steps) over real shards and a real tiny codec."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml

from audiogen.generate import AudioGen, GenerationError, main as generate_main
from tests.lm_fixtures import SR, build_lm_data, synth


@pytest.fixture(scope="module")
def lm_dir(tmp_path_factory):
    from audiogen.train import main as train_main

    root = tmp_path_factory.mktemp("gen")
    data = build_lm_data(root / "data", clips_per_class=2)
    params = root / "params.yaml"
    params.write_text(yaml.safe_dump({"train": {
        "lm_overrides": {"dim": 64, "num_layers": 2, "num_heads": 2}, "segment_s": 1.0, "batch_size": 4,
        "max_steps": 5, "warmup_steps": 1, "checkpoint_every": 5, "valid_every": 5, "mix": {"p": 0.5}}}))
    train_main(["--tokens", str(data["tokens"]), "--audio", str(data["audio"]), "--codec", str(data["codec"]),
                "--out", str(root / "lm"), "--live-dir", str(root / "live"), "--params", str(params)])
    return root / "lm"


@pytest.fixture(scope="module")
def gen(lm_dir):
    return AudioGen.from_pretrained(lm_dir)


def test_cli_writes_16khz_wav_of_the_asked_length(lm_dir, tmp_path, capsys):
    out = tmp_path / "dog.wav"
    generate_main(["a dog barks", "-o", str(out), "--lm", str(lm_dir), "--duration", "0.7", "--top-k", "20"])
    info = sf.info(str(out))
    assert info.samplerate == 16000 and info.channels == 1 and info.frames == int(0.7 * 16000)
    assert "generate: 1 ×" in capsys.readouterr().out


def test_fixed_seed_gives_identical_audio(gen):
    a = gen.generate(["a low electric hum", "white noise"], 0.5, seed=3, top_k=50)
    b = gen.generate(["a low electric hum", "white noise"], 0.5, seed=3, top_k=50)
    c = gen.generate(["a low electric hum", "white noise"], 0.5, seed=4, top_k=50)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))


def test_sliding_windows_reach_the_asked_duration(gen):
    """The LM trained on 1 s segments: 2.3 s come from windows re-prompted with the last 0.5 s."""
    codes = gen.generate_codes(["a high beeping tone"], 2.3, stride_s=0.5, seed=0, top_k=20)
    assert codes.shape == (1, 2, int(np.ceil(2.3 * gen.frame_rate)))
    wav = gen.generate(["a high beeping tone"], 2.3, stride_s=0.5, seed=0, top_k=20)[0]
    assert wav.shape == (int(2.3 * SR),) and np.isfinite(wav).all()


def test_continuation_keeps_the_prompt_codes(gen):
    rng = np.random.default_rng(0)
    prompt = synth("hum", 0.4, rng)
    prompt_codes = gen.codec.encode(torch.from_numpy(prompt)[None, None])
    codes = gen.generate_codes(["a low electric hum", ""], 0.9, prompt=prompt, prompt_sr=SR, seed=1, top_k=20)
    tp = prompt_codes.shape[-1]
    assert torch.equal(codes[0, :, :tp], prompt_codes[0]) and torch.equal(codes[1, :, :tp], prompt_codes[0])
    # any sample rate: a 44.1 kHz prompt is resampled first
    from audiogen.io.audio import resample

    p44 = resample(prompt, SR, 44100)
    codes44 = gen.generate_codes(["x"], 0.9, prompt=p44, prompt_sr=44100, seed=1, top_k=20)
    assert codes44.shape[-1] == codes.shape[-1]


def test_cli_prompt_and_captions_file(lm_dir, tmp_path, capsys):
    prompt = tmp_path / "prompt.wav"
    sf.write(str(prompt), synth("click", 0.3, np.random.default_rng(1)), 22050)
    out = tmp_path / "cont.wav"
    generate_main(["--prompt", str(prompt), "-o", str(out), "--lm", str(lm_dir), "--duration", "0.8"])
    assert sf.info(str(out)).frames == int(0.8 * 16000)
    captions = tmp_path / "captions.txt"
    captions.write_text("a dog barks\n\n  \nrain on a roof\n")
    generate_main(["--captions", str(captions), "--out-dir", str(tmp_path / "many"), "--lm", str(lm_dir),
                   "--duration", "0.3", "--loudness", "-20"])
    wavs = sorted((tmp_path / "many").glob("*.wav"))
    assert [w.name for w in wavs] == ["0000_a_dog_barks.wav", "0001_rain_on_a_roof.wav"]
    assert "2 empty lines skipped" in capsys.readouterr().out
    x, _ = sf.read(str(wavs[0]))
    assert abs(20 * np.log10(np.sqrt(np.mean(x ** 2))) + 20) < 0.5 or np.max(np.abs(x)) > 0.98


@pytest.mark.parametrize("args, message", [  # out-of-range numbers: argparse errors, tests/generation/test_cli_inputs.py
    (["x", "--duration", "3", "--stride", "5"], "--stride"),
])
def test_bad_durations_are_clear_errors(lm_dir, tmp_path, args, message):
    with pytest.raises(SystemExit, match=message):
        generate_main(args + ["--lm", str(lm_dir), "-o", str(tmp_path / "x.wav")])


def test_bad_inputs_are_clear_errors(lm_dir, tmp_path):
    with pytest.raises(SystemExit, match="no LM checkpoint"):
        generate_main(["x", "--lm", str(tmp_path)])
    bad = tmp_path / "not_audio.wav"
    bad.write_text("hello")
    with pytest.raises(SystemExit, match="not audio soundfile can read"):
        generate_main(["x", "--lm", str(lm_dir), "--prompt", str(bad)])
    empty = tmp_path / "empty.txt"
    empty.write_text("\n \n")
    with pytest.raises(SystemExit, match="no captions"):
        generate_main(["--captions", str(empty), "--lm", str(lm_dir)])


def test_codec_with_another_sha256_is_an_error(lm_dir, tmp_path):
    from audiogen.codec import Codec, preset

    moved = tmp_path / "lm"
    shutil.copytree(lm_dir, moved)
    cfg = json.loads((moved / "config.json").read_text())
    other = tmp_path / "other_codec"
    torch.manual_seed(99)
    Codec(preset("tiny")).save_pretrained(other)
    with pytest.raises(GenerationError, match="sha256"):
        AudioGen.from_pretrained(moved, codec_dir=other)
    cfg["codec"]["path"] = str(tmp_path / "gone")
    (moved / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(SystemExit, match="missing"):
        generate_main(["x", "--lm", str(moved)])
