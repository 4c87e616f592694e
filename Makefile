# fer-bench developer and user entry points. Every target installs into .venv first when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install install-gpu test test-fast demo report clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

# CUDA TensorFlow on top of the normal install (Linux + NVIDIA driver); CNN runs then train on the GPU
install-gpu: $(STAMP)
	$(BIN)/pip install --quiet -e '.[test,gpu]'

# The full suite (what CI runs).
test: $(STAMP)
	$(BIN)/python -m pytest -q

# The inner loop: everything but the tests marked slow (CNN training, subprocesses, runs over ~3 s); under a minute.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

# The tool's main job end to end on the embedded synthetic dataset: the demo suite, then the report.
demo: $(STAMP)
	$(BIN)/fer-bench suite suites/demo.toml
	$(BIN)/fer-bench report

report: $(STAMP)
	$(BIN)/fer-bench report

clean:
	rm -rf $(VENV) .pytest_cache .cache
