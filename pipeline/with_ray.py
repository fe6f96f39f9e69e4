"""`python -m pipeline.with_ray CMD ...`: run a command (typically `dvc repro`) with one local Ray
shared by every stage it starts.

Each stage is a Ray job that would otherwise start and stop its own local Ray (5-10 s each, a
dozen times in `dvc repro`). Here one Ray lives in this process, its address goes to the children
in RAY_ADDRESS (which `pipeline.common.init_ray` joins), and it ends with this process: no daemon
left behind, no `ray stop` that could hit someone else's cluster. With RAY_ADDRESS already set
(a real cluster), the command just runs against it.
"""
from __future__ import annotations

import os
import subprocess
import sys


def main(argv: list[str] | None = None) -> int:
    cmd = list(sys.argv[1:] if argv is None else argv)
    if not cmd:
        print("usage: python -m pipeline.with_ray CMD [ARGS...]", file=sys.stderr)
        return 2
    env = dict(os.environ)
    if env.get("RAY_ADDRESS"):
        return subprocess.call(cmd, env=env)
    import ray

    env.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(include_dashboard=False, log_to_driver=False,
             object_store_memory=int(env.get("AUDIOGEN_RAY_OBJECT_STORE", 512 * 1024**2)))
    try:
        env["RAY_ADDRESS"] = ray.get_runtime_context().gcs_address
        return subprocess.call(cmd, env=env)
    finally:
        ray.shutdown()


if __name__ == "__main__":
    sys.exit(main())
