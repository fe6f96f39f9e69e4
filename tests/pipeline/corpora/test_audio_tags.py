"""Text tags read from real audio files: RIFF bext / LIST-INFO chunks written by a tiny RIFF writer
below (tests only) into WAV files that soundfile wrote; ID3 and Vorbis comments via mutagen."""
from __future__ import annotations

import struct
from pathlib import Path

import pytest
import soundfile as sf

from pipeline.corpora.audio_tags import AudioTags, decode_text, read_tags

from ._audio import write_tone


# --- a minimal RIFF chunk writer (tests only) ---------------------------------------------------

def chunk(chunk_id: bytes, body: bytes, pad: bool = True) -> bytes:
    """One RIFF chunk; `pad=False` imitates writers that forget the pad byte after an odd body."""
    out = chunk_id + struct.pack("<I", len(body)) + body
    return out + (b"\0" if pad and len(body) % 2 else b"")


def bext(description: bytes | str, originator: str = "Recorder") -> bytes:
    """A BWF bext chunk: Description (256 bytes, NUL padded), Originator (32), then the rest zeroed."""
    desc = description.encode("utf-8") if isinstance(description, str) else description
    body = desc[:256].ljust(256, b"\0") + originator.encode("ascii").ljust(32, b"\0")
    body += b"\0" * (602 - len(body))  # OriginatorReference ... Reserved (BWF v1 fixed part)
    return chunk(b"bext", body)


def info(**fields: str) -> bytes:
    """A LIST/INFO chunk, e.g. info(INAM="Door", ICMT="A door"); values NUL-terminated, odd lengths
    padded as the spec says."""
    body = b"INFO" + b"".join(chunk(k.encode("ascii"), v.encode("utf-8") + b"\0") for k, v in fields.items())
    return chunk(b"LIST", body)


def add_chunks(path: Path, before_data: bytes = b"", after_data: bytes = b"") -> Path:
    """Insert chunks before the `data` chunk and/or append them after it; fix the RIFF size (RIFF)
    or the ds64 sizes (RF64) so that the file stays valid for readers such as libsndfile."""
    raw = bytearray(path.read_bytes())
    form = bytes(raw[:4])
    pos = 12
    while raw[pos:pos + 4] != b"data":
        size = struct.unpack("<I", raw[pos + 4:pos + 8])[0]
        pos += 8 + size + (size & 1)
    raw[pos:pos] = before_data
    raw += after_data
    if form == b"RIFF":
        raw[4:8] = struct.pack("<I", len(raw) - 8)
    else:  # RF64: ds64 is the first chunk; its first field is the 64-bit RIFF size
        assert raw[12:16] == b"ds64"
        raw[20:28] = struct.pack("<Q", len(raw) - 8)
    path.write_bytes(bytes(raw))
    return path


def wav(path: Path, **kw) -> Path:
    kw.setdefault("seconds", 0.05)
    return write_tone(path, **kw)


# --- RIFF -----------------------------------------------------------------------------------------

def test_bext_description_utf8_before_data(tmp_path):
    p = add_chunks(wav(tmp_path / "a.wav"), before_data=bext("Café terrace, rain on awning — 2 mics"))
    tags = read_tags(p)
    assert tags.description == "Café terrace, rain on awning — 2 mics"
    assert tags.title is None and tags.comment is None
    assert sf.info(str(p)).frames == 800  # the file is still a valid WAV


def test_bext_description_cp1252_and_field_bounds(tmp_path):
    # cp1252 bytes (not valid UTF-8); the description fills all 256 bytes with no NUL, so the
    # Originator field right after it must not leak into the text.
    desc = ("Caf\xe9 door " * 30).encode("cp1252")[:256]
    p = add_chunks(wav(tmp_path / "b.wav"), before_data=bext(desc, originator="LEAKED"))
    tags = read_tags(p)
    assert tags.description.startswith("Café door Café door")
    assert "LEAKED" not in tags.description
    assert len(tags.description) <= 256


def test_info_after_data_with_odd_lengths(tmp_path):
    p = add_chunks(wav(tmp_path / "c.wav", sr=11025), after_data=info(INAM="Dog", ICMT="Dog barks twice, far"))
    tags = read_tags(p)
    assert tags.title == "Dog"
    assert tags.comment == "Dog barks twice, far"
    assert tags.texts() == ["Dog barks twice, far", "Dog"]


def test_unpadded_odd_chunk_is_tolerated(tmp_path):
    junk = chunk(b"junk", b"abc", pad=False)  # 3-byte body, pad byte missing
    p = add_chunks(wav(tmp_path / "d.wav"), after_data=junk + bext("Thunder clap close"))
    assert read_tags(p).description == "Thunder clap close"


