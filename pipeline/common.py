"""Small helpers every stage shares: params.yaml sections, Ray start-up, the reject-fraction gate."""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any, Callable

log = logging.getLogger("audiogen")

PARAMS_FILE = Path(os.environ.get("AUDIOGEN_PARAMS", "params.yaml"))


def load_params(section: str | None = None, path: str | Path | None = None) -> dict[str, Any]:
    """One section of params.yaml (or all of it). A missing file gives {} so CLIs run anywhere
    with their built-in defaults."""
    from audiogen.io.params import read_params, section_of

    path = Path(path) if path is not None else PARAMS_FILE
    if not path.exists():
        return {}
    params = read_params(path)  # a file that is not UTF-8 YAML of sections: one line naming it (exit 1)
    return params if section is None else section_of(params, section, path)


def init_ray(num_cpus: int | None = None) -> None:
    """Join the cluster named by RAY_ADDRESS (or the one `ray submit`/`ray job submit` started us
    in), else start a local Ray. Idempotent: tests start one Ray per session and stages reuse it."""
    import ray

    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    # Ray Data prints a progress bar per operator; keep them, but not the per-task logs.
    if os.environ.get("RAY_ADDRESS"):
        ray.init(address=os.environ["RAY_ADDRESS"], log_to_driver=False)
        return
    try:
        ray.init(
            num_cpus=num_cpus,
            include_dashboard=False,
            log_to_driver=False,
            object_store_memory=int(os.environ.get("AUDIOGEN_RAY_OBJECT_STORE", 512 * 1024**2)),
        )
    except ValueError as err:
        # ray.init() joins a cluster that `ray start` left on this machine (the `ray submit`
        # case), and then refuses resource arguments: join it as it is.
        if "existing cluster" not in str(err):
            raise
        ray.init(log_to_driver=False)


def check_reject_fraction(stage: str, rejected: int, total: int, max_fraction: float) -> None:
    """Exit non-zero with a clear message when too many rows were rejected for `stage`."""
    if total == 0:
        return
    fraction = rejected / total
    if fraction > max_fraction:
        raise SystemExit(
            f"{stage}: {rejected} of {total} rows rejected ({fraction:.1%}), above max_reject_fraction "
            f"{max_fraction:.1%}; see rejects.jsonl for the reasons"
        )


def setup_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)


def run_stage(main: Callable[[], Any], stage: str) -> None:
    """A stage's `__main__`: a write that fails (disk full, a file where an output folder should be,
    a read-only folder) ends the stage with one line naming the file, not a traceback. Outputs are
    written whole or not at all (audiogen.io.atomic), so the previous ones are still there."""
    from audiogen.io.atomic import OutputError

    try:
        main()
    except OutputError as err:
        raise SystemExit(f"{stage}: {err} (earlier outputs are left as they were)") from None
