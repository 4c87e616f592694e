# fer-bench developer and user entry points. Every target installs into .venv first when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CLUSTER_STAMP := $(VENV)/.installed-cluster

.PHONY: install install-gpu install-cluster test test-fast coverage demo report gpu-carry gpu-check clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

# CUDA TensorFlow on top of the normal install (Linux + NVIDIA driver); CNN runs then train on the GPU
install-gpu: $(STAMP)
	$(BIN)/pip install --quiet -e '.[test,gpu]'

# Dask, dask-jobqueue and the dashboard on top of the normal install: `fer-bench suite --executor dask`, on this
# machine, on running workers or on SLURM/PBS (README "On a cluster"); and JAX's CPU build (--backend jax). The
# tests need both.
install-cluster: $(CLUSTER_STAMP)

$(CLUSTER_STAMP): $(STAMP) pyproject.toml
	$(BIN)/pip install --quiet -e '.[test,cluster,jax]'
	touch $(CLUSTER_STAMP)

# pytest-xdist: one worker per core; --dist loadfile keeps a test file on one worker, so the runs its module fixtures
# make (CNN training among them) are made once, not once per worker. --no-loadscope-reorder hands the files out in
# collection order, longest first (tests/conftest.py); by default xdist would order them by their number of tests.
PYTEST := $(BIN)/python -m pytest -q -n auto --dist loadfile --no-loadscope-reorder

# The full suite (what CI runs).
test: $(CLUSTER_STAMP)
	$(PYTEST)

# The inner loop: everything but the tests marked slow (CNN training, subprocesses, runs over ~3 s); under a minute.
test-fast: $(CLUSTER_STAMP)
	$(PYTEST) -m "not slow"

# The full suite with line coverage of the package (pytest-cov; code run in subprocesses is not counted).
coverage: $(CLUSTER_STAMP)
	$(PYTEST) --cov=benchmark --cov=features --cov=models --cov-report=term

# The tool's main job end to end on the embedded synthetic dataset: the demo suite, then the report; then the
# demo CNN run predicts the faces of a photo that scikit-image ships (the astronaut) and is exported to ONNX,
# checked against the Keras model on its own test images. (A model of synthetic faces: the labels it gives a
# real photo show the plumbing, not an expression.) Everything goes to its own reports folder, reports/demo/, so demo
# runs never mix with real ones in reports/runs/.
DEMO := reports/demo
DEMO_RUN = $$(ls -d $(DEMO)/runs/*_synthetic_mini-xception_pixels_s0_* | tail -n 1)
DEMO_PHOTO = $$($(BIN)/python -c "import os, skimage.data; print(os.path.join(os.path.dirname(skimage.data.__file__), 'astronaut.png'))")
demo: $(STAMP)
	$(BIN)/fer-bench suite suites/demo.toml --reports-dir $(DEMO)
	$(BIN)/fer-bench report --reports-dir $(DEMO)
	$(BIN)/fer-bench predict $(DEMO_RUN) $(DEMO_PHOTO) --out $(DEMO)/demo-predictions.csv --annotate $(DEMO)/demo-annotated
	$(BIN)/fer-bench export $(DEMO_RUN) --format onnx --fold fold-0 --out $(DEMO)/demo-export

report: $(STAMP)
	$(BIN)/fer-bench report

# The GPU check (README "On a GPU"). Here, with internet: what a GPU node without a package registry lacks (Keras's
# wheels for its Python, GPU_PYTHON=3.12) and a FER2013 subset, into .gpu-carry/ (about 32 MB):
#   make gpu-carry FER2013=path/to/fer2013.csv
# Then on the GPU node, with .gpu-carry beside the working tree (KERAS_BACKEND=jax or torch; OUT=folder for results):
#   make gpu-check
FER2013 ?= data/fer2013/fer2013.csv
gpu-carry: $(STAMP)
	PYTHON=$(BIN)/python tools/gpu_check.sh carry $(FER2013)

gpu-check:
	tools/gpu_check.sh

clean:
	rm -rf $(VENV) .pytest_cache .cache
