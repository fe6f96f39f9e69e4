"""audiogen.io.shards: deterministic atomic writer, safe readers, plain webdataset and HF datasets access."""
from __future__ import annotations

import io
import json
import tarfile

import numpy as np
import pytest

from audiogen.io import audio
from audiogen.io.shards import (ShardError, ShardWriter, hf_features, iter_audio_samples, iter_shard, list_shards,
                             read_index, sha256_file, shard_name, wds_pipeline, write_shard)


def clip(key: str, freq: float) -> tuple[str, dict[str, bytes]]:
    t = np.arange(1600) / 16000
    pcm = audio.to_pcm16(0.3 * np.sin(2 * np.pi * freq * t))
    meta = {"key": key, "caption": f"tone {freq}", "sample_rate": 16000}
    return key, {"flac": audio.encode_flac(pcm, 16000), "json": json.dumps(meta).encode()}


SAMPLES = [clip(f"demo-k{i}-0", 200 + 100 * i) for i in range(5)]


def raw_tar(path, members: list[tuple[str, bytes]], kind=tarfile.REGTYPE) -> None:
    with tarfile.open(path, "w") as t:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size, info.type = len(data), kind
            t.addfile(info, io.BytesIO(data))


def test_writer_is_byte_deterministic_with_fixed_metadata(tmp_path):
    a = write_shard(tmp_path / "a" / "train-demo-000000.tar", SAMPLES)
    b = write_shard(tmp_path / "b" / "train-demo-000000.tar", SAMPLES)
    assert a == b == sha256_file(tmp_path / "a" / "train-demo-000000.tar")
    with tarfile.open(tmp_path / "a" / "train-demo-000000.tar") as t:
        infos = t.getmembers()
    assert [i.name for i in infos] == [f"{k}.{e}" for k, _ in SAMPLES for e in ("flac", "json")]
    assert {(i.mtime, i.uid, i.gid, i.uname, i.gname, i.mode) for i in infos} == {(0, 0, 0, "", "", 0o644)}
    c = write_shard(tmp_path / "c.tar", list(reversed(SAMPLES)))
    assert c != a  # order is the caller's, not re-sorted


def test_writer_is_atomic(tmp_path):
    path = tmp_path / "train-demo-000000.tar"
    with pytest.raises(RuntimeError):
        with ShardWriter(path) as w:
            w.write(*SAMPLES[0])
            assert not path.exists() and len(list(tmp_path.glob("*.tmp"))) == 1
            raise RuntimeError("killed half way")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ShardError, match="duplicate"):
        write_shard(path, [SAMPLES[0], SAMPLES[0]])
    with pytest.raises(ShardError, match="invalid key"):
        write_shard(path, [("Bad.Key", {"json": b"{}"})])
    assert list(tmp_path.iterdir()) == []


def test_iter_shard_round_trips(tmp_path):
    write_shard(tmp_path / "s.tar", SAMPLES)
    assert list(iter_shard(tmp_path / "s.tar")) == [(k, dict(m)) for k, m in SAMPLES]


@pytest.mark.parametrize("name,match", [("../evil.json", "unsafe"), ("dir/x.json", "unsafe"),
                                         ("a..b.json", "unsafe"), ("UPPER.json", "invalid key"),
                                         ("nokey", "extension"), (".hidden.json", "unsafe")])
def test_iter_shard_rejects_unsafe_member_names(tmp_path, name, match):
    raw_tar(tmp_path / "bad.tar", [("ok-1.json", b"{}"), (name, b"{}")])
    with pytest.raises(ShardError, match=match) as err:
        list(iter_shard(tmp_path / "bad.tar"))
    assert "bad.tar" in str(err.value)


def test_iter_shard_rejects_links_and_split_samples(tmp_path):
    raw_tar(tmp_path / "link.tar", [("a-1.json", b"")], kind=tarfile.SYMTYPE)
    with pytest.raises(ShardError, match="regular file"):
        list(iter_shard(tmp_path / "link.tar"))
    raw_tar(tmp_path / "split.tar", [("a-1.json", b"{}"), ("b-1.json", b"{}"), ("a-1.flac", b"")])
    with pytest.raises(ShardError, match="split across"):
        list(iter_shard(tmp_path / "split.tar"))


def test_iter_audio_samples_decodes_and_shuffles_by_seed(tmp_path):
    paths = [tmp_path / shard_name("train", "demo", i) for i in range(2)]
    write_shard(paths[0], SAMPLES[:3])
    write_shard(paths[1], SAMPLES[3:])
    plain = list(iter_audio_samples(paths, shuffle=False, seed=0))
    assert [s.key for s in plain] == [k for k, _ in SAMPLES]
    s = plain[2]
    assert s.audio.dtype == np.float32 and s.audio.shape == (1600,) and s.sample_rate == 16000
    assert s.meta["caption"] == "tone 400" and abs(audio.peak_dbfs(s.audio) - audio.dbfs(0.3)) < 0.1
    orders = {seed: [x.key for x in iter_audio_samples(paths, shuffle=True, seed=seed)] for seed in range(6)}
    assert orders[1] == [x.key for x in iter_audio_samples(paths, shuffle=True, seed=1)]
    assert all(sorted(o) == sorted(orders[0]) for o in orders.values())
    assert len({tuple(o) for o in orders.values()}) > 1


def test_list_shards_and_index(tmp_path):
    for split, corpus, n in [("train", "a", 0), ("train", "b", 0), ("valid", "a", 0), ("train", "a", 1)]:
        write_shard(tmp_path / shard_name(split, corpus, n), SAMPLES[:1])
    (tmp_path / "train-a-000002.tar.123.tmp").write_bytes(b"partial")
    (tmp_path / "notes.tar").write_bytes(b"")
    assert [p.name for p in list_shards(tmp_path)] == ["train-a-000000.tar", "train-a-000001.tar",
                                                       "train-b-000000.tar", "valid-a-000000.tar"]
    assert [p.name for p in list_shards(tmp_path, split="train", corpus="a")] == ["train-a-000000.tar",
                                                                                   "train-a-000001.tar"]
    with pytest.raises(FileNotFoundError, match="shards.json"):
        read_index(tmp_path)
    (tmp_path / "shards.json").write_text(json.dumps({"shards": [{"name": "train-a-000000.tar"}]}))
    assert read_index(tmp_path)["shards"][0]["name"] == "train-a-000000.tar"


def test_plain_webdataset_reads_every_sample(tmp_path):
    write_shard(tmp_path / "train-demo-000000.tar", SAMPLES)
    got = list(wds_pipeline([tmp_path / "train-demo-000000.tar"], shardshuffle=False))
    assert [g["__key__"] for g in got] == [k for k, _ in SAMPLES]
    assert all(g["flac"] == m["flac"] and json.loads(g["json"])["key"] == k for g, (k, m) in zip(got, SAMPLES))


def test_hf_features_cover_the_clip_json_schema():
    feats = hf_features()
    assert set(feats) == {"__key__", "__url__", "flac", "json"}
    assert feats["flac"].dtype == "binary" and "caption" in feats["json"] and "sha256" in feats["json"]
