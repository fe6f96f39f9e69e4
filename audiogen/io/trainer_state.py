"""The trainers' checkpoints, with one commit point each: one writer and one reader shared by the
codec, tagger and LM trainers (and the LM fine-tuning, which adds its adapter files).

    OUT/state.pt            the committed unit: everything a resume reads (live weights, EMA,
                            optimisers, loader positions, RNGs, step, params fingerprint) and the
                            content and sha256 of every public file below
    OUT/config.json         the public checkpoint (`Codec` / `AudioLM` / `Tagger.from_pretrained`),
    OUT/model.safetensors   derived from state.pt
    OUT/<more files>        e.g. `adapter_model.safetensors` + `adapter_config.json`

`commit_checkpoint` writes every public file under a temporary name, then state.pt under a
temporary name, then renames state.pt into place — the commit point: until that rename the previous
checkpoint is whole, after it the new one is — and then renames the public files into place. A run
killed between the commit and the last rename leaves public files of the previous step beside the new
state.pt: `load_resume_state` finds their sha256 differ from the pinned ones and writes them again
from state.pt. A resume reads state.pt alone, so it never mixes two steps.

state.pt written before this format (weights in model.safetensors, renamed into place before
state.pt, no pin) is read when it is provably whole and refused otherwise (`_legacy`).

Test hooks (environment, unset in normal runs; tests/io/test_trainer_state.py and the trainers' kill
tests use them):
- `AUDIOGEN_TEST_KILL_AT=STEP:OP` stops the commit of step STEP just before its OP-th file operation
  (0-based); `AUDIOGEN_TEST_KILL_MODE=exit` (default) ends the process with `os._exit(KILLED_EXIT)`,
  `raise` raises `SimulatedKill` (in-process tests; nothing cleans up, as after a kill).
- `AUDIOGEN_TEST_KILL_WORKER=RANK:STEP:MARKER` makes that rank SIGKILL itself when it reaches the
  checkpoint of step STEP, once (MARKER is created first; a restarted worker finds it and carries on).
"""
from __future__ import annotations

import hashlib
import logging
import os
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from audiogen.io.atomic import OutputError, fsync_dir
from audiogen.io.checkpoint import (CONFIG_NAME, WEIGHTS_NAME, CheckpointError, CheckpointNotFoundError,
                                    config_text, first_line, load_weights)

log = logging.getLogger("audiogen.checkpoint")

STATE_NAME = "state.pt"
STATE_FORMAT = "audiogen-trainer-state/1"
KILL_AT_ENV = "AUDIOGEN_TEST_KILL_AT"
KILL_MODE_ENV = "AUDIOGEN_TEST_KILL_MODE"
KILL_WORKER_ENV = "AUDIOGEN_TEST_KILL_WORKER"
KILLED_EXIT = 86


class SimulatedKill(BaseException):
    """Raised by the kill hook in `raise` mode. A BaseException, so no `except Exception` of the
    trainers catches it: the process state after it is that of a killed process."""


@dataclass(frozen=True)
class TensorFile:
    """A public `.safetensors` file: name → tensor, and the header's string metadata."""

    tensors: Mapping[str, Any]
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class JsonFile:
    """A public `.json` file (written as `config_text`: sorted keys, indent 2, newline)."""

    data: Mapping[str, Any]


PublicFile = TensorFile | JsonFile


def model_files(state_dict: Mapping[str, Any], config: Mapping[str, Any], fmt: str) -> dict[str, PublicFile]:
    """The public checkpoint `save_checkpoint` writes (`config.json` = `{"format": fmt, **config}`,
    `model.safetensors`), as files for `commit_checkpoint`; byte-identical to `save_pretrained`'s."""
    tensors = {k: v.detach().cpu().contiguous() for k, v in state_dict.items()}
    return {WEIGHTS_NAME: TensorFile(tensors, {"format": fmt}), CONFIG_NAME: JsonFile({"format": fmt, **config})}


# --- test hooks -----------------------------------------------------------------------------------
class _FileOps:
    """Counts the file operations of one commit; the kill hook stops before the chosen one."""

    def __init__(self, step: int):
        self.step, self.n = int(step), 0
        spec = os.environ.get(KILL_AT_ENV, "")
        at_step, _, at_op = spec.partition(":")
        self.kill_at = int(at_op) if spec and int(at_step) == self.step else None

    def __call__(self) -> None:
        if self.kill_at is not None and self.n == self.kill_at:
            if os.environ.get(KILL_MODE_ENV, "exit") == "raise":
                raise SimulatedKill(f"killed before file operation {self.n} of the commit of step {self.step}")
            os._exit(KILLED_EXIT)
        self.n += 1


