"""The ``fer-bench`` command line: run experiments, inspect datasets, list models and features."""

from __future__ import annotations

import inspect
import signal
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

try:  # typer >= 0.20 vendors click; older releases depend on it
    from typer._click import exceptions as click_exceptions
except ImportError:  # pragma: no cover - older typer
    from click import exceptions as click_exceptions

from . import __version__, backends
from .errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, FerBenchError, did_you_mean, one_line, os_error_text
from .console import printer
from .datasets import DATASETS, dataset_entry, default_data_dir, load_dataset
from .options import OPTIONS, RunConfig

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Matched classical-vs-deep facial expression recognition benchmarks (FER2013, CK+).")
out = Console()
err = Console(stderr=True)


def _version(value: bool) -> None:
    if value:
        from .runs import git_commit  # lazy: benchmark.runs imports scikit-learn (a second of start-up)

        commit = git_commit()
        out.print(f"fer-bench {__version__}" + (f" (commit {commit['commit'][:12]}"
                                                f"{', uncommitted changes' if commit.get('dirty') else ''})"
                                                if commit.get("commit") else ""), highlight=False)
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print fer-bench's version (and its git commit, in a checkout) and exit.")
          ) -> None:
    """Matched classical-vs-deep facial expression recognition benchmarks (FER2013, CK+)."""


# ------------------------------------------------------------------------ options as command-line flags

def cli_parameters(names: tuple[str, ...] | None = None, *, optional: dict[str, str] | None = None
                   ) -> list[inspect.Parameter]:
    """A command's signature as Typer reads it, one keyword parameter per option: every command-line option
    (``fer-bench run``), or only ``names``; ``optional`` makes required options optional, with a new help text
    (``fer-bench datasets --dataset`` narrows a listing rather than naming what to run)."""
    optional = optional or {}
    params = []
    for o in OPTIONS:
        if not o.on_cli or (names is not None and o.name not in names):
            continue
        required = o.required and o.name not in optional
        kind = o.cli_kind or (Optional[o.kind] if o.default is None and not required else o.kind)
        info = typer.Option(... if required else o.default, *(o.flags or (o.flag,)), help=optional.get(o.name, o.help))
        params.append(inspect.Parameter(o.name, inspect.Parameter.KEYWORD_ONLY, default=info, annotation=kind))
    return params


def from_cli(values: dict):
    """A :class:`RunConfig` from the command line's values (paths as strings, as a suite gives them)."""
    return RunConfig(**{k: str(v) if isinstance(v, Path) else v for k, v in values.items()})


def _print_error(message: str) -> None:
    """The one ``error:`` line of a failed command, on stderr, printed verbatim (no Rich markup)."""
    err.print(Text.assemble(("error:", "bold red"), " ", one_line(message)), highlight=False, soft_wrap=True)


def _fail(message: str, code: int = EXIT_USAGE) -> None:
    _print_error(message)
    raise typer.Exit(code)


@contextmanager
def _one_line_errors(interrupted: str):
    """Every failure of a command as exactly one ``error:`` line and the binding exit code: the error's own
    (2 before any work, 1 after), 1 for an OSError nobody anticipated (a disk that filled up), 130 for Ctrl-C."""
    try:
        yield
    except FerBenchError as exc:
        _fail(str(exc), exc.exit_code)
    except OSError as exc:
        _fail(os_error_text(exc), EXIT_FAILED)
    except KeyboardInterrupt:
        _fail(interrupted, EXIT_INTERRUPTED)


def run(**options) -> None:
    """Run one experiment and write reports/runs/<run-id>/ (metrics, reports, confusion matrix, provenance)."""
    from .experiment import run_experiment  # lazy, as every subcommand's module: `fer-bench --help` in 0.2 s, not 1.6

    with _one_line_errors("interrupted; no run folder was written"):
        path, metrics = run_experiment(from_cli(options), console=err)
    out.print(_summary_table(metrics))
    out.print(str(path), highlight=False, soft_wrap=True, markup=False)


