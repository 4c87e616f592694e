"""One battery of checks over every entry of every registry, in the manner of scikit-learn's
``parametrize_with_checks``: datasets, protocols, evaluation modes, model kinds, models and feature extractors. A
new entry that forgets something its registry needs fails here, naming itself."""

from __future__ import annotations

import inspect
import os

import numpy as np
import pytest
from rich.console import Console
from sklearn.base import clone

from benchmark.datasets import DATASETS, canonical_classes, load_dataset, make_synthetic
from benchmark.evaluations import EVALUATIONS, Evaluation
from benchmark.experiment import RunConfig, run_experiment
from benchmark.export import FORMATS
from benchmark.kinds import KINDS, ModelKind
from benchmark.options import BY_NAME, OPTIONS
from benchmark.predict import TEMPLATES
from benchmark.protocols import PROTOCOLS, Protocol
from benchmark.report import DATASET_TABLES, group_experiments
from benchmark.report._references import DATASET_SOURCES, ENTRIES, FEATURE_SOURCES
from features import FEATURES, ImageTransformer
from models import list_models

OPTION_NAMES = {o.name for o in OPTIONS}


def _overrides(obj, base, method: str) -> bool:
    return getattr(type(obj) if not isinstance(obj, type) else obj, method) is not getattr(base, method)


# ------------------------------------------------------------------------------------------------ datasets

@pytest.mark.parametrize("name", list(DATASETS))
def test_dataset_entry_declares_what_commands_and_runs_need(name):
    entry = DATASETS[name]
    assert entry.title and entry.slug and entry.description
    assert entry.protocol in PROTOCOLS, f"{name}: protocol {entry.protocol!r} is not registered"
    assert entry.crop_template in TEMPLATES, f"{name}: crop template {entry.crop_template!r} does not exist"
    assert set(entry.own_options) <= OPTION_NAMES, f"{name}: own options not declared in RunConfig"
    assert all(BY_NAME[o].defines_data for o in entry.own_options), f"{name}: an own option must define the data"
    assert set(entry.option_rules) <= set(entry.own_options)
    if entry.embedded is None:  # a real dataset is cited by the report's captions and methods
        assert DATASET_SOURCES.get(name), f"{name}: no entry in benchmark.report._references.DATASET_SOURCES"
    loader = inspect.signature(load_dataset).parameters
    assert all(o in loader for o in entry.own_options), f"{name}: load_dataset does not take its own options"
    if entry.embedded is None:
        assert entry.folders and entry.layouts and entry.expected_layouts
    else:
        assert not entry.layouts
    if entry.expected_splits:
        assert all(isinstance(n, int) and n > 0 for n in entry.expected_splits.values())
    assert len({e.slug for e in DATASETS.values()}) == len(DATASETS)


@pytest.mark.parametrize("name", list(DATASETS))
def test_dataset_entry_declares_canonical_class_names(name):
    names = DATASETS[name].class_names
    assert names and len(set(canonical_classes(names, where=name))) == len(names)


@pytest.mark.parametrize("name", [n for n, e in DATASETS.items() if e.embedded is not None])
def test_embedded_dataset_loads_as_its_entry_says(name):
    data = load_dataset(name)
    assert data.images.dtype == np.uint8 and data.images.shape[1:] == (48, 48)
    assert tuple(data.class_names) == DATASETS[name].class_names
    assert data.subjects is not None or data.splits is not None


def test_loaded_copies_hold_their_entrys_classes(fer_csv, fer_folders, ck48_dir, ck_original_dir):
    """A copy of each real layout (written by the fixtures) loads with classes its entry declares, in order."""
    for name, where, options in (("fer2013", fer_csv, {}), ("fer2013", fer_folders, {}), ("ck+", ck48_dir, {}),
                                 ("ck+", ck_original_dir, {"ck_neutral": True})):
        declared = DATASETS[name].class_names
        loaded = tuple(load_dataset(name, where, **options).class_names)
        assert set(loaded) <= set(declared) and list(loaded) == [c for c in declared if c in loaded], (name, where)


# ------------------------------------------------------------------------------------------------ protocols

