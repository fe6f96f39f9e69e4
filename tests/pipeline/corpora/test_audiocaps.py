"""AudioCaps adapter on a fixture corpus in the official layout (train/val/test CSVs)."""
from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

from pipeline.corpora import get_adapter
from pipeline.corpora.audiocaps import read
from pipeline.manifest import ManifestRow, Reject

from ._audio import write_tone

WOMAN, CLANG, CAFE, MULTI, SPILL = "r1nicOVtvkQ", "UDGBjjwyaqE", "---1_cCGK4M", "mmmmmmmmmmm", "ppppppppppp"
V1, V2 = "vvvvvvvvvv1", "-vvvvvvvvv2"
T1, T2 = "T3sT0000001", "T3sT0000002"

TRAIN = (
    "audiocap_id,youtube_id,start_time,caption\n"
    f"91139,{WOMAN},130,A woman talks nearby as water pours\n"                           # 2
    f'58146,{CLANG},20,"Multiple clanging and clanking sounds, a man says ""hey"""\n'   # 3
    f"11,{CAFE},0,Cafe\u0301 noise with cups\n"                                          # 4
    "12,bad!id12345,0,a bad id\n"                                                        # 5
    "13,zzzzzzzzzzz,30,no audio for this one\n"                                          # 6
    f"14,{T1},0,a train copy of a test clip\n"                                           # 7
    "15,abcdefghijk,xx,a bad start\n"                                                    # 8
    '16,abcdefghijk,0,""\n'                                                              # 9
    f'17,{MULTI},40,"A caption\nthat spans two lines"\n'                                 # 10-11
    f"18,{SPILL},0,Unquoted, with commas\n"                                              # 12
)
# Five captions per clip, audiocap ids out of order, two clips interleaved.
VAL = "audiocap_id,youtube_id,start_time,caption\n" + "".join(
    f"{cap_id},{ytid},{start},val caption {cap_id}\n"
    for cap_id, ytid, start in [(105, V1, 10), (201, V2, 0), (101, V1, 10), (103, V1, 10), (202, V2, 0),
                                (102, V1, 10), (203, V2, 0), (104, V1, 10), (204, V2, 0), (205, V2, 0)]
)
TEST = "audiocap_id,youtube_id,start_time,caption\n" + "".join(
    f'{cap_id},{ytid},0,"test, caption {cap_id}"\n'
    for ytid, ids in [(T1, range(1, 6)), (T2, range(6, 11))] for cap_id in ids
)


def make_corpus(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "train.csv").write_text(TRAIN, encoding="utf-8")
    (root / "val.csv").write_text(VAL, encoding="utf-8")
    (root / "test.csv").write_text(TEST, encoding="utf-8")
    write_tone(root / "train" / f"{WOMAN}_130.flac", sr=32000)
    write_tone(root / "train" / f"Y{CLANG}.wav")
    write_tone(root / "train" / f"{CAFE}_0.flac")
    write_tone(root / "train" / f"{MULTI}_40.flac")
    write_tone(root / "train" / f"{SPILL}_0.flac")
    write_tone(root / "val" / f"Y{V1}.wav")
    write_tone(root / "test" / f"{T1}_0.flac")
    write_tone(root / "train" / f"{T2}.wav")   # a stray copy; the test/ folder wins the tie
    write_tone(root / "test" / f"{T2}.wav")
    return root


