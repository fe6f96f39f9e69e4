"""VGGSound adapter on a fixture corpus in the official layout (headerless vggsound.csv)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipeline.corpora import get_adapter
from pipeline.corpora.vggsound import read
from pipeline.manifest import ManifestRow, Reject

from ._audio import write_tone

DASH, SPEECH, WHOLE, VIDEO_ONLY, BOTH, MISSING = (
    "---g-f_I2yQ", "Ab_cD-eF_gH", "YAbCdEfGhIj", "v1d30nly000", "b0thf1l3s00", "zzzzzzzzzzz")
MS = "mmmmmmmmmmm"

CSV = (
    f"{DASH},1,people marching,test\n"                          # 1
    f'{SPEECH},30,"male speech, man speaking",train\n'         # 2: quoted label with commas
    f"{WHOLE},100,dog barking,train\n"                          # 3: whole video file
    f"{VIDEO_ONLY},0,playing cello,train\n"                     # 4: .mp4 only
    f"{BOTH},20,church bell ringing,test\n"                     # 5: .mp4 and .flac
    f"{MISSING},0,dog barking,train\n"                          # 6
    "not-an-id,0,dog barking,train\n"                           # 7
    f"{DASH},x1,dog barking,train\n"                            # 8: bad start
    f"{DASH},5,dog barking,validation\n"                        # 9: bad split
    "\n"
    f"{DASH},1,people marching,TEST\n"                          # 11: duplicate of line 1
    f"{MS},12,caf\u00e9 music,TRAIN\n"                          # 12: ms name, non-ASCII label
    f"{SPEECH},40,female speech, woman speaking,train\n"        # 13: unquoted label with a comma
)


def make_corpus(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "vggsound.csv").write_text(CSV, encoding="utf-8")
    write_tone(root / "audio" / f"{DASH}_000001.flac")
    write_tone(root / "audio" / f"{SPEECH}_000030.wav", channels=2)
    write_tone(root / "audio" / f"{SPEECH}_000040.wav")
    write_tone(root / "audio" / f"{WHOLE}.ogg", seconds=0.5)
    write_tone(root / "audio" / f"{BOTH}_000020.flac")
    write_tone(root / "audio" / f"{MS}_12000_22000.mp3")
    (root / "video").mkdir()
    for name in (f"{VIDEO_ONLY}_000000.mp4", f"{BOTH}_000020.mp4"):
        (root / "video" / name).write_bytes(b"\x00\x00\x00\x18ftypmp42")
    return root


@pytest.fixture
def corpus(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make_corpus(tmp_path / "data" / "vggsound")
    return Path("data/vggsound")


def split(items):
    rows = [r for r in items if isinstance(r, ManifestRow)]
    rejects = [r for r in items if isinstance(r, Reject)]
    assert len(rows) + len(rejects) == len(items)
    return {r.source: r for r in rows}, {r.source: r for r in rejects}


def test_rows(corpus):
    rows, _ = split(list(read(corpus, {})))
    assert set(rows) == {f"vggsound.csv:{n}" for n in (1, 2, 3, 5, 12, 13)}
    dash = rows["vggsound.csv:1"]
    assert (dash.youtube_id, dash.youtube_start_s, dash.split, dash.offset_s, dash.duration_s) == (
        DASH, 1.0, "test", 0.0, 10.0)
    assert dash.audio_path == f"data/vggsound/audio/{DASH}_000001.flac"
    speech = rows["vggsound.csv:2"]
    assert speech.caption == "male speech, man speaking" and speech.captions == [speech.caption]
    assert speech.labels == speech.label_ids == ["male speech, man speaking"]
    assert (speech.split, speech.is_speech, speech.speech_reason) == ("train", False, None)
    whole = rows["vggsound.csv:3"]
    assert whole.offset_s is None and whole.audio_path.endswith(f"{WHOLE}.ogg")
    assert rows["vggsound.csv:5"].audio_path.endswith(f"{BOTH}_000020.flac")  # audio beats the video
    ms = rows["vggsound.csv:12"]
    assert (ms.caption, ms.split, ms.offset_s) == ("caf\u00e9 music", "train", 0.0)
    assert rows["vggsound.csv:13"].caption == "female speech, woman speaking"


def test_rejects(corpus):
    _, rejects = split(list(read(corpus, {})))
    assert {s: r.reason for s, r in rejects.items()} == {
        "vggsound.csv:4": "unsupported_container", "vggsound.csv:6": "missing_audio",
        "vggsound.csv:7": "malformed_row", "vggsound.csv:8": "malformed_row", "vggsound.csv:9": "malformed_row",
        "vggsound.csv:11": "duplicate_row",
    }
    video = rejects["vggsound.csv:4"]
    assert f"ffmpeg -i {VIDEO_ONLY}_000000.mp4 -vn {VIDEO_ONLY}_000000.flac" in video.detail
    assert "not-an-id" in rejects["vggsound.csv:7"].detail and "validation" in rejects["vggsound.csv:9"].detail
    assert "vggsound.csv:1" in rejects["vggsound.csv:11"].detail


def test_keys_unique_safe_and_deterministic(corpus):
    items = list(read(corpus, {}))
    assert [r.to_dict() for r in items] == [r.to_dict() for r in read(corpus, {})]
    keys = [r.key for r in items if isinstance(r, ManifestRow)]
    assert len(keys) == len(set(keys)) == 6
    assert all(re.fullmatch(r"vggsound-[a-z0-9_-]+", k) for k in keys)
    assert any(k.startswith(f"vggsound-{DASH.lower()}_000001") for k in keys)


def test_header_in_a_copy_and_missing_csv(tmp_path):
    root = tmp_path / "vgg"
    root.mkdir()
    with pytest.raises(FileNotFoundError, match="vggsound.csv"):
        list(read(root, {}))
    (root / "vggsound.csv").write_text(f"youtube_id,start_seconds,label,split\n{DASH},1,dog barking,test\n")
    write_tone(root / f"Y{DASH}_1.wav")
    rows, rejects = split(list(read(root, {})))
    assert rejects == {} and rows["vggsound.csv:2"].offset_s == 0.0


def test_filename_pattern(tmp_path):
    root = tmp_path / "vgg"
    root.mkdir()
    (root / "vggsound.csv").write_text(f"{DASH},30,dog barking,train\n")
    write_tone(root / f"{DASH}-30.wav")
    assert [r.reason for r in read(root, {})] == ["missing_audio"]
    rows, _ = split(list(read(root, {"filename_pattern": r"(?P<id>.{11})-(?P<start>\d+)"})))
    assert rows["vggsound.csv:1"].offset_s == 0.0


def test_registered():
    assert get_adapter("vggsound") is read
