"""The `folder` adapter: a directory of audio with .txt/.json sidecars or a captions CSV."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pipeline.corpora.folder import filename_caption, read
from pipeline.manifest import ManifestRow, Reject

from ._audio import write_tone

KEY_RE = re.compile(r"^[a-z0-9_-]+$")


@pytest.fixture()
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "mine"
    write_tone(root / "animals" / "dog.wav")
    (root / "animals" / "dog.txt").write_text("\n  A dog barks twice.  \nA second line.\n", encoding="utf-8")
    write_tone(root / "weather" / "rain.flac")
    (root / "weather" / "rain.json").write_text(json.dumps({
        "captions": ["Rain on a tin roof.", "Heavy rain, \"pouring\"."], "labels": "rain; storm",
        "split": "validation", "license": "CC0"}), encoding="utf-8")
    write_tone(root / "weather" / "wind.WAV")
    (root / "weather" / "wind.json").write_text(json.dumps({"text": "Caf\u0065\u0301 wind"}), encoding="utf-8")
    write_tone(root / "birds" / "Bird_song-far away.ogg")                  # no caption
    write_tone(root / "broken.wav")
    (root / "broken.json").write_text("{not json", encoding="utf-8")
    (root / "video").mkdir()
    (root / "video" / "clip.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42")  # only a video container
    write_tone(root / "preview" / "take.wav")
    (root / "preview" / "take.txt").write_text("Door creaks.", encoding="utf-8")
    (root / "preview" / "take.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42")  # preview beside the audio
    write_tone(root / ".hidden" / "secret.wav")
    (root / "README.txt").write_text("not audio", encoding="utf-8")
    return root


def _parts(items):
    rows = {r.source: r for r in items if isinstance(r, ManifestRow)}
    rejects = sorted((r.reason, r.source) for r in items if isinstance(r, Reject))
    return rows, rejects


def test_sidecars(corpus: Path) -> None:
    rows, rejects = _parts(list(read(corpus, {})))
    assert sorted(rows) == ["animals/dog.wav", "preview/take.wav", "weather/rain.flac", "weather/wind.WAV"]
    dog = rows["animals/dog.wav"]
    assert dog.captions == ["A dog barks twice."] and dog.split == "train"
    assert dog.audio_path == str(corpus / "animals" / "dog.wav") and dog.offset_s == 0.0
    rain = rows["weather/rain.flac"]
    assert rain.captions == ["Rain on a tin roof.", 'Heavy rain, "pouring".'] and rain.caption == rain.captions[0]
    assert rain.labels == ["rain", "storm"] and rain.split == "valid" and rain.license == "CC0"
    assert rows["weather/wind.WAV"].captions == ["Caf\u00e9 wind"]  # NFC
    assert rejects == [
        ("malformed_row", "broken.json"),
        ("missing_caption", "birds/Bird_song-far away.ogg"),
        ("unsupported_container", "video/clip.mp4"),
    ]
    keys = [r.key for r in rows.values()]
    assert len(set(keys)) == len(keys) and all(KEY_RE.match(k) for k in keys)


def test_caption_from_filename_and_txt_all_lines(corpus: Path) -> None:
    rows, rejects = _parts(list(read(corpus, {"caption_from_filename": True, "txt_all_lines": True})))
    assert rows["birds/Bird_song-far away.ogg"].captions == ["Bird song far away"]
    assert rows["animals/dog.wav"].captions == ["A dog barks twice.", "A second line."]
    assert ("missing_caption", "birds/Bird_song-far away.ogg") not in rejects


def test_split_options(corpus: Path) -> None:
    write_tone(corpus / "test" / "bell.wav")
    (corpus / "test" / "bell.txt").write_text("A bell.", encoding="utf-8")
    rows, _ = _parts(list(read(corpus, {"split_from_folder": True})))
    assert rows["test/bell.wav"].split == "test" and rows["animals/dog.wav"].split == "train"
    rows, _ = _parts(list(read(corpus, {"split": "valid"})))
    assert rows["test/bell.wav"].split == "valid" and rows["weather/rain.flac"].split == "valid"
    with pytest.raises(ValueError, match="split"):
        list(read(corpus, {"split": "holdout"}))
    (corpus / "animals" / "dog.json").write_text(json.dumps({"split": "somewhere"}), encoding="utf-8")
    _, rejects = _parts(list(read(corpus, {})))
    assert ("malformed_row", "animals/dog.wav") in rejects


def test_captions_csv(corpus: Path) -> None:
    (corpus / "meta").mkdir()
    (corpus / "meta" / "caps.csv").write_text(
        "# my captions\n"
        "path,text,split\n"
        'animals/dog.wav,"A dog, barking.",test\n'
        "animals/dog.wav,Another caption.,test\n"
        'Bird_song-far away.ogg,"Birds sing ""far"" away",\n'   # a bare name, unique: matches birds/...
        "gone.wav,Not on disk.,\n",
        encoding="utf-8",
    )
    opts = {"captions_csv": "meta/caps.csv", "csv_file_column": "path", "csv_caption_column": "text"}
    rows, rejects = _parts(list(read(corpus, opts)))
    dog = rows["meta/caps.csv:3"]
    assert dog.captions == ["A dog, barking.", "Another caption."] and dog.split == "test"
    assert dog.audio_path == str(corpus / "animals" / "dog.wav")
    assert rows["meta/caps.csv:5"].captions == ['Birds sing "far" away']
    assert ("missing_audio", "meta/caps.csv:6") in rejects
    # files not in the CSV still take their sidecars
    assert rows["weather/rain.flac"].captions[0] == "Rain on a tin roof."
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        list(read(corpus, {"captions_csv": "nope.csv"}))


def test_deterministic(corpus: Path) -> None:
    first = [r.to_dict() for r in read(corpus, {"caption_from_filename": True})]
    second = [r.to_dict() for r in read(corpus, {"caption_from_filename": True})]
    assert first == second


def test_filename_caption() -> None:
    assert filename_caption("a/b/Dog_barking--far.away.wav") == "Dog barking far away"
