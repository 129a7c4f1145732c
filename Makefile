# Two commands on a fresh machine with Python 3.11:  make demo   and   make test
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

$(BIN)/netc: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	# tf-keras (the Keras 2 line) is the reference of the Keras RegNets, which Keras 3 lacks; it
	# names the full `tensorflow` package as a dependency, which tensorflow-cpu already provides
	$(BIN)/pip install -q --no-deps 'tf-keras>=2.21,<2.22'
	touch $(BIN)/netc

.PHONY: setup demo test bench zoo-check
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

# netc diff and netc check on both backends, and Keras weight files, for every spec of the zoo
# (`make test` checks the specs that hold every op configuration: tests/test_zoo_backends.py,
# tests/test_keras_weight_files.py)
zoo-check: setup
	NETC_ZOO_CHECK=all $(BIN)/python -m pytest -q -n 2 --dist loadgroup --durations=0 \
		tests/test_zoo_backends.py tests/test_keras_weight_files.py tests/test_init.py \
		-k "diff_is_clean or weight_file or keras_spec_on"
