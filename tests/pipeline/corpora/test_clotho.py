"""Clotho adapter (and the shared CSV reader) on a fixture corpus in the official layout."""
from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

from pipeline.corpora.base import get_adapter
from pipeline.corpora.clotho import read
from pipeline.corpora.csvutil import decode_text, read_table
from pipeline.manifest import ManifestRow, Reject

from ._audio import write_tone

KEY_RE = re.compile(r"^[a-z0-9_-]+$")
CAFE = "caf\u00e9 terrasse.wav"  # NFC in the CSV
CAP_HEADER = "file_name,caption_1,caption_2,caption_3,caption_4,caption_5\n"
META_HEADER = "file_name,keywords,sound_id,sound_link,start_end_samples,manufacturer,license\n"


def _write(path: Path, text: str, encoding: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))


def make_corpus(root: Path) -> None:
    dev_captions = (
        CAP_HEADER
        + '"rain, wind.wav","Rain falls, wind blows.","He said ""hush"" twice.",c3,c4,c5\n'
        + '" leading space.wav",A dog barks.,A dog is barking.,Barking.,Dog.,Woof.\n'
        + "_underscore.wav,Water drips\u2014slowly.,Drip.,Drip drip.,Drops.,Water.\n"
        + f"{CAFE},Caf\u00e9 chatter and cups.,c2,c3,c4,c5\n"
        + "missing.wav,Nothing here.,c2,c3,c4,c5\n"
        + "short row.wav,only one caption\n"
        + "empty captions.wav,,,,,\n"
        + '"multi\nline.wav",Two lines.,c2,c3,c4,c5\n'
        + "after.wav,After the multi-line row.,c2,c3,c4,c5\n"
    )
    _write(root / "clotho_captions_development.csv", dev_captions, "utf-8")
    dev_meta = (
        META_HEADER
        + '"rain, wind.wav",rain;wind;  storm ;,12345,https://freesound.org/s/12345,"[0, 100]",Zo\u00eb,'
          "http://creativecommons.org/licenses/by/3.0/\n"
        + '" leading space.wav",dog;bark,678,link,"[0, 1]",someone,CC0\n'
        + f"{CAFE},caf\u00e9;cups,999,link,\"[0, 1]\",Fran\u00e7ois,CC-BY\n"
        + "_underscore.wav,water,Not found,link,x,y,CC0\n"
    )
    _write(root / "clotho_metadata_development.csv", dev_meta, "latin-1")
    _write(root / "clotho_captions_validation.csv", CAP_HEADER + "val one.wav,A bell rings.,c2,c3,c4,c5\n", "utf-8")
    _write(root / "clotho_metadata_validation.csv", META_HEADER + "val one.wav,bell,5,l,x,y,CC0\n", "latin-1")
    _write(root / "clotho_captions_evaluation.csv", CAP_HEADER + "eval one.wav,A car passes.,c2,c3,c4,c5\n", "utf-8")
    _write(root / "clotho_metadata_evaluation.csv", META_HEADER + "eval one.wav,car,6,l,x,y,CC0\n", "latin-1")
    for name in ("rain, wind.wav", " leading space.wav", "_underscore.wav", "multi\nline.wav", "after.wav"):
        write_tone(root / "development" / name)
    # The accented name on disk in NFD (as macOS writes it): must still match the NFC CSV name.
    write_tone(root / "development" / unicodedata.normalize("NFD", CAFE))
    write_tone(root / "validation" / "val one.wav")
    write_tone(root / "evaluation" / "eval one.wav")


@pytest.fixture()
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "clotho"
    make_corpus(root)
    return root


def _split(items):
    rows = {r.captions[0]: r for r in items if isinstance(r, ManifestRow)}
    rejects = [r for r in items if isinstance(r, Reject)]
    return rows, rejects


def test_rows_captions_and_names(corpus: Path) -> None:
    rows, _ = _split(list(read(corpus, {})))
    rain = rows["Rain falls, wind blows."]
    assert rain.captions[1] == 'He said "hush" twice.'  # doubled quotes undone, nothing else touched
    assert len(rain.captions) == 5 and rain.caption == rain.captions[0]
    assert Path(rain.audio_path).name == "rain, wind.wav"
    assert rain.split == "train" and rain.offset_s == 0.0 and rain.duration_s is None
    assert rain.source == "clotho_captions_development.csv:2"
    assert rain.labels == ["rain", "wind", "storm"] and rain.label_ids == []
    assert rain.freesound_id == "12345"
    assert rain.license == "http://creativecommons.org/licenses/by/3.0/"

    dog = rows["A dog barks."]
    assert Path(dog.audio_path).name == " leading space.wav"  # never stripped
    assert Path(dog.audio_path).is_file()
    assert dog.freesound_id == "678" and dog.license == "CC0"

    under = rows["Water drips\u2014slowly."]
    assert Path(under.audio_path).name == "_underscore.wav"
    assert under.freesound_id is None  # "Not found" is not a Freesound id
    rows, _ = _split(list(read(corpus, {"keywords_as_labels": False})))
    assert rows["Rain falls, wind blows."].labels == [] and rows["A dog barks."].license == "CC0"


