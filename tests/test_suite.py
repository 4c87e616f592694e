"""Matched suites: declared matrices expand as written, bad files fail clearly, interrupted suites resume."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

import benchmark.suite._suite as suite_module  # where the suite calls run_experiment
from centroid_kind import MODEL as CENTROID
from centroid_kind import register_centroid
from cli_helpers import complete_runs as _complete_runs
from cli_helpers import error_lines as _errors
from cli_helpers import one_error as _one_error
from cli_helpers import run_main as _main
from benchmark.cli import app
from benchmark.errors import FerBenchError
from benchmark.leases import Lease
from benchmark.suite import claim_path, load_suite, plan_suite, run_suite
from models import list_models

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def centroid(monkeypatch):
    """The test kind's nearest class mean (tests/centroid_kind.py), for suites whose model does not matter: its
    runs take milliseconds."""
    register_centroid(monkeypatch)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "suite.toml"
    path.write_text(text)
    return path


def test_a_block_expands_to_datasets_x_models_x_features_x_seeds(tmp_path):
    path = _write(tmp_path, """
[suite]
name = "t"
[defaults]
folds = 4
seeds = [0]
[[experiment]]
datasets = ["synthetic"]
models = ["svm-linear", "svm-rbf"]
features = ["hog", "lbp"]
seeds = [0, 1]
options = { inner_folds = 2 }
[[experiment]]
datasets = ["synthetic"]
models = ["mini-xception"]
options = { epochs = 3 }
""")
    suite = load_suite(path, reports_dir=str(tmp_path / "reports"))
    assert suite.name == "t"
    svm = [(c.model, c.features, c.seed) for c in suite.configs if c.model.startswith("svm")]
    assert svm == [(m, f, s) for m in ("svm-linear", "svm-rbf") for f in ("hog", "lbp") for s in (0, 1)]
    assert all(c.folds == 4 and c.inner_folds == 2 for c in suite.configs if c.model.startswith("svm"))
    cnn = [c for c in suite.configs if c.model == "mini-xception"]
    assert len(cnn) == 1 and cnn[0].epochs == 3 and cnn[0].seed == 0 and cnn[0].features == "pixels"
    assert cnn[0].batch_size == 32  # the paper's default, filled in
    assert all(c.reports_dir == str(tmp_path / "reports") for c in suite.configs)


@pytest.mark.parametrize(("text", "fragment"), [
    ("[[experiment]]\ndatasets = ['synthetic']\nmodels = ['svm-rbf']\ncolour = 'red'\n", "unknown key 'colour'"),
    ("[[experiment]]\ndatasets = ['synthetic']\nmodels = ['svm-quantum']\n", "(synthetic, svm-quantum): unknown model"),
    ("[[experiment]]\ndatasets = ['synthetic']\nmodels = ['svm-rbf']\noptions = { epoch = 3 }\n",
     "unknown option 'epoch'"),
    ("[[experiment]]\ndatasets = 'synthetic'\nmodels = ['svm-rbf']\n", "'datasets' must be a non-empty list"),
    ("[suite]\nname = 'empty'\n", "no [[experiment]] blocks"),
    ("[[experiment]\n", "not valid TOML"),
])
def test_bad_suite_files_name_the_file_and_the_problem(tmp_path, text, fragment):
    path = _write(tmp_path, text)
    with pytest.raises(FerBenchError) as err:
        load_suite(path)
    assert str(path) in str(err.value) and fragment in str(err.value)


def test_shipped_suites_parse_and_cover_the_declared_matrix():
    demo = load_suite(REPO / "suites" / "demo.toml")
    assert {c.model for c in demo.configs} == {"svm-linear", "svm-poly", "svm-rbf", "mini-xception"}
    assert {c.dataset for c in demo.configs} == {"synthetic"}
    # the thesis matrix (README): every registered classical model on hog, hog-sliding, lbp, landmarks and
    # hog+landmarks (the histogram kernel on the bag of words), each dataset's best classical default, and every
    # registered CNN, on FER2013 and CK+; a newly registered model belongs in suites/thesis.toml
    specs = {spec.name: spec for spec in list_models()}
    kinds = {name: spec.kind for name, spec in specs.items()}
    thesis = load_suite(REPO / "suites" / "thesis.toml")
    assert {c.model for c in thesis.configs} <= set(kinds)
    for dataset in ("fer2013", "ck+"):
        classical = {(c.model, c.features) for c in thesis.configs
                     if c.dataset == dataset and kinds[c.model] == "classical"}
        expected = {(m, f) for m, spec in specs.items() if spec.kind == "classical" and not spec.histograms_only
                    for f in ("hog", "hog-sliding", "lbp", "landmarks", "hog+landmarks")}
        expected |= {(m, "bovw") for m, spec in specs.items() if spec.histograms_only}
        expected.add(("svm-rbf", specs["svm-rbf"].features_for(dataset)))
        assert classical == expected, "suites/thesis.toml"
        cnns = {c.model for c in thesis.configs if c.dataset == dataset and kinds[c.model] == "deep"}
        assert cnns == {m for m, kind in kinds.items() if kind == "deep"}, "suites/thesis.toml"


def test_an_interrupted_suite_resumes_without_rerunning_complete_experiments(tmp_path, monkeypatch, centroid):
    path = _write(tmp_path, f"""