@pytest.mark.parametrize("name", list(PROTOCOLS))
def test_protocol_declares_its_decisions(name):
    protocol = PROTOCOLS[name]
    assert protocol.name == name and protocol.column in ("fold", "split", "part")
    assert isinstance(protocol.per_fold, bool)
    for method in ("report_caption", "_parts", "scored_parts", "progress_label", "unused_options"):
        assert _overrides(protocol, Protocol, method), f"{name} does not define {method}"
    for selects_by_search in (True, False):
        assert set(protocol.unused_options(selects_by_search)) <= OPTION_NAMES


# ------------------------------------------------------------------------------------------------ evaluation modes

@pytest.mark.parametrize("evaluation", EVALUATIONS, ids=lambda e: e.name)
def test_evaluation_mode_implements_the_interface(evaluation):
    for method in ("applies_to", "plan", "score", "recorded_in", "model_test_images"):
        assert _overrides(evaluation, Evaluation, method), f"{evaluation.name} does not define {method}"
    if evaluation.report_section is not None:
        assert _overrides(evaluation, Evaluation, "report_tables"), f"{evaluation.name} has a section, no tables"
    assert set(evaluation.own_options) <= OPTION_NAMES
    assert len({e.name for e in EVALUATIONS}) == len(EVALUATIONS)


def test_the_last_evaluation_mode_claims_every_config_and_run():
    """Some mode evaluates every experiment: the catch-all comes last, the specific ones before it."""
    from benchmark.options import RunConfig

    assert EVALUATIONS[-1].applies_to(RunConfig(dataset="synthetic", model="svm-rbf"))


# ------------------------------------------------------------------------------------------------ model kinds

@pytest.mark.parametrize("kind", list(KINDS.values()), ids=lambda k: k.name)
def test_model_kind_owns_its_models_whole_life(kind):
    for method in ("resolve", "run", "selection", "platform", "_load"):
        assert _overrides(kind, ModelKind, method), f"{kind.name} does not define {method}"
    assert kind.title and kind.model_stem and kind.model_suffixes
    assert set(kind.export_formats) <= set(FORMATS)
    if kind.export_formats:
        assert _overrides(kind, ModelKind, "export") and kind.export_versions(kind.export_formats[0])
    assert set(kind.own_options()) <= OPTION_NAMES and not set(kind.own_options()) & set(kind.foreign_options())
    names = kind.model_files("fold-1", 5)
    assert len(set(names)) == len(kind.model_suffixes) and all(n.startswith(f"{kind.model_stem}_fold-1") for n in names)


def test_every_option_applies_to_every_kind_or_to_a_registered_one():
    assert {o.applies_to for o in OPTIONS} <= {"all", *KINDS}


# ------------------------------------------------------------------------------------------------ models

@pytest.mark.parametrize("spec", list_models(), ids=lambda s: s.name)
def test_registered_model_names_a_kind_and_declares_its_defaults(spec):
    assert spec.kind in KINDS, f"{spec.name}: kind {spec.kind!r} is not registered"
    assert spec.description and (spec.source or not spec.training), f"{spec.name}: a CNN cites its paper in source"
    for grid in (spec.param_grid, *spec.dataset_grids.values()):
        assert all(isinstance(values, list) and values for values in grid.values())
    assert set(spec.variants) <= set(DATASETS) and set(spec.dataset_grids) <= set(DATASETS)
    if spec.training:
        assert {"epochs", "batch_size", "lr", "patience"} <= set(spec.training)
    features = spec.default_features if isinstance(spec.default_features, dict) else {"*": spec.default_features}
    for value in features.values():
        assert value is None or all(name in FEATURES for name in value.split("+"))


@pytest.mark.parametrize("spec", list_models(), ids=lambda s: s.name)
def test_registered_model_has_a_display_name_for_the_report(spec):
    """The tables, figures and methods name a model as a reader knows it ("SVM, RBF kernel"), declared beside its
    registration; no two models share one, and none is the command-line name again."""
    assert spec.display_name.strip() and spec.display_name != spec.name, \
        f"{spec.name}: register it with display_name=... (how the report names it)"
    assert [s.display_name for s in list_models()].count(spec.display_name) == 1, spec.display_name


# ------------------------------------------------------------------------------------------------ extractors

@pytest.fixture(scope="module")
def faces():
    return make_synthetic(n_subjects=2, images_per_class=1, seed=3).images[:4]


@pytest.mark.parametrize("name", list(FEATURES))
def test_extractor_has_a_source_the_report_cites(name):
    assert FEATURE_SOURCES.get(name) and set(FEATURE_SOURCES[name]) <= set(ENTRIES), \
        f"{name}: no source in benchmark.report._references.FEATURE_SOURCES"


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if make().learns_from_training else n
                                  for n, (make, _) in FEATURES.items()])  # a learned vocabulary takes seconds
def test_extractor_is_a_scikit_learn_transformer(name, faces):
    make, description = FEATURES[name]
    extractor = make()
    assert isinstance(extractor, ImageTransformer) and description
    signature = inspect.signature(type(extractor).__init__)
    assert not any(p.kind == p.VAR_KEYWORD for p in signature.parameters.values()), "no **kwargs"
    assert set(extractor.get_params()) == set(signature.parameters) - {"self"}
    fitted = clone(extractor).fit(faces)
    X = fitted.transform(faces)
    assert X.ndim == 2 and X.shape[0] == len(faces) and np.isfinite(X).all()
    assert fitted.transform(faces[:1]).shape[1] == X.shape[1]
    if extractor.non_negative:
        assert (X >= 0).all()


# ------------------------------------------------------------------------------------------------ report tables

@pytest.fixture(scope="module")
def two_kinds(tmp_path_factory):
    """Experiments of two kinds on the synthetic faces: the test kind's nearest class mean (milliseconds) and an
    SVM on LBP, each a complete, verified run."""
    from centroid_kind import register_centroid, two_kind_runs

    with pytest.MonkeyPatch.context() as patch:
        register_centroid(patch)
        runs = two_kind_runs(tmp_path_factory.mktemp("tables"), folds=3)
        yield group_experiments(runs)["synthetic (3-fold)"]


@pytest.fixture(scope="module")
def official(fer2013_linear_run):
    """(section, experiments) of the session's svm-linear run on FER2013's official split."""
    from benchmark.record import collect_runs
    from benchmark.verification import verify_runs

    runs, _ = verify_runs(collect_runs(fer2013_linear_run.run_dir.parent)[0])
    ((section, exps),) = group_experiments(runs).items()
    return section, exps


@pytest.fixture(scope="module")
def two_seeds(tmp_path_factory, tiny_cnn, small_synthetic):
    """(section, experiments) of a CNN experiment with two seeds (the test CNN, 1 epoch, 3 folds)."""
    from benchmark.record import collect_runs
    from benchmark.verification import verify_runs

    reports = tmp_path_factory.mktemp("seeds")
    quiet = Console(file=open(os.devnull, "w"))
    for seed in (0, 1):
        run_experiment(RunConfig(dataset="synthetic", model=tiny_cnn, folds=3, inner_folds=2, epochs=1, seed=seed,
                                 reports_dir=str(reports)), dataset=small_synthetic, console=quiet)
    runs, _ = verify_runs(collect_runs(reports / "runs")[0])
    ((section, exps),) = group_experiments(runs).items()
    return section, exps


def _made(make, two_kinds, official, two_seeds):
    """The table from the k-fold experiments of two kinds, else from the official split's run (a table that only
    some protocols have, such as the accuracy without FER2013's cross-split duplicates), else from a CNN's two seeds
    (the seed ensembles)."""
    return make("synthetic (3-fold)", two_kinds) or make(*official) or make(*two_seeds)


@pytest.mark.slow  # four runs and their report tables: about 20 s
@pytest.mark.parametrize("make", DATASET_TABLES, ids=lambda f: f.__name__)
def test_report_table_is_named_captioned_and_written_in_every_format(make, two_kinds, official, two_seeds, tmp_path):
    table = _made(make, two_kinds, official, two_seeds)
    assert table is not None, f"{make.__name__} made no table for k-fold or official-split experiments"
    assert table.name.split("_")[0] in ("synthetic", "fer2013") and table.caption and table.columns
    table.write(tmp_path)
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".csv", ".md", ".tex"]
    assert all(p.stat().st_size > 0 for p in tmp_path.iterdir())
    names = {_made(make, two_kinds, official, two_seeds).name.split("_", 1)[1] for make in DATASET_TABLES}
    assert len(names) == len(DATASET_TABLES)  # each table its own file name