def worker_kill_point(rank: int, step: int) -> None:
    """Test hook (`AUDIOGEN_TEST_KILL_WORKER`): a Ray Train worker lost mid-run, for real (SIGKILL)."""
    spec = os.environ.get(KILL_WORKER_ENV)
    if not spec:
        return
    at_rank, at_step, marker = spec.split(":", 2)
    if int(at_rank) == rank and int(at_step) == step and not os.path.exists(marker):
        Path(marker).write_text(f"rank {rank} killed at step {step}\n")
        os.kill(os.getpid(), signal.SIGKILL)


# --- writing --------------------------------------------------------------------------------------
def _tmp(out: Path, name: str) -> Path:
    return out / f".{name}.{os.getpid()}.tmp"


def _write_public(path: Path, content: PublicFile) -> None:
    """Write one public file (at a temporary name) and make it durable."""
    if isinstance(content, TensorFile):
        from safetensors.torch import save_file

        save_file(dict(content.tensors), str(path), metadata=dict(content.metadata) or None)
    else:
        path.write_text(config_text(content.data), encoding="utf-8")
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _remove_stale_tmps(out: Path, names) -> None:
    """Temporary files of commits that a kill interrupted (any pid): never read, only removed."""
    for name in list(names) + [STATE_NAME]:
        for stale in out.glob(f".{name}.*.tmp"):
            try:
                stale.unlink()
            except OSError:
                pass


