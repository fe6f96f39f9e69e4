"""AudioSet adapter on a fixture corpus in the official layout (segment CSVs with `#` headers)."""
from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

from pipeline.corpora import get_adapter
from pipeline.corpora.audioset import read
from pipeline.manifest import ManifestRow, Reject, read_manifest, write_manifest

from ._audio import write_tone

DOG = "--PJHxphWEs"
CAFE = "Ab_cD-eF_gH"
LOWER, UPPER = "aaaaaaaaaaa", "AAAAAAAAAAA"
MISSING = "zzzzzzzzzzz"
YID = "YAbCdEfGhIj"
VIDEO = "-_-_-_-_-_-"
EVAL = "e0e0e0e0e0e"

CLASSES = (
    "index,mid,display_name\n"
    '0,/m/09x0r,"Speech"\n'
    '1,/m/05zppz,"Male speech, man speaking"\n'
    "2,/m/0bt9lr,Dog\n"
    "3,/m/05tny_,Bark\n"
    '4,/t/dd00001,"Cafe\u0301 ambience"\n'
)
BALANCED = (
    "# Segments csv created Sun Mar  5 10:54:31 2017\n"
    "# num_ytids=9, num_segs=9, num_unique_labels=5, num_positive_labels=12\n"
    "# YTID, start_seconds, end_seconds, positive_labels\n"
    f'{DOG}, 30.000, 40.000, "/m/0bt9lr,/m/05tny_"\n'                 # line 4
    f'{CAFE}, 0.000, 5.500, "/t/dd00001,/m/05zppz"\n'                 # line 5: short row, quoted name
    f'{LOWER}, 10.000, 20.000, "/m/0bt9lr"\n'                         # line 6
    f'{UPPER}, 10.000, 20.000, "/m/unknown1"\n'                       # line 7: unknown mid
    '1.23E+05, 0.000, 10.000, "/m/0bt9lr"\n'                          # line 8: mangled id
    f'{DOG[:10]}, 0.000, 10.000, "/m/0bt9lr"\n'                       # line 9: 10 characters
    f'{MISSING}, abc, 10.000, "/m/0bt9lr"\n'                          # line 10: bad start
    f'{MISSING}, 0.000, 10.000, ""\n'                                 # line 11: no labels
    "\n"
    f'{MISSING}, 0.000, 10.000, "/m/0bt9lr"\n'                        # line 13: no audio
)
# A copy edited by others: no `#` lines, a bare header, commas without spaces, CRLF.
UNBALANCED = (
    "YTID,start_seconds,end_seconds,positive_labels\r\n"
    f'{YID},30,40,"/m/05tny_"\r\n'                                    # line 2: Y-prefixed ms file
    f'{DOG},30.000,40.000,"/m/0bt9lr"\r\n'                            # line 3: duplicate of balanced:4
)
EVAL_CSV = (
    "# Segments csv created Sun Mar  5 10:54:31 2017\n"
    "# num_ytids=2, num_segs=2, num_unique_labels=1, num_positive_labels=2\n"
    "# YTID, start_seconds, end_seconds, positive_labels\n"
    f'{VIDEO}, 10.000, 20.000, "/m/0bt9lr"\n'                         # line 4: video only
    f'{EVAL}, 10.000, 20.000, "/m/05tny_"\n'                          # line 5
)


def make_corpus(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "class_labels_indices.csv").write_text(CLASSES, encoding="utf-8")
    (root / "balanced_train_segments.csv").write_text(BALANCED, encoding="utf-8")
    (root / "unbalanced_train_segments.csv").write_bytes(b"\xef\xbb\xbf" + UNBALANCED.encode())  # BOM
    (root / "eval_segments.csv").write_text(EVAL_CSV, encoding="utf-8")
    write_tone(root / f"Y{DOG}.wav", sr=32000)                                   # PANNs: Y<id>.wav
    write_tone(root / "audio" / "bal_train" / f"{CAFE}_0.000_5.500.flac")        # cut, decimal times
    write_tone(root / "audio" / "bal_train" / f"{LOWER}.flac", sr=48000)
    write_tone(root / "audio" / "bal_train" / f"{UPPER}.flac", sr=48000)
    write_tone(root / "audio" / "unbal_train" / f"Y{YID}_30000_40000.ogg")       # Y prefix + ms
    write_tone(root / "audio" / "eval" / f"{EVAL}_000010.WAV", channels=2)
    (root / "video").mkdir()
    (root / "video" / f"{VIDEO}.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42")
    return root


@pytest.fixture
def corpus(tmp_path, monkeypatch):
    """The fixture corpus, read through a relative root as params.yaml gives it."""
    monkeypatch.chdir(tmp_path)
    make_corpus(tmp_path / "data" / "audioset")
    return Path("data/audioset")


def split(items):
    rows = [r for r in items if isinstance(r, ManifestRow)]
    rejects = [r for r in items if isinstance(r, Reject)]
    assert len(rows) + len(rejects) == len(items)
    return {r.youtube_id: r for r in rows}, rejects