@pytest.fixture
def corpus(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make_corpus(tmp_path / "data" / "audiocaps")
    return Path("data/audiocaps")


def split(items):
    rows = [r for r in items if isinstance(r, ManifestRow)]
    rejects = [r for r in items if isinstance(r, Reject)]
    assert len(rows) + len(rejects) == len(items)
    return {r.youtube_id: r for r in rows}, rejects


def test_val_and_test_clips_group_five_captions(corpus):
    rows, _ = split(list(read(corpus, {})))
    v1 = rows[V1]
    assert v1.captions == [f"val caption {i}" for i in range(101, 106)]  # ordered by audiocap_id
    assert v1.caption == "val caption 101"
    assert (v1.split, v1.source, v1.offset_s, v1.duration_s, v1.youtube_start_s) == (
        "valid", "val.csv:2", None, 10.0, 10.0)
    t1 = rows[T1]
    assert t1.captions == [f"test, caption {i}" for i in range(1, 6)]
    assert (t1.split, t1.source, t1.offset_s) == ("test", "test.csv:2", 0.0)
    assert t1.audio_path == "data/audiocaps/test/T3sT0000001_0.flac"
    assert rows[T2].audio_path == "data/audiocaps/test/T3sT0000002.wav" and rows[T2].source == "test.csv:7"


def test_train_captions_quotes_commas_unicode(corpus):
    rows, _ = split(list(read(corpus, {})))
    assert rows[CLANG].captions == ['Multiple clanging and clanking sounds, a man says "hey"']
    assert rows[CLANG].offset_s is None and rows[CLANG].audio_path.endswith(f"Y{CLANG}.wav")
    assert rows[CAFE].caption == "Caf\u00e9 noise with cups" and unicodedata.is_normalized("NFC", rows[CAFE].caption)
    assert rows[MULTI].caption == "A caption\nthat spans two lines" and rows[MULTI].source == "train.csv:10"
    assert rows[SPILL].caption == "Unquoted, with commas" and rows[SPILL].source == "train.csv:12"
    woman = rows[WOMAN]
    assert (woman.split, woman.offset_s, woman.youtube_start_s, woman.source) == ("train", 0.0, 130.0, "train.csv:2")
    assert woman.labels == [] and woman.label_ids == [] and woman.is_speech is False


def test_rejects(corpus):
    _, rejects = split(list(read(corpus, {})))
    by_source = {r.source: r for r in rejects}
    assert len(by_source) == len(rejects) == 6
    assert {s: r.reason for s, r in by_source.items()} == {
        "train.csv:5": "malformed_row", "train.csv:8": "malformed_row", "train.csv:9": "malformed_row",
        "train.csv:6": "missing_audio", "val.csv:3": "missing_audio", "train.csv:7": "duplicate_row",
    }
    assert "bad!id12345" in by_source["train.csv:5"].detail
    assert "empty caption" in by_source["train.csv:9"].detail
    assert V2 in by_source["val.csv:3"].detail  # one reject for the five-caption clip
    assert "test.csv:2" in by_source["train.csv:7"].detail  # the held-out split keeps the clip


def test_keys_unique_safe_and_deterministic(corpus):
    items = list(read(corpus, {}))
    assert [r.to_dict() for r in items] == [r.to_dict() for r in read(corpus, {})]
    keys = [r.key for r in items if isinstance(r, ManifestRow)]
    assert len(keys) == len(set(keys)) == 8
    assert all(re.fullmatch(r"audiocaps-[a-z0-9_-]+", k) for k in keys)


def test_splits_option_and_missing_files(corpus):
    rows, _ = split(list(read(corpus, {"splits": ["test"]})))
    assert set(rows) == {T1, T2}
    (corpus / "val.csv").unlink()
    rows, _ = split(list(read(corpus, {})))
    assert V1 not in rows and T1 in rows
    with pytest.raises(FileNotFoundError, match="val.csv"):
        list(read(corpus, {"splits": ["val"]}))
    (corpus / "train.csv").unlink()
    (corpus / "test.csv").unlink()
    with pytest.raises(FileNotFoundError, match="caption CSV"):
        list(read(corpus, {}))


def test_header_order_and_headerless_copies(tmp_path):
    root = tmp_path / "ac"
    root.mkdir()
    (root / "test.csv").write_text(f'youtube_id,caption,start_time,audiocap_id\n{T1},"a, b",0,7\n{T1},c,0,3\n')
    (root / "val.csv").write_text(f"1,{V1},10,no header here\n")
    write_tone(root / f"{T1}.wav")
    write_tone(root / f"{V1}_10000.wav")  # milliseconds
    rows, rejects = split(list(read(root, {})))
    assert rejects == []
    assert rows[T1].captions == ["c", "a, b"] and rows[T1].offset_s is None
    assert rows[V1].captions == ["no header here"] and rows[V1].offset_s == 0.0 and rows[V1].split == "valid"


def test_filename_pattern(tmp_path):
    root = tmp_path / "ac"
    root.mkdir()
    (root / "train.csv").write_text(f"audiocap_id,youtube_id,start_time,caption\n1,{CAFE},30,x\n")
    write_tone(root / "clips" / f"{CAFE}-30s.wav")
    assert [r.reason for r in read(root, {})] == ["missing_audio"]
    rows, _ = split(list(read(root, {"filename_pattern": "{id}-{start}s"})))
    assert rows[CAFE].offset_s == 0.0


def test_registered():
    assert get_adapter("audiocaps") is read
