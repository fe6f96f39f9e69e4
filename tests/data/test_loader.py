"""The LM's training data (audiogen/data/): real audio shards, real token shards from a tiny random
codec, WebDataset streaming, mixing from the audio shards, exact resume, faults, validation."""
from __future__ import annotations

import io
import json
import math
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from audiogen.io.audio import encode_flac, to_pcm16
from audiogen.data.loader import DataConfig, MixConfig, check_codec, make_train_loader, make_valid_batches
from audiogen.data.mix import rms
from audiogen.io.shards import INDEX_NAME, ShardWriter, iter_shard

SR = 16000
HOP = 128          # the tiny codec: 125 frames per second
FR = SR / HOP
# shard → clip lengths (samples): some shorter than the segments used below, most longer
SHARDS = {
    "train-alpha-000000.tar": [16000, 3000, 9000, 5000, 12000],
    "train-alpha-000001.tar": [12000, 2500, 7000, 15000],
    "train-beta-000000.tar": [10000, 4000, 16000, 6000, 1500, 8000],
    "valid-alpha-000000.tar": [8000, 2000, 5000],
    "valid-beta-000000.tar": [6000, 7000],
}
CODEC_SHA = "c0dec" * 12 + "abcd"


def captions(key: str) -> list[str]:
    return [f"{key} sound one", f"{key} sound two"]


def _codes_npy(codes: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.ascontiguousarray(codes, dtype="<i2"), version=(1, 0), allow_pickle=False)
    return buf.getvalue()


def write_index(directory: Path, rows: list[dict], **extra) -> None:
    (directory / INDEX_NAME).write_text(json.dumps({"shards": rows, **extra}, indent=1))


def build(root: Path) -> dict:
    """Audio shards (FLAC + json) and their token shards (tiny random codec), as prepare and tokenize
    write them. Returns {key: {"audio": float32, "codes": int16 [K, T], "meta": dict}}."""
    from audiogen.codec import Codec, preset

    torch.manual_seed(0)
    codec = Codec(preset("tiny")).eval()
    assert codec.hop_length == HOP
    rng = np.random.default_rng(0)
    clips, audio_index, token_index = {}, [], []
    for name, lengths in SHARDS.items():
        split, corpus, _ = name[:-4].split("-")
        metas, audio = [], []
        with ShardWriter(root / "audio" / name) as w:
            for i, n in enumerate(lengths):
                key = f"{corpus}-{split}{name[-10:-4]}-{i}"
                x = rng.standard_normal(n) * rng.uniform(0.02, 0.3)
                x = np.convolve(x, rng.uniform(-1, 1, 5), mode="same")  # each clip its own colour
                pcm = to_pcm16(x.astype(np.float32))
                meta = {"key": key, "corpus": corpus, "split": split, "caption": captions(key)[0],
                        "captions_norm": captions(key), "captions": [c.upper() for c in captions(key)],
                        "labels": [], "sample_rate": SR, "num_samples": n}
                w.write(key, {"flac": encode_flac(pcm, SR), "json": json.dumps(meta).encode()})
                metas.append(meta)
                audio.append(pcm.astype(np.float32) / 32768.0)
        audio_index.append({"name": name, "split": split, "corpus": corpus, "clips": len(lengths),
                            "seconds": sum(lengths) / SR, "sha256": w.sha256})
        with torch.no_grad():
            codes = codec.encode_clips([torch.from_numpy(a) for a in audio])
        with ShardWriter(root / "tokens" / name) as w:
            for meta, a, c in zip(metas, audio, codes):
                c = c.numpy().astype(np.int16)
                tmeta = {**meta, "frame_rate": FR, "num_codebooks": 2, "codec_sha256": CODEC_SHA,
                         "num_frames": c.shape[1]}
                w.write(meta["key"], {"codes.npy": _codes_npy(c), "json": json.dumps(tmeta).encode()})
                clips[meta["key"]] = {"audio": a, "codes": c, "meta": meta}
        token_index.append({**audio_index[-1], "sha256": w.sha256, "frames": sum(c.shape[1] for c in codes)})
    write_index(root / "audio", audio_index)
    write_index(root / "tokens", token_index, codec_sha256=CODEC_SHA, frame_rate=FR, num_codebooks=2)
    return clips


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    return root, build(root)


def loader(root: Path, audio: Path | None = None, tokens: Path | None = None, **kw):
    cfg = DataConfig.from_dict({"segment_s": 0.256, "batch_size": 4, "shuffle_buffer": 8, **kw})
    return make_train_loader(tokens or root / "tokens", root / "audio" if audio is None else audio, cfg,
                             frame_rate=FR, sample_rate=SR, num_codebooks=2)


