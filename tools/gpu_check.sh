#!/usr/bin/env bash
# The GPU check in one call (README "On a GPU"); `make gpu-carry` / `make gpu-check` call it.
#
#   tools/gpu_check.sh carry FER2013_CSV   (here, with internet) what a GPU node without a registry lacks, into
#                                          .gpu-carry/: Keras and its two small dependencies the node may miss as
#                                          wheels for Python $GPU_PYTHON (default 3.12), and a seeded FER2013 subset
#                                          (gzip, about 30 MB)
#   tools/gpu_check.sh [ARGS]              (on the GPU node) installs the carried wheels where Keras is missing (or
#                                          always, GPU_CHECK_INSTALL=1), unpacks the subset, runs tools/gpu_check.py
#                                          ARGS on $KERAS_BACKEND (default jax) and leaves in ${OUT:-./gpu-check}:
#                                          gpu-check.json, gpu-check.log and the run folders as
#                                          gpu-check-runs.tar.gz (model files left out: they are large)
set -euo pipefail
cd "$(dirname "$0")/.."
CARRY=${GPU_CARRY:-.gpu-carry}
PY=${PYTHON:-python3}

if [ "${1:-}" = carry ]; then
    source=${2:?"usage: tools/gpu_check.sh carry FER2013_CSV (the challenge CSV, or .csv.gz)"}
    version=${GPU_PYTHON:-3.12}
    rm -rf "$CARRY/wheels" && mkdir -p "$CARRY/wheels"
    # the pins are what fer-bench is tested with; the rest of Keras's needs (numpy, h5py, ml-dtypes, rich, absl-py,
    # packaging) are on the GPU image already (device KINDS.md)
    $PY -m pip download --quiet --no-deps --only-binary=:all: --python-version "$version" --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d "$CARRY/wheels" \
        keras==3.15.1 namex==0.1.0 optree==0.20.0
    $PY - "$source" "$CARRY/fer2013-subset.csv.gz" <<'PYTHON'
import sys
import pandas as pd
from sklearn.model_selection import train_test_split

# a seeded, stratified sample of each split: 9,000 Training, 1,500 PublicTest (validation), 1,500 PrivateTest images
frame = pd.read_csv(sys.argv[1])
sizes = {"Training": 9000, "PublicTest": 1500, "PrivateTest": 1500}
parts = [train_test_split(part, train_size=sizes[usage], stratify=part.emotion, random_state=0)[0]
         for usage, part in frame.groupby("Usage") if usage in sizes]
pd.concat(parts)[["emotion", "pixels", "Usage"]].to_csv(sys.argv[2], index=False, compression="gzip")
PYTHON
    du -sh "$CARRY"/*
    exit 0
fi

OUT_DIR=${OUT:-$PWD/gpu-check}
WORK=${GPU_CHECK_WORK:-$(mktemp -d)}
mkdir -p "$OUT_DIR" "$WORK/data"
export KERAS_BACKEND=${KERAS_BACKEND:-jax}
if [ -n "${GPU_CHECK_INSTALL:-}" ] || ! $PY -c "import keras" 2>/dev/null; then
    $PY -m pip install --quiet --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$WORK/site" \
        "$CARRY"/wheels/*.whl
    export PYTHONPATH="$WORK/site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
gunzip -c "$CARRY/fer2013-subset.csv.gz" > "$WORK/data/fer2013.csv"
set -o pipefail
$PY tools/gpu_check.py --data "$WORK/data/fer2013.csv" --out "$WORK/runs" --backend "$KERAS_BACKEND" "$@" \
    2>&1 | tee "$OUT_DIR/gpu-check.log"
cp "$WORK/runs/gpu-check.json" "$OUT_DIR/"
tar -czf "$OUT_DIR/gpu-check-runs.tar.gz" -C "$WORK/runs" --exclude='*.keras' --exclude=parity-data --exclude=train-data .
