"""cluster.yaml is a config Ray's cluster launcher accepts (its own JSON schema and the checks
`ray up` runs after filling in the provider defaults), with GPU workers and setup commands that
install the project; and `ray submit`'s way of running the script (a copy in the home directory)
works. No SSH, no cloud."""
from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def config() -> dict:
    return yaml.safe_load((REPO / "cluster.yaml").read_text())


def _schema() -> dict:
    import ray.autoscaler

    return json.loads((Path(ray.autoscaler.__file__).parent / "ray-schema.json").read_text())


def test_matches_ray_launcher_schema(config):
    import jsonschema
    from ray.autoscaler._private.util import fillout_defaults, validate_config

    jsonschema.validate(config, _schema())          # the file as written
    validate_config(fillout_defaults(copy.deepcopy(config)))  # what `ray up` validates


def test_schema_rejects_a_broken_config(config):
    """The check above can fail: a misspelt node-type field and a missing provider are caught."""
    import jsonschema

    bad = copy.deepcopy(config)
    bad["available_node_types"]["gpu_worker"]["min_worker"] = 1
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, _schema())
    bad = copy.deepcopy(config)
    del bad["provider"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, _schema())


def test_gpu_workers_and_head(config):
    types = config["available_node_types"]
    head = types[config["head_node_type"]]
    assert head["resources"].get("GPU", 0) == 0
    gpu = [t for name, t in types.items() if name != config["head_node_type"] and t["resources"].get("GPU", 0) >= 1]
    assert gpu, "no GPU worker node type"
    for t in gpu:
        assert 0 <= t["min_workers"] <= t["max_workers"] <= config["max_workers"]
        assert t["node_config"]["InstanceType"].startswith(("g", "p"))  # an AWS GPU instance family


def test_setup_installs_the_project_with_pinned_torch_and_ray(config):
    import ray

    setup = "\n".join(config["setup_commands"])
    assert "pip install -q -e ." in setup
    torch_pin = re.search(r'"torch==([^"]+)"', setup)
    ray_pin = re.search(r'"ray\[[^\]]*\]==([^"]+)"', setup)
    assert torch_pin and ray_pin, setup
    assert ray_pin.group(1) == ray.__version__  # launcher, job client and cluster speak the same Ray
    makefile_torch = re.search(r"TORCH_SPEC \?= torch==(\S+)", (REPO / "Makefile").read_text()).group(1)
    assert torch_pin.group(1) == makefile_torch
    # The repo is synced to the path the setup installs from and AUDIOGEN_ROOT names.
    mount = next(remote for remote, local in config["file_mounts"].items() if local in (".", "./"))
    assert f"cd {mount}" in setup and "AUDIOGEN_ROOT=$HOME/" + mount.removeprefix("~/") in setup


def test_ray_submit_copy_of_the_script_runs(tmp_path):
    """`ray submit` runs `python ~/tokenize.py ...`: a copy outside the repo must find the project
    through AUDIOGEN_ROOT (and fail clearly without it)."""
    shutil.copy(REPO / "pipeline" / "tokenize.py", tmp_path / "tokenize.py")
    env = {k: v for k, v in os.environ.items() if k not in ("AUDIOGEN_ROOT", "PYTHONPATH")}
    r = subprocess.run([sys.executable, "tokenize.py", "--help"], cwd=tmp_path, capture_output=True, text=True,
                       env={**env, "AUDIOGEN_ROOT": str(REPO)}, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "--concurrency" in r.stdout
    r = subprocess.run([sys.executable, "tokenize.py", "--help"], cwd=tmp_path, capture_output=True, text=True,
                       env=env, timeout=60)
    assert r.returncode != 0 and "AUDIOGEN_ROOT" in r.stderr


# --- cluster-local.yaml: the local provider (head 127.0.0.1 over SSH), run for real by scripts/cluster_smoke.sh ---

@pytest.fixture(scope="module")
def local_config() -> dict:
    return yaml.safe_load((REPO / "cluster-local.yaml").read_text())


def test_local_config_matches_ray_launcher_schema(local_config):
    import jsonschema
    from ray.autoscaler._private.util import prepare_config, validate_config

    jsonschema.validate(local_config, _schema())
    prepared = prepare_config(copy.deepcopy(local_config))  # what `ray up` does for provider type local
    validate_config(prepared)
    assert prepared["provider"] == {"type": "local", "head_ip": "127.0.0.1", "worker_ips": []}
    assert prepared["auth"]["ssh_user"] == "root" and prepared["auth"]["ssh_private_key"]
    bad = copy.deepcopy(local_config)
    bad["auth"]["ssh_usr"] = "root"  # a typo the schema catches
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, _schema())
    bad = copy.deepcopy(local_config)
    bad["provider"]["head_ips"] = bad["provider"].pop("head_ip")  # one `ray up` refuses
    with pytest.raises(Exception, match="head_ip"):
        prepare_config(bad)


def test_local_setup_puts_the_repo_venv_on_path(local_config):
    setup = "\n".join(local_config["setup_commands"])
    mount = next(remote for remote, local in local_config["file_mounts"].items() if local in (".", "./"))
    home_rel = mount.removeprefix("~/")
    assert f"PATH=$HOME/{home_rel}/.venv/bin:$PATH" in setup and ">> ~/.bashrc" in setup
    assert f"AUDIOGEN_ROOT=$HOME/{home_rel}" in setup and f"cd {mount}" in setup and "make install" in setup
    # the venv travels with the code (a link to the node's venv, or built by make install); data does not
    assert "/.venv" not in local_config["rsync_exclude"]
    assert {"/.git", "/data", "/models"} <= set(local_config["rsync_exclude"])
    assert any("ray start --head" in c for c in local_config["head_start_ray_commands"])


def test_smoke_script_matches_the_local_config(local_config):
    script = (REPO / "scripts" / "cluster_smoke.sh").read_text()
    subprocess.run(["bash", "-n", str(REPO / "scripts" / "cluster_smoke.sh")], check=True, timeout=30)
    key = local_config["auth"]["ssh_private_key"].replace("~", "$HOME", 1)
    assert f"KEY={key}" in script
    for step in ("ray up -y", "ray submit cluster-local.yaml pipeline/tokenize.py", "ray down -y", "unshare --pid"):
        assert step in script
    makefile = (REPO / "Makefile").read_text()
    assert "cluster-smoke:" in makefile and "cluster_smoke" not in makefile.split("\ntest:")[1].split("\n\n")[0]