[defaults]
folds = 3
[[experiment]]
datasets = ["synthetic"]
models = ["{CENTROID}"]
seeds = [0, 1]
""")
    suite = load_suite(path, reports_dir=str(tmp_path / "reports"))
    calls, original = [], suite_module.run_experiment

    def interrupted_second(config, **kwargs):
        calls.append(config.seed)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(config, **kwargs)

    monkeypatch.setattr(suite_module, "run_experiment", interrupted_second)
    quiet = Console(file=open(tmp_path / "log.txt", "w"))
    with pytest.raises(KeyboardInterrupt):
        run_suite(suite, console=quiet)
    runs = tmp_path / "reports" / "runs"
    assert len([p for p in runs.iterdir() if not p.name.startswith(".")]) == 1

    monkeypatch.setattr(suite_module, "run_experiment", original)
    records = run_suite(suite, console=quiet)
    assert [r["status"] for r in records] == ["skipped", "ran"]
    assert len(list(runs.iterdir())) == 2
    again = run_suite(suite, console=quiet)
    assert [r["status"] for r in again] == ["skipped", "skipped"]
    assert [state.split(" ")[0] for _, state in plan_suite(suite)] == ["complete", "complete"]


def test_suite_command_errors_are_one_line(tmp_path):
    result = CliRunner().invoke(app, ["suite", str(tmp_path / "missing.toml")])
    assert result.exit_code == 2 and "error:" in result.output and "suite file not found" in result.output
    assert "Traceback" not in result.output


def test_suite_dry_run_lists_experiments(tmp_path):
    result = CliRunner().invoke(app, ["suite", str(REPO / "suites" / "demo.toml"), "--dry-run",
                                      "--reports-dir", str(tmp_path)])
    assert result.exit_code == 0
    assert "svm-poly" in result.output and "mini-xception" in result.output and "to run" in result.output


def test_missing_data_is_reported_before_any_experiment_runs(tmp_path):
    path = _write(tmp_path, """
