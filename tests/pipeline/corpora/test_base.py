"""Keys: the contract every stage relies on (DESIGN.md "Key")."""
from __future__ import annotations

import re

from pipeline.corpora.base import corpus_names, make_key

KEY = re.compile(r"^[a-z0-9_-]+$")


def test_plain_ids_stay_readable_without_hash():
    assert make_key("fsd50k", "12345") == "fsd50k-12345"
    assert make_key("bbc_sound_effects", "07070130") == "bbc_sound_effects-07070130"


def test_case_sensitive_youtube_ids_never_collide():
    a, b = make_key("audioset", "abcDEFghiJK_30"), make_key("audioset", "ABCdefGHIjk_30")
    assert a != b and KEY.match(a) and KEY.match(b)


def test_long_paths_give_short_safe_keys_that_keep_the_file_name():
    long_path = ("Sonniss.com - GDC 2023 - Game Audio Bundle Part 1 of 3/SoundFormsFX - Urban Alarms/"
                 "Police Siren Wailing, Rising and Falling.wav")
    key = make_key("free_to_use_sounds", long_path)
    assert KEY.match(key) and "." not in key
    # Room for "-<segment>" and ".codes.npy" inside a 100-byte USTAR member name.
    assert len(key) + len("-9999") + len(".codes.npy") <= 100
    assert "falling_wav" in key
    assert make_key("free_to_use_sounds", long_path.replace("Part 1", "Part 2")) != key


def test_accents_and_spaces_are_kept_apart():
    keys = {make_key("clotho", n) for n in (" leading space.wav", "leading space.wav", "café.wav", "cafe.wav")}
    assert len(keys) == 4 and all(KEY.match(k) for k in keys)


def test_registry_has_all_ten_corpora_and_user_adapters():
    assert set(corpus_names()) >= {
        "audioset", "audiocaps", "clotho", "vggsound", "fsd50k", "bbc_sound_effects",
        "free_to_use_sounds", "sonniss", "wesoundeffects", "odeon", "folder", "hf"}
