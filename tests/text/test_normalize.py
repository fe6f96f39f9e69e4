"""Caption normalisation rules (audiogen.text.normalize)."""
from __future__ import annotations

import pytest

from audiogen.text.normalize import CaptionConfig, normalize_caption, normalize_captions, strip_catalogue_noise

PAPER = CaptionConfig(paper_style=True)


@pytest.mark.parametrize("raw,expected", [
    ("A Dog   is\tBarking\n", "a dog is barking"),
    ("Ｄｏｇ ｂａｒｋｓ", "dog barks"),  # NFKC folds full-width forms
    ("<b>Rain</b> on a <i>tin</i> roof", "rain on a tin roof"),
    ("Thunder [edited] rumbles {note}", "thunder rumbles"),
    ("Birds &amp; bees", "birds & bees"),
    ("Footsteps on gravel - 1", "footsteps on gravel"),
    ("Two-stroke petrol engine driving small elevator, start, run, stop. - Sept '1967 (23F,reprocessed)",
     "two-stroke petrol engine driving small elevator, start, run, stop."),
    ("Hum of machinery (technical note - for use at low level)", "hum of machinery"),
    ("", ""),
    (None, ""),
])
def test_default_style(raw, expected):
    assert normalize_caption(raw) == expected


@pytest.mark.parametrize("raw,expected", [
    ("a dog is barking at the park", "dog bark park"),
    ("dog, bark", "dog bark"),
    ("Dog, bark, park", "dog bark park"),
    ("Two cars were passing by 3 times", "car pass time"),
    ("Birds are chirping!!! - 2", "bird chirp"),
    ("Children playing while a bell is ringing", "child play bell ring"),
])
def test_paper_style_removes_stop_words_numbers_and_punctuation_and_lemmatises(raw, expected):
    assert normalize_caption(raw, PAPER) == expected


def test_switches_turn_rules_off():
    raw = "<b>Dog</b> BARKS - 1"
    assert normalize_caption(raw, CaptionConfig(strip_markup=False, lowercase=False)) == "<b>Dog</b> BARKS"
    assert normalize_caption(raw, CaptionConfig(strip_catalogue_noise=False)) == "dog barks - 1"
    assert normalize_caption("Ｄｏｇ", CaptionConfig(nfkc=False)) == "ｄｏｇ"
    assert normalize_caption("dog barks loudly", CaptionConfig(paper_style=True, extra_stop_words=["loudly"])) == "dog bark"


def test_catalogue_noise_never_empties_a_caption():
    assert strip_catalogue_noise("(untitled)") == "(untitled)"
    assert normalize_caption("- 1") == "- 1"


def test_normalize_captions_drops_empty_and_duplicates_in_order():
    assert normalize_captions(["Dog barks", "", None, "dog  barks", "A cat"]) == ["dog barks", "a cat"]


def test_config_rejects_unknown_options():
    with pytest.raises(ValueError, match="paperstyle"):
        CaptionConfig.from_dict({"paperstyle": True})
    assert CaptionConfig.from_dict({"paper_style": True}).paper_style
