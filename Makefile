# Two entry points for a fresh machine: `make demo` and `make test`. Both create .venv when
# missing and install the project (torch first, so pip never pulls a CUDA build by accident).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The CPU wheel; override on a GPU machine, e.g. `make install TORCH_SPEC='torch==2.13.0'` with your index.
TORCH_SPEC ?= torch==2.13.0
export DVC_NO_ANALYTICS := 1
export RAY_AUTH_MODE    := disabled
export HF_HUB_OFFLINE   := 1
export OMP_WAIT_POLICY  := PASSIVE
export PATH             := $(abspath $(BIN)):$(PATH)

.PHONY: install demo test bench clean-demo cluster-smoke

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e '.[test]'
	# The evaluation judge (aisfx: a pretrained sound-effects CNN, its checkpoint inside the wheel). Its
	# pins (numpy 1.23, librosa 0.9.2) would break this project: install it alone, no dependencies.
	$(BIN)/python -m pip install -q --no-deps 'aisfx==0.1.2'
	touch $(STAMP)

install: $(STAMP)

# The whole data chain on the embedded demo corpora (no download): dvc repro runs every stage.
demo: install
	test -d .dvc || dvc init -q
	$(BIN)/python -m pipeline.with_ray dvc repro
	@$(BIN)/python -m pipeline.summary

test: install
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python benchmarks/ingest.py
	$(BIN)/python benchmarks/prepare.py
	$(BIN)/python benchmarks/tokenize_stage.py --overhead-presets paper --minutes 10 --repeats 2 --threads 1
	$(BIN)/python benchmarks/loader.py   # needs the demo's shards (make demo)
	$(BIN)/python benchmarks/train.py    # trainer/loader part needs the demo's shards and codec
	$(BIN)/python benchmarks/generate.py

# Not part of `make test`: ray up / ray submit pipeline/tokenize.py / ray down on cluster-local.yaml (sshd to
# 127.0.0.1, in its own namespace), checking the cluster's token shards equal a local run's. Root; ~2 minutes.
cluster-smoke: install
	scripts/cluster_smoke.sh

clean-demo:
	rm -rf data/raw/demo data/manifests data/shards models reports