# the options are declared once (benchmark.options.OPTIONS); Typer reads them from this signature
run.__signature__ = inspect.Signature(cli_parameters())
app.command()(run)


def _summary_table(metrics: dict) -> Table:
    table = Table(title=f"{metrics['model']} ({metrics['features']}) on {metrics['dataset']}, "
                        f"{metrics['protocol']}, seed {metrics['seed']}")
    table.add_column("figure")
    table.add_column("value", justify="right")
    std = metrics.get("accuracy_std")
    for key in ("accuracy", "macro_f1", "balanced_accuracy"):
        s = metrics.get(f"{key}_std")
        table.add_row(key + (" (mean over folds)" if std is not None else f" ({metrics.get('test_split')})"),
                      f"{metrics[key]:.4f}" + (f" ± {s:.4f}" if s is not None else ""))
    if "validation" in metrics:
        table.add_row(f"accuracy ({metrics['validation']['split']}, validation)",
                      f"{metrics['validation']['accuracy']:.4f}")
    if "accuracy_without_cross_split_duplicates" in metrics:  # the official split's test images never seen
        from .protocols import protocol_class  # lazy: `fer-bench --help` stays at 0.2 s (scikit-learn)

        where = protocol_class(metrics["protocol"]).duplicates_looked_for_in
        table.add_row(f"accuracy ({metrics.get('test_split')} without pixel-identical copies in {where})",
                      f"{metrics['accuracy_without_cross_split_duplicates']:.4f} "
                      f"({metrics['n_scored_without_duplicates']} scored, "
                      f"{metrics['n_cross_split_duplicates']} left out)")
    table.add_row("test images", str(metrics["n_test"]))
    if metrics.get("n_params"):
        table.add_row("parameters", f"{metrics['n_params']:,}")
    if metrics.get("fit_seconds") is not None:
        table.add_row("training time (s)", f"{metrics['fit_seconds']:.1f}")
    return table


