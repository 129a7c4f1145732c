# Two commands on a fresh machine with Python 3.11:  make demo   and   make test
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

$(BIN)/netc: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(BIN)/netc

.PHONY: setup demo test bench
setup: $(BIN)/netc

demo: setup
	$(BIN)/netc summary examples/resnet50.yaml | tail -4
	mkdir -p build
	$(BIN)/netc build examples/resnet50.yaml --backend torch -o build/resnet50.py
	$(BIN)/netc train examples/digits_resnet.yaml

test: setup
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup --durations=20

bench: setup
	$(BIN)/python benchmarks/build_time.py
	$(BIN)/python benchmarks/runtime.py
