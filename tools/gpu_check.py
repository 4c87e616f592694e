"""The GPU check: mini-xception and vgg-fer trained with fer-bench on a FER2013 subset, on JAX or PyTorch, printed as
the figures a README and an issue report quote.

Run by ``tools/gpu_check.sh`` (which installs the carried wheels first), or on any machine with fer-bench's
dependencies and a Keras backend: ``python tools/gpu_check.py --data fer2013-subset.csv --out DIR``. Without a GPU
it runs the same steps on the CPU (that is how it is tested before a GPU is at hand).

For each model, every step a ``fer-bench`` command in a process of its own (Keras keeps one backend and device per
process), its run folder under ``DIR``:
1. training on the FER2013 subset for ``--epochs`` epochs on the default device (a GPU: mixed precision): images
   per second (fer-bench's own measure, epochs after the first), PrivateTest accuracy of the selected epoch;
2. one epoch on a smaller slice of the same subset, same seed, on the default device and on the CPU in float32:
   the first-epoch training losses side by side (mixed precision must not change what is learned);
3. ``fer-bench benchmark --cnn-only``: fer-bench's loop beside a plain ``model.fit`` of the same model, batch and
   images on that device.
The figures go to the console and to ``DIR/gpu-check.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
#: the backend's switch that hides the GPU from a process (the float32 CPU reference run)
CPU_ONLY = {"jax": {"JAX_PLATFORMS": "cpu"}, "torch": {"CUDA_VISIBLE_DEVICES": ""},
            "tensorflow": {"CUDA_VISIBLE_DEVICES": ""}}


class StepFailed(Exception):
    """A fer-bench step failed or ran out of time; the check goes on with the next model."""


def fer_bench(args: list[str], env: dict | None = None, timeout: float = 600) -> str:
    """``fer-bench args`` in a process of its own (``python -m benchmark``), its lines echoed as they come (so a
    log shows where a step stands, also when it stalls); its output, or :class:`StepFailed` on a failure or after
    ``timeout`` seconds."""
    started = time.perf_counter()
    print(f"  $ fer-bench {' '.join(args)}", flush=True)
    process = subprocess.Popen([sys.executable, "-m", "benchmark", *args], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})})
    lines: list[str] = []
    timer = threading.Timer(timeout, process.kill)
    timer.start()
    try:
        for line in process.stdout:
            lines.append(line)
            print(f"    | {line.rstrip()}", flush=True)
    finally:
        timer.cancel()
    code = process.wait()
    seconds = time.perf_counter() - started
    print(f"    ({seconds:.0f} s, exit {code})", flush=True)
    if code != 0:
        why = f"killed after {timeout:.0f} s" if seconds >= timeout else f"exit {code}"
        raise StepFailed(f"fer-bench {args[0]} --model {args[args.index('--model') + 1] if '--model' in args else ''}"
                         f": {why}; last line: {lines[-1].strip() if lines else '(none)'}")
    return "".join(lines)


def newest_run(reports: Path, model: str) -> Path:
    runs = sorted(p for p in (reports / "runs").glob(f"*_{model}_*") if not p.name.startswith("."))
    if not runs:
        raise SystemExit(f"gpu check: no {model} run folder under {reports}")
    return runs[-1]


def run_figures(run: Path) -> dict:
    metrics = json.loads((run / "metrics.json").read_text())
    device = json.loads((run / "manifest.json").read_text())["training_device"]
    history = pd.read_csv(run / "history.csv")
    (facts,) = metrics["folds_training"].values()
    return {"run": run.name, "device": device["device"], "gpus": device.get("gpus"), "backend": device["backend"],
            "precision": device["precision"], "accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"],
            "images_per_second": facts["train_images_per_second"], "epochs": facts["epochs_trained"],
            "best_epoch": facts["best_epoch"], "first_epoch_loss": float(history["loss"].iloc[0]),
            "fit_seconds": metrics["fit_seconds"], "n_train": facts["n_train"]}


def slice_of(data: Path, out: Path, per_split: dict[str, int]) -> Path:
    """The first rows of each split of a FER2013 CSV (the parity runs' smaller data)."""
    frame = pd.read_csv(data)
    parts = [frame[frame.Usage == usage].head(n) for usage, n in per_split.items()]
    out.parent.mkdir(parents=True, exist_ok=True)
    pd.concat(parts).to_csv(out, index=False)
    return out


def device_name(backend: str) -> str:
    """The accelerator this process's backend sees (or the CPU)."""
    code = {"jax": "import jax; d=[x.device_kind for x in jax.devices() if x.platform=='gpu']; "
                   "print(d[0] if d else '')",
            "torch": "import torch; print(torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')",
            "tensorflow": "import tensorflow as tf; g=tf.config.list_physical_devices('GPU'); "
                          "print(tf.config.experimental.get_device_details(g[0])['device_name'] if g else '')"}[backend]
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    return result.stdout.strip() or f"no GPU ({platform.processor() or platform.machine()} CPU)"


COUNT = "import json; from models import parameter_counts; print(json.dumps(parameter_counts()))"


def parameter_counts() -> dict:
    """Every CNN's parameter count on each backend installed here (each in a process of its own)."""
    counts = {}
    for backend in ("tensorflow", "jax", "torch"):
        result = subprocess.run([sys.executable, "-c", COUNT], cwd=ROOT, text=True, capture_output=True,
                                env={**os.environ, "KERAS_BACKEND": backend})
        if result.returncode == 0:
            counts[backend] = json.loads(result.stdout.splitlines()[-1])
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="a FER2013 CSV (emotion,pixels,Usage)")
    parser.add_argument("--out", type=Path, required=True, help="where the run folders and gpu-check.json go")
    parser.add_argument("--backend", default=os.environ.get("KERAS_BACKEND", "jax"), choices=sorted(CPU_ONLY))
    parser.add_argument("--models", default="mini-xception,vgg-fer")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--train-images", type=int, default=0,
                        help="train on the first N Training images (and N/4 of each test split) only; 0: all")
    parser.add_argument("--parity-train", type=int, default=1024, help="Training images of the parity runs")
    parser.add_argument("--benchmark-steps", type=int, default=50)
    parser.add_argument("--step-timeout", type=float, default=240, help="seconds one fer-bench step may take")
    parser.add_argument("--no-augment", action="store_true", help="train without augmentation (every step)")
    args = parser.parse_args(argv)
    models = [m for m in args.models.split(",") if m]
    gpu = device_name(args.backend)
    print(f"gpu check: {gpu}, Keras backend {args.backend}, data {args.data}", flush=True)
    common = ["--dataset", "fer2013", "--backend", args.backend, "--seed", "0",
              *(["--no-augment"] if args.no_augment else [])]
    data = args.data
    if args.train_images:
        quarter = max(64, args.train_images // 4)
        data = slice_of(args.data, args.out / "train-data" / "fer2013.csv",
                        {"Training": args.train_images, "PublicTest": quarter, "PrivateTest": quarter})
    parity_data = slice_of(args.data, args.out / "parity-data" / "fer2013.csv",
                           {"Training": args.parity_train, "PublicTest": 256, "PrivateTest": 256})
    summary = {"gpu": gpu, "backend": args.backend, "data": str(args.data), "epochs": args.epochs, "models": {}}
    counts = parameter_counts()
    agree = len({json.dumps(c, sort_keys=True) for c in counts.values()}) == 1
    print(f"parameter counts on {', '.join(counts) or 'no backend'}: {'identical' if agree else 'DIFFERENT'}"
          + "".join(f"\n  {name}: {n:,}" for name, n in next(iter(counts.values()), {}).items()), flush=True)
    summary["parameter_counts"] = counts
    for model in models:
        print(f"{model}:", flush=True)
        try:
            fer_bench(["run", *common, "--model", model, "--data-dir", str(data), "--epochs", str(args.epochs),
                       "--reports-dir", str(args.out / "train")], timeout=args.step_timeout)
            trained = run_figures(newest_run(args.out / "train", model))
            parity = {}
            for where, env in (("default", {}), ("cpu", CPU_ONLY[args.backend])):
                fer_bench(["run", *common, "--model", model, "--data-dir", str(parity_data), "--epochs", "1",
                           "--reports-dir", str(args.out / f"parity-{where}")], env=env, timeout=args.step_timeout)
                parity[where] = run_figures(newest_run(args.out / f"parity-{where}", model))
            bench = fer_bench(["benchmark", "--cnn", model, "--cnn-steps", str(args.benchmark_steps), "--cnn-only",
                               "--backend", args.backend], env={"COLUMNS": "300"}, timeout=args.step_timeout)
            ratio = re.search(r"([\d,.]+) vs ([\d,.]+) images/s \(([\d.]+)x\)", bench)
            summary["models"][model] = {
                "trained": trained, "parity": parity,
                "loop_vs_plain_fit": ({"fer_bench_images_per_second": float(ratio[1].replace(",", "")),
                                       "plain_fit_images_per_second": float(ratio[2].replace(",", "")),
                                       "ratio": float(ratio[3])} if ratio else bench[-2000:])}
            loss_gpu, loss_cpu = parity["default"]["first_epoch_loss"], parity["cpu"]["first_epoch_loss"]
            print(f"  {trained['device']} {trained['precision']}: {trained['images_per_second']:,.0f} training "
                  f"images/s; PrivateTest accuracy {trained['accuracy']:.4f} (macro-F1 {trained['macro_f1']:.4f}) "
                  f"after "
                  f"{trained['epochs']} epochs on {trained['n_train']:,} images (best epoch "
                  f"{trained['best_epoch']}, {trained['fit_seconds']:.0f} s)", flush=True)
            print(f"  first-epoch loss, {parity['default']['device']} {parity['default']['precision']} vs CPU "
                  f"float32, same seed and images: {loss_gpu:.4f} vs {loss_cpu:.4f} (difference "
                  f"{abs(loss_gpu - loss_cpu):.4f})", flush=True)
            if ratio:
                print(f"  fer-bench's loop vs a plain model.fit (no augmentation): {ratio[1]} vs {ratio[2]} "
                      f"images/s ({ratio[3]}x)", flush=True)
        except StepFailed as failure:
            print(f"  {model}: {failure}", flush=True)
            summary["models"].setdefault(model, {})["failed"] = str(failure)
    (args.out / "gpu-check.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"gpu check: done; figures in {args.out / 'gpu-check.json'}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