@app.command()
def suite(
    suite_file: Path = typer.Argument(..., help="A suite TOML file, e.g. suites/demo.toml or suites/thesis.toml."),
    reports_dir: Path = typer.Option(Path("reports"), help="Where runs/ is written (and looked up for resuming)."),
    data_dir: list[str] = typer.Option([], "--data-dir", help="Dataset folder as NAME=PATH (repeatable), e.g. "
                                       "--data-dir ck+=~/data/CK+48; default: $FER_BENCH_DATA/<dataset> or "
                                       "./data/<dataset>."),
    dry_run: bool = typer.Option(False, "--dry-run", help="List the experiments and which are already complete "
                                 "(loads the data to compare fingerprints; runs nothing)."),
    executor: str = typer.Option("local", "--executor", help="local (one experiment after another, in this "
                                 "process) or dask (one task per experiment on a Dask cluster; needs the cluster "
                                 "extra)."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="--executor dask: a running scheduler, e.g. "
                                            "tcp://HOST:8786 (its workers must see the same reports folder)."),
    cluster: Optional[str] = typer.Option(None, "--cluster", help="--executor dask: start workers as slurm or pbs "
                                          "jobs, from the suite's [cluster] table."),
    workers: Optional[int] = typer.Option(None, "--workers", help="--executor dask without --scheduler or "
                                          "--cluster: process workers of the local cluster (default: one per two "
                                          "cores)."),
    distribute_search: bool = typer.Option(False, "--distribute-search", help="--executor dask: spread each SVM's "
                                           "grid search over the cluster too (same results)."),
) -> None:
    """Run a declared matrix of experiments, skipping those already complete (resumable): one after another here,
    or as tasks on a Dask cluster (--executor dask)."""
    from .suite import cluster_settings, describe, load_suite, plan_suite, run_suite, status_path  # lazy: start-up time (see run)

    dirs = {}
    for item in data_dir:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            _fail(f"--data-dir {item!r}: expected NAME=PATH, e.g. ck+=~/data/CK+48")
        dirs[name] = str(Path(path).expanduser())
    unknown = sorted(set(dirs) - set(DATASETS))
    if unknown:
        _fail(f"--data-dir {unknown[0]}=...: unknown dataset{did_you_mean(unknown[0], DATASETS)}; "
              f"choose one of {', '.join(DATASETS)}")
    dask_only = [flag for flag, value in (("--scheduler", scheduler), ("--cluster", cluster), ("--workers", workers),
                                          ("--distribute-search", distribute_search)) if value]
    if executor not in ("local", "dask"):
        _fail(f"--executor must be local or dask, got {executor!r}")
    if executor == "local" and dask_only:
        _fail(f"{', '.join(dask_only)} only appl{'ies' if len(dask_only) == 1 else 'y'} to --executor dask")
    if scheduler and (cluster or workers):
        _fail("--scheduler connects to running workers: it cannot be combined with --cluster or --workers")
    if cluster and workers:
        _fail("--workers sizes the local cluster; with --cluster the [cluster] table's max_jobs does")
    if workers is not None and workers < 1:
        _fail(f"--workers must be a positive number, got {workers}")
    with _one_line_errors("interrupted; pending experiments were cancelled, completed runs are kept and the suite "
                          "resumes from there when run again"):
        declared = load_suite(suite_file, reports_dir=str(reports_dir), data_dirs=dirs)
        if dry_run:
            for k, (c, state) in enumerate(plan_suite(declared), 1):
                out.print(f"{k:3d}. {describe(c)}: {state}", highlight=False, soft_wrap=True, markup=False)
            return
        if executor == "dask":
            from .cluster import run_suite_dask  # lazy: the cluster extra (Dask) is optional

            settings = None
            if cluster:
                settings = cluster_settings(getattr(declared, "cluster", None), cluster)
            records = run_suite_dask(declared, console=out, progress_console=err, scheduler=scheduler,
                                     cluster=settings, workers=workers, distribute_search=distribute_search)
        else:
            records = run_suite(declared, console=out, progress_console=err)
    counts = {s: sum(r["status"] == s for r in records) for s in ("ran", "skipped", "failed")}
    out.print(f"suite {declared.name}: {counts['ran']} run, {counts['skipped']} already complete or running "
              f"elsewhere, {counts['failed']} failed; runs in {reports_dir / 'runs'}; status in "
              f"{status_path(reports_dir, declared)}", highlight=False, markup=False, soft_wrap=True)
    failed = [r for r in records if r["status"] == "failed"]
    if failed:
        for r in failed:
            err.print(Text.assemble(("failed", "red"), f" {r['experiment'].strip()}: {r['reason']}"),
                      highlight=False, soft_wrap=True)
        _fail(f"{len(failed)} of {len(records)} experiments of suite {declared.name} failed (listed above and in "
              f"{status_path(reports_dir, declared)}); fix them and run the suite again to resume", EXIT_FAILED)
    printer(out)(f"next: fer-bench report --reports-dir {reports_dir}")