def take(ld, n: int) -> list[dict]:
    it = iter(ld)
    return [next(it) for _ in range(n)]


def same(b1: dict, b2: dict) -> bool:
    assert b1.keys() == b2.keys()
    return all(torch.equal(b1[k], b2[k]) if isinstance(b1[k], torch.Tensor) else b1[k] == b2[k] for k in b1)


def is_window(row: np.ndarray, codes: np.ndarray) -> bool:
    t = row.shape[1]
    return any(np.array_equal(codes[:, s: s + t], row) for s in range(codes.shape[1] - t + 1))


def test_unmixed_rows_are_crops_of_the_clip_codes(data, tmp_path):
    root, clips = data
    # mix.p = 0 never opens the audio shards: the folder need not exist
    ld = loader(root, audio=tmp_path / "no-such-dir", mix={"p": 0.0})
    T = round(0.256 * FR)
    padded = 0
    for b in take(ld, 12):
        assert b["codes"].dtype == torch.long and b["codes"].shape == (4, 2, T)
        assert b["frame_mask"].dtype == torch.bool and b["frame_mask"].shape == (4, T)
        assert not b["mixed"].any() and b["mix_audio"].shape == (0, 1, round(0.256 * SR))
        assert b["mix_index"].shape == (0,) and b["mix_num_samples"].shape == (0,)
        for i, key in enumerate(b["keys"]):
            c = clips[key]
            real = int(b["frame_mask"][i].sum())
            assert b["frame_mask"][i, :real].all() and real == min(T, c["codes"].shape[1])
            row = b["codes"][i].numpy()
            assert is_window(row[:, :real], c["codes"]) and not row[:, real:].any()
            assert b["texts"][i] in captions(key) and b["corpora"][i] == c["meta"]["corpus"]
            expect = min(T / FR, c["meta"]["num_samples"] / SR)
            assert b["seconds"][i].item() == pytest.approx(expect, rel=1e-5)
            padded += real < T
    assert padded > 0 and not ld.skipped
    texts = {t for b in take(loader(root, mix={"p": 0.0}), 12) for t in b["texts"]}
    assert any(t.endswith("one") for t in texts) and any(t.endswith("two") for t in texts)


def lag_of(y: np.ndarray, x: np.ndarray) -> int:
    size = 1 << math.ceil(math.log2(len(y) + len(x)))
    corr = np.fft.irfft(np.fft.rfft(y, size) * np.conj(np.fft.rfft(x, size)), size)[: len(y)]
    return int(np.argmax(np.abs(corr)))


def test_mixed_rows_from_the_audio_shards(data):
    """With p = 1 and a segment longer than every clip (so no crop), each mixture must be its clip
    and its partner, read from the audio shards by key, at an SNR in [-5, 5] dB, overlapping at least
    half of the shorter clip, at a level in [-35, -16] dBFS or peak-limited to 0.99."""
    root, clips = data
    seg = 1.1
    N, T = round(seg * SR), round(seg * FR)
    ld = loader(root, segment_s=seg, mix={"p": 1.0})
    for b in take(ld, 3):
        assert b["mixed"].all() and b["mix_audio"].shape == (4, 1, N)
        assert b["mix_index"].tolist() == [0, 1, 2, 3] and not b["codes"].any()
        for m, row in enumerate(b["mix_index"].tolist()):
            key, partner = b["keys"][row], b["mix_keys"][m]
            assert key != partner and b["mix_corpora"][m] == clips[partner]["meta"]["corpus"]
            first, second = b["texts"][row][: -len(" sound one")], b["texts"][row]
            assert any(b["texts"][row] == f"{c1} {c2}" for c1 in captions(key) for c2 in captions(partner)), first
            y = b["mix_audio"][m, 0].numpy().astype(np.float64)
            length = int(b["mix_num_samples"][m])
            assert not y[length:].any() and b["seconds"][row].item() == pytest.approx(length / SR)
            assert int(b["frame_mask"][row].sum()) == min(T, math.ceil(length / HOP)) and b["frame_mask"][row, 0]
            parts, spans = [], []
            for x in (clips[key]["audio"], clips[partner]["audio"]):
                at = lag_of(y, x)
                p = np.zeros(N)
                end = min(N, at + len(x))
                p[at:end] = x[: end - at]
                parts.append(p)
                spans.append((at, end))
            g, *_ = np.linalg.lstsq(np.stack(parts, 1), y, rcond=None)
            assert np.linalg.norm(y - np.stack(parts, 1) @ g) < 1e-4 * np.linalg.norm(y)
            snr = 20 * math.log10(g[0] * rms(parts[0][slice(*spans[0])]) / (g[1] * rms(parts[1][slice(*spans[1])])))
            assert -5.0 - 1e-3 <= snr <= 5.0 + 1e-3
            overlap = min(spans[0][1], spans[1][1]) - max(spans[0][0], spans[1][0])
            assert overlap >= 0.5 * min(spans[0][1] - spans[0][0], spans[1][1] - spans[1][0])
            assert max(spans[0][1], spans[1][1]) == length
            peak, level = np.max(np.abs(y)), 20 * math.log10(rms(y[:length]))
            assert peak <= 0.99 + 1e-6 and (-35.0 - 1e-3 <= level <= -16.0 + 1e-3 or peak >= 0.99 - 1e-6)
    assert not ld.skipped


