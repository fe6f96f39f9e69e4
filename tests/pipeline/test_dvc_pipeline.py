"""A real `dvc repro` of the data chain on the embedded demo, in a temporary git repository.

The stages run as subprocesses exactly as a user's `dvc repro` runs them; they join the test
session's local Ray through RAY_ADDRESS instead of each starting their own (seconds per stage).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
PROJECT_FILES = ("pipeline", "audiogen", "params.yaml", "dvc.yaml", ".dvcignore", ".gitignore")


# Every model stage at a size that runs in seconds (the demo's own sizes are in params.yaml).
TINY_MODELS = {
    "tagger": {"shards": "data/shards/audio", "out": "models/tagger", "metrics": "reports/tagger/metrics.json",
               "epochs": 2, "min_count": 2, "batch_size": 16},
    "train": {"lm_preset": "tiny", "lm_overrides": {"dim": 32, "num_layers": 1, "num_heads": 2}, "segment_s": 1.0,
              "batch_size": 4, "max_steps": 4, "warmup_steps": 1, "checkpoint_every": 2, "valid_every": 2,
              "log_every": 1, "mix": {"p": 0.5}, "seed": 0},
    "evaluate": {"cfg": 3.0, "cfg_sweep": [1.0, 3.0], "splits": ["test"], "num_clips": 3, "max_duration_s": 1.0,
                 "generations_per_caption": 2, "top_k": 20, "report_clips": 2},
}


def _run(cmd: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}")
    return proc


@pytest.fixture(scope="module")
def demo_repo(tmp_path_factory, ray_local) -> tuple[Path, dict[str, str]]:
    """A fresh git repo holding the project's code, params and dvc.yaml, with dvc initialised."""
    repo = tmp_path_factory.mktemp("dvc_repo")
    for name in PROJECT_FILES:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, repo / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif src.exists():
            shutil.copy2(src, repo / name)
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["DVC_NO_ANALYTICS"] = "1"
    env["RAY_ADDRESS"] = ray_local.get_runtime_context().gcs_address
    env.pop("AUDIOGEN_PARAMS", None)
    git = ["git", "-c", "init.defaultBranch=main"]
    _run(git + ["init", "-q"], repo, env)
    _run(["git", "config", "user.name", "audiogen tests"], repo, env)
    _run(["git", "config", "user.email", "tests@audiogen.invalid"], repo, env)
    _run(["dvc", "init", "-q"], repo, env)
    params_path = repo / "params.yaml"
    params = yaml.safe_load(params_path.read_text())
    params["codec"].update(steps=12, checkpoint_every=6, valid_every=6, valid_clips=4)
    params["codec"]["losses"]["adv_start_step"] = 6  # exercise the discriminator phase too
    params.update(TINY_MODELS)
    params_path.write_text(yaml.safe_dump(params, sort_keys=False))
    _run(["git", "add", "-A"], repo, env)
    _run(["git", "commit", "-qm", "project"], repo, env)
    return repo, env


def test_dvc_repro_filter_on_demo(demo_repo):
    repo, env = demo_repo
    _run(["dvc", "repro", "filter"], repo, env)
    out = repo / "data" / "manifests" / "filtered"
    expectations = json.loads((repo / "data" / "raw" / "demo" / "demo_expectations.json").read_text())

    splits = {s: pq.read_table(out / f"{s}.parquet").to_pylist() for s in ("train", "valid", "test")}
    assert all(splits[s] for s in splits), {s: len(v) for s, v in splits.items()}
    # Only AudioCaps' test split is the test split, and none of its YouTube ids is trained on.
    assert {r["corpus"] for r in splits["test"]} == {"audiocaps"}
    test_ids = {r["youtube_id"] for r in splits["test"]}
    for split in ("train", "valid"):
        assert not test_ids & {r["youtube_id"] for r in splits[split] if r["youtube_id"]}
        # Speech is filtered out of training data in the default strict mode.
        assert not any(r["is_speech"] for r in splits[split])
    # Every corpus of the demo reaches the training split.
    assert {r["corpus"] for r in splits["train"]} >= set(expectations["corpora"])
    stats = json.loads((out / "stats.json").read_text())
    rejects = [json.loads(line) for line in (out / "rejects.jsonl").read_text().splitlines()]
    reasons = {r["reason"] for r in rejects}
    assert {"speech", "duplicate", "leak_audiocaps_test"} <= reasons, reasons
    assert stats

    # Up to date: a second repro runs nothing and changes nothing.
    before = (out / "train.parquet").read_bytes()
    proc = _run(["dvc", "repro", "filter"], repo, env)
    assert "didn't change" in proc.stdout or "up to date" in proc.stdout.lower()
    assert (out / "train.parquet").read_bytes() == before