@app.command()
def report(
    reports_dir: Path = typer.Option(Path("reports"), help="Folder holding runs/; tables/, figures/ and "
                                     "report.md/.tex are written beside it."),
    pdf: bool = typer.Option(False, "--pdf", help="Also compile report.tex into report.pdf with pdflatex (TeX "
                             "must be installed: checked before anything is built)."),
    paper: str = typer.Option("a4", "--paper", help="Page size of report.tex and report.pdf: a4 or letter."),
) -> None:
    """Build thesis-ready tables (LaTeX, Markdown, CSV), statistics and figures from every complete run."""
    from .report import build_report, compile_pdf, find_pdflatex  # lazy: start-up time (see run)

    with _one_line_errors("interrupted; the previous report is left as it was"):
        if paper not in ("a4", "letter"):
            _fail(f"--paper must be a4 or letter, got {paper!r}")
        pdflatex = find_pdflatex() if pdf else None
        built = build_report(reports_dir, paper=paper)
    for name, reason in built["skipped"]:
        err.print(Text.assemble(("skipped", "yellow"), f" {name}: {reason}"), highlight=False, soft_wrap=True)
    for name, reason in built["inconsistent"]:
        err.print(Text.assemble(("inconsistent", "red"), f" {name}: {reason} (not used)"), highlight=False,
                  soft_wrap=True)
    for line in built["warnings"]:
        err.print(Text.assemble(("warning:", "yellow"), f" {line}"), highlight=False, soft_wrap=True)
    say = printer(out)  # whole lines: a path is never wrapped, whatever the terminal's width
    say(f"report from {built['runs']} runs ({', '.join(built['datasets'])}):")
    say(f"  tables:  {built['tables']}/  (.tex for \\input, .md, .csv)")
    say(f"  figures: {built['figures']}/  (.pdf, .png)")
    say(f"  report:  {built['report']} and {built['report'].with_suffix('.tex')}")
    if pdflatex:
        with _one_line_errors("interrupted while compiling report.pdf"):
            say(f"  pdf:     {compile_pdf(reports_dir, pdflatex)}")


@app.command()
def benchmark(
    images: int = typer.Option(2000, help="Synthetic images for the feature and SVM timings."),
    svm_samples: int = typer.Option(2000, help="Training samples for the timed RBF-SVM fit."),
    cnn: Optional[str] = typer.Option("cnn-patil", help="CNN whose training throughput is measured ('' to skip)."),
    cnn_steps: int = typer.Option(30, help="Training steps per epoch for the CNN timing (2 epochs are run)."),
    backend: Optional[str] = typer.Option(None, help="Keras backend of the CNN timing: tensorflow, jax or torch "
                                          "(default: $KERAS_BACKEND, else the first installed)."),
    classical: bool = typer.Option(True, "--classical/--cnn-only", help="Time the feature extractors and SVMs too "
                                   "(--cnn-only: the CNN alone, e.g. on a GPU node without dlib)."),
) -> None:
    """Measure each stage's speed on this machine and project it to FER2013 scale (prints figures)."""
    from .perf import run_benchmark  # lazy: start-up time (see run)

    limits = (("--images", images, 140, 200_000), ("--svm-samples", svm_samples, 100, images),
              ("--cnn-steps", cnn_steps, 1, 10_000))
    for option, value, low, high in limits:  # sizes a timing needs, and that fit in memory
        if not low <= value <= high:
            _fail(f"{option} must be from {low:,} to {high:,}, got {value:,}")
    with _one_line_errors("interrupted"):
        from models import get_model  # lazy: start-up time (see run)

        if cnn and not get_model(cnn).training:  # the CNN timing trains with the model's published settings
            _fail(f"--cnn {cnn}: not a CNN; choose a model listed as deep by 'fer-bench models'")
        if cnn:
            backends.use(backends.check(backend or backends.default_backend()))
        rows = run_benchmark(n_images=images, svm_samples=svm_samples, cnn=cnn or None, cnn_steps=cnn_steps,
                             classical=classical)
    table = Table(title="fer-bench benchmark (synthetic images; speed, not accuracy)")
    for col in ("stage", "measured", "at FER2013 scale"):
        table.add_column(col)
    for row in rows:
        table.add_row(*row)
    out.print(table)


def datasets(*, dataset: Optional[str] = None, data_dir: Optional[str] = None, **options) -> None:
    """Which datasets are found where, in which layout, with counts per class and split against the expected."""
    names = [dataset] if dataset else list(DATASETS)
    with _one_line_errors("interrupted"):
        for name in names:
            _describe_dataset(name, Path(data_dir) if data_dir else None, options, only=bool(dataset))