def test_latin1_metadata_and_nfd_file_names(corpus: Path) -> None:
    rows, _ = _split(list(read(corpus, {})))
    cafe = rows["Caf\u00e9 chatter and cups."]
    assert cafe.labels == ["caf\u00e9", "cups"]  # Latin-1 accents decoded, joined on the NFC name
    assert cafe.freesound_id == "999" and cafe.license == "CC-BY"
    assert Path(cafe.audio_path).is_file()  # the NFD file on disk
    assert unicodedata.is_normalized("NFD", Path(cafe.audio_path).name)


def test_multiline_field_keeps_physical_line_numbers(corpus: Path) -> None:
    rows, _ = _split(list(read(corpus, {})))
    assert rows["Two lines."].source == "clotho_captions_development.csv:9"
    assert rows["After the multi-line row."].source == "clotho_captions_development.csv:11"


def test_rejects(corpus: Path) -> None:
    _, rejects = _split(list(read(corpus, {})))
    by_reason = {(r.reason, r.source) for r in rejects}
    assert ("missing_audio", "clotho_captions_development.csv:6") in by_reason
    assert ("malformed_row", "clotho_captions_development.csv:7") in by_reason
    assert ("missing_caption", "clotho_captions_development.csv:8") in by_reason
    assert len(rejects) == 3
    missing = next(r for r in rejects if r.reason == "missing_audio")
    assert "missing.wav" in missing.detail and missing.corpus == "clotho"


def test_splits_keys_and_determinism(corpus: Path) -> None:
    items = list(read(corpus, {}))
    rows = [r for r in items if isinstance(r, ManifestRow)]
    assert {r.split for r in rows} == {"train", "valid", "test"}
    assert {r.captions[0]: r.split for r in rows}["A car passes."] == "test"
    keys = [r.key for r in rows]
    assert len(keys) == len(set(keys)) and all(KEY_RE.match(k) for k in keys)
    assert [r.to_dict() for r in rows] == [r.to_dict() for r in read(corpus, {}) if isinstance(r, ManifestRow)]
    assert get_adapter("clotho") is read


def test_duplicate_rows_rejected(corpus: Path) -> None:
    path = corpus / "clotho_captions_validation.csv"
    path.write_text(path.read_text() + "val one.wav,Again.,c2,c3,c4,c5\n", encoding="utf-8")
    _, rejects = _split(list(read(corpus, {"splits": ["validation"]})))
    assert [(r.reason, r.source) for r in rejects] == [("malformed_row", "clotho_captions_validation.csv:3")]


def test_missing_files(tmp_path: Path, corpus: Path) -> None:
    with pytest.raises(FileNotFoundError, match="clotho_captions_development.csv"):
        list(read(tmp_path / "empty", {}))
    (corpus / "clotho_metadata_validation.csv").unlink()
    with pytest.raises(FileNotFoundError, match="clotho_metadata_validation.csv"):
        list(read(corpus, {}))
    rows, _ = _split(list(read(corpus, {"splits": ["validation"], "require_metadata": False})))
    assert rows["A bell rings."].license is None and rows["A bell rings."].split == "valid"


def test_csv_reader_comments_bom_and_field_counts(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes("\ufeff# made by hand\n# another, comment\na,b\n1,2\n\n3\n4,5,,\n6,7,8\n".encode("utf-8"))
    recs = list(read_table(path, ("a", "b")))
    assert [(r.line, r.values, r.error is None) for r in recs] == [
        (4, {"a": "1", "b": "2"}, True),
        (6, {}, False),
        (7, {"a": "4", "b": "5"}, True),
        (8, {}, False),
    ]
    with pytest.raises(ValueError, match="lacks column"):
        list(read_table(path, ("a", "zzz")))


def test_decode_text_falls_back_to_latin1_with_cp1252_quotes() -> None:
    assert decode_text("na\u00efve".encode("utf-8")) == ("na\u00efve", "utf-8")
    text, used = decode_text(b"caf\xe9 \x93quoted\x94")
    assert used == "latin-1" and text == "caf\u00e9 \u201cquoted\u201d"
