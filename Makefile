# make demo | make test | make test-slow | make bench — each builds .venv on first use.
VENV   ?= .venv
PY     := $(VENV)/bin/python
TORCH  ?= 2.13.0
STAMP  := $(VENV)/.installed

.PHONY: demo test test-slow bench lint clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	@# torch first, pinned: on a CPU machine this takes the local CPU wheel; anywhere else it is
	@# the normal PyPI build (CUDA on Linux). Installed first so nothing pulls a newer CUDA build.
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install --quiet "torch==$(TORCH)"
	$(PY) -m pip install --quiet -e ".[dev,sweep]"
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m gymlab.demo

test: $(STAMP)
	$(PY) -m pytest -q

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow

bench: $(STAMP)
	$(PY) -m bench.run_all

lint: $(STAMP)
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

clean:
	rm -rf $(VENV) build *.egg-info