@pytest.mark.parametrize(
    "fmt, subtype, channels",
    [("WAV", "PCM_24", 6), ("WAVEX", "PCM_24", 8), ("WAV", "FLOAT", 2), ("WAVEX", "FLOAT", 4)],
)
def test_multichannel_24bit_and_float(tmp_path, fmt, subtype, channels):
    p = tmp_path / f"{fmt}_{subtype}_{channels}.wav"
    sf.write(str(p), [[0.0] * channels] * 480, 48000, format=fmt, subtype=subtype)
    add_chunks(p, before_data=bext("Crowd walla, stadium"), after_data=info(INAM="Stadium"))
    tags = read_tags(p)
    assert (tags.description, tags.title) == ("Crowd walla, stadium", "Stadium")
    assert sf.info(str(p)).channels == channels


def test_rf64(tmp_path):
    p = tmp_path / "big.wav"
    sf.write(str(p), [[0.0, 0.0]] * 300, 48000, format="RF64", subtype="PCM_24")
    # The data chunk's 32-bit size is 0xFFFFFFFF: walking past it needs ds64's 64-bit size.
    add_chunks(p, before_data=bext("Wind through pines"), after_data=info(ICMT="Recorded at dusk"))
    tags = read_tags(p)
    assert tags.description == "Wind through pines"
    assert tags.comment == "Recorded at dusk"


def test_broken_files_give_nothing(tmp_path):
    full = add_chunks(wav(tmp_path / "full.wav", seconds=0.2), after_data=bext("Lost at the end"))
    assert read_tags(full).description == "Lost at the end"
    data = full.read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(data[: len(data) // 2])  # truncated download: the bext chunk is gone
    assert read_tags(cut) == AudioTags()
    stub = tmp_path / "stub.wav"
    stub.write_bytes(data[:7])
    assert read_tags(stub) == AudioTags()
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(bytes(range(256)) * 4)
    assert read_tags(garbage) == AudioTags()
    huge = tmp_path / "huge.wav"  # a bext chunk claiming 2 GiB in a tiny file
    huge.write_bytes(data[:12] + b"bext" + struct.pack("<I", 0x7FFFFFF0) + b"Partial text\0")
    assert read_tags(huge).description == "Partial text"
    assert read_tags(tmp_path / "missing.wav") == AudioTags()
    assert not read_tags(tmp_path / "missing.wav")


def test_decode_text():
    assert decode_text(b"  hello\0world") == "hello"
    assert decode_text("naïve".encode("utf-8")) == "naïve"
    assert decode_text("naïve".encode("cp1252")) == "naïve"
    assert decode_text(b"\x81\x8d") is not None  # undefined in cp1252: Latin-1 fallback, no error
    assert decode_text(b"\0\0") is None


# --- mutagen containers ----------------------------------------------------------------------------

def test_mp3_id3_title_and_comment(tmp_path):
    from mutagen.id3 import COMM, ID3, TIT2

    p = write_tone(tmp_path / "x.MP3", seconds=0.2)
    tags = ID3()
    tags.add(TIT2(encoding=3, text="Glass shatter"))
    tags.add(COMM(encoding=3, lang="eng", desc="iTunNORM", text=" 000001F4 000001F4"))
    tags.add(COMM(encoding=3, lang="eng", desc="", text="Wine glass dropped on tiles"))
    tags.save(str(p))
    got = read_tags(p)
    assert got.title == "Glass shatter"
    assert got.comment == "Wine glass dropped on tiles"
    assert sf.info(str(p)).frames > 0


@pytest.mark.parametrize("ext", [".flac", ".ogg"])
def test_vorbis_comments(tmp_path, ext):
    import mutagen

    p = write_tone(tmp_path / f"y{ext}", seconds=0.2)
    audio = mutagen.File(str(p))
    audio["TITLE"] = "Creek"
    audio["DESCRIPTION"] = "Small creek over pebbles, birds"
    audio.save()
    got = read_tags(p)
    assert (got.title, got.description, got.comment) == ("Creek", "Small creek over pebbles, birds", None)
    assert got.texts()[0] == "Small creek over pebbles, birds"


def test_wav_with_id3_chunk(tmp_path):
    from mutagen.id3 import TIT2
    from mutagen.wave import WAVE

    p = wav(tmp_path / "id3.wav")
    audio = WAVE(str(p))
    audio.add_tags()
    audio.tags.add(TIT2(encoding=3, text="Chain rattle"))
    audio.save()
    assert read_tags(p).title == "Chain rattle"


def test_untagged_files(tmp_path):
    for name in ("plain.wav", "plain.flac", "plain.mp3"):
        assert read_tags(write_tone(tmp_path / name, seconds=0.1)) == AudioTags()