def test_dvc_repro_whole_chain_on_demo(demo_repo):
    """Every stage through DVC (prepare → train_codec / train_tagger → tokenize → train → evaluate),
    each model trained for a few steps only."""
    repo, env = demo_repo
    _run(["dvc", "repro"], repo, env)

    audio = sorted(p.name for p in (repo / "data" / "shards" / "audio").glob("*.tar"))
    tokens = sorted(p.name for p in (repo / "data" / "shards" / "tokens").glob("*.tar"))
    assert audio and tokens == audio  # one token shard per audio shard, same names
    index = json.loads((repo / "data" / "shards" / "tokens" / "shards.json").read_text())
    codec_config = json.loads((repo / "models" / "codec" / "config.json").read_text())
    assert index["num_codebooks"] == codec_config["codec"]["num_codebooks"]
    metrics = json.loads((repo / "reports" / "codec" / "metrics.json").read_text())
    assert metrics["step"] == 12 and "si_snr" in metrics["valid"]
    assert (repo / "reports" / "codec" / "plots" / "metrics" / "valid" / "mel_distance.tsv").exists()
    prepared = json.loads((repo / "reports" / "prepare" / "stats.json").read_text())
    assert prepared["clips"] > 0 and prepared["shards"] == len(audio)
    lm = json.loads((repo / "models" / "lm" / "config.json").read_text())
    assert lm["codec"]["sha256"] == index["codec_sha256"] and lm["step"] == 4
    train = json.loads((repo / "reports" / "train" / "metrics.json").read_text())
    assert train["step"] == 4 and train["valid"]["loss"] > 0
    assert (repo / "reports" / "train" / "plots" / "metrics" / "valid" / "loss.tsv").exists()
    ev = json.loads((repo / "reports" / "eval" / "metrics.json").read_text())
    assert ev["n_references"] == 3 and ev["n_generated"] == 6 and {"fad", "kl", "clap", "codec_fad"} <= set(ev)
    assert (repo / "reports" / "eval" / "index.html").exists()
    # The summary `make demo` prints reads every stage's stats.
    proc = _run([sys.executable, "-m", "pipeline.summary"], repo, env)
    for stage in ("tokenize", "codec", "train", "evaluate", "tagger"):
        assert stage in proc.stdout, stage
    # Right after a finished repro, nothing is left to do.
    _run(["git", "add", "dvc.lock"], repo, env)
    _run(["git", "commit", "-qm", "lock"], repo, env)
    status = _run(["dvc", "status"], repo, env)
    assert "up to date" in status.stdout.lower(), status.stdout


def test_dvc_experiments_compare_mix_on_and_off(demo_repo):
    """Two experiments that change train params: only train and evaluate re-run, and `dvc exp show`
    holds both with their metrics."""
    repo, env = demo_repo
    names = []
    for p in ("0.0", "0.5"):
        proc = _run(["dvc", "exp", "run", "-S", f"train.mix.p={p}", "-S", "train.max_steps=3"], repo, env)
        assert "Running stage 'train'" in proc.stdout and "Running stage 'evaluate'" in proc.stdout
        for upstream in ("prepare", "tokenize", "train_codec", "train_tagger"):
            assert f"Running stage '{upstream}'" not in proc.stdout, upstream
        names.append(proc.stdout)
    shown = json.loads(_run(["dvc", "exp", "show", "--json"], repo, env).stdout)
    exps = [e for rev in shown for e in (rev.get("experiments") or [])]
    found = {}
    for exp in exps:
        data = exp["revs"][0]["data"]
        p = data["params"]["params.yaml"]["data"]["train"]["mix"]["p"]
        found[p] = data["metrics"]["reports/eval/metrics.json"]["data"]
    assert set(found) == {0.0, 0.5}, found.keys()
    assert all("fad" in m and "kl" in m for m in found.values())
