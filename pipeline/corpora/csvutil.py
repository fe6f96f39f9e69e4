"""CSV reading shared by the metadata-table adapters: encodings, physical line numbers, headers.

Corpus tables come with quirks that `csv.DictReader` hides: a byte-order mark, `#` comment lines
before the header, ISO-8859-1 files next to UTF-8 ones, rows with too few or too many fields, and
quoted fields spanning several lines. `read_table` reads a whole file (metadata tables are small
next to their audio), and yields each record with the 1-based physical line it starts on, so a
reject can name `file:line`. Every text value comes back NFC-normalised; nothing is stripped,
because some corpora (Clotho) have file names that start with a space.
"""
from __future__ import annotations

import csv
import io
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

from pipeline.corpora.base import nfc

# Quoted captions can be long; the csv module's default limit (128 KiB) is fine, but a stray
# unbalanced quote swallows the rest of the file into one field: raise the limit so that such a
# file fails as one malformed row with a line number rather than a csv.Error mid-iteration.
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))

# Windows-1252 defines printable characters where ISO-8859-1 has C1 control codes (0x80-0x9F).
# Files labelled "ISO-8859-1" are often really cp1252 (curly quotes, dashes): C1 controls never
# belong in text, so map those that cp1252 defines and keep the rest as they are.
_C1_TO_CP1252 = {}
for _byte in range(0x80, 0xA0):
    try:
        _C1_TO_CP1252[_byte] = bytes([_byte]).decode("cp1252")
    except UnicodeDecodeError:
        pass


def decode_text(data: bytes, encoding: str = "auto", fallback: str = "latin-1") -> tuple[str, str]:
    """Bytes → (text, encoding used). `encoding="auto"` tries UTF-8 (BOM allowed) first, then
    `fallback`: natural-language Latin-1 text with accents is practically never valid UTF-8, so a
    re-saved UTF-8 copy of a Latin-1 table decodes correctly either way. Latin-1 text has its C1
    control codes mapped through cp1252."""
    if encoding == "auto":
        try:
            return data.decode("utf-8-sig"), "utf-8"
        except UnicodeDecodeError:
            encoding = fallback
    if encoding.lower().replace("_", "-") in ("utf-8", "utf8"):
        encoding = "utf-8-sig"
    text = data.decode(encoding)
    if encoding.lower().replace("_", "-") in ("latin-1", "latin1", "iso-8859-1", "iso8859-1"):
        text = text.translate(_C1_TO_CP1252)
    return text, encoding


@dataclass
class Record:
    """One CSV record: `line` is the 1-based physical line it starts on; `values` maps header
    names (lowercased) to NFC text; `error` is set (and `values` empty) for a record that cannot
    be parsed (wrong number of fields, csv error)."""

    line: int
    values: dict[str, str] = field(default_factory=dict)
    fields: list[str] = field(default_factory=list)
    error: str | None = None


def iter_records(text: str) -> Iterator[tuple[int, list[str] | None, str | None]]:
    """Raw records of a CSV text as (start line, fields, error). Blank lines are skipped."""
    reader = csv.reader(io.StringIO(text, newline=""))
    last = 0  # physical lines consumed before this record
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            yield last + 1, None, f"CSV error: {err}"
            last = reader.line_num
            continue
        start = last + 1
        last = reader.line_num
        if not fields or (len(fields) == 1 and fields[0] == ""):
            continue
        yield start, [nfc(f) for f in fields], None


def read_table(
    path: Path,
    required: Sequence[str] = (),
    *,
    encoding: str = "auto",
    header: Sequence[str] | None = None,
    skip_comments: bool = True,
) -> Iterator[Record]:
    """Records of a CSV file as `Record`s keyed by (lowercased, stripped) header names.

    `header=None` reads the header from the file (after any leading `#` comment lines); pass the
    column names for header-less files (FSD50K's vocabulary). A header that lacks one of
    `required` raises ValueError naming the file. Records with fewer fields than the header get
    an error; extra trailing empty fields are tolerated, other extra fields are an error.
    """
    text, _ = decode_text(Path(path).read_bytes(), encoding)
    records = iter_records(text)
    names: list[str] | None = [h.strip().lower() for h in header] if header is not None else None
    for line, fields, error in records:
        if names is None:
            if error is not None:
                raise ValueError(f"{path}:{line}: cannot parse the header: {error}")
            assert fields is not None
            if skip_comments and fields[0].lstrip().startswith("#"):
                continue
            names = [f.strip().lower() for f in fields]
            missing = [c for c in required if c.lower() not in names]
            if missing:
                raise ValueError(f"{path}:{line}: header {fields} lacks column(s) {missing}")
            continue
        if error is not None:
            yield Record(line=line, error=error)
            continue
        assert fields is not None
        while len(fields) > len(names) and fields[-1].strip() == "":
            fields = fields[:-1]  # spreadsheets add trailing commas
        if len(fields) != len(names):
            yield Record(line=line, fields=fields,
                         error=f"expected {len(names)} fields ({','.join(names)}), got {len(fields)}")
            continue
        yield Record(line=line, values=dict(zip(names, fields)), fields=fields)
    if names is None and header is None:
        raise ValueError(f"{path}: empty file, expected a header with columns {list(required)}")
