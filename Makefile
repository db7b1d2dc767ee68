# Two commands on a fresh machine: `make run` (the app) and `make test` (the suite).
# TORCH_SPEC picks the PyTorch build installed first, e.g.
#   make run TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu124"
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
PORT ?= 8501
PY := $(VENV)/bin/python
STAMP := $(VENV)/.deepclust-installed

.PHONY: install run test bench clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH_SPEC)
	$(PY) -m pip install -q -e ".[test,ray]"
	touch $(STAMP)

run: install
	$(PY) app.py --server.port $(PORT)  # = streamlit run app.py, with the library loaded before it serves

test: install
	$(PY) -m pytest -q -ra

bench: install
	$(PY) -m benchmarks.throughput
	$(PY) -m benchmarks.moons --seeds 0,1,2 --tag make-bench

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
