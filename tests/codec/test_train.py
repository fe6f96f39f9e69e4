"""Training: the tiny codec learns, checkpoints load, `--resume auto` continues exactly; the
segment stream is deterministic and restartable."""
from __future__ import annotations

import csv
import itertools
from pathlib import Path

import pytest
import torch
import yaml

from audiogen.codec.data import SegmentStream, find_shards, load_validation
from audiogen.codec.model import Codec
from audiogen.codec.train import main

from ._synth import write_audio_shards


@pytest.fixture(scope="module")
def long_shards(tmp_path_factory) -> Path:
    """Clips longer than the validation segment, so validation measures sound, not padding."""
    d = tmp_path_factory.mktemp("codec_long_shards")
    write_audio_shards(d, "train", 3, 12, 1.5, seed=11)
    write_audio_shards(d, "valid", 1, 6, 1.5, seed=12)
    return d


def _params(tmp_path: Path, **codec) -> Path:
    base = {"preset": "tiny", "segment_s": 0.25, "batch_size": 8, "valid_clips": 6, "valid_segment_s": 0.8,
            "lr": 1e-3, "checkpoint_every": 1000, "valid_every": 50,
            "losses": {"adv": 0, "feat": 0, "balancer": False}}
    base.update(codec)
    p = tmp_path / "params.yaml"
    p.write_text(yaml.safe_dump({"codec": base}))
    return p


def _tsv(path: Path) -> list[tuple[int, float]]:
    with open(path) as f:
        return [(int(r["step"]), float(r[path.stem])) for r in csv.DictReader(f, delimiter="\t")]


def test_tiny_codec_learns(long_shards, tmp_path, capsys):
    params = _params(tmp_path)
    out, live = tmp_path / "codec", tmp_path / "live"
    result = main(["--params", str(params), "--shards", str(long_shards), "--out", str(out),
                   "--live-dir", str(live), "--steps", "150", "--threads", "1"])
    mel = _tsv(live / "plots" / "metrics" / "valid" / "mel_distance.tsv")
    snr = _tsv(live / "plots" / "metrics" / "valid" / "si_snr.tsv")
    assert mel[0][0] == 0 and mel[-1][0] == 150
    assert mel[-1][1] < 0.6 * mel[0][1], mel          # clearly lower than the untrained codec
    assert snr[-1][1] > snr[0][1]
    assert result["step"] == 150 and result["valid_mel_distance"] == pytest.approx(mel[-1][1])
    assert "train_codec: preset tiny, 150 steps" in capsys.readouterr().out
    codec = Codec.from_pretrained(out)
    clip = load_validation(find_shards(long_shards, "valid"), 2, 8000, 16000)
    codes = codec.encode(clip)
    assert codes.shape == (2, 2, 63)
    assert torch.unique(codes[:, 0]).numel() > 8   # uses its codebook


