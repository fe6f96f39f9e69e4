"""YouTube file-name matching shared by the AudioSet, AudioCaps and VGGSound adapters."""
from __future__ import annotations

import pytest

from pipeline.corpora.youtube import (
    FilenamePattern, YouTubeIndex, format_seconds, is_youtube_id, locate, parse_name,
)
from pipeline.manifest import Reject

from ._audio import write_tone

DASH_ID = "--PJHxphWEs"      # starts with '-'
UNDER_ID = "a_b-c_d-e_f"     # '_' inside: never split an id on '_'
Y_ID = "YAbCdEfGhIj"         # an id that itself starts with 'Y'


@pytest.mark.parametrize(
    "stem, expected",
    [
        (DASH_ID, (DASH_ID, None, None)),
        ("Y" + DASH_ID, (DASH_ID, None, None)),
        (Y_ID, (Y_ID, None, None)),                       # 11 chars: the Y belongs to the id
        ("Y" + Y_ID, (Y_ID, None, None)),                 # 12 chars: a Y prefix
        (UNDER_ID + "_30", (UNDER_ID, 30.0, None)),
        (UNDER_ID + "_30_40", (UNDER_ID, 30.0, 40.0)),
        (DASH_ID + "_30.000_40.000", (DASH_ID, 30.0, 40.0)),
        ("Y" + DASH_ID + "_000030", (DASH_ID, 30.0, None)),
        (Y_ID + "_30000_40000", (Y_ID, 30000.0, 40000.0)),
    ],
)
def test_parse_name_readings(stem, expected):
    readings = parse_name(stem)
    assert [(r[0], r[1], r[2]) for r in readings] == [expected]


@pytest.mark.parametrize("stem", ["short", DASH_ID + "_", DASH_ID + "_30_", DASH_ID + "-30", DASH_ID + "_a",
                                  "readme_file_v2", DASH_ID + "_30_40_50", "Y" + DASH_ID + "x"])
def test_parse_name_rejects_other_names(stem):
    assert parse_name(stem) == []


def test_id_and_time_helpers():
    assert is_youtube_id(DASH_ID) and is_youtube_id(UNDER_ID)
    assert not is_youtube_id("1.23E+05") and not is_youtube_id(DASH_ID[:10]) and not is_youtube_id(DASH_ID + "x")
    assert format_seconds(30.0) == "30" and format_seconds(30.5) == "30.5" and format_seconds(0.0) == "0"


def test_matches_every_spelling_any_extension_and_case(tmp_path):
    root = tmp_path / "corpus"
    names = {
        "a0000000001": "a0000000001.WAV",
        "a0000000002": "deep/nested/Ya0000000002.flac",
        "a0000000003": "a0000000003_30.Ogg",
        "a0000000004": "a0000000004_30.000_40.000.wav",
        "a0000000005": "a0000000005_000030.mp3",
        "a0000000006": "a0000000006_30000_40000.flac",
        "a0000000007": "Ya0000000007_30.000.wav",
    }
    for name in names.values():
        write_tone(root / name, seconds=0.05)
    index = YouTubeIndex.build(root)
    cut = {}
    for ytid, name in names.items():
        m = index.match(ytid, 30.0, 40.0)
        assert m is not None, name
        assert m.path == root / name  # root as given, not resolved
        assert not m.video
        cut[ytid] = m.cut
    # Only names that carry the row's times are the cut segment (offset 0).
    assert cut == {"a0000000001": False, "a0000000002": False, "a0000000003": True, "a0000000004": True,
                   "a0000000005": True, "a0000000006": True, "a0000000007": True}
    assert index.match("a0000000001", 30.0).offset_s is None
    assert index.match("a0000000004", 30.0, 40.0).offset_s == 0.0
    assert index.match("zzzzzzzzzzz", 30.0) is None


def test_prefers_times_that_match_and_never_takes_other_times(tmp_path):
    root = tmp_path / "c"
    write_tone(root / f"{DASH_ID}.wav", seconds=0.05)
    write_tone(root / f"{DASH_ID}_30_40.wav", seconds=0.05)
    write_tone(root / f"{DASH_ID}_50_60.wav", seconds=0.05)
    write_tone(root / f"{UNDER_ID}_50_60.wav", seconds=0.05)
    index = YouTubeIndex.build(root)
    m30 = index.match(DASH_ID, 30.0, 40.0)
    assert (m30.path.name, m30.cut) == (f"{DASH_ID}_30_40.wav", True)
    m50 = index.match(DASH_ID, 50.0, 60.0)
    assert (m50.path.name, m50.cut) == (f"{DASH_ID}_50_60.wav", True)
    # No file named for 70 s: the bare id (maybe the whole video) is the only candidate.
    m70 = index.match(DASH_ID, 70.0, 80.0)
    assert (m70.path.name, m70.cut) == (f"{DASH_ID}.wav", False)
    # A file cut at other times is another segment: never matched; the detail names it.
    assert index.match(UNDER_ID, 30.0, 40.0) is None
    detail = index.explain_missing(UNDER_ID, 30.0, 40.0)
    assert f"{UNDER_ID}_50_60.wav" in detail and "30-40" in detail
    # The end time is checked when both sides give one; truncated starts (int(30.6)) still match.
    assert index.match(DASH_ID, 30.0, 45.0).path.name == f"{DASH_ID}.wav"
    # ... but a name whose end was truncated or rounded (`_40` for 40.666) is still the segment.
    assert index.match(DASH_ID, 30.0, 40.666).path.name == f"{DASH_ID}_30_40.wav"
    assert index.match(DASH_ID, 30.6).cut


