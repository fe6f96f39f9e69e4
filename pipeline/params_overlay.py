"""Apply a params overlay (e.g. params-paper.yaml): `python -m pipeline.params_overlay FILE [--write]`.

Without `--write` it prints `-S key=value` flags for `dvc exp run $(...)`, so the overlay becomes an
experiment that `dvc exp show` compares with the demo; `--write` merges it into params.yaml (comments
of params.yaml are not kept by the YAML writer: commit first). Keys not in params.yaml are an error,
so a typo never silently does nothing.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import yaml


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def check_keys(overlay: dict[str, Any], params: dict[str, Any]) -> None:
    known = flatten(params)
    prefixes = {k.rsplit(".", i)[0] for k in known for i in range(k.count(".") + 1)}
    unknown = [k for k in flatten(overlay) if k not in known and k not in prefixes]
    if unknown:
        raise SystemExit(f"params_overlay: keys not in params.yaml: {unknown}")


def merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in overlay.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) and v else v
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m pipeline.params_overlay", description=__doc__.split("\n")[0])
    ap.add_argument("overlay")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--write", action="store_true", help="merge into --params instead of printing flags")
    args = ap.parse_args(argv)
    from audiogen.io.params import read_params

    overlay = read_params(args.overlay, flag="the OVERLAY argument")  # a missing, non-YAML or non-mapping file: one line naming it
    params = read_params(args.params)
    check_keys(overlay, params)
    if args.write:
        Path(args.params).write_text(yaml.safe_dump(merge(params, overlay), sort_keys=False), encoding="utf-8")
        print(f"params_overlay: {len(flatten(overlay))} keys of {args.overlay} written into {args.params}")
        return
    print(" ".join(f"-S {k}={value_token(v)}" for k, v in flatten(overlay).items()))


def value_token(v: Any) -> str:
    """A value as one shell word that DVC's `-S` (Hydra override grammar) reads back: no spaces, so
    `dvc exp run $(...)` works without quoting."""
    text = v if isinstance(v, str) else json.dumps(v, separators=(",", ":"))
    if any(c.isspace() for c in text):
        raise SystemExit(f"params_overlay: value {v!r} holds whitespace: set it with --write instead")
    return text


if __name__ == "__main__":
    main()