def test_same_seed_same_batches_and_the_mix_rate(data):
    root, _ = data
    a, b, c = (take(loader(root, seed=s), 6) for s in (0, 0, 1))
    assert all(same(x, y) for x, y in zip(a, b))
    assert not all(same(x, y) for x, y in zip(a, c))
    mixed = torch.cat([x["mixed"] for x in take(loader(root, batch_size=8), 25)]).float().mean().item()
    assert 0.35 < mixed < 0.65  # p = 0.5


@pytest.mark.parametrize("workers,n,reseed", [(0, 5, 50_000), (0, 5, 7), (2, 3, 7)])
def test_resume_continues_the_same_sequence(data, workers, n, reseed):
    """Batches n+1..2n of a loader restored from the state after n batches (through torch.save and
    a weights_only load, as the trainer's checkpoint) equal those of an uninterrupted loader; also
    with chunk restarts every 7 raw samples, and with two DataLoader worker processes."""
    root, _ = data
    kw = {"loader_workers": workers, "reseed_every": reseed}
    whole = take(loader(root, **kw), 2 * n)
    first = loader(root, **kw)
    assert all(same(x, y) for x, y in zip(take(first, n), whole[:n]))
    buf = io.BytesIO()
    torch.save(first.state_dict(), buf)
    state = torch.load(io.BytesIO(buf.getvalue()), weights_only=True)
    resumed = loader(root, **kw)
    resumed.load_state_dict(state)
    assert all(same(x, y) for x, y in zip(take(resumed, n), whole[n:]))
    assert resumed.state_dict()["batches"] == 2 * n
    with pytest.raises(ValueError, match="seed"):
        loader(root, **kw, seed=9).load_state_dict(state)


def test_corpus_weights_and_ranks(data):
    root, _ = data
    only_beta = take(loader(root, corpus_weights={"alpha": 0.0, "beta": 1.0}, mix={"p": 0.0}), 5)
    assert {c for b in only_beta for c in b["corpora"]} == {"beta"}
    with pytest.raises(SystemExit, match="gamma"):
        loader(root, corpus_weights={"gamma": 1.0})
    # world 2: alpha's two shards are split between the ranks, beta (one shard) is shared
    cfg = DataConfig(segment_s=0.256, batch_size=4, shuffle_buffer=8, corpus_weights={"alpha": 1.0},
                     mix=MixConfig(p=0.0))
    seen = []
    for rank in (0, 1):
        ld = make_train_loader(root / "tokens", None, cfg, rank=rank, world=2, frame_rate=FR, sample_rate=SR,
                               num_codebooks=2)
        seen.append({k.rsplit("-", 1)[0] for b in take(ld, 4) for k in b["keys"]})
    assert len(seen[0]) == len(seen[1]) == 1 and seen[0] != seen[1]


def test_faults_are_skipped_and_counted(data, tmp_path):
    """A missing shard, a truncated shard, a garbage .npy, codes of another K and a clip of zero
    frames: all skipped and counted by reason, never a crash."""
    root, clips = data
    bad = tmp_path / "tokens"
    shutil.copytree(root / "tokens", bad)
    (bad / "train-alpha-000001.tar").unlink()  # listed in shards.json, gone from disk
    with tarfile.open(bad / "train-beta-000000.tar") as tar:  # cut inside the data of the third clip
        cut = next(m.offset_data for m in tar if m.name == "beta-train000000-2.codes.npy") + 10
    whole = (bad / "train-beta-000000.tar").read_bytes()
    (bad / "train-beta-000000.tar").write_bytes(whole[:cut])
    samples = list(iter_shard(root / "tokens" / "train-alpha-000000.tar"))
    with ShardWriter(bad / "train-alpha-000000.tar") as w:
        for i, (key, members) in enumerate(samples):
            if i == 1:
                members = {**members, "codes.npy": b"\x93NUMPY garbage"}
            elif i == 2:
                members = {**members, "codes.npy": _codes_npy(np.zeros((2, 0), np.int16))}
            elif i == 3:
                members = {**members, "codes.npy": _codes_npy(np.zeros((3, 40), np.int16))}
            w.write(key, members)
    cfg = DataConfig(segment_s=0.256, batch_size=4, shuffle_buffer=4, mix=MixConfig(p=0.5))
    ld = make_train_loader(bad, root / "audio", cfg, frame_rate=FR, sample_rate=SR, num_codebooks=2)
    batches = take(ld, 15)
    keys = {k for b in batches for k in b["keys"]}
    assert keys and all(k in clips for k in keys)
    sk = ld.skipped
    assert sk["missing_shard"] == 1 and sk["bad_shard"] >= 1 and sk["decode"] >= 1
    assert not {"beta-train000000-2", "beta-train000000-3"} & keys and "beta-train000000-1" in keys
    assert sk["too_short"] >= 1 and sk["bad_shape"] >= 1
    assert ld.state_dict()["skipped"][0] == {k: v for k, v in sk.items() if k != "missing_shard"}