def test_rows_labels_captions_and_offsets(corpus):
    rows, _ = split(list(read(corpus, {})))
    assert set(rows) == {DOG, CAFE, LOWER, UPPER, YID, EVAL}
    dog = rows[DOG]
    assert dog.labels == ["Dog", "Bark"] and dog.label_ids == ["/m/0bt9lr", "/m/05tny_"]
    assert dog.caption == "Dog, Bark" and dog.captions == ["Dog, Bark"]
    assert dog.audio_path == f"data/audioset/Y{DOG}.wav"  # root as given, never resolved
    assert (dog.offset_s, dog.duration_s, dog.youtube_start_s) == (None, 10.0, 30.0)
    assert dog.source == "balanced_train_segments.csv:4" and dog.split == "train"
    assert (dog.is_speech, dog.speech_reason) == (False, None)
    cafe = rows[CAFE]
    # Quoted names with commas stay whole; text is NFC; a name carrying the times is the cut segment.
    assert cafe.labels == ["Caf\u00e9 ambience", "Male speech, man speaking"]
    assert cafe.caption == "Caf\u00e9 ambience, Male speech, man speaking"
    assert unicodedata.is_normalized("NFC", cafe.caption)
    assert (cafe.offset_s, cafe.duration_s, cafe.youtube_start_s) == (0.0, 5.5, 0.0)
    assert rows[UPPER].labels == ["/m/unknown1"] and rows[UPPER].label_ids == ["/m/unknown1"]
    assert rows[YID].offset_s == 0.0 and rows[YID].audio_path.endswith(f"Y{YID}_30000_40000.ogg")
    assert rows[YID].source == "unbalanced_train_segments.csv:2" and rows[YID].split == "train"
    ev = rows[EVAL]
    assert (ev.split, ev.offset_s, ev.source, ev.caption) == ("test", 0.0, "eval_segments.csv:5", "Bark")


def test_rejects_name_file_line_and_reason(corpus):
    _, rejects = split(list(read(corpus, {})))
    by_source = {r.source: r for r in rejects}
    assert len(by_source) == len(rejects)
    for line in (8, 9, 10, 11):
        assert by_source[f"balanced_train_segments.csv:{line}"].reason == "malformed_row"
    assert "1.23E+05" in by_source["balanced_train_segments.csv:8"].detail
    assert "start" in by_source["balanced_train_segments.csv:10"].detail
    missing = by_source["balanced_train_segments.csv:13"]
    assert missing.reason == "missing_audio" and MISSING in missing.detail and missing.key
    dup = by_source["unbalanced_train_segments.csv:3"]
    assert dup.reason == "duplicate_row" and "balanced_train_segments.csv:4" in dup.detail
    video = by_source["eval_segments.csv:4"]
    assert video.reason == "unsupported_container" and "ffmpeg" in video.detail
    assert {r.corpus for r in rejects} == {"audioset"} and {r.stage for r in rejects} == {"ingest"}
    assert len(rejects) == 7


def test_keys_unique_safe_and_deterministic(corpus):
    first = list(read(corpus, {}))
    again = list(read(corpus, {}))
    assert [r.to_dict() for r in first] == [r.to_dict() for r in again]
    rows, _ = split(first)
    keys = [r.key for r in first if isinstance(r, ManifestRow)]
    assert len(set(keys)) == len(keys) == 6
    assert all(re.fullmatch(r"audioset-[a-z0-9_-]+", k) for k in keys)
    assert rows[LOWER].key != rows[UPPER].key  # ids that differ only in case


def test_rows_fit_the_manifest_schema(corpus, tmp_path):
    rows, _ = split(list(read(corpus, {})))
    write_manifest([r.to_dict() for r in rows.values()], tmp_path / "m.parquet")
    back = {r["youtube_id"]: r for r in read_manifest(tmp_path / "m.parquet")}
    assert back[DOG]["offset_s"] is None and back[CAFE]["offset_s"] == 0.0
    assert back[CAFE]["labels"] == rows[CAFE].labels


def test_subsets_option_and_missing_files(corpus):
    rows, rejects = split(list(read(corpus, {"subsets": ["eval"], "root": "x", "enabled": True})))
    assert set(rows) == {EVAL} and {r.source.split(":")[0] for r in rejects} == {"eval_segments.csv"}
    (corpus / "unbalanced_train_segments.csv").unlink()
    rows, _ = split(list(read(corpus, {})))  # default: whichever CSVs are present
    assert YID not in rows and DOG in rows
    with pytest.raises(FileNotFoundError, match="unbalanced_train_segments.csv"):
        list(read(corpus, {"subsets": ["unbalanced_train"]}))
    with pytest.raises(ValueError, match="subsets"):
        list(read(corpus, {"subsets": ["bal"]}))
    for name in ("balanced_train_segments.csv", "eval_segments.csv"):
        (corpus / name).unlink()
    with pytest.raises(FileNotFoundError, match="segment CSV"):
        list(read(corpus, {}))


def test_label_names_from_ontology_when_no_class_file(corpus):
    (corpus / "class_labels_indices.csv").unlink()
    with pytest.raises(FileNotFoundError, match="class_labels_indices.csv"):
        list(read(corpus, {}))
    (corpus / "ontology.json").write_text(
        '[{"id": "/m/0bt9lr", "name": "Dog", "child_ids": []}, {"id": "/m/05tny_", "name": "Bark"}]')
    rows, _ = split(list(read(corpus, {"subsets": ["balanced_train"]})))
    assert rows[DOG].caption == "Dog, Bark"


def test_filename_pattern_overrides_built_in_names(tmp_path):
    root = tmp_path / "as"
    root.mkdir()
    (root / "class_labels_indices.csv").write_text(CLASSES)
    (root / "eval_segments.csv").write_text(EVAL_CSV)
    write_tone(root / "wavs" / f"seg-{EVAL}-10.wav")
    write_tone(root / f"{VIDEO}.wav")  # built-in spelling: not looked at under a pattern
    items = list(read(root, {"filename_pattern": "seg-{id}-{start:d}"}))
    rows, rejects = split(items)
    assert set(rows) == {EVAL} and rows[EVAL].offset_s == 0.0
    assert [r.reason for r in rejects] == ["missing_audio"] and "seg-{id}-{start:d}" in rejects[0].detail
    rows, _ = split(list(read(root, {})))
    assert set(rows) == {VIDEO} and rows[VIDEO].offset_s is None


def test_registered():
    assert get_adapter("audioset") is read