[[experiment]]
datasets = ["synthetic", "ck+"]
models = ["svm-linear"]
features = ["hog"]
""")
    suite = load_suite(path, reports_dir=str(tmp_path / "reports"),
                       data_dirs={"ck+": str(tmp_path / "no-ck-here")})
    with pytest.raises(FerBenchError, match="no-ck-here: no such file or folder"):
        run_suite(suite, console=Console(file=open(tmp_path / "log.txt", "w")))
    assert not (tmp_path / "reports" / "runs").exists()


def test_suite_data_dir_for_an_unknown_dataset_is_a_one_line_error(tmp_path):
    result = CliRunner().invoke(app, ["suite", str(REPO / "suites" / "demo.toml"), "--data-dir", "CK+=/data"])
    assert result.exit_code == 2 and "error: --data-dir CK+=...: unknown dataset" in result.output


@pytest.mark.parametrize(("options", "fragment"), [
    ("folds = 'three'", "folds = 'three' should be an integer"),
    ("augment = 1", "augment = 1 should be true or false"),
    ("epochs = true", "epochs = True should be an integer"),
])
def test_option_values_of_the_wrong_type_are_refused_before_running(tmp_path, options, fragment):
    path = _write(tmp_path, f"[defaults]\n{options}\n[[experiment]]\ndatasets = ['synthetic']\nmodels = ['svm-rbf']\n")
    with pytest.raises(FerBenchError, match=re.escape(fragment)):
        load_suite(path)


def test_seed_is_accepted_as_a_single_seed(tmp_path):
    path = _write(tmp_path, "[defaults]\nseed = 4\n[[experiment]]\ndatasets = ['synthetic']\nmodels = ['svm-rbf']\n"
                            "[[experiment]]\ndatasets = ['synthetic']\nmodels = ['svm-linear']\noptions = { seed = 7 }\n")
    assert [(c.model, c.seed) for c in load_suite(path).configs] == [("svm-rbf", 4), ("svm-linear", 7)]


def test_error_lines_keep_the_toml_names_in_brackets(tmp_path):
    path = _write(tmp_path, "[[experiments]]\ndatasets = ['synthetic']\n")
    result = CliRunner().invoke(app, ["suite", str(path)])
    assert result.exit_code == 2
    assert "unknown table [experiments]; expected [suite], [defaults], [[experiment]]" in " ".join(result.output.split())


@pytest.mark.slow  # the session's shared 980-image run
def test_a_run_folder_the_report_would_skip_never_counts_as_complete(tmp_path, synthetic_linear_run):
    """A run that `fer-bench run` made with the suite's options counts as complete; the same folder without
    predictions.csv is broken for the report, so the suite redoes it."""
    path = _write(tmp_path, "[defaults]\nfolds = 3\n[[experiment]]\ndatasets = ['synthetic']\nmodels = ['svm-linear']\n"
                            "features = ['hog']\noptions = { inner_folds = 2 }\n")
    suite = load_suite(path, reports_dir=str(tmp_path / "reports"))
    run_dir = tmp_path / "reports" / "runs" / synthetic_linear_run.run_dir.name
    shutil.copytree(synthetic_linear_run.run_dir, run_dir)
    assert [state for _, state in plan_suite(suite)] == [f"complete ({run_dir.name})"]
    (run_dir / "predictions.csv").unlink()
    assert [state for _, state in plan_suite(suite)] == ["to run"]


# ------------------------------------------------------------- failing experiments, other processes, names

SUITE = """[suite]
name = "faulty"
[defaults]
folds = 2
n_jobs = 1
[[experiment]]
datasets = ["synthetic"]
models = ["svm-linear"]
features = ["lbp"]
seeds = [0, 1, 2]
options = { inner_folds = 2 }
"""
#: The same suite of the test kind (its runs take milliseconds), where what is tested is not the model.
FAST_SUITE = SUITE.replace('models = ["svm-linear"]\nfeatures = ["lbp"]', f'models = ["{CENTROID}"]')


def test_a_failing_experiment_does_not_stop_the_suite(tmp_path, capsys, monkeypatch, centroid):
    """The second of three experiments fails at run time: the other two complete, the failure is listed on the
    console and in reports/suites/<name>.json, and the suite exits 1 with one error line."""
    path = tmp_path / "suite.toml"
    path.write_text(FAST_SUITE)
    original = suite_module.run_experiment

    def fails_for_seed_1(config, **kwargs):
        if config.seed == 1:
            raise FerBenchError("synthetic: something only the run could find")
        return original(config, **kwargs)

    monkeypatch.setattr(suite_module, "run_experiment", fails_for_seed_1)
    reports = tmp_path / "reports"
    code, text = _main(["suite", path, "--reports-dir", reports], capsys)
    assert code == 1, text
    assert "Traceback" not in text
    [line] = _errors(text)
    assert "1 of 3 experiments of suite faulty failed" in line
    assert "something only the run could find" in text
    assert len(_complete_runs(reports)) == 2
    status = json.loads((reports / "suites" / "faulty.json").read_text())
    assert [e["status"] for e in status["experiments"]] == ["ran", "failed", "ran"]
    assert status["failed"] == [{"experiment": status["experiments"][1]["experiment"],
                                 "reason": "synthetic: something only the run could find"}]
    # fixed and resumed: only the failed one runs
    monkeypatch.setattr(suite_module, "run_experiment", original)
    code, text = _main(["suite", path, "--reports-dir", reports], capsys)
    assert code == 0, text
    assert len(_complete_runs(reports)) == 3
    status = json.loads((reports / "suites" / "faulty.json").read_text())
    assert [e["status"] for e in status["experiments"]] == ["skipped", "ran", "skipped"] and status["failed"] == []


def test_two_suites_never_run_the_same_experiment(tmp_path, centroid):
    """An experiment claimed by another live process is skipped, not run a second time; once that claim is gone
    (released, or stale after a kill) the experiment runs."""
    path = tmp_path / "suite.toml"
    path.write_text(FAST_SUITE.replace("seeds = [0, 1, 2]", "seeds = [0]"))
    suite = load_suite(path, reports_dir=str(tmp_path / "reports"))
    [config] = suite.configs
    from benchmark.datasets import make_synthetic

    other = Lease.acquire(claim_path(tmp_path / "reports", config, make_synthetic()))
    quiet = Console(file=open(os.devnull, "w"))
    [record] = run_suite(suite, console=quiet)
    assert record["status"] == "skipped" and record["reason"] == "running in another process"
    assert _complete_runs(tmp_path / "reports") == []
    other.release()
    [record] = run_suite(suite, console=quiet)
    assert record["status"] == "ran" and len(_complete_runs(tmp_path / "reports")) == 1
    assert not claim_path(tmp_path / "reports", config, make_synthetic()).exists()


@pytest.mark.slow
def test_a_suite_with_adapted_inner_folds_resumes(tmp_path):
    """The config hash is the hash of the requested options, so a run whose inner folds were reduced is still
    found complete by the resumed suite."""
    path = tmp_path / "suite.toml"
    path.write_text(SUITE.replace("seeds = [0, 1, 2]", "seeds = [0]").replace("inner_folds = 2", "inner_folds = 12")
                    .replace('"synthetic"', '"synthetic-b"'))
    suite = load_suite(path, reports_dir=str(tmp_path / "reports"))
    quiet = Console(file=open(os.devnull, "w"))
    assert [r["status"] for r in run_suite(suite, console=quiet)] == ["ran"]
    [run] = _complete_runs(tmp_path / "reports")
    assert json.loads((run / "manifest.json").read_text())["adapted"] == {"inner_folds": {"fold-0": 6, "fold-1": 6}}
    assert [r["status"] for r in run_suite(suite, console=quiet)] == ["skipped"]


@pytest.mark.slow
def test_two_suite_processes_at_once_run_each_experiment_exactly_once(tmp_path):
    """Two real `fer-bench suite` processes started together on one reports folder: every experiment ends
    complete exactly once, and both processes exit 0 (on synthetic-b's 420 faces: the claims are what is tested,
    not the data)."""
    import subprocess
    import sys

    path = tmp_path / "suite.toml"
    assert '"synthetic"' in SUITE
    path.write_text(SUITE.replace('"synthetic"', '"synthetic-b"'))
    reports = tmp_path / "reports"
    env = {**os.environ, "FER_BENCH_CACHE": str(tmp_path / "cache")}
    procs = [subprocess.Popen([sys.executable, "-m", "benchmark.cli", "suite", str(path), "--reports-dir",
                               str(reports)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
             for _ in range(2)]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert not any("Traceback" in out for out in outputs), outputs
    runs = _complete_runs(reports)
    seeds = sorted(json.loads((run / "config.json").read_text())["seed"] for run in runs)
    assert seeds == [0, 1, 2], [r.name for r in runs]
    assert not list((reports / ".claims").glob("*.json"))


@pytest.mark.parametrize("name", ["../../evil", "", ".hidden"])
def test_a_suite_name_cannot_escape_the_reports_folder(tmp_path, capsys, name):
    path = tmp_path / "suite.toml"
    path.write_text(f"[suite]\nname = {json.dumps(name)}\n[[experiment]]\ndatasets = ['synthetic']\n"
                    f"models = ['svm-linear']\nfeatures = ['lbp']\n")
    code, text = _main(["suite", path, "--reports-dir", tmp_path / "r"], capsys)
    _one_error(code, text, 2, "[suite]: name =")
    assert not (tmp_path / "evil").exists() and not (tmp_path / "r").exists()


PRETRAIN = """
[defaults]
epochs = 1
batch_size = 16