#: The options datasets declare as their own (``DatasetEntry.own_options``: --ck-frames, --ck-neutral,
#: --ferplus-labels...), which ``fer-bench datasets`` takes as ``fer-bench run`` does.
DATASET_OPTIONS = tuple(dict.fromkeys(option for entry in DATASETS.values() for option in entry.own_options))
datasets.__signature__ = inspect.Signature(cli_parameters(
    ("dataset", "data_dir", *DATASET_OPTIONS), optional={"dataset": "Only this dataset."}))
app.command()(datasets)


def _describe_dataset(name: str, data_dir: Optional[Path], options: dict, *, only: bool) -> None:
    """One dataset's block of ``fer-bench datasets``: where, layout, counts per class and split against the
    expected, notes, diagnostics and warnings; an unusable one is one error line when it is the only one asked."""
    from .experiment import dataset_warnings  # lazy: start-up time (see run)

    entry = dataset_entry(name)
    path = data_dir or default_data_dir(name)
    title = f"[bold]{name}[/]: {entry.description}"
    try:
        ds = load_dataset(name, path, **{k: options[k] for k in entry.own_options})
    except FerBenchError as exc:
        if only:  # the one dataset asked for: one error line, exit 2
            _fail(str(exc))
        out.print(title)
        out.print(Text.assemble("  ", ("not usable:", "red"), f" {exc}\n"), highlight=False, soft_wrap=True)
        return
    out.print(title)
    out.print(f"  found at {ds.root or '(embedded)'} as {ds.layout}: {len(ds)} images"
              + (f", {len(set(ds.subjects))} subjects" if ds.subjects is not None else "")
              + f", fingerprint {ds.fingerprint[:12]}", highlight=False, soft_wrap=True, markup=False)
    table = Table(show_edge=False)
    table.add_column("split")
    for c in ds.class_names:
        table.add_column(c, justify="right")
    table.add_column("total", justify="right")
    table.add_column("expected", justify="right")
    expected = {**entry.expected_splits, "all": entry.expected_total}
    for split, counts in ds.counts().items():
        total = sum(counts.values())
        exp = expected.get(split)
        mark = "" if exp is None else (" ✓" if exp == total else " ✗")
        table.add_row(split, *map(str, counts.values()), str(total), f"{exp if exp is not None else '-'}{mark}")
        empty = [c for c, k in counts.items() if k == 0]
        if split == "all" and empty:
            out.print(f"  [red]empty classes:[/] {', '.join(empty)}")
    out.print(table)
    for note in ds.notes:
        out.print(f"  note: {note}", highlight=False, markup=False)
    if ds.skipped:
        out.print(Text.assemble("  ", (f"skipped {len(ds.skipped)} inputs", "yellow"),
                                f", e.g. {ds.skipped[0]['path']}: {ds.skipped[0]['reason']}"), highlight=False)
    _print_diagnostics(ds.diagnostics)
    for line in dataset_warnings(ds):
        out.print(Text.assemble("  ", ("warning:", "yellow"), f" {line}"), highlight=False, soft_wrap=True)
    out.print()


def _print_diagnostics(diagnostics: dict) -> None:
    """Duplicates, blank images and per-split pixel statistics (mean, std, Laplacian-variance sharpness)."""
    dup = diagnostics["duplicates"]
    parts = [f"{dup['all']['groups']} groups of identical images ({dup['all']['images']} images)"]
    for key, what in (("cross_split", "across splits"), ("cross_subject", "across subjects"),
                      ("label_conflicts", "with conflicting labels")):
        if dup.get(key) is not None:
            parts.append(f"{dup[key]['groups']} {what}")
    out.print(f"  duplicates: {', '.join(parts)}; blank images: {diagnostics['blank']['count']}",
              highlight=False, markup=False, soft_wrap=True)
    stats = Table(show_edge=False, title=None)
    for col in ("pixels", "images", "mean", "std", "sharpness"):
        stats.add_column(col, justify="left" if col == "pixels" else "right")
    for split, row in diagnostics["pixel_stats"].items():
        stats.add_row(split, str(row["n"]), f"{row['mean']:.1f}", f"{row['std']:.1f}", f"{row['sharpness']:.0f}")
    out.print(stats)


