"""FSD50K adapter on a fixture corpus in the official layout."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pipeline.corpora.fsd50k import clean_description, read, readable
from pipeline.manifest import ManifestRow, Reject

from ._audio import write_tone

KEY_RE = re.compile(r"^[a-z0-9_-]+$")

VOCAB = (
    "0,Electric_guitar,/m/02sgy\n"
    "1,Guitar,/m/0342h\n"
    "2,Male_speech_and_man_speaking,/m/05zppz\n"
    "3,Speech,/m/09x0r\n"
    "4,Human_voice,/m/09l8g\n"
    "5,Bark,/m/05tny_\n"
    "6,Dog,/m/0bt9lr\n"
)


def make_corpus(root: Path) -> None:
    gt = root / "FSD50K.ground_truth"
    gt.mkdir(parents=True)
    (gt / "vocabulary.csv").write_text(VOCAB, encoding="utf-8")
    (gt / "dev.csv").write_text(
        "fname,labels,mids,split\n"
        '64760,"Electric_guitar,Guitar","/m/02sgy,/m/0342h",train\n'
        '16399,"Male_speech_and_man_speaking,Speech,Human_voice","/m/05zppz,/m/09x0r,/m/09l8g",val\n'
        '99999,"Bark,Dog","/m/05tny_,/m/0bt9lr",train\n'          # no audio
        '11111,"Bark","/m/05tny_",holdout\n'                      # unknown split
        '22222,"Bark"\n'                                          # too few fields
        '33333,"Some_new_class,Dog","/m/new,/m/0bt9lr",train\n',  # a mid outside the vocabulary
        encoding="utf-8",
    )
    (gt / "eval.csv").write_text('fname,labels,mids\n37199,"Bark,Dog","/m/05tny_,/m/0bt9lr"\n', encoding="utf-8")
    meta = root / "FSD50K.metadata"
    meta.mkdir()
    (meta / "dev_clips_info_FSD50K.json").write_text(json.dumps({
        "64760": {"title": "guitar riff", "description": "A <b>distorted</b> riff.<br/>Recorded with a "
                  "Zoom H4n &amp; an SM57. See https://example.org/x", "tags": ["guitar"],
                  "license": "http://creativecommons.org/licenses/by/3.0/", "uploader": "u1"},
        "16399": {"title": "man", "description": "", "tags": [], "license": "CC0", "uploader": "u2"},
    }), encoding="utf-8")
    (meta / "eval_clips_info_FSD50K.json").write_text(json.dumps({
        "37199": {"title": "dog", "description": "Small dog barking in a caf\u00e9.", "tags": [],
                  "license": "http://creativecommons.org/publicdomain/zero/1.0/", "uploader": "u3"},
    }), encoding="utf-8")
    for fname in ("64760", "16399", "11111", "33333"):
        write_tone(root / "FSD50K.dev_audio" / f"{fname}.wav")
    write_tone(root / "FSD50K.eval_audio" / "37199.wav")


@pytest.fixture()
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "fsd50k"
    make_corpus(root)
    return root


def _rows(items):
    return {r.freesound_id: r for r in items if isinstance(r, ManifestRow)}


def test_labels_through_vocabulary_and_splits(corpus: Path) -> None:
    rows = _rows(read(corpus, {}))
    guitar = rows["64760"]
    assert guitar.labels == ["Electric guitar", "Guitar"]
    assert guitar.label_ids == ["/m/02sgy", "/m/0342h"]
    assert guitar.captions == ["Electric guitar, Guitar"] and guitar.caption == "Electric guitar, Guitar"
    assert guitar.split == "train" and guitar.source == "FSD50K.ground_truth/dev.csv:2"
    assert guitar.license == "http://creativecommons.org/licenses/by/3.0/"
    assert guitar.audio_path == str(corpus / "FSD50K.dev_audio" / "64760.wav")
    assert guitar.offset_s == 0.0 and guitar.duration_s is None and guitar.youtube_id is None

    speech = rows["16399"]
    assert speech.split == "valid"
    assert speech.labels == ["Male speech and man speaking", "Speech", "Human voice"]
    assert not speech.is_speech  # the filter stage decides

    assert rows["37199"].split == "test"
    assert rows["37199"].source == "FSD50K.ground_truth/eval.csv:2"
    # a mid missing from the vocabulary falls back to the row's own label name
    assert rows["33333"].labels == ["Some new class", "Dog"]
    keys = [r.key for r in rows.values()]
    assert len(set(keys)) == len(keys) and all(KEY_RE.match(k) for k in keys)


def test_rejects(corpus: Path) -> None:
    rejects = [r for r in read(corpus, {}) if isinstance(r, Reject)]
    got = sorted((r.reason, r.source) for r in rejects)
    assert got == [
        ("malformed_row", "FSD50K.ground_truth/dev.csv:5"),
        ("malformed_row", "FSD50K.ground_truth/dev.csv:6"),
        ("missing_audio", "FSD50K.ground_truth/dev.csv:4"),
    ]
    assert "FSD50K.dev_audio/99999.wav" in next(r.detail for r in rejects if r.reason == "missing_audio")


def test_use_description(corpus: Path) -> None:
    rows = _rows(read(corpus, {"use_description": True}))
    assert rows["64760"].captions == [
        "Electric guitar, Guitar", "A distorted riff. Recorded with a Zoom H4n & an SM57. See"]
    assert rows["64760"].caption == "Electric guitar, Guitar"
    assert rows["16399"].captions == ["Male speech and man speaking, Speech, Human voice"]  # empty description
    assert rows["37199"].captions[1] == "Small dog barking in a caf\u00e9."


def test_clean_description_truncates_at_boundaries() -> None:
    text = "First sentence here. " + "word " * 100
    out = clean_description(text, max_chars=60)
    assert out == "First sentence here."
    out = clean_description("alpha " * 50, max_chars=40)
    assert len(out) <= 40 and out.endswith("alpha") and not out.endswith(" ")
    assert clean_description("<p>One</p><p>Two &lt;3</p>") == "One Two <3"


def test_missing_ground_truth(tmp_path: Path, corpus: Path) -> None:
    with pytest.raises(FileNotFoundError, match="vocabulary.csv"):
        list(read(tmp_path / "nothing", {}))
    (corpus / "FSD50K.metadata" / "eval_clips_info_FSD50K.json").unlink()
    with pytest.raises(FileNotFoundError, match="eval_clips_info"):
        list(read(corpus, {"use_description": True}))
    rows = _rows(read(corpus, {}))
    assert rows["37199"].license is None  # metadata is optional without use_description


def test_readable() -> None:
    assert readable("Male_speech_and_man_speaking") == "Male speech and man speaking"
