# Two commands do all the set-up on a fresh machine:
#   make demo   creates .venv, installs torch (CPU build) then sketchssl, runs the demo
#   make test   the same set-up, then the default (fast) test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch is installed first and pinned, so pip never resolves a bare `torch` to a CUDA build.
TORCH_SPEC ?= torch==2.13.0
DEMO_OUT ?= demo_out

.PHONY: demo test test-slow lint bench clean

$(BIN)/.sketchssl-installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[dev,viz,serve]"
	touch $@

demo: $(BIN)/.sketchssl-installed
	$(BIN)/sketchssl demo --out $(DEMO_OUT)

test: $(BIN)/.sketchssl-installed
	$(BIN)/python -m pytest

test-slow: $(BIN)/.sketchssl-installed
	$(BIN)/python -m pytest -m slow

lint: $(BIN)/.sketchssl-installed
	$(BIN)/ruff check src tests benchmarks

bench: $(BIN)/.sketchssl-installed
	$(BIN)/python benchmarks/data_bench.py

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache
