"""`python -m pipeline.export --format audiocraft`: real audio shards written with audiogen.io.shards, exported,
then read back the way audiocraft reads a dataset (audiocraft is not installable here, so its readers
are re-implemented below from audiocraft/data/audio_dataset.py and sound_dataset.py: `load_audio_meta`,
`AudioMeta.from_dict`, `SoundDataset._get_info_path`, `SoundInfo.from_dict(fields_required=True)`)."""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import typing as tp
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiogen.io.audio import encode_flac, to_pcm16
from audiogen.io.shards import INDEX_NAME, ShardWriter
from pipeline.export import ExportConfig, export_audiocraft, main

SR = 16000
# shard name → clips (samples; None = a broken FLAC member the export must skip and report)
SHARDS = {
    "train-audioset-000000.tar": [16000, 9001, None, 4321],
    "train-clotho-000000.tar": [7777],
    "valid-audiocaps-000000.tar": [5000, 11111],
}


# --- audiocraft's readers, as written in audiocraft/data/audio_dataset.py and sound_dataset.py ------------
@dataclass(order=True)
class AudioMeta:
    path: str
    duration: float
    sample_rate: int
    amplitude: tp.Optional[float] = None
    weight: tp.Optional[float] = None
    info_path: tp.Optional[str] = None  # audiocraft: PathInZip("<zip>:<file>") when not None

    @classmethod
    def from_dict(cls, dictionary: dict) -> "AudioMeta":
        base = {f.name: dictionary[f.name] for f in fields(cls) if f.name in dictionary}
        if base.get("info_path") is not None:
            assert len(base["info_path"].split(":")) == 2  # PathInZip's own check
        return cls(**base)


def load_audio_meta(path: Path) -> list[AudioMeta]:
    open_fn = gzip.open if str(path).lower().endswith(".gz") else open
    with open_fn(path, "rb") as fp:
        lines = fp.readlines()
    return [AudioMeta.from_dict(json.loads(line)) for line in lines]


@dataclass
class SoundInfo:  # SegmentInfo's fields, then SoundInfo's
    meta: AudioMeta
    seek_time: float
    n_frames: int
    total_frames: int
    sample_rate: int
    channels: int
    description: tp.Optional[str] = None
    self_wav: tp.Any = None

    @classmethod
    def from_dict(cls, dictionary: dict, fields_required: bool = False) -> "SoundInfo":
        out = {}
        for f in fields(cls):
            if f.name == "self_wav":
                continue
            if f.name not in dictionary:
                if fields_required:
                    raise KeyError(f"Unexpected missing key: {f.name}")
                continue
            value = dictionary[f.name]
            if f.name == "description":  # get_keyword: strip + lower, '' → None
                value = value.strip().lower() if isinstance(value, str) and value and value != "None" else None
            out[f.name] = value
        return cls(**out)


def sound_info(meta: AudioMeta) -> SoundInfo:
    """SoundDataset.__getitem__: the sidecar at `Path(path).with_suffix('.json')`, updated with the segment info."""
    info_path = Path(meta.path).with_suffix(".json")
    assert info_path.exists(), f"Unable to find a metadata JSON for path: {meta.path}"
    sound_data = json.loads(info_path.read_text())
    n = round(meta.duration * meta.sample_rate)
    sound_data.update(meta=meta, seek_time=0.0, n_frames=n, total_frames=n, sample_rate=meta.sample_rate, channels=1)
    return SoundInfo.from_dict(sound_data, fields_required=True)
# -----------------------------------------------------------------------------------------------------------


def write_shards(directory: Path) -> dict[str, dict]:
    """Audio shards as `prepare` writes them; returns key → {"audio": float32 as the FLAC decodes, "meta"}."""
    rng = np.random.default_rng(0)
    clips, index = {}, []
    directory.mkdir(parents=True, exist_ok=True)
    for name, lengths in SHARDS.items():
        split, corpus, _ = name[: -len(".tar")].split("-")
        with ShardWriter(directory / name) as w:
            for i, n in enumerate(lengths):
                key = f"{corpus}-clip{i}-0"
                meta = {"key": key, "corpus": corpus, "split": split, "caption": f"A {corpus} sound number {i} ",
                        "captions": [f"A {corpus} sound number {i}"], "youtube_id": f"Yt{i}-AbCdEf",
                        "audio_path": f"data/raw/{corpus}/Clip {i}.wav", "sample_rate": SR, "num_samples": n or 0}
                if n is None:
                    w.write(key, {"flac": b"fLaC not really", "json": json.dumps(meta).encode()})
                    continue
                x = 0.3 * np.sin(2 * np.pi * rng.uniform(100, 3000) * np.arange(n) / SR) + 0.1 * rng.standard_normal(n)
                pcm = to_pcm16(x.astype(np.float32))
                w.write(key, {"flac": encode_flac(pcm, SR), "json": json.dumps(meta).encode()})
                clips[key] = {"audio": pcm.astype(np.float32) / 32768.0, "meta": meta}
        index.append({"name": name, "split": split, "corpus": corpus, "clips": len(lengths)})
    (directory / INDEX_NAME).write_text(json.dumps({"shards": index}))
    return clips


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    return root / "audio", write_shards(root / "audio")


