"""The four sound-library adapters (Free To Use Sounds, Sonniss, WeSoundEffects, Odeon) on fixture
trees in their vendors' layouts, written as real audio files in tmp_path."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import soundfile as sf

from pipeline.corpora.base import get_adapter
from pipeline.corpora.library import descriptive_tag, text_from_name
from pipeline.manifest import ManifestRow, Reject

from ._audio import write_tone
from .test_audio_tags import add_chunks, bext, info

LIBRARIES = ("free_to_use_sounds", "sonniss", "wesoundeffects", "odeon")
KEY_RE = re.compile(r"^[a-z0-9_-]+$")
BUNDLE = "Sonniss.com - GDC 2019 - Game Audio Bundle Part 1 of 6"


def tone(path: Path, **kw) -> Path:
    kw.setdefault("seconds", 0.05)
    return write_tone(path, **kw)


def run(corpus: str, root: Path, **options) -> tuple[list[ManifestRow], list[Reject]]:
    out = list(get_adapter(corpus)(root, {"root": str(root), "enabled": True, **options}))
    rows = [r for r in out if isinstance(r, ManifestRow)]
    rejects = [r for r in out if isinstance(r, Reject)]
    assert len(rows) + len(rejects) == len(out)
    return rows, rejects


def by_source(rows: list[ManifestRow]) -> dict[str, ManifestRow]:
    return {r.source: r for r in rows}


# --- file names -----------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "stem, text, category",
    [
        ("LASRMisc_Beam Transient_04_SFRMS_SCIWPNS", "beam transient", "laser"),
        ("RAINMetl-L,R,Ls,Rs_Australia-Rain, Metal Roof Shed, Wind Driven Rain, 13",
         "australia rain, metal roof shed, wind driven rain", "rain"),
        ("DoorSlamHeavyWood_03", "door slam heavy wood", ""),
        ("AMBForst_Morning Birds Take 3_96k_24bit_JD_NATURE", "morning birds", "ambience"),
        ("FOOTGrvl_Footsteps Gravel Running_ST_01_JDOE_FOLEY", "footsteps gravel running", "footsteps"),
        ("Wind_Howling_L,R,C,LFE,Ls,Rs", "wind howling", ""),
        ("Explosion Big 5.1 Stereo MS", "explosion big", ""),
        ("Car Pass By (Fast) 96kHz 24 bit", "car pass by fast", ""),
        ("Door.Slam.03", "door slam", ""),
        ("V8 Engine Rev 01", "v8 engine rev", ""),        # not a take number
        ("Steam Train 1967 Departure", "steam train 1967 departure", ""),  # years stay
        ("Explosion_Big Debris_02", "explosion, big debris", ""),
        ("Café Ambience – Paris", "café ambience paris", ""),
        ("01", "", ""),
    ],
)
def test_text_from_name(stem, text, category):
    got = text_from_name(stem)
    assert (got.text, got.category) == (text, category)


def test_descriptive_tag():
    stem = "DoorSlamHeavyWood_03"
    assert descriptive_tag("sSPEED=023.976-ND\r\nsTAKE=3\r\nsUBITS=$00000000", stem) is None
    assert descriptive_tag("www.example.com", stem) is None
    assert descriptive_tag("03", stem) is None
    assert descriptive_tag("DoorSlamHeavyWood_03.wav", stem) == "door slam heavy wood"  # a name, cleaned
    assert descriptive_tag("LASRMisc_Zap_SFRMS_SCI", stem) == "zap"
    assert descriptive_tag("WHSHFast_Big Swoosh_TJ_LIB", stem) == "big swoosh"
    assert descriptive_tag("  Old oak door slammed hard ", stem) == "Old oak door slammed hard"


# --- Sonniss ----------------------------------------------------------------------------------------

@pytest.fixture()
def sonniss_root(tmp_path, monkeypatch) -> Path:
    """A GDC bundle part: publisher/library folders, bext-described and UCS-named files, previews,
    stray artwork and documents, a video, a nested folder, 6-channel 24-bit and 32-bit float WAVs."""
    monkeypatch.chdir(tmp_path)  # the root is relative, as users give it in params.yaml
    root = Path("raw/sonniss")
    lib = root / BUNDLE / "BOOM Library - Sci-Fi Weapons"
    tone(lib / "LASRMisc_Beam Transient_04_SFRMS_SCIWPNS.wav", sr=48000, channels=6, subtype="PCM_24")
    tone(lib / "LASRMisc_Beam Transient_04_SFRMS_SCIWPNS.mp3", seconds=0.1)  # preview: skipped
    p = tone(lib / "LASRMisc_Charge Up_01_SFRMS_SCIWPNS.WAV", sr=48000, channels=2, subtype="FLOAT")
    add_chunks(p, before_data=bext("Plasma rifle charging, rising electric whine"))
    tone(lib / "LASRMisc_Charge Up_01_SFRMS_SCIWPNS_preview.mp3", seconds=0.1)  # preview: skipped
    (lib / "readme.pdf").write_bytes(b"%PDF-1.4 not audio")
    (lib / "artwork.jpg").write_bytes(b"\xff\xd8\xff not audio")
    deep = root / BUNDLE / "Soundopolis - Urban Ambiences" / "Tokyo" / "Night"
    p = tone(deep / "AMBUrbn_Shibuya Crossing Night_JD_SNDPLS.wav", sr=96000, subtype="PCM_24")
    add_chunks(p, after_data=info(INAM="Shibuya", ICMT="Busy pedestrian crossing at night, crosswalk beeps"))
    (deep / "Making Of.mp4").write_bytes(b"\0\0\0\x18ftypmp42 not decodable")
    return root


def test_sonniss(sonniss_root):
    rows, rejects = run("sonniss", sonniss_root)
    rows_by = by_source(rows)
    lib = f"{BUNDLE}/BOOM Library - Sci-Fi Weapons"
    assert sorted(rows_by) == [
        f"{lib}/LASRMisc_Beam Transient_04_SFRMS_SCIWPNS.wav",
        f"{lib}/LASRMisc_Charge Up_01_SFRMS_SCIWPNS.WAV",
        f"{BUNDLE}/Soundopolis - Urban Ambiences/Tokyo/Night/AMBUrbn_Shibuya Crossing Night_JD_SNDPLS.wav",
    ]
    beam = rows_by[f"{lib}/LASRMisc_Beam Transient_04_SFRMS_SCIWPNS.wav"]
    assert beam.caption == "beam transient" and beam.captions == ["beam transient"]
    assert beam.labels == ["laser", "BOOM Library", "Sci-Fi Weapons"]  # no bundle folder
    assert beam.audio_path == str(Path("raw/sonniss") / beam.source)    # relative, not resolved
    assert Path(beam.audio_path).is_file()
    assert (beam.split, beam.offset_s, beam.duration_s) == ("train", 0.0, None)
    assert beam.license == "Sonniss GDC bundle license (royalty-free)"
    assert not beam.is_speech and beam.speech_reason is None and beam.youtube_id is None
    # bext beats the file name; INFO ICMT beats INAM and the file name.
    charge = rows_by[f"{lib}/LASRMisc_Charge Up_01_SFRMS_SCIWPNS.WAV"]
    assert charge.captions == ["Plasma rifle charging, rising electric whine"]
    night = next(r for r in rows if "Shibuya" in r.source)
    assert night.caption == "Busy pedestrian crossing at night, crosswalk beeps"
    assert night.labels == ["ambience", "Soundopolis", "Urban Ambiences", "Tokyo", "Night"]
    # The video container is a reject with a hint; the pdf/jpg are not mentioned anywhere.
    assert [(r.reason, r.stage, r.source.endswith("Making Of.mp4")) for r in rejects] == [
        ("unsupported_container", "ingest", True)]
    assert "extract the audio" in rejects[0].detail and rejects[0].corpus == "sonniss"
    keys = [r.key for r in rows] + [r.key for r in rejects]
    assert len(set(keys)) == len(keys) and all(KEY_RE.match(k) for k in keys)
    assert all(k.startswith("sonniss-") for k in keys)


def test_sonniss_options_and_determinism(sonniss_root):
    first, _ = run("sonniss", sonniss_root)
    again, _ = run("sonniss", sonniss_root)
    assert [r.to_dict() for r in first] == [r.to_dict() for r in again]
    assert [r.source for r in first] == sorted(r.source for r in first)
    rows, _ = run("sonniss", sonniss_root, use_tags=False, folder_in_caption=True, license="CC0")
    charge = next(r for r in rows if "Charge Up" in r.source)
    assert charge.caption == "charge up, sci fi weapons"   # name text + library context
    assert {r.license for r in rows} == {"CC0"}
    rows, _ = run("sonniss", sonniss_root, license=None)  # null in params.yaml: the corpus default
    assert {r.license for r in rows} == {"Sonniss GDC bundle license (royalty-free)"}
    rows, _ = run("sonniss", sonniss_root, name_caption="always")
    charge = next(r for r in rows if "Charge Up" in r.source)
    assert charge.captions == ["Plasma rifle charging, rising electric whine", "charge up"]


def test_missing_root_raises(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        get_adapter("sonniss")(tmp_path / "nowhere", {})


# --- Free To Use Sounds, WeSoundEffects, Odeon ---------------------------------------------------------

def test_free_to_use_sounds(tmp_path):
    root = tmp_path / "ftus"
    pack = root / "Australia Pack"
    tone(pack / "RAINMetl-L,R,Ls,Rs_Australia-Rain, Metal Roof Shed, Wind Driven Rain, 13.WAV",
         channels=4, subtype="PCM_24")
    tone(pack / "AMBForst-ST_Daintree-Forest, Morning Birds, Distant Creek, 02.WAV", channels=2)
    tone(pack / "AMBForst-ST_Daintree-Forest, Morning Birds, Distant Creek, 02.mp3", seconds=0.1)
    (pack / "License.txt").write_text("free to use")
    rows, rejects = run("free_to_use_sounds", root)
    assert rejects == []
    assert [r.caption for r in rows] == [
        "daintree forest, morning birds, distant creek",
        "australia rain, metal roof shed, wind driven rain",
    ]
    assert [r.labels for r in rows] == [["ambience", "Australia Pack"], ["rain", "Australia Pack"]]
    assert all(r.audio_path.endswith(".WAV") for r in rows)
    assert {r.license for r in rows} == {"Free To Use Sounds license (royalty-free)"}


def test_wesoundeffects_nested_packs(tmp_path):
    root = tmp_path / "wse"
    tone(root / "WeSoundEffects - Foley Pack" / "Doors" / "48kHz 24bit" / "DoorSlamHeavyWood_03.wav")
    tone(root / "WeSoundEffects - Foley Pack" / "Doors" / "Previews" / "DoorSlamHeavyWood_03.mp3", seconds=0.1)
    tone(root / "WeSoundEffects - Foley Pack" / "Doors" / "01.wav")         # text from the folder
    tone(root / "01.wav")                                                   # no text at all
    mp3 = tone(root / "Weather" / "Thunder_Rumble_Far.mp3", seconds=0.1)   # MP3 alone: a row
    from mutagen.id3 import ID3, TIT2

    tags = ID3()
    tags.add(TIT2(encoding=3, text="Distant thunder rolling"))
    tags.save(str(mp3))
    rows, rejects = run("wesoundeffects", root)
    got = {r.source: (r.caption, r.labels) for r in rows}
    assert got == {
        "WeSoundEffects - Foley Pack/Doors/01.wav": ("doors", ["WeSoundEffects", "Foley Pack", "Doors"]),
        "WeSoundEffects - Foley Pack/Doors/48kHz 24bit/DoorSlamHeavyWood_03.wav":
            ("door slam heavy wood", ["WeSoundEffects", "Foley Pack", "Doors"]),
        "Weather/Thunder_Rumble_Far.mp3": ("Distant thunder rolling", ["Weather"]),
    }
    assert [(r.reason, r.source) for r in rejects] == [("malformed_row", "01.wav")]
    assert "no description" in rejects[0].detail


def test_odeon_flac_and_same_names_in_different_packs(tmp_path):
    import mutagen

    root = tmp_path / "odeon"
    a = tone(root / "Odeon Vol 1" / "Impacts" / "Hit_01.flac")
    b = tone(root / "Odeon Vol 2" / "Impacts" / "Hit_01.FLAC")
    tone(root / "Odeon Vol 2" / "Impacts" / "Hit 01.flac")   # same key characters, other file
    audio = mutagen.File(str(a))
    audio["DESCRIPTION"] = "Deep cinematic impact with long tail"
    audio.save()
    sf.info(str(b))  # a real, readable FLAC
    rows, rejects = run("odeon", root)
    assert rejects == []
    assert [r.caption for r in rows] == ["Deep cinematic impact with long tail", "hit", "hit"]
    keys = [r.key for r in rows]
    assert len(set(keys)) == 3 and all(KEY_RE.match(k) and k.startswith("odeon-") for k in keys)


def test_every_library_is_registered(tmp_path):
    root = tmp_path / "lib"
    tone(root / "Pack" / "GLASBreak_Bottle Smash_01_AB_CD.wav")
    for corpus in LIBRARIES:
        rows, rejects = run(corpus, root)
        assert [(r.corpus, r.caption, r.labels) for r in rows] == [(corpus, "bottle smash", ["glass", "Pack"])]
        assert rows[0].license and rejects == []


def test_single_channel_layout_after_catid_is_dropped():
    assert text_from_name("FOLYFeet-M_Japan-Footsteps, Wooden Floor, Slow Walk, 06").text == \
        "japan footsteps, wooden floor, slow walk"


def test_vendor_brand_prefix_is_not_a_caption(tmp_path):
    root = tmp_path / "odeon"
    write_tone(root / "Paramount Motion - Odeon Cinematic Sound Effects" / "Rain" / "Odeon - Rain Storm Heavy.wav")
    write_tone(root / "Paramount Motion - Odeon Cinematic Sound Effects" / "Rain" / "Rain - Light Drizzle.wav")
    rows = [r for r in get_adapter("odeon")(root, {"use_tags": False}) if isinstance(r, ManifestRow)]
    captions = sorted(r.caption for r in rows)
    # The brand goes; a category word that starts a name ("Rain - ...") is content and stays.
    assert captions == ["rain storm heavy", "rain, light drizzle"]