def test_resume_continues_exactly(synth_shards, tmp_path):
    params = _params(tmp_path, batch_size=4, checkpoint_every=6, valid_every=6, valid_clips=2,
                     valid_segment_s=0.5,
                     losses={"balancer": True, "disc_filters": 4, "disc_n_ffts": [256, 128]})
    common = ["--params", str(params), "--shards", str(synth_shards), "--threads", "1"]
    main(common + ["--out", str(tmp_path / "straight"), "--live-dir", str(tmp_path / "l1"), "--steps", "12"])
    main(common + ["--out", str(tmp_path / "resumed"), "--live-dir", str(tmp_path / "l2"), "--steps", "6"])
    state6 = torch.load(tmp_path / "resumed" / "state.pt", weights_only=True)
    assert state6["step"] == 6 and state6["positions"][0][0][1:] != [0, 0, 0]
    main(common + ["--out", str(tmp_path / "resumed"), "--live-dir", str(tmp_path / "l2"), "--steps", "12",
                   "--resume", "auto"])
    a = (tmp_path / "straight" / "model.safetensors").read_bytes()
    b = (tmp_path / "resumed" / "model.safetensors").read_bytes()
    assert a == b  # same weights, codebooks, optimizer path and data as an uninterrupted run
    sa = torch.load(tmp_path / "straight" / "state.pt", weights_only=True)
    sb = torch.load(tmp_path / "resumed" / "state.pt", weights_only=True)
    assert sa["step"] == sb["step"] == 12 and sa["positions"] == sb["positions"]
    for k, v in sa["disc"].items():
        assert torch.equal(v, sb["disc"][k]), k
    steps = [s for s, _ in _tsv(tmp_path / "l2" / "plots" / "metrics" / "valid" / "si_snr.tsv")]
    assert steps == [0, 6, 12]
    # Resuming into another codec setup is refused with the checkpoint's name.
    with pytest.raises(SystemExit, match="state.pt: checkpoint of another codec"):
        main(common + ["--out", str(tmp_path / "resumed"), "--live-dir", str(tmp_path / "l2"), "--steps", "13",
                       "--preset", "paper-4stream", "--resume", "auto"])
    # Without --resume auto, a run starts over.
    main(common + ["--out", str(tmp_path / "resumed"), "--live-dir", str(tmp_path / "l3"), "--steps", "6"])
    assert torch.load(tmp_path / "resumed" / "state.pt", weights_only=True)["step"] == 6


def test_segment_stream_is_deterministic_and_restartable(synth_shards):
    paths = find_shards(synth_shards, "train")
    make = lambda start=None, seed=0, rank=0: SegmentStream(paths, 4000, 16000, seed, rank, 2, start=start)
    first = list(itertools.islice(iter(make()), 30))
    again = list(itertools.islice(iter(make()), 30))
    assert all(torch.equal(a["wav"], b["wav"]) for a, b in zip(first, again))
    assert all(x["wav"].shape == (1, 4000) for x in first)
    # Restart from item 10's position: the next items are items 11, 12, ...
    restarted = list(itertools.islice(iter(make(start={0: first[10]["pos"].tolist()})), 19))
    assert all(torch.equal(a["wav"], b["wav"]) for a, b in zip(first[11:], restarted))
    # The stream crosses epochs (rank 0 of 2 holds 2 of 3 shards: 24 clips per epoch).
    assert first[-1]["pos"][1] == 1
    # Another rank or seed reads other audio.
    other = next(iter(make(rank=1)))["wav"]
    assert not torch.equal(other, first[0]["wav"])
    assert not torch.equal(next(iter(make(seed=5)))["wav"], first[0]["wav"])


def test_no_shards_is_a_clear_error(tmp_path):
    with pytest.raises(SystemExit, match="no audio shards"):
        main(["--params", str(_params(tmp_path)), "--shards", str(tmp_path), "--out", str(tmp_path / "o"),
              "--steps", "1"])


def test_adversarial_terms_start_at_adv_start_step():
    """Before `adv_start_step` the codec trains on L1 + mel only and the discriminator is frozen;
    from that step on the discriminator steps and adv + feat join the generator loss."""
    from audiogen.codec.config import TrainConfig
    from audiogen.codec.train import _Trainer

    torch.manual_seed(0)
    cfg = TrainConfig.from_dict({"segment_s": 0.1, "batch_size": 2,
                                 "losses": {"adv_start_step": 2, "disc_filters": 4, "disc_n_ffts": [256, 128]}})
    tr = _Trainer(cfg, torch.device("cpu"))
    disc0 = {k: v.clone() for k, v in tr.disc.state_dict().items()}
    wav = 0.1 * torch.randn(2, 1, 1600)
    for _ in range(2):
        m = tr.train_step(wav)
        assert set(m) == {"l1", "mel", "commit"}, m
    assert all(torch.equal(v, tr.disc.state_dict()[k]) for k, v in disc0.items())
    m = tr.train_step(wav)
    assert {"disc", "adv", "feat"} <= set(m)
    assert any(not torch.equal(v, tr.disc.state_dict()[k]) for k, v in disc0.items())
