"""The evaluation report appears whole or not at all.

`build_report` writes into `<out>/.staging-<pid>/`; only when every file is written are they moved
into `<out>/`, files first, the `audio/` and `spectrograms/` folders swapped whole, `index.html` and
then `metrics.json` last (so a `metrics.json` always belongs to a finished report). A run killed or
failing (disk full, a folder that cannot be created) before that leaves the previous report as it
was; the next run removes the staging folder it left.
"""
from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import Iterator

from audiogen.io.atomic import OutputError, fsync_dir, fsync_file, make_dirs

STAGING_PREFIX = ".staging-"
OLD_PREFIX = ".old-"
LAST = ("index.html", "metrics.json")  # the page, then the figures DVC reads: the report's commit point


@contextlib.contextmanager
def staged_report(out: Path) -> Iterator[Path]:
    """Yield a fresh staging folder inside `out`; publish its contents into `out` on a clean exit,
    remove it on an exception."""
    out = make_dirs(out)
    for stale in list(out.glob(STAGING_PREFIX + "*")) + list(out.glob(OLD_PREFIX + "*")):  # killed runs'
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)
    staging = out / f"{STAGING_PREFIX}{os.getpid()}"
    try:
        staging.mkdir()
    except OSError as err:
        raise OutputError(err.errno, f"cannot create {staging}: {err.strerror or err}") from err
    try:
        yield staging
        _sync_tree(staging)
    except BaseException as err:
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(err, OSError) and not isinstance(err, OutputError):
            name = Path(err.filename).name if err.filename else ""
            raise OutputError(err.errno, f"cannot write {out / name}: {err.strerror or err}; "
                                         "the previous report is left as it was") from err
        raise
    publish(staging, out)


def publish(staging: Path, out: Path) -> None:
    """Move everything in `staging` into `out` (see the module docstring for the order); removes `staging`."""
    items = sorted(staging.iterdir(), key=lambda p: (p.name in LAST, LAST.index(p.name) if p.name in LAST else 0,
                                                     p.is_dir(), p.name))
    for item in items:
        target = out / item.name
        if item.is_dir():
            old = out / f"{OLD_PREFIX}{os.getpid()}-{item.name}"
            if target.is_dir() and not target.is_symlink():
                os.replace(target, old)
            elif target.exists() or target.is_symlink():
                target.unlink()
            os.replace(item, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            os.replace(item, target)
    fsync_dir(out)
    staging.rmdir()


def _sync_tree(root: Path) -> None:
    for path in sorted(root.rglob("*")):
        if path.is_file():
            fsync_file(path)
