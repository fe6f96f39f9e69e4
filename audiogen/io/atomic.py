"""Files that appear whole or not at all (DESIGN.md: "nothing half-written").

Every output goes to `<name>.<pid>.tmp` beside its final name, is flushed to disk, then renamed onto
it (a rename within one folder is atomic). A process killed at any moment therefore leaves either the
previous file or the new one under the final name, plus at most a `*.tmp` that the next run removes;
a write that fails half way (disk full, file too large, I/O error) removes its temporary and leaves
the previous file as it was.

`OutputSet` does the same for several files that belong together (a manifest, its rejects and its
stats): all are written to temporaries first, and only when every one is complete are they renamed
into place, so a failed write leaves every previous output untouched. Writing a file removes the
temporaries of that same file that killed runs left behind.

    write_bytes(path, data)        write_text(path, text)        with atomic_file(path, "w") as f: ...
    with OutputSet() as outs: outs.write_text(path, ...); pq.write_table(t, outs.tmp(path)) ...
    OutputError: an OSError whose message is one line naming the file and what failed
    run_cli(main, prog): a CLI's __main__ that turns an OutputError into that one line
"""
from __future__ import annotations

import contextlib
import glob
import os
from pathlib import Path
from typing import IO, Iterator

TMP_SUFFIX = ".tmp"


class OutputError(OSError):
    """Writing an output failed; str() is one line naming the path and the cause."""

    def __str__(self) -> str:
        return str(self.strerror)


def describe(err: OSError, action: str = "write") -> str:
    """One line for an OSError: `cannot write data/x.parquet: No space left on device`."""
    if isinstance(err, OutputError):
        return str(err)
    name = err.filename if err.filename is not None else ""
    cause = err.strerror or str(err) or type(err).__name__
    return f"cannot {action} {name}: {cause}" if name else f"cannot {action}: {cause}"


def tmp_path(path: str | os.PathLike) -> Path:
    """The temporary name a process writes `path` under (unique per process: a stray writer of a
    killed run never shares it with a new one)."""
    path = Path(path)
    return path.with_name(f"{path.name}.{os.getpid()}{TMP_SUFFIX}")


def _clear_stale(path: Path) -> None:
    """Remove temporaries of `path` that killed runs left (other pids); the writer of a file is one
    process at a time (one stage run, one shard task)."""
    mine = tmp_path(path).name
    for p in path.parent.glob(glob.escape(path.name) + ".*" + TMP_SUFFIX):
        middle = p.name[len(path.name) + 1: -len(TMP_SUFFIX)]
        if middle.isdigit() and p.name != mine:
            p.unlink(missing_ok=True)


def make_dirs(path: str | os.PathLike) -> Path:
    """mkdir -p, with an OutputError naming the folder (e.g. a file stands where a folder should be)."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(err.errno, f"cannot create output folder {path}: {err.strerror or err}") from err
    return path


def fsync_file(path: Path) -> None:
    """Flush a written file's data to disk (before it is renamed into place)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Make the renames in `path` durable (a power cut after the rename keeps the new name)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems refuse fsync on folders; the rename itself is still atomic
    finally:
        os.close(fd)


def _replace(tmp: Path, path: Path) -> None:
    try:
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise OutputError(err.errno, f"cannot write {path}: {err.strerror or err}") from err


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike, mode: str = "wb", encoding: str | None = None,
                newline: str | None = None) -> Iterator[IO]:
    """Open a temporary beside `path` for writing; on a clean exit it is synced and renamed onto
    `path`, on an exception removed (and an OSError becomes an OutputError naming `path`)."""
    path = Path(path)
    make_dirs(path.parent)
    _clear_stale(path)
    tmp = tmp_path(path)
    try:
        with open(tmp, mode, encoding=encoding, newline=newline) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
    except BaseException as err:
        tmp.unlink(missing_ok=True)
        if isinstance(err, OSError) and not isinstance(err, OutputError):
            raise OutputError(err.errno, f"cannot write {path}: {err.strerror or err}") from err
        raise
    _replace(tmp, path)
    fsync_dir(path.parent)


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_file(path, "wb") as f:
        f.write(data)


def write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> None:
    with atomic_file(path, "w", encoding=encoding, newline="") as f:
        f.write(text)


class OutputSet:
    """Several outputs made visible together: write each to `tmp(path)` (or with write_bytes /
    write_text / open), then `commit()` renames them all, in the order they were first named. Used as
    a context manager it commits on a clean exit and removes every temporary on an exception, so a
    write failing half way through the set leaves all previous outputs as they were."""

    def __init__(self) -> None:
        self._pending: dict[Path, Path] = {}

    def tmp(self, path: str | os.PathLike) -> Path:
        """The temporary to write `path` to (its folder created)."""
        path = Path(path)
        if path not in self._pending:
            make_dirs(path.parent)
            _clear_stale(path)
            self._pending[path] = tmp_path(path)
        return self._pending[path]

    @contextlib.contextmanager
    def open(self, path: str | os.PathLike, mode: str = "wb", encoding: str | None = None,
             newline: str | None = None) -> Iterator[IO]:
        tmp = self.tmp(path)
        try:
            with open(tmp, mode, encoding=encoding, newline=newline) as f:
                yield f
        except OSError as err:
            if isinstance(err, OutputError):
                raise
            raise OutputError(err.errno, f"cannot write {path}: {err.strerror or err}") from err

    def write_bytes(self, path: str | os.PathLike, data: bytes) -> None:
        with self.open(path, "wb") as f:
            f.write(data)

    def write_text(self, path: str | os.PathLike, text: str, encoding: str = "utf-8") -> None:
        with self.open(path, "w", encoding=encoding, newline="") as f:
            f.write(text)

    def commit(self) -> None:
        """Sync every temporary, then rename each onto its final name."""
        try:
            for path, tmp in self._pending.items():
                try:
                    fsync_file(tmp)
                except OSError as err:
                    raise OutputError(err.errno, f"cannot write {path}: {err.strerror or err}") from err
        except BaseException:
            self.abort()
            raise
        folders = []
        try:
            for path, tmp in list(self._pending.items()):
                _replace(tmp, path)
                del self._pending[path]
                if path.parent not in folders:
                    folders.append(path.parent)
        except BaseException:
            self.abort()
            raise
        for folder in folders:
            fsync_dir(folder)

    def abort(self) -> None:
        for tmp in self._pending.values():
            tmp.unlink(missing_ok=True)
        self._pending.clear()

    def __enter__(self) -> "OutputSet":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()


def run_cli(main, prog: str) -> None:
    """A CLI's `__main__`: a write that fails (an OutputError: disk full, a file where an output folder
    should be) ends it with one line naming the file, not a traceback; outputs written through this
    module are whole, so the previous ones are still there."""
    try:
        main()
    except OutputError as err:
        raise SystemExit(f"{prog}: {err}") from None


def remove_stale_tmps(folder: str | os.PathLike, pattern: str = "*") -> int:
    """Remove `<pattern>.<pid>.tmp` files a killed run left in `folder`; returns how many."""
    removed = 0
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    for p in folder.glob(f"{pattern}{TMP_SUFFIX}"):
        stem = p.name[: -len(TMP_SUFFIX)]
        if stem.rsplit(".", 1)[-1].isdigit() and p.is_file():
            p.unlink(missing_ok=True)
            removed += 1
    return removed
