"""What the training loader knows before it reads a sample: the shard table, the corpus weights, and
random access to clips of the audio shards by key.

    read_token_index(tokens_dir) -> shards.json as a dict, checked (SystemExit naming the file and field)
    ShardEntry / read_shard_table(tokens_dir, split) -> (entries, missing names)
    corpus_weights(entries, weights) -> {corpus: probability}
    check_codec(tokens_dir, codec_sha256) -> shards.json as a dict (SystemExit on a mismatch)
    tar_member_index(path) -> {key: {ext: (offset, size)}}
    AudioClips(audio_dir): .open(shard_name, key) -> soundfile.SoundFile over the clip's FLAC

Random access: a tar is a sequence of 512-byte headers, each followed by its member's data, so one
pass over the headers (tarfile's seeking reader: no data is read) gives every member's offset; a
clip is then one `seek` + `read` of its FLAC bytes. Indexes are built on first use and kept in an
LRU cache per process (a few hundred bytes per clip).
"""
from __future__ import annotations

import io
import logging
import tarfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from audiogen.io.arguments import ParamError, nonnegative_float, nonnegative_int, positive_float, positive_int
from audiogen.io.shards import INDEX_NAME, SHARD_RE, ShardError, read_index

log = logging.getLogger("audiogen.data.loader")


@dataclass(frozen=True)
class ShardEntry:
    """One token shard of the table (`shards.json` row, path resolved)."""

    name: str
    path: str
    split: str
    corpus: str
    clips: int
    seconds: float


REMAKE = "re-run the tokenize stage (`dvc repro tokenize`) to rewrite it"


def read_token_index(tokens_dir: str | Path) -> dict[str, Any]:
    """`<tokens_dir>/shards.json`, checked: a mapping whose `shards` is a list of rows with a shard
    `name`, `clips` (integer ≥ 0) and `seconds` (finite ≥ 0), and, when present, `frame_rate` > 0,
    `num_codebooks` ≥ 1 and `codec_sha256` text. A missing folder or file, a truncated or garbled
    file, or a wrong-typed field is a SystemExit naming the file, the field and the fix."""
    d = Path(tokens_dir)
    if not d.is_dir():
        raise SystemExit(f"data: token shards directory {d} does not exist (run the tokenize stage)")
    path = d / INDEX_NAME
    try:
        index = read_index(d)
    except FileNotFoundError:
        raise SystemExit(f"data: {path}: no shard index; {REMAKE}") from None
    except UnicodeDecodeError as err:
        raise SystemExit(f"data: {path}: not UTF-8 JSON (byte {err.start}); {REMAKE}") from None
    except ValueError as err:  # JSONDecodeError: a truncated or garbled file
        raise SystemExit(f"data: {path}: not valid JSON ({err}); {REMAKE}") from None
    except OSError as err:
        raise SystemExit(f"data: {path}: cannot read it: {err.strerror or err}") from None
    _check_index(index, path)
    return index


def _check_index(index: Any, path: Path) -> None:
    def bad(what: str) -> SystemExit:
        return SystemExit(f"data: {path}: {what}; {REMAKE}")

    if not isinstance(index, dict):
        raise bad(f"expected a JSON object with a 'shards' list, got {type(index).__name__}")
    rows = index.get("shards", [])
    if not isinstance(rows, list):
        raise bad(f"'shards' must be a list, got {type(rows).__name__}")
    try:
        for key, number in (("frame_rate", positive_float), ("num_codebooks", positive_int)):
            if index.get(key) is not None:
                number.check(index[key], key)
        for i, row in enumerate(rows):
            if not isinstance(row, dict):
                raise ParamError(f"shards[{i}]: expected an object, got {row!r:.60}")
            name = row.get("name")
            if not isinstance(name, str) or not SHARD_RE.match(name):
                raise ParamError(f"shards[{i}].name {name!r} is not <split>-<corpus>-NNNNNN.tar")
            nonnegative_int.check(row.get("clips", 0), f"shards[{i}] ({name}).clips")
            nonnegative_float.check(row.get("seconds", 0.0), f"shards[{i}] ({name}).seconds")
    except ParamError as err:
        raise bad(str(err)) from None
    sha = index.get("codec_sha256")
    if sha is not None and not isinstance(sha, str):
        raise bad(f"codec_sha256 must be text, got {sha!r:.60}")