@app.command()
def predict(
    run_dir: Path = typer.Argument(..., help="A complete run folder, e.g. reports/runs/<run-id>."),
    inputs: list[Path] = typer.Argument(..., help="Image files, folders of images, video files."),
    out_file: Path = typer.Option(Path("predictions.csv"), "--out", help="CSV: one row per face (and OUT.json "
                                  "beside it: run, detector settings, inputs without a face)."),
    annotate: Optional[Path] = typer.Option(None, "--annotate", help="Folder for copies of the inputs with boxes "
                                            "and predicted classes drawn (video: each sampled frame)."),
    every: int = typer.Option(10, "--every", help="Videos: predict every Nth frame."),
    fold: Optional[str] = typer.Option(None, "--fold", help="k-fold runs: use this fold's model only (fold-3, or "
                                       "3; default: the mean of every fold model's scores)."),
    no_detect: bool = typer.Option(False, "--no-detect", help="Each image is already a cropped face: no "
                                   "detection, no alignment, just grayscale and resize to 48x48."),
    upsample: int = typer.Option(1, "--upsample", help="dlib detector upsampling steps (each finds faces half as "
                                 "large, at 4x the time)."),
    min_score: float = typer.Option(0.5, "--min-score", help="Smallest dlib detection score kept (astronaut(): "
                                    "face 1.16, mission patch 0.12)."),
    with_runs: Optional[list[Path]] = typer.Option(None, "--with", metavar="RUN_DIR", help="Another run to average "
                                                   "with; repeat it for more (e.g. the other seeds of this "
                                                   "experiment, as the report's seed ensembles): the mean of each "
                                                   "run's scores, every run weighing the same. Runs of one model, "
                                                   "features, dataset and classes; not with --fold."),
) -> None:
    """Predict the expression of every face in your own photos and videos with a run's saved models."""
    from .predict import PredictSettings  # lazy: start-up time (see run)
    from .predict import predict as predict_faces

    settings = PredictSettings(detect=not no_detect, upsample=upsample, min_score=min_score, every=every, fold=fold)
    with _one_line_errors(f"interrupted; {out_file} was not written"):
        result = predict_faces(run_dir, inputs, out=out_file, annotate=annotate, settings=settings, console=err,
                               also=with_runs or [])
    counts = result.sidecar["counts"]
    out.print(f"{counts['faces']} faces in {counts['frames']} images/frames of {counts['inputs']} inputs "
              f"({counts['inputs_without_face']} without a face, {counts['unreadable']} unreadable) -> {out_file}",
              highlight=False, markup=False, soft_wrap=True)
    if annotate is not None:
        out.print(f"annotated copies in {annotate}", highlight=False, markup=False, soft_wrap=True)


