"""Speech detection: the ontology subtree walk, each mode, caption word boundaries, class names."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.filtering.ontology import fallback_ontology, find_ontology, load_ontology, resolve_ontology
from pipeline.filtering.speech import SpeechConfig, SpeechDetector, tag_caption


def detector(mode: str = "strict", ontology=None, **kw) -> SpeechDetector:
    return SpeechDetector(SpeechConfig(mode=mode, **kw), ontology or fallback_ontology())


def tagged(labels, ids=None):
    caption = ", ".join(labels)
    return {"labels": labels, "label_ids": ids if ids is not None else labels, "captions": [caption],
            "caption": caption}


def captioned(*captions):
    return {"labels": [], "label_ids": [], "captions": list(captions), "caption": captions[0]}


def write_ontology(path: Path) -> Path:
    """A made-up ontology: Speech → Talky → Deep talk (two levels down), a cycle, and a sibling."""
    classes = [
        {"id": "/m/09x0r", "name": "Speech", "child_ids": ["/x/talky"]},
        {"id": "/x/talky", "name": "Talky", "child_ids": ["/x/deep", "/m/09x0r"]},  # cycle back up
        {"id": "/x/deep", "name": "Deep talk", "child_ids": []},
        {"id": "/x/voice", "name": "Human voice", "child_ids": ["/m/09x0r", "/x/laugh"]},
        {"id": "/x/laugh", "name": "Laughter", "child_ids": []},
    ]
    path.write_text(json.dumps(classes))
    return path


def test_ontology_subtree_walk(tmp_path):
    onto = load_ontology(write_ontology(tmp_path / "ontology.json"))
    assert onto.subtree(["/m/09x0r"]) == ["/m/09x0r", "/x/talky", "/x/deep"]
    strict = detector(ontology=onto)
    row = tagged(["Deep talk"], ["/x/deep"])
    assert strict.reason(row) == "label:/x/deep Deep talk"
    assert strict.reason(tagged(["Laughter"], ["/x/laugh"])) is None  # a sibling of Speech, not below it
    assert detector().reason(row) is None  # the bundled subtree does not know the made-up class
    # hubbub sits outside the subtree but is speech too
    assert strict.reason(tagged(["Hubbub, speech noise, speech babble"], ["/m/07qfr4h"])).startswith(
        "label:/m/07qfr4h")


def test_ontology_location(tmp_path):
    audioset = tmp_path / "audioset"
    audioset.mkdir()
    assert find_ontology(None, audioset) is None and resolve_ontology(None, audioset).path is None
    write_ontology(audioset / "ontology.json")
    assert find_ontology(None, audioset) == audioset / "ontology.json"
    assert "/x/deep" in resolve_ontology(None, audioset).subtree(["/m/09x0r"])
    with pytest.raises(FileNotFoundError, match="filter.ontology"):
        find_ontology(tmp_path / "nope.json", audioset)
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ValueError, match="bad.json"):
        load_ontology(tmp_path / "bad.json")


def test_conversation_strict_not_paper():
    row = tagged(["Conversation"], ["/m/01h8n0"])
    assert detector("strict").reason(row) == "label:/m/01h8n0 Conversation"
    assert detector("paper").reason(row) is None
    assert detector("off").reason(row) is None


def test_paper_mode_literal_word():
    paper = detector("paper")
    assert paper.reason(tagged(["Male speech, man speaking"], ["/m/05zppz"])) == "label:Male speech, man speaking"
    assert paper.reason(captioned("Speech and a door closing")) == "caption:speech"
    assert paper.reason(tagged(["Male_speech_and_man_speaking"], ["x"])) is not None  # underscores separate words
    assert paper.reason(captioned("A man talks")) is None
    assert paper.reason(captioned("Several speeches")) is None  # the word, not a prefix


@pytest.mark.parametrize("caption,reason", [
    ("A man speaks over wind", "caption:speaks"),
    ("Someone is talking", "caption:talking"),
    ("A woman says something", "caption:says"),
    ("Narration over music", "caption:narration"),
    ("An announcer over a loudspeaker", "caption:announcer"),
    ("People have a conversation", "caption:conversation"),
    ("A SPEECH is given", "caption:speech"),
    ("Music through a loudspeaker", None),
    ("Speakers play a song", None),
    ("Bicycle spokes click", None),
    ("Birds chattering in trees", None),
    ("A brook babbling", None),
    ("Essays rustle", None),
    ("A walkie-talkie squawks", "caption:talkie"),
])
def test_caption_patterns(caption, reason):
    assert detector().reason(captioned(caption)) == reason


def test_classes_and_tag_captions():
    strict = detector()
    assert strict.reason(tagged(["male speech, man speaking"])) == "label:male speech, man speaking"
    assert strict.reason(tagged(["parrot talking"])) is None  # its tag caption is not pattern-matched
    assert detector(voice_like=True).reason(tagged(["parrot talking"])) == "label:parrot talking"
    assert strict.reason(tagged(["Female speech, woman speaking"], ["/m/02zsn"])) == \
        "label:/m/02zsn Female speech, woman speaking"
    # a merged row: human caption + tags; the caption still counts
    merged = {"labels": ["dog barking"], "label_ids": ["dog barking"],
              "captions": ["A man talks to a dog", "dog barking"], "caption": "A man talks to a dog"}
    assert strict.reason(merged) == "caption:talks"
    assert tag_caption("Vehicle horn, car horn, honking, Dog", ["Dog", "Vehicle horn, car horn, honking"])
    assert not tag_caption("A dog, barking", ["Dog"])
    with pytest.raises(ValueError, match="speech mode"):
        SpeechConfig(mode="loose")
