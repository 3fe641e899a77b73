# Two commands set everything up:  `make reproduce` (quick reproduction) and `make test` (test suite).
# Both create .venv on first use and install the pinned environment (constraints.txt) into it.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CORES ?= 2
SCALE ?= quick
# CPU PyTorch: the local wheel folder when the machine has one, else the official CPU index.
TORCH_SOURCE ?= $(if $(wildcard /opt/wheels/torch-2.13.0*),--find-links /opt/wheels,--extra-index-url https://download.pytorch.org/whl/cpu)

.PHONY: reproduce readme test test-slurm lint env bench clean-results

$(BIN)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip==26.3"
	$(BIN)/python -m pip install --quiet -c constraints.txt $(TORCH_SOURCE) torch
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

env: $(BIN)/.installed

reproduce: env
	PATH=$(abspath $(BIN)):$$PATH snakemake all --cores $(CORES) --config scale=$(SCALE) --rerun-incomplete
	PATH=$(abspath $(BIN)):$$PATH snakemake all --cores $(CORES) --config scale=$(SCALE) --report results/report.html

# The README's replication tables from the quick reproduction's results (run after `make reproduce`).
readme: env
	$(BIN)/python -m spikegrad.replication --results results/$(SCALE) --readme README.md lib/spikegrad/studies/*/README.md

# The performance suite (spikegrad vs the peer libraries, training step, event simulation) at SCALE on this
# machine: figures/bench/*.png and figures/bench/summary.md. Re-measure with `make bench BENCH_FORCE=--forceall`.
bench: env
	PATH=$(abspath $(BIN)):$$PATH snakemake bench --cores $(CORES) --config scale=$(SCALE) $(BENCH_FORCE)

test: env
	$(BIN)/ruff check .
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/python -m pytest

# Opt-in: the smoke sweep on a real single-node SLURM cluster started on this machine (Debian's slurm-wlm and
# munge, installed here when apt-get can; the test skips with the reason otherwise). Needs root.
test-slurm: env
	-command -v slurmctld >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurm-wlm munge >/dev/null
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/python -m pytest -m slurm tests/test_slurm.py

lint: env
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

clean-results:
	rm -rf results figures/*/ logs benchmarks .snakemake
