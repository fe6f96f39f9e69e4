"""Descriptive text tags read from an audio file's header, without decoding any audio.

Sound libraries carry their descriptions inside the files: WAV files in the Broadcast Wave `bext`
chunk (Description: the first 256 bytes, NUL-terminated) or in a RIFF `LIST/INFO` chunk (`INAM`
title, `ICMT` comment); MP3 in ID3 frames; FLAC/OGG/Opus in Vorbis comments. RIFF chunks are
parsed here with a bounded reader (vendors' files have odd, unpadded chunks, RF64 headers and
truncated downloads); the other containers go through `mutagen`.

`read_tags(path)` never raises: a file it cannot read gives an empty `AudioTags`. A corrupt file is
ingest's business (its header probe rejects it with a reason), not the tag reader's.
"""
from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

# Bounds: a header walk visits at most this many chunks and reads at most this many bytes of one
# text chunk, so a corrupt size field cannot make us read (or loop over) gigabytes.
MAX_CHUNKS = 512
MAX_TEXT_CHUNK = 1 << 20
BEXT_DESCRIPTION_BYTES = 256

_RIFF_FORMS = (b"RIFF", b"RF64", b"BW64")
_TEXT_CHUNKS = (b"bext", b"LIST", b"id3 ", b"ID3 ")
_WAV_EXTENSIONS = (".wav", ".bwf", ".w64", ".rf64")


@dataclass(frozen=True)
class AudioTags:
    """Text found in a file's tags; None where absent or empty. `description` is the BWF bext
    Description or a Vorbis DESCRIPTION; `title` INAM / ID3 TIT2 / Vorbis TITLE; `comment` ICMT /
    ID3 COMM / Vorbis COMMENT."""

    title: str | None = None
    description: str | None = None
    comment: str | None = None

    def texts(self) -> list[str]:
        """The non-empty texts, most descriptive first (description, comment, title), no repeats."""
        out: list[str] = []
        for text in (self.description, self.comment, self.title):
            if text and text not in out:
                out.append(text)
        return out

    def __bool__(self) -> bool:
        return bool(self.title or self.description or self.comment)