def read_shard_table(tokens_dir: str | Path, split: str) -> tuple[list[ShardEntry], list[str]]:
    """The `split` shards listed in `<tokens_dir>/shards.json`, sorted by name, and the names of
    those whose tar is missing on disk (left out of the table: the caller counts them)."""
    d = Path(tokens_dir)
    index = read_token_index(d)
    entries, missing = [], []
    for row in index.get("shards", []):
        name = row["name"]
        m = SHARD_RE.match(name)
        if m["split"] != split:
            continue
        if not (d / name).is_file():
            missing.append(name)
            continue
        entries.append(ShardEntry(name, str((d / name).resolve()), m["split"], m["corpus"],
                                  int(row.get("clips") or 0), float(row.get("seconds") or 0.0)))
    return sorted(entries, key=lambda e: e.name), sorted(missing)


def corpus_weights(entries: list[ShardEntry], weights: Mapping[str, float] | None) -> dict[str, float]:
    """Sampling probability per corpus (sorted by name, summing to 1). `None`: proportional to the
    corpus' hours (shards.json seconds); otherwise the given weights, normalised; a corpus left out
    of the mapping, or weighted 0, is not trained on. A weight for a corpus without shards is an
    error (a typo would otherwise silently drop a corpus)."""
    present = sorted({e.corpus for e in entries})
    if weights is None:
        raw = {c: sum(e.seconds for e in entries if e.corpus == c) for c in present}
    else:
        unknown = sorted(set(weights) - set(present))
        if unknown:
            raise ValueError(f"data.corpus_weights names {unknown}, which have no train shards; corpora: {present}")
        if any(float(w) < 0 for w in weights.values()):
            raise ValueError(f"data.corpus_weights must be ≥ 0, got {dict(weights)}")
        raw = {c: float(weights.get(c, 0.0)) for c in present}
    total = sum(raw.values())
    if total <= 0:
        raise ValueError(f"data: every corpus has weight 0 (or no seconds in shards.json): {raw}")
    return {c: w / total for c, w in raw.items() if w > 0}


def check_codec(tokens_dir: str | Path, codec_sha256: str) -> dict[str, Any]:
    """Fail (SystemExit naming both digests) when the token shards were made by another codec than
    the one training will decode with; returns shards.json."""
    d = Path(tokens_dir)
    index = read_token_index(d)
    theirs = index.get("codec_sha256") or (index.get("codec") or {}).get("sha256")
    if theirs != codec_sha256:
        raise SystemExit(f"data: the token shards in {d} were made by codec sha256 {theirs}, but this run's codec "
                         f"has sha256 {codec_sha256}: re-run tokenize with this codec, or train with that one")
    return index


def tar_member_index(path: str | Path) -> dict[str, dict[str, tuple[int, int]]]:
    """`{key: {ext: (data offset, size)}}` of every regular member of a tar (headers only)."""
    out: dict[str, dict[str, tuple[int, int]]] = {}
    with tarfile.open(path, mode="r:") as tar:
        for info in tar:
            if not info.isfile():
                continue
            key, dot, ext = info.name.partition(".")
            if dot and "/" not in info.name:
                out.setdefault(key, {})[ext] = (info.offset_data, info.size)
    return out


class AudioClips:
    """Clips of the audio shards in `directory`, by (shard name, key), read without scanning the tar
    more than once per process (`max_shards` member indexes kept, least recently used evicted).
    Nothing is opened before the first `open` call: a run without mixing never touches the folder."""

    def __init__(self, directory: str | Path, max_shards: int = 1024):
        self.directory = Path(directory)
        self.max_shards = max_shards
        self._indexes: OrderedDict[str, dict[str, dict[str, tuple[int, int]]]] = OrderedDict()

    def _index(self, shard: str) -> dict[str, dict[str, tuple[int, int]]]:
        idx = self._indexes.get(shard)
        if idx is None:
            idx = tar_member_index(self.directory / shard)
            self._indexes[shard] = idx
            if len(self._indexes) > self.max_shards:
                self._indexes.popitem(last=False)
        else:
            self._indexes.move_to_end(shard)
        return idx

    def read_bytes(self, shard: str, key: str) -> bytes:
        """The clip's `.flac` (or `.wav`) member. Raises ShardError/OSError naming shard and key."""
        if not SHARD_RE.match(shard):
            raise ShardError(f"{shard}: not a shard name")
        members = self._index(shard).get(key)
        ext = next((e for e in ("flac", "wav") if members and e in members), None)
        if ext is None:
            raise ShardError(f"{self.directory / shard}: no audio member for key {key!r}")
        offset, size = members[ext]  # type: ignore[index]
        with open(self.directory / shard, "rb") as f:
            f.seek(offset)
            data = f.read(size)
        if len(data) != size:
            raise ShardError(f"{self.directory / shard}: member {key}.{ext} is truncated")
        return data

    def open(self, shard: str, key: str):
        """A `soundfile.SoundFile` over the clip (seekable: read only the window you need)."""
        import soundfile as sf

        return sf.SoundFile(io.BytesIO(self.read_bytes(shard, key)))