def test_audio_beats_video_and_video_alone_is_unsupported(tmp_path):
    root = tmp_path / "v"
    (root / "video").mkdir(parents=True)
    (root / "video" / f"{DASH_ID}_000030.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42")
    (root / "video" / f"{UNDER_ID}_000030.MP4").write_bytes(b"\x00\x00\x00\x18ftypmp42")
    write_tone(root / "audio" / f"{DASH_ID}.flac", seconds=0.05)
    index = YouTubeIndex.build(root)
    m = index.match(DASH_ID, 30.0)
    assert m.path.name == f"{DASH_ID}.flac" and not m.video
    found = locate(index, corpus="vggsound", key="k", source="vggsound.csv:2", youtube_id=UNDER_ID, start_s=30.0)
    assert isinstance(found, Reject) and found.reason == "unsupported_container"
    assert "ffmpeg -i" in found.detail and f"{UNDER_ID}_000030.flac" in found.detail
    missing = locate(index, corpus="vggsound", key="k2", source="vggsound.csv:3", youtube_id=Y_ID, start_s=1.0)
    assert isinstance(missing, Reject) and missing.reason == "missing_audio" and Y_ID in missing.detail


def test_prefer_dirs_breaks_ties_only(tmp_path):
    root = tmp_path / "p"
    write_tone(root / "a" / f"{DASH_ID}.wav", seconds=0.05)
    write_tone(root / "test" / f"{DASH_ID}.wav", seconds=0.05)
    index = YouTubeIndex.build(root)
    assert index.match(DASH_ID, 0.0).path.parent.name == "a"  # by path without a hint
    assert index.match(DASH_ID, 0.0, prefer_dirs=("test",)).path.parent.name == "test"
    write_tone(root / "a" / f"{DASH_ID}_0.wav", seconds=0.05)
    index = YouTubeIndex.build(root)
    assert index.match(DASH_ID, 0.0, prefer_dirs=("test",)).path.name == f"{DASH_ID}_0.wav"


def test_filename_pattern_format_and_regex(tmp_path):
    root = tmp_path / "f"
    write_tone(root / f"clip-{DASH_ID}-s30.wav", seconds=0.05)
    write_tone(root / f"{UNDER_ID}@30000.ogg", seconds=0.05)
    write_tone(root / f"{Y_ID}_30.wav", seconds=0.05)  # a built-in name, ignored under a pattern
    built_in = YouTubeIndex.build(root)
    assert built_in.match(DASH_ID, 30.0) is None and built_in.match(Y_ID, 30.0) is not None

    fmt = YouTubeIndex.build(root, "clip-{id}-s{start:d}")
    m = fmt.match(DASH_ID, 30.0)
    assert m is not None and m.cut
    assert fmt.match(DASH_ID, 31.0) is None
    assert fmt.match(Y_ID, 30.0) is None
    assert "clip-{id}-s{start:d}" in fmt.explain_missing(Y_ID, 30.0)

    rx = YouTubeIndex.build(root, r"(?P<id>.{11})@(?P<start_ms>\d+)")
    m = rx.match(UNDER_ID, 30.0)
    assert m is not None and m.cut and m.path.suffix == ".ogg"
    assert rx.match(UNDER_ID, 30000.0) is None  # explicitly milliseconds


@pytest.mark.parametrize("bad", ["{name}_{start}", "{start}", r"(?P<start>\d+)", "(?P<id>[", "{id}_{start}_{start_ms}"])
def test_filename_pattern_errors(bad):
    with pytest.raises(ValueError):
        FilenamePattern(bad)


def test_audio_dir_limits_the_walk(tmp_path):
    root = tmp_path / "r"
    write_tone(root / "elsewhere" / f"{DASH_ID}.wav", seconds=0.05)
    write_tone(root / "audio" / f"{UNDER_ID}.wav", seconds=0.05)
    index = YouTubeIndex.build(root, audio_dir="audio")
    assert index.match(DASH_ID, 0.0) is None
    assert index.match(UNDER_ID, 0.0).path == root / "audio" / f"{UNDER_ID}.wav"
    with pytest.raises(FileNotFoundError, match="nope"):
        YouTubeIndex.build(root, audio_dir="nope")


def test_unknown_options_warn_and_known_ones_apply(caplog):
    from pipeline.corpora.vggsound import VGGSoundOptions
    from pipeline.corpora.base import options_from_dict

    with caplog.at_level("WARNING", logger="audiogen"):
        opts = options_from_dict(VGGSoundOptions, {"root": "x", "enabled": True, "filename_patern": "{id}",
                                                   "audio_dir": "a"}, "vggsound")
    assert opts.audio_dir == "a" and opts.filename_pattern is None
    assert "filename_patern" in caplog.text and "root" not in caplog.text.split("known")[0]
