"""The `hf` adapter on Hugging Face datasets built in the test (no hub access).

torchcodec is not installed here, so any attempt by `datasets` to decode audio would raise:
these tests also prove that the adapter never decodes.
"""
from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from pipeline.corpora.hf import read, sniff_extension
from pipeline.manifest import ManifestRow, Reject

from ._audio import write_tone

datasets = pytest.importorskip("datasets")

KEY_RE = re.compile(r"^[a-z0-9_-]+$")


def _audio_bytes(fmt: str, freq: float) -> bytes:
    buf = io.BytesIO()
    t = np.arange(1600) / 16000
    sf.write(buf, 0.3 * np.sin(2 * np.pi * freq * t), 16000, format=fmt)
    return buf.getvalue()


@pytest.fixture()
def embedded(tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    """A DatasetDict saved to disk whose audio is bytes only (no usable path)."""
    blobs = {"wav": _audio_bytes("WAV", 440), "flac": _audio_bytes("FLAC", 550), "ogg": _audio_bytes("WAV", 660)}

    def part(rows):
        ds = datasets.Dataset.from_dict({
            "audio": [{"path": p, "bytes": b} for p, b in rows[0]],
            "caption": rows[1],
        })
        return ds.cast_column("audio", datasets.Audio())  # a real Audio column (decode=True)

    dd = datasets.DatasetDict({
        "train": part(([(None, blobs["wav"]), ("clip.flac", blobs["flac"])],
                       ["A dog barks, twice.", "Caf\u0065\u0301 noise"])),
        "validation": part(([(None, blobs["ogg"])], ["Wind."])),
        "test": part(([(None, blobs["wav"])], [""])),  # no caption
    })
    root = tmp_path / "ds"
    dd.save_to_disk(str(root))
    return root, blobs


def test_bytes_only_audio_goes_to_the_cache(embedded) -> None:
    root, blobs = embedded
    items = list(read(root, {}))
    rows = {r.source: r for r in items if isinstance(r, ManifestRow)}
    assert sorted(rows) == ["train[0]", "train[1]", "validation[0]"]
    first = rows["train[0]"]
    assert first.key == "hf-train_0" and first.split == "train"
    assert first.audio_path == str(root / ".audiogen_hf_audio" / "hf-train_0.wav")
    assert Path(first.audio_path).read_bytes() == blobs["wav"]
    second = rows["train[1]"]
    assert second.audio_path.endswith("hf-train_1.flac")  # extension from the stored name
    assert Path(second.audio_path).read_bytes() == blobs["flac"]
    assert second.captions == ["Caf\u00e9 noise"]  # NFC
    assert rows["validation[0]"].split == "valid"
    assert sf.info(rows["validation[0]"].audio_path).samplerate == 16000  # a real, readable file
    rejects = [(r.reason, r.source) for r in items if isinstance(r, Reject)]
    assert rejects == [("missing_caption", "test[0]")]
    assert all(KEY_RE.match(r.key) for r in rows.values())


def test_cache_is_deterministic_and_not_rewritten(embedded, tmp_path: Path) -> None:
    root, _ = embedded
    cache = tmp_path / "cache"
    first = [r.to_dict() for r in read(root, {"cache_dir": str(cache)})]
    files = sorted(cache.iterdir())
    stamps = [p.stat().st_mtime_ns for p in files]
    second = [r.to_dict() for r in read(root, {"cache_dir": str(cache)})]
    assert first == second
    assert [p.stat().st_mtime_ns for p in sorted(cache.iterdir())] == stamps
    assert [p.name for p in files] == ["hf-train_0.wav", "hf-train_1.flac", "hf-validation_0.wav"]
    # a corrupted cache file is replaced by the dataset's bytes
    files[0].write_bytes(b"junk")
    list(read(root, {"cache_dir": str(cache)}))
    assert files[0].read_bytes()[:4] == b"RIFF"


def test_path_audio_columns(tmp_path: Path) -> None:
    root = tmp_path / "paths"
    absolute = write_tone(tmp_path / "elsewhere" / "bell.wav")
    write_tone(root / "clips" / "rel.flac")
    ds = datasets.Dataset.from_dict({
        "file": [str(absolute), "clips/rel.flac", str(tmp_path / "gone.wav"), str(absolute)],
        "text": [["A bell rings.", "Ding."], ["A relative clip."], ["Missing."], ["Holdout."]],
        "uid": ["bell-01", "Rel.Clip", "gone", "odd"],
        "part": ["train", "test", "train", "holdout"],
        "tags": [["bell"], [], [], []],
    })
    ds.save_to_disk(str(root))
    opts = {"audio_column": "file", "caption_column": "text", "id_column": "uid", "split_column": "part",
            "labels_column": "tags", "license": "CC-BY-4.0"}
    items = list(read(root, opts))
    rows = {r.source: r for r in items if isinstance(r, ManifestRow)}
    bell = rows["train[0]"]
    assert bell.audio_path == str(absolute) and bell.captions == ["A bell rings.", "Ding."]
    assert bell.key == "hf-bell-01" and bell.labels == ["bell"] and bell.license == "CC-BY-4.0"
    rel = rows["train[1]"]
    assert rel.audio_path == str(root / "clips" / "rel.flac") and rel.split == "test"
    assert KEY_RE.match(rel.key) and rel.key != "hf-rel_clip"  # information lost: a hash is appended
    rejects = sorted((r.reason, r.source) for r in items if isinstance(r, Reject))
    assert rejects == [("malformed_row", "train[3]"), ("missing_audio", "train[2]")]
    assert not (root / ".audiogen_hf_audio").exists()  # nothing to cache


def test_struct_path_column_and_split_map(tmp_path: Path) -> None:
    clip = write_tone(tmp_path / "a.wav")
    ds = datasets.Dataset.from_dict({"audio": [{"path": str(clip), "bytes": None}], "caption": ["Tone."]})
    root = tmp_path / "dd"
    datasets.DatasetDict({"holdout": ds}).save_to_disk(str(root))
    rejects = [r for r in read(root, {}) if isinstance(r, Reject)]
    assert [r.reason for r in rejects] == ["malformed_row"] and "split_map" in rejects[0].detail
    rows = [r for r in read(root, {"split_map": {"holdout": "test"}}) if isinstance(r, ManifestRow)]
    assert [(r.split, r.audio_path) for r in rows] == [("test", str(clip))]
    with pytest.raises(ValueError, match="split"):
        list(read(root, {"split": "train"}))
    with pytest.raises(ValueError, match="lacks column"):
        list(read(root, {"caption_column": "nope"}))


def test_load_dataset_from_a_data_directory(tmp_path: Path) -> None:
    root = tmp_path / "csvdir"
    clip = write_tone(root / "x.wav")
    (root / "data.csv").write_text(f"audio,caption\n{clip},\"A tone, short.\"\n", encoding="utf-8")
    rows = [r for r in read(root, {"hf_cache_dir": str(tmp_path / "hfcache")}) if isinstance(r, ManifestRow)]
    assert [(r.captions, r.audio_path, r.split) for r in rows] == [(["A tone, short."], str(clip), "train")]


def test_missing_root(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        list(read(tmp_path / "nothing", {}))


def test_sniff_extension() -> None:
    assert sniff_extension(b"RIFF....WAVE") == ".wav"
    assert sniff_extension(b"fLaC\x00") == ".flac"
    assert sniff_extension(b"OggS\x00") == ".ogg"
    assert sniff_extension(b"ID3\x04") == ".mp3"
    assert sniff_extension(b"\xff\xfb\x90") == ".mp3"
    assert sniff_extension(b"RIFF", "song.FLAC") == ".flac"
    assert sniff_extension(b"????", "notes.txt") == ".bin"


def test_hub_name_fails_clearly_offline(tmp_path: Path) -> None:
    # conftest sets HF_HUB_OFFLINE=1: a hub name cannot be fetched, and the error names it
    with pytest.raises(OSError, match="nonexistent-user/nonexistent-set"):
        list(read(tmp_path, {"dataset": "nonexistent-user/nonexistent-set", "hf_cache_dir": str(tmp_path / "c")}))