def _tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("audio_format", ["flac", "wav"])
def test_manifest_reads_back_as_audiocraft_does(shards, tmp_path, audio_format):
    shard_dir, clips = shards
    res = export_audiocraft(ExportConfig(shards=shard_dir, out=tmp_path / "egs" / "demo", audio_format=audio_format))
    out = (tmp_path / "egs" / "demo").resolve()
    assert res.clips == {"train": 4, "valid": 2}
    assert len(res.skipped) == 1 and "train-audioset-000000.tar:audioset-clip2-0" in res.skipped[0]
    assert not (out / "test").exists()  # no test shards: no empty manifest audiocraft would choke on
    seen = set()
    for split in ("train", "valid"):
        raw = [json.loads(line) for line in gzip.open(out / split / "data.jsonl.gz", "rt")]
        for d in raw:  # the exact fields and JSON types AudioMeta declares
            assert set(d) == {"path", "duration", "sample_rate", "amplitude", "weight", "info_path"}
            assert type(d["path"]) is str and type(d["duration"]) is float and type(d["sample_rate"]) is int
            assert type(d["amplitude"]) is float and d["weight"] is None and d["info_path"] is None
        metas = load_audio_meta(out / split / "data.jsonl.gz")
        assert [m.path for m in metas] == sorted(m.path for m in metas)
        for m in metas:
            assert os.path.isabs(m.path) and m.path.endswith(f".{audio_format}")
            key = Path(m.path).stem
            want = clips[key]["audio"]
            assert clips[key]["meta"]["split"] == split
            audio, sr = sf.read(m.path, dtype="float32")
            assert sf.info(m.path).format == audio_format.upper() and sf.info(m.path).subtype == "PCM_16"
            assert sr == m.sample_rate == SR and audio.ndim == 1
            np.testing.assert_array_equal(audio, want)  # lossless: the very samples of the shard
            assert m.duration == pytest.approx(len(want) / SR, abs=1e-12)
            assert m.amplitude == pytest.approx(float(np.abs(want).max()))
            info = sound_info(m)
            assert info.description == f"a {clips[key]['meta']['corpus']} sound number {key[-3]}"
            sidecar = json.loads(Path(m.path).with_suffix(".json").read_text())
            assert sidecar["youtube_id"] == clips[key]["meta"]["youtube_id"] and sidecar["key"] == key
            seen.add(key)
    assert seen == set(clips)
    dset = (out / "dset.yaml").read_text()
    assert f"train: {out / 'train'}" in dset and "evaluate: null" in dset


def test_flac_export_copies_the_shard_bytes(shards, tmp_path):
    shard_dir, _ = shards
    from audiogen.io.shards import iter_shard

    export_audiocraft(ExportConfig(shards=shard_dir, out=tmp_path / "o"))
    for key, members in iter_shard(shard_dir / "train-clotho-000000.tar"):
        assert (tmp_path / "o" / "audio" / "train-clotho-000000" / f"{key}.flac").read_bytes() == members["flac"]


def test_deterministic_and_relative_paths(shards, tmp_path):
    """Two exports to different places, each with paths relative to its own dir, are byte-identical;
    a re-export in place changes nothing; relative paths resolve to the files."""
    shard_dir, _ = shards
    for name in ("a", "b"):
        export_audiocraft(ExportConfig(shards=shard_dir, out=tmp_path / name / "egs" / "x", relative_to=tmp_path / name))
    a, b = _tree_digest(tmp_path / "a"), _tree_digest(tmp_path / "b")
    assert a == b and "egs/x/train/data.jsonl.gz" in a
    export_audiocraft(ExportConfig(shards=shard_dir, out=tmp_path / "a" / "egs" / "x", relative_to=tmp_path / "a"))
    assert _tree_digest(tmp_path / "a") == a
    for m in load_audio_meta(tmp_path / "a" / "egs" / "x" / "valid" / "data.jsonl.gz"):
        assert m.path.startswith("egs/x/audio/valid-audiocaps-000000/") and (tmp_path / "a" / m.path).is_file()
    assert "train: egs/x/train" in (tmp_path / "a" / "egs" / "x" / "dset.yaml").read_text()


def test_splits_selection(shards, tmp_path):
    shard_dir, _ = shards
    res = export_audiocraft(ExportConfig(shards=shard_dir, out=tmp_path / "o", splits=("valid",)))
    assert res.clips == {"valid": 2} and not (tmp_path / "o" / "train").exists()


def test_clear_errors(shards, tmp_path, capsys):
    shard_dir, _ = shards
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit, match="no audio shards"):
        main(["--format", "audiocraft", "--shards", str(tmp_path / "empty"), "--out", str(tmp_path / "o")])
    with pytest.raises(SystemExit, match="is not a directory"):
        main(["--format", "audiocraft", "--shards", str(tmp_path / "nope"), "--out", str(tmp_path / "o")])
    with pytest.raises(SystemExit, match="no test shards"):
        main(["--format", "audiocraft", "--shards", str(shard_dir), "--out", str(tmp_path / "o"), "--splits", "test"])
    with pytest.raises(SystemExit, match="unknown split"):
        main(["--format", "audiocraft", "--shards", str(shard_dir), "--out", str(tmp_path / "o"), "--splits", "tain"])
    for bad in (["--format", "hf"], ["--format", "audiocraft", "--audio-format", "mp3"]):
        with pytest.raises(SystemExit) as exc:
            main([*bad, "--shards", str(shard_dir), "--out", str(tmp_path / "o")])
        assert exc.value.code == 2 and "invalid choice" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_cli_summary_line(shards, tmp_path, capsys):
    shard_dir, _ = shards
    main(["--format", "audiocraft", "--shards", str(shard_dir), "--out", str(tmp_path / "o"), "--audio-format", "wav"])
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith("export audiocraft: train 4 clips") and "1 skipped" in line and "wav" in line
    assert sorted(p.suffix for p in (tmp_path / "o" / "audio" / "valid-audiocaps-000000").iterdir()) == \
        [".json", ".json", ".wav", ".wav"]