@app.command()
def models() -> None:
    """List the registered models and the feature extractors classical models can use."""
    from features import FEATURES  # lazy: start-up time (see run)
    from models import list_models

    from .kinds import kind_of  # lazy: start-up time (see run)

    table = Table(title="models")
    for col in ("name", "kind", "default features", "grid / training defaults", "description"):
        table.add_column(col)
    for spec in list_models():
        grid = ", ".join(f"{k.split('__')[-1]}={v}" for k, v in kind_of(spec).defaults_of(spec).items()
                         if k != "min_delta")
        for dataset, other in {**spec.dataset_grids, **spec.dataset_training}.items():  # a grid or a CNN recipe
            grid += f"; on {dataset}: " + ", ".join(f"{k.split('__')[-1]}={v}" for k, v in other.items())
        defaults = spec.default_features or "pixels"
        if isinstance(defaults, dict):
            defaults = "; ".join(f"{'other datasets' if k == '*' else k}: {v}" for k, v in defaults.items())
        why = f" Defaults: {spec.defaults_why}" if spec.defaults_why else ""
        table.add_row(spec.name, spec.kind, defaults, grid, f"{spec.display_name} (as the report names it): "
                      f"{spec.description}{why}")
    out.print(table)
    feats = Table(title="features (combine with +, e.g. hog+landmarks)")
    for col in ("name", "parameters", "description"):
        feats.add_column(col)
    for name, (factory, description) in FEATURES.items():
        extractor = factory()
        params = ", ".join(f"{k}={v}" for k, v in extractor.get_params().items())
        learned = " Learned per fold on training images only." if extractor.learns_from_training else ""
        feats.add_row(name, params, description + learned)
    out.print(feats)


@app.command()
def export(
    run_dir: Path = typer.Argument(..., help="A complete run folder, e.g. reports/runs/<run-id>."),
    fmt: str = typer.Option("onnx", "--format", "-f", help="onnx, tflite or savedmodel (SVM runs: onnx only, "
                               "the classifier on feature vectors)."),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="Folder the exports are written into (default: "
                                       "exports/<run-id>/ in the current folder; never inside the run folder)."),
    fold: Optional[str] = typer.Option(None, "--fold", help="Only this fold's model (fold-3, or 3); default: every "
                                       "fold's model, one file each."),
    data_dir: Optional[str] = typer.Option(None, "--data-dir", help="Where the run's dataset is now, for the check "
                                           "on its test images (default: where the run read it)."),
) -> None:
    """Export a run's trained models (ONNX, TFLite, SavedModel), each checked against the run's own model on its
    test images; a failed check writes nothing."""
    from .export import export_run  # lazy: start-up time (see run)

    with _one_line_errors("interrupted; no export was written"):
        written = export_run(run_dir, fmt, out=out_dir, fold=fold, data_dir=data_dir,
                             log=lambda line: err.print(line, highlight=False, markup=False, soft_wrap=True))
    for item in written:
        out.print(f"{item.path}  {item.size_bytes / 1e6:.2f} MB  {item.fold}, {item.format} via {item.route}, "
                  f"{item.seconds:.1f} s", highlight=False, markup=False, soft_wrap=True)
        out.print(f"  check: {item.parity.describe()}", highlight=False, markup=False, soft_wrap=True)
        for note in item.notes:
            out.print(f"  note: {note}", highlight=False, markup=False, soft_wrap=True)
        out.print(f"  provenance: {item.sidecar}", highlight=False, markup=False, soft_wrap=True)


def _ignore_interrupts() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def main(argv: list[str] | None = None) -> None:
    """The ``fer-bench`` console script: the Typer app, with command-line mistakes (an unknown option, a value
    of the wrong type) also reported as one ``error:`` line and exit code 2."""
    from joblib import parallel_config  # lazy: start-up time (see run)

    try:
        # worker processes ignore Ctrl-C: the terminal sends it to them too, and their KeyboardInterrupt
        # tracebacks would bury the one error line; the parent stops them when it is interrupted
        with parallel_config(backend="loky", initializer=_ignore_interrupts):
            code = app(args=argv, prog_name="fer-bench", standalone_mode=False)
    except click_exceptions.UsageError as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # the help was printed: nothing failed
            sys.exit(0)
        command = exc.ctx.command_path if exc.ctx is not None else "fer-bench"
        _print_error(f"{exc.format_message()} (see '{command} --help')")
        sys.exit(EXIT_USAGE)
    except typer.Abort:
        _print_error("interrupted")
        sys.exit(EXIT_INTERRUPTED)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":  # pragma: no cover
    main()