def decode_text(raw: bytes) -> str | None:
    """Bytes of a text field → str: cut at the first NUL, UTF-8 if valid, else cp1252 (what
    Windows tools write), else Latin-1 (which decodes any byte). Surrounding whitespace is removed;
    empty text gives None."""
    raw = raw.split(b"\0", 1)[0]
    for encoding in ("utf-8", "cp1252", "latin-1"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    text = text.strip()
    return text or None


def _looks_like_id(chunk_id: bytes) -> bool:
    return len(chunk_id) == 4 and all(0x20 <= b <= 0x7E for b in chunk_id)


def _iter_chunks(f: BinaryIO, start: int, end: int, data_size64: int | None = None):
    """Yield (id, body_offset, size) for the chunks in [start, end) of a RIFF-style file.

    Chunk bodies are padded to an even length; some writers forget the pad byte after an odd
    chunk, so when the padded position holds no plausible chunk header and the unpadded one
    does, the unpadded one is taken. An RF64 `data` chunk's size is 0xFFFFFFFF with the real size
    in `ds64` (`data_size64`)."""
    pos = start
    for _ in range(MAX_CHUNKS):
        if pos + 8 > end:
            return
        f.seek(pos)
        header = f.read(8)
        if len(header) < 8:
            return
        chunk_id, size = header[:4], struct.unpack("<I", header[4:])[0]
        if not _looks_like_id(chunk_id):
            return
        if size == 0xFFFFFFFF and data_size64 is not None and chunk_id == b"data":
            size = data_size64
        yield chunk_id, pos + 8, size
        nxt = pos + 8 + size
        if size & 1:
            nxt += 1
            if not _plausible_chunk(f, nxt, end) and _plausible_chunk(f, nxt - 1, end):
                nxt -= 1
        pos = nxt


def _plausible_chunk(f: BinaryIO, pos: int, end: int) -> bool:
    """Whether a chunk header at `pos` has a printable id and a body that fits in the file (a
    `data` chunk may overrun: truncated files keep their audio)."""
    f.seek(pos)
    header = f.read(8)
    if len(header) < 8 or not _looks_like_id(header[:4]):
        return False
    return header[:4] == b"data" or pos + 8 + struct.unpack("<I", header[4:])[0] <= end


def _read_body(f: BinaryIO, offset: int, size: int, end: int) -> bytes:
    f.seek(offset)
    return f.read(max(0, min(size, MAX_TEXT_CHUNK, end - offset)))


def _plausible_sub(body: bytes, pos: int) -> bool:
    return (pos + 8 <= len(body) and _looks_like_id(body[pos:pos + 4])
            and pos + 8 + struct.unpack("<I", body[pos + 4:pos + 8])[0] <= len(body))


def _parse_info(body: bytes) -> dict[bytes, str]:
    """A LIST/INFO body (after the `INFO` form type) → {sub-chunk id: text}."""
    out: dict[bytes, str] = {}
    pos = 0
    for _ in range(MAX_CHUNKS):
        if pos + 8 > len(body):
            break
        sub_id, size = body[pos:pos + 4], struct.unpack("<I", body[pos + 4:pos + 8])[0]
        if not _looks_like_id(sub_id):
            break
        text = decode_text(body[pos + 8:pos + 8 + size])
        if text and sub_id not in out:
            out[sub_id] = text
        nxt = pos + 8 + size + (size & 1)
        # Tolerate a missing pad byte, as in the outer walk.
        if size & 1 and not _plausible_sub(body, nxt) and _plausible_sub(body, nxt - 1):
            nxt -= 1
        pos = nxt
    return out


def read_riff_tags(path: str | Path) -> tuple[AudioTags, bool]:
    """Tags from a RIFF/RF64 WAV file's `bext` and `LIST/INFO` chunks.

    Returns (tags, has_id3_chunk): the flag says an embedded `id3 ` chunk exists (read by mutagen).
    Raises OSError/struct.error on unreadable input; `read_tags` catches them."""
    description = title = comment = None
    has_id3 = False
    with open(path, "rb") as f:
        end = os.fstat(f.fileno()).st_size
        header = f.read(12)
        if len(header) < 12 or header[:4] not in _RIFF_FORMS or header[8:12] != b"WAVE":
            return AudioTags(), False
        # The walk is bounded by the real file size, not the RIFF size field: truncated downloads
        # overstate it and some taggers append chunks without updating it.
        data_size64 = None
        if header[:4] != b"RIFF":
            # RF64/BW64: the sizes live in `ds64`, the first chunk (riff size, data size: u64 each).
            f.seek(12)
            first = f.read(8 + 16)
            if first[:4] == b"ds64" and len(first) >= 24:
                data_size64 = struct.unpack("<Q", first[16:24])[0]
        for chunk_id, offset, size in _iter_chunks(f, 12, end, data_size64):
            d, t, c, i = _text_chunk(f, chunk_id, offset, size, end)
            description, title, comment = description or d, title or t, comment or c
            has_id3 = has_id3 or i
    return AudioTags(title=title, description=description, comment=comment), has_id3


def _text_chunk(f: BinaryIO, chunk_id: bytes, offset: int, size: int, end: int):
    """(description, title, comment, is_id3) from one chunk; Nones for chunks without text."""
    if chunk_id == b"bext":
        return decode_text(_read_body(f, offset, min(size, BEXT_DESCRIPTION_BYTES), end)), None, None, False
    if chunk_id == b"LIST":
        body = _read_body(f, offset, size, end)
        if body[:4] == b"INFO":
            info = _parse_info(body[4:])
            return None, info.get(b"INAM"), info.get(b"ICMT"), False
    if chunk_id in (b"id3 ", b"ID3 "):
        return None, None, None, True
    return None, None, None, False


def _first(values) -> str | None:
    """The first non-empty text of a tag value (a list of strings, an ID3 frame, or None)."""
    if values is None:
        return None
    items = getattr(values, "text", values)
    if isinstance(items, str):
        items = [items]
    for item in items:
        text = str(item).replace("\0", " ").strip()
        if text:
            return text
    return None


def _from_id3(tags) -> AudioTags:
    title = _first(tags.get("TIT2"))
    subtitle = _first(tags.get("TIT3"))  # "subtitle/description refinement"
    comment = None
    for frame in tags.getall("COMM"):
        # iTunes stores machine data (iTunNORM, iTunSMPB) in described COMM frames: skip those.
        if frame.desc.lower().startswith("itun"):
            continue
        comment = _first(frame)
        if comment:
            break
    return AudioTags(title=title, description=subtitle, comment=comment)


def _from_vorbis(tags) -> AudioTags:
    def get(name: str) -> str | None:
        try:
            return _first(tags.get(name) or tags.get(name.lower()))
        except (KeyError, ValueError):
            return None

    return AudioTags(title=get("TITLE"), description=get("DESCRIPTION"), comment=get("COMMENT"))


def read_mutagen_tags(path: str | Path) -> AudioTags:
    """ID3 (MP3, AIFF, WAV `id3 ` chunks) or Vorbis-comment (FLAC, OGG, Opus) tags via mutagen."""
    import mutagen
    from mutagen.id3 import ID3

    audio = mutagen.File(str(path))
    tags = getattr(audio, "tags", None)
    if not tags:
        return AudioTags()
    if isinstance(tags, ID3):
        return _from_id3(tags)
    return _from_vorbis(tags)


def read_tags(path: str | Path) -> AudioTags:
    """Every descriptive text tag of `path`; an empty AudioTags when there are none or the file
    cannot be read. Never raises for a bad file."""
    path = Path(path)
    ext = path.suffix.lower()
    try:
        riff, has_id3 = read_riff_tags(path)
    except (OSError, ValueError, struct.error):
        return AudioTags()
    if ext in _WAV_EXTENSIONS and not has_id3:
        return riff
    if riff and not has_id3:
        return riff
    try:
        other = read_mutagen_tags(path)
    except Exception:  # noqa: BLE001  mutagen raises many types for broken files; tags are optional
        other = AudioTags()
    # RIFF chunks (the vendor's own fields) win over an embedded ID3 copy.
    return AudioTags(
        title=riff.title or other.title,
        description=riff.description or other.description,
        comment=riff.comment or other.comment,
    )
