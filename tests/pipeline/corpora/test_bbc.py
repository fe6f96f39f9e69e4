"""BBC Sound Effects adapter: both audio layouts, and the description cleaning."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipeline.corpora.bbc_sound_effects import clean_description, read
from pipeline.manifest import ManifestRow, Reject

from ._audio import write_tone

KEY_RE = re.compile(r"^[a-z0-9_-]+$")
HEADER = '"location","description","secs","category","CDNumber","CDName","tracknum"\n'


def _row(location: str, description: str, category: str = "", cd: str = "Vehicles") -> str:
    description = description.replace('"', '""')
    return f'"{location}","{description}","38","{category}","EC35D","{cd}","1"\n'


@pytest.fixture()
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "bbc"
    root.mkdir()
    text = (
        HEADER
        + _row("07070130.wav", "Two-stroke petrol engine driving small elevator, start, run, stop. "
               "- Sept '1967 (23F,reprocessed)", "Machines")
        + _row("07070131.wav", 'Birds - dawn chorus, "close" (technical note - for use at low level)')
        + _row("07070132.wav", "Caf\u00e9 ambience, Paris - 1", "Ambience", cd="Caf\u00e9s")
        + _row("07070133.wav", "Footsteps on gravel")                       # no audio
        + '"07070134.wav","only two fields"\n'                              # malformed
        + _row("07070135.wav", "   ")                                       # empty description
    )
    (root / "BBCSoundEffects.csv").write_text(text, encoding="utf-8")
    write_tone(root / "07070130.wav", channels=2)                            # flat layout
    # The downloader's layout: sounds/<CDName>/<sanitised, cut description>.<location>
    write_tone(root / "sounds" / "Birds" / "Birds - dawn chorus, close (technical no.07070131.wav")
    write_tone(root / "sounds" / "Caf\u00e9s" / "Caf\u00e9 ambience, Paris.07070132.wav")
    write_tone(root / "sounds" / "Other" / "Unrelated.99999999.wav")
    return root


def test_rows_both_layouts(corpus: Path) -> None:
    items = list(read(corpus, {}))
    rows = {r.key: r for r in items if isinstance(r, ManifestRow)}
    assert sorted(rows) == ["bbc_sound_effects-07070130", "bbc_sound_effects-07070131", "bbc_sound_effects-07070132"]
    engine = rows["bbc_sound_effects-07070130"]
    assert engine.audio_path == str(corpus / "07070130.wav")
    assert engine.caption == "Two-stroke petrol engine driving small elevator, start, run, stop."
    assert engine.captions == ["Two-stroke petrol engine driving small elevator, start, run, stop. "
                               "- Sept '1967 (23F,reprocessed)"]
    assert engine.labels == ["Machines"] and engine.split == "train" and engine.duration_s is None
    assert engine.source == "BBCSoundEffects.csv:2" and engine.license

    birds = rows["bbc_sound_effects-07070131"]
    assert Path(birds.audio_path).parent.name == "Birds" and Path(birds.audio_path).is_file()
    assert birds.caption == 'Birds - dawn chorus, "close"'
    assert birds.labels == []  # empty category

    cafe = rows["bbc_sound_effects-07070132"]
    assert cafe.caption == "Caf\u00e9 ambience, Paris" and cafe.labels == ["Ambience"]
    assert all(KEY_RE.match(k) for k in rows)


def test_rejects(corpus: Path) -> None:
    rejects = [r for r in read(corpus, {}) if isinstance(r, Reject)]
    assert sorted((r.reason, r.source) for r in rejects) == [
        ("malformed_row", "BBCSoundEffects.csv:6"),
        ("missing_audio", "BBCSoundEffects.csv:5"),
        ("missing_caption", "BBCSoundEffects.csv:7"),
    ]


def test_prefers_flat_wav_when_both_layouts_exist(corpus: Path) -> None:
    write_tone(corpus / "sounds" / "Vehicles" / "Two-stroke petrol engine.07070130.wav")
    write_tone(corpus / "07070130.flac")
    rows = {r.key: r for r in read(corpus, {}) if isinstance(r, ManifestRow)}
    assert rows["bbc_sound_effects-07070130"].audio_path == str(corpus / "07070130.wav")


def test_missing_catalogue(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    with pytest.raises(FileNotFoundError, match="BBCSoundEffects.csv"):
        list(read(tmp_path / "x", {}))


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("Two-stroke petrol engine driving small elevator, start, run, stop. - Sept '1967 (23F,reprocessed)",
         "Two-stroke petrol engine driving small elevator, start, run, stop."),
        ("Birds - dawn chorus (technical note - for use at low level)", "Birds - dawn chorus"),
        ("Footsteps on gravel - 1", "Footsteps on gravel"),
        ("Footsteps - Man walking on gravel - 12", "Footsteps - Man walking on gravel"),
        ("Big Ben striking 12 - 1936 (Digitally reprocessed)", "Big Ben striking 12"),
        ("Aircraft: Boeing 747 taking off. (Recorded 1978)", "Aircraft: Boeing 747 taking off."),
        ("Thunder - Close, heavy rumbles. 1963", "Thunder - Close, heavy rumbles."),
        ("Applause (2)", "Applause"),
        ("Applause - Large audience, 1000 people. - 2", "Applause - Large audience, 1000 people."),
        ("Crowds, Football crowd at Wembley. (Stereo)", "Crowds, Football crowd at Wembley."),
        ("Whistle - Referee's whistle, three blasts. (23F, reprocessed)", "Whistle - Referee's whistle, three blasts."),
        ("Seagulls - May '67", "Seagulls"),
        ("Rain on tin roof. - early 1950s", "Rain on tin roof."),
        ("Door slam [Take 3]", "Door slam"),
        ("Clock ticking - c. 1920 (2M)", "Clock ticking"),
        # descriptive text stays
        ("Blackbird - Close-up, spring song (Turdus merula)", "Blackbird - Close-up, spring song (Turdus merula)"),
        ("Dog barks (small dog)", "Dog barks (small dog)"),
        ("Steam locomotive 4472 passing", "Steam locomotive 4472 passing"),
        ("Countdown 3 - 2 - 1", "Countdown 3 - 2 - 1"),
        ("Aircraft take off (distant)", "Aircraft take off (distant)"),
        # all provenance: keep the original rather than an empty caption
        ("(Reprocessed)", "(Reprocessed)"),
        ("  Wind howling.  ", "Wind howling."),
    ],
)
def test_clean_description(raw: str, expected: str) -> None:
    assert clean_description(raw) == expected