def test_all_shards_broken_is_an_error_not_a_hang(data, tmp_path):
    root, _ = data
    assert len(take(loader(root, shuffle_buffer=1000), 1)) == 1  # a buffer of ~200 shards' clips is no fault
    bad = tmp_path / "tokens"
    shutil.copytree(root / "tokens", bad)
    for f in bad.glob("train-*.tar"):
        f.write_bytes(b"not a tar at all" * 100)
    with pytest.raises(RuntimeError, match="no sample"):
        take(loader(root, tokens=bad), 1)


def test_mixing_survives_missing_audio(data, tmp_path):
    root, _ = data
    audio = tmp_path / "audio"
    audio.mkdir()
    shutil.copy(root / "audio" / "train-alpha-000000.tar", audio)  # the other audio shards are gone
    ld = loader(root, audio=audio, mix={"p": 1.0})
    batches = take(ld, 6)
    assert ld.skipped["mix_audio"] > 0
    assert any(not b["mixed"].all() for b in batches)  # fell back to the unmixed rows
    with pytest.raises(SystemExit, match="no-such"):
        loader(root, audio=tmp_path / "no-such", mix={"p": 0.5})


def test_check_codec(data):
    root, _ = data
    assert check_codec(root / "tokens", CODEC_SHA)["num_codebooks"] == 2
    with pytest.raises(SystemExit) as err:
        check_codec(root / "tokens", "f" * 64)
    assert CODEC_SHA in str(err.value) and "f" * 64 in str(err.value)
    with pytest.raises(SystemExit, match="frame rate"):
        make_train_loader(root / "tokens", None, DataConfig(mix=MixConfig(p=0)), frame_rate=50.0, sample_rate=SR,
                          num_codebooks=2)


def test_validation_batches(data, tmp_path):
    root, clips = data
    cfg = DataConfig(segment_s=0.256, batch_size=4, mix=MixConfig(p=1.0))
    T = round(0.256 * FR)
    batches = make_valid_batches(root / "tokens", cfg, FR)
    again = make_valid_batches(root / "tokens", cfg, FR, num_codebooks=2)
    assert len(batches) == 2 and all(same(x, y) for x, y in zip(batches, again))
    keys = [k for b in batches for k in b["keys"]]
    assert keys == [f"{c}-valid000000-{i}" for c, n in (("alpha", 3), ("beta", 2)) for i in range(n)]
    for b in batches:
        assert not b["mixed"].any() and b["mix_audio"].shape[0] == 0
        for i, key in enumerate(b["keys"]):
            real = min(T, clips[key]["codes"].shape[1])
            assert np.array_equal(b["codes"][i, :, :real].numpy(), clips[key]["codes"][:, :real])
            assert int(b["frame_mask"][i].sum()) == real and b["texts"][i] == captions(key)[0]
    empty = tmp_path / "tokens"
    empty.mkdir()
    shutil.copy(root / "tokens" / INDEX_NAME, empty)
    for f in (root / "tokens").glob("train-*.tar"):
        shutil.copy(f, empty)
    with pytest.raises(SystemExit, match=str(empty)):
        make_valid_batches(empty, cfg, FR)


def test_config_round_trip():
    cfg = DataConfig.from_dict({"segment_s": 2.0, "batch_size": 3, "corpus_weights": {"a": 2},
                                "mix": {"p": 0.25, "out_dbfs": [-30, -20]}})
    assert cfg.mix.p == 0.25 and cfg.mix.out_dbfs == (-30.0, -20.0) and cfg.corpus_weights == {"a": 2.0}
    assert DataConfig.from_dict(cfg.to_dict()) == cfg
    assert json.loads(json.dumps(cfg.to_dict()))["mix"]["snr_db"] == [-5.0, 5.0]
    with pytest.raises(ValueError, match="unknown"):
        DataConfig.from_dict({"segment": 1.0})