[[experiment]]
id = "pre"
datasets = ["fer2013"]
models = ["mini-xception"]

[[experiment]]
datasets = ["synthetic-b"]
models = ["mini-xception"]
options = {{ folds = 2, inner_folds = 2, init_from = "{reference}" }}
"""


@pytest.mark.slow
def test_a_suite_runs_a_pretraining_experiment_before_those_that_start_from_its_weights(
        tmp_path, learnable_fer_plan, write_fer_csv, tiny_cnn):
    plan, images = learnable_fer_plan
    csv = write_fer_csv(tmp_path / "fer2013.csv", plan, images=images)
    text = PRETRAIN.format(reference="@pre").replace('"mini-xception"', f'"{tiny_cnn}"')  # the test CNN: seconds
    suite = load_suite(_write(tmp_path, text), reports_dir=str(tmp_path / "reports"), data_dirs={"fer2013": str(csv)})
    assert suite.sources == ((1, 0),)
    assert [state for _, state in plan_suite(suite)] == ["to run", "to run, after experiment 1"]
    quiet = Console(file=open(tmp_path / "log.txt", "w"), width=200)
    records = run_suite(suite, console=quiet)
    assert [r["status"] for r in records] == ["ran", "ran"]
    source, tuned = records[0]["run_dir"], records[1]["run_dir"]
    manifest = json.loads((tuned / "manifest.json").read_text())
    config = json.loads((tuned / "config.json").read_text())
    assert manifest["init_from"]["run_id"] == source.name and config["init_from"] == str(source)
    assert config["init_weights"] == manifest["init_from"]["sha256"][:16]
    # resumed: the source is found complete, the reference resolves to it again, so the same experiment
    assert [r["status"] for r in run_suite(suite, console=quiet)] == ["skipped", "skipped"]
    assert [state.split(" ")[0] for _, state in plan_suite(suite)] == ["complete", "complete"]
    assert "init_from @pre" in (tmp_path / "reports" / "suites" / "suite.json").read_text()


def test_a_failed_source_fails_the_experiments_that_start_from_it_and_no_others(tmp_path, monkeypatch,
                                                                                learnable_fer_plan, write_fer_csv):
    plan, images = learnable_fer_plan
    csv = write_fer_csv(tmp_path / "fer2013.csv", plan, images=images)
    suite = load_suite(_write(tmp_path, PRETRAIN.format(reference="@pre")), reports_dir=str(tmp_path / "reports"),
                       data_dirs={"fer2013": str(csv)})

    def fails(config, **kwargs):
        raise FerBenchError("disk on fire")

    monkeypatch.setattr(suite_module, "run_experiment", fails)
    records = run_suite(suite, console=Console(file=open(tmp_path / "log.txt", "w"), width=200))
    assert [r["status"] for r in records] == ["failed", "failed"]
    assert records[0]["reason"] == "disk on fire"
    assert "init_from = '@pre': its source, experiment 1" in records[1]["reason"]
    assert "has no complete run (failed: disk on fire)" in records[1]["reason"]


@pytest.mark.parametrize("reference, extra, fragment", [
    ("@nope", "", "init_from = '@nope': no [[experiment]] block has id = 'nope' (ids: pre)"),
    ("@pre", '\n[[experiment]]\nid = "pre"\ndatasets = ["synthetic"]\nmodels = ["svm-linear"]\n',
     "id 'pre' is already the id of"),
    ("@late", '\n[[experiment]]\nid = "late"\ndatasets = ["synthetic"]\nmodels = ["mini-xception"]\n',
     "that block must come before this one"),
    ("@pre", '\n[[experiment]]\ndatasets = ["synthetic-b"]\nmodels = ["cnn-gelu"]\n'
             'options = { init_from = "@pre" }\n', "block 'pre' has no cnn-gelu experiment to start from"),
])
def test_bad_references_to_a_source_block_are_refused_when_the_suite_loads(tmp_path, reference, extra, fragment):
    path = _write(tmp_path, PRETRAIN.format(reference=reference) + extra)
    with pytest.raises(FerBenchError, match=re.escape(fragment)):
        load_suite(path, reports_dir=str(tmp_path / "reports"))


def test_a_source_with_several_fold_models_is_refused_before_anything_runs(tmp_path, capsys):
    text = PRETRAIN.format(reference="@pre").replace('datasets = ["fer2013"]', 'datasets = ["synthetic"]')
    suite = load_suite(_write(tmp_path, text), reports_dir=str(tmp_path / "reports"))
    with pytest.raises(FerBenchError, match="its source .*synthetic.* trains 10 fold models; start from an "
                                            "experiment with one model"):
        plan_suite(suite)
    code, out = _main(["suite", tmp_path / "suite.toml", "--reports-dir", tmp_path / "reports"], capsys)
    _one_error(code, out, 2, "trains 10 fold models")
    assert not _complete_runs(tmp_path / "reports")


def test_the_dask_executor_refuses_a_suite_with_a_source_block_in_one_line(tmp_path, capsys):
    pytest.importorskip("distributed", reason="needs the cluster extra (dask[distributed])")
    text = PRETRAIN.format(reference="@pre").replace('datasets = ["fer2013"]', 'datasets = ["synthetic"]')
    code, out = _main(["suite", str(_write(tmp_path, text)), "--executor", "dask", "--reports-dir",
                       tmp_path / "reports"], capsys)
    _one_error(code, out, 2, "experiment 2 starts from the weights experiment 1 makes", "--executor local")