def _canonical(obj: Any) -> Any:
    """`obj` with every string interned. Pickle writes a string once per object, so a key read back
    from a checkpoint (a new object: an optimiser's 'step' after a resume) and the same key made by
    the code would give state.pt other bytes for the same content; interned, equal strings are one."""
    import sys

    if isinstance(obj, str):
        return sys.intern(obj)
    if isinstance(obj, dict):
        return {_canonical(k): _canonical(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_canonical(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_canonical(v) for v in obj)
    return obj


def _pack(content: PublicFile) -> dict[str, Any]:
    if isinstance(content, TensorFile):
        return {"tensors": dict(content.tensors), "metadata": dict(content.metadata)}
    return {"json": config_text(content.data)}


def _unpack(packed: Mapping[str, Any]) -> PublicFile:
    import json

    if "tensors" in packed:
        return TensorFile(packed["tensors"], packed.get("metadata") or {})
    return JsonFile(json.loads(packed["json"]))


class CheckpointWriteError(OutputError):
    """Writing a checkpoint failed (disk full, a file too large, a file where the folder should be);
    one line naming the folder and the cause. The last committed checkpoint is whole."""


def commit_checkpoint(out: str | os.PathLike, kind: str, state: Mapping[str, Any],
                      files: Mapping[str, PublicFile]) -> None:
    """`_write_checkpoint`, and a write that fails half way removes this commit's temporary files and
    raises a one-line CheckpointWriteError: the commit rename was not reached, so the previous
    checkpoint is left whole (or it was, and the new one is)."""
    from safetensors import SafetensorError

    try:
        _write_checkpoint(out, kind, state, files)
    except (OSError, RuntimeError, SafetensorError) as err:  # torch.save and safetensors wrap a failed write
        for name in list(files) + [STATE_NAME]:
            _tmp(Path(out), name).unlink(missing_ok=True)
        cause = err.strerror if isinstance(err, OSError) and err.strerror else (str(err).splitlines() or [""])[0]
        if isinstance(err, RuntimeError) and "inline_container" in cause:  # torch's zip writer, cut short
            cause = "the write of state.pt stopped short (disk full, or a file-size limit)"
        raise CheckpointWriteError(getattr(err, "errno", None) or 0,
                                   f"cannot write the checkpoint of step {state.get('step')} in {out}: {cause}; "
                                   "the last committed checkpoint there is left as it was") from err


def _write_checkpoint(out: str | os.PathLike, kind: str, state: Mapping[str, Any],
                      files: Mapping[str, PublicFile]) -> None:
    """Write one checkpoint of trainer `kind` ("codec", "tagger", "lm", ...) into `out`: `state`
    (a dict of tensors / numbers / strings / lists / dicts that `torch.load(weights_only=True)`
    reads; it must hold `step`) is what a resume reads, `files` the public files derived from it
    (`model_files(...)`, plus any others). One commit point: the rename of state.pt (module doc)."""
    import torch

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if "step" not in state:
        raise ValueError("a trainer state needs its step")
    op = _FileOps(int(state["step"]))
    _remove_stale_tmps(out, files)
    sha: dict[str, str] = {}
    for name, content in files.items():
        op()
        _write_public(_tmp(out, name), content)
        sha[name] = _sha256(_tmp(out, name))
    full = _canonical({**state, "format": STATE_FORMAT, "kind": kind,
                       "files": {name: _pack(content) for name, content in files.items()}, "sha256": sha})
    op()
    tmp = _tmp(out, STATE_NAME)
    with open(tmp, "wb") as f:  # a file object: given a path, torch names the archive inside after the
        torch.save(full, f)         # path's stem, and state.pt's bytes would depend on the writer's pid
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    op()
    os.replace(tmp, out / STATE_NAME)  # the commit point
    fsync_dir(out)
    for name in files:
        op()
        os.replace(_tmp(out, name), out / name)
    fsync_dir(out)
    op()  # a kill here: the whole checkpoint is in place


def restore_public_files(out: str | os.PathLike, state: Mapping[str, Any]) -> list[str]:
    """Write again, atomically, every public file whose sha256 differs from the one `state` pins
    (a run killed after its commit, before its last rename). Returns the names rewritten."""
    out = Path(out)
    pins = state.get("sha256") or {}
    _remove_stale_tmps(out, pins)
    stale = [name for name, sha in pins.items() if not (out / name).is_file() or _sha256(out / name) != sha]
    op = _FileOps(int(state.get("step", -1)))
    for name in stale:
        op()
        _write_public(_tmp(out, name), _unpack(state["files"][name]))
        if _sha256(_tmp(out, name)) != pins[name]:
            raise CheckpointError(f"{out / STATE_NAME}: its copy of {name} does not match its own sha256: "
                                  "the state is damaged; delete it to start over")
        op()
        os.replace(_tmp(out, name), out / name)
    if stale:
        fsync_dir(out)
    return stale


# --- reading --------------------------------------------------------------------------------------
def read_state(path: str | os.PathLike) -> dict[str, Any]:
    """A trainer state file as a dict (`weights_only=True`); a missing, truncated, garbled or
    wrong-typed file is a one-line `CheckpointError` naming it and the fix."""
    import torch

    path = Path(path)
    fix = f"delete {path} to start over (or restore it from a backup)"
    if not path.is_file():
        raise CheckpointNotFoundError(f"{path}: no trainer state here (train without --resume auto first)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises RuntimeError, UnpicklingError, EOFError, ... by damage
        raise CheckpointError(f"{path}: not a readable trainer state ({first_line(err)}); {fix}") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: holds a {type(state).__name__}, not a trainer state; {fix}")
    if "step" not in state:
        raise CheckpointError(f"{path}: a dict without a step, not a trainer state; {fix}")
    return state


def load_resume_state(out: str | os.PathLike, kind: str, repair: bool = True) -> dict[str, Any] | None:
    """The committed state in `out` of trainer `kind`, with `state["model"]` the live weights; None
    when `out` has no state.pt. Brings the public files back in line with it first (`repair`: only
    the process that writes checkpoints, rank 0, may). Refuses (one line) a state of another kind, a
    damaged one, and an old-format one that may mix two steps."""
    out = Path(out)
    path = out / STATE_NAME
    if not path.exists():
        return None
    state = read_state(path)
    if "format" not in state:
        return _legacy(out, state)
    if state["format"] != STATE_FORMAT:
        raise CheckpointError(f"{path}: format {state['format']!r}, expected {STATE_FORMAT!r} "
                              "(written by another audiogen version); start over with another --out")
    if state.get("kind") != kind:
        raise CheckpointError(f"{path}: the state of a {state.get('kind')} trainer, not of the {kind} trainer; "
                              "use another --out")
    if "model" not in state or not isinstance(state.get("files"), dict) or not isinstance(state.get("sha256"), dict):
        raise CheckpointError(f"{path}: a trainer state without its weights or files; delete it to start over")
    rewritten = restore_public_files(out, state) if repair else []
    if rewritten:
        log.info("%s: %s rewritten from the committed state of step %d (the run stopped while "
                 "renaming them)", out, ", ".join(rewritten), int(state["step"]))
    return state


def _legacy(out: Path, state: dict[str, Any]) -> dict[str, Any]:
    """state.pt of the old writer: model.safetensors renamed into place first, state.pt second, no
    pin. Whole when state.pt carries its own live weights (the LM with EMA) or when the weights are
    not newer than state.pt (else a kill came between two renames: weights of a later step)."""
    path, weights = out / STATE_NAME, out / WEIGHTS_NAME
    if state.get("live_weights") is not None:
        log.info("%s: older checkpoint format, whole (it carries its weights): resuming from step %d",
                 path, int(state["step"]))
        return {**state, "model": state["live_weights"]}
    if not weights.is_file():
        raise CheckpointError(f"{path}: older checkpoint format whose weights {weights} are missing; "
                              "start over with --resume never or another --out")
    if weights.stat().st_mtime_ns > path.stat().st_mtime_ns:
        raise CheckpointError(f"{path}: older checkpoint format and {WEIGHTS_NAME} is newer than it (a run "
                              "stopped between the two renames: weights and optimiser of different steps); "
                              "refusing to mix them: start over with --resume never or another --out")
    log.info("%s: older checkpoint format, whole (weights not newer than it): resuming from step %d",
             path, int(state["step"]))
    return {**state, "model": load_weights(out)}


# --- Ray Train: a lost worker restarts the group from the committed state ---------------------------
RESTART_MARKER = "committed.json"


def mark_committed(run_dir: str | os.PathLike | None, step: int) -> None:
    """Rank 0 on Ray Train, after each commit: note in this run's own Ray Train folder (RUN_DIR,
    unique per run, on the storage every node sees) that OUT/state.pt now holds a checkpoint of this
    run, so that a group restarted after a lost worker resumes from it (`ray_restarted`). A file of
    ours rather than `ray.train.get_checkpoint()`: Ray Train registers reported checkpoints
    asynchronously, and a worker lost soon after a report restarts without it."""
    import json

    if not run_dir:
        return
    d = Path(run_dir)
    d.mkdir(parents=True, exist_ok=True)
    tmp = d / f".{RESTART_MARKER}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps({"step": int(step)}) + "\n")
    os.replace(tmp, d / RESTART_MARKER)


def ray_restarted(run_dir: str | os.PathLike | None) -> bool:
    """Whether this worker group is a restart of a run that has committed a checkpoint already."""
    return bool(run_dir) and (Path(run_dir) / RESTART_MARKER).is_file()


def report_ray_result(rank: int, result: Mapping[str, Any]) -> None:
    """Collective on Ray Train workers at the end: the final metrics reach the driver (`result.json`
    in a tiny Ray checkpoint from rank 0; the numbers also as Ray Train metrics)."""
    import json
    import tempfile

    import ray.train

    with tempfile.TemporaryDirectory() as tmp:
        ckpt = None
        if rank == 0:
            (Path(tmp) / "result.json").write_text(json.dumps(dict(result), default=str))
            ckpt = ray.train.Checkpoint.from_directory(tmp)
        ray.train.report({k: v for k, v in result.items() if isinstance(v, (int, float))}, checkpoint=ckpt)


def ray_run_config(name: str, storage: str | os.PathLike, max_failures: int) -> dict[str, Any]:
    """`RunConfig` keywords shared by the trainers on Ray Train: a lost worker restarts the group
    (up to `max_failures` times), which resumes from OUT/state.pt (RUN_DIR = storage/name, see
    `mark_committed`). The test hooks' environment reaches the workers."""
    from ray.train import CheckpointConfig, FailureConfig

    kw: dict[str, Any] = {"name": name, "storage_path": str(Path(storage).resolve()),
                          "failure_config": FailureConfig(max_failures=int(max_failures)),
                          "checkpoint_config": CheckpointConfig(num_to_keep=1)}
    hooks = {k: v for k, v in os.environ.items() if k in (KILL_AT_ENV, KILL_MODE_ENV, KILL_WORKER_ENV)}
    if hooks:
        kw["worker_runtime_env"] = {"env_vars": hooks}
    return kw
