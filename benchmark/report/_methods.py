"""``tables/<section>_methods.tex`` (and ``.md``): a report section's methods, for a thesis to ``\\input`` in its
methods chapter.

Every statement is read from what the section's runs recorded (config.json, manifest.json, metrics.json, through
:class:`~benchmark.record.Run`), or from the registration of what they recorded using (a model's display name and
description; a feature extractor's description, where the run recorded exactly that extractor's parameters): first
the data and the protocol, then one paragraph per model kind. In a kind's paragraph a setting that every run of the
kind shares is said once; the others are said per group of experiments with identical settings. A run says only
what it recorded: an SVM run records no optimiser, a CNN run no grid, so neither is described where it did not
apply. Sources are cited with natbib's ``\\citep``, by keys ``references.bib`` holds (:mod:`._references`).

The same paragraphs are written as plain Markdown for report.md (no citations, no LaTeX).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from math import prod
from pathlib import Path
from typing import Callable

from features import FEATURES
from models import places_own_penalty

from ..datasets import DATASETS
from ..evaluations import evaluation_of
from ..kinds import KINDS, folds_decided_by_libsvm, recipe_of
from ..options import BY_NAME
from ..protocols import PROTOCOLS
from ..record import Run
from ._ensembles import shown_ensembles
from ._experiments import (Experiment, display_name, recipe_of_run, registered_spec, run_platform, trained_by_epochs,
                           trained_l2, training_facts)
from ._names import dataset_slug, title_of
from ._references import (BACKEND_SOURCES, DATASET_SOURCES, EARLY_STOPPING_SOURCES, ENSEMBLE_SOURCES, FEATURE_SOURCES,
                          OPTIMIZER_SOURCES, SCHEDULE_SOURCES, SEARCH_SOURCES, SOLVER_SOURCES, TTA_SOURCES,
                          model_keys)
from ..recipe import ROTATION_DEGREES, SHIFT, TEN_CROP_SHARE, ZOOM, plateau_rule
from ._tables import breakable, citep, latex_escape, standalone

#: What ``--augment`` draws for every training image (runs do not record it: the recipe fixes it)
AUGMENTATION = {"rotation_degrees": ROTATION_DEGREES, "zoom": ZOOM, "shift": SHIFT}

_ONEDAL = "oneDAL's exact SVM solver (hinge loss, one-vs-one) through scikit-learn-intelex, in"
#: How the methods name what a run records by a short name (oneDAL's variants: kinds/_classical.py, platform).
SOLVERS = {"libsvm": ("libsvm (hinge loss, one-vs-one) through scikit-learn", "scikit-learn"),
           "onedal": (f"{_ONEDAL} double precision, one thread per fit", "scikit-learn-intelex"),
           "onedal-float32": (f"{_ONEDAL} single precision", "scikit-learn-intelex"),
           "onedal-multithreaded": (f"{_ONEDAL} double precision, on as many threads as each fit's process gave it",
                                    "scikit-learn-intelex"),
           "liblinear": ("liblinear (hinge loss, one-vs-one, as the kernel solvers, with a lightly penalised "
                         "intercept; its dual coordinate descent, pair by pair) through scikit-learn", "scikit-learn"),
           # runs before liblinear solved one-vs-one (their saved model is a LinearSVC)
           "liblinear-ovr": ("liblinear (squared hinge loss, one-vs-rest; its primal trust-region Newton solver where "
                             "training images outnumber features, its dual coordinate descent otherwise) through "
                             "scikit-learn", "scikit-learn")}
OPTIMIZERS = {"adam": "Adam", "sgd": "SGD with Nesterov momentum 0.9"}
BACKENDS = {"tensorflow": "TensorFlow", "jax": "JAX", "torch": "PyTorch"}
PRECISIONS = {"float32": "float32", "mixed_float16": "mixed precision (float16 computation)",
              "mixed_bfloat16": "mixed precision (bfloat16 computation)"}


@dataclass(frozen=True)
class Style:
    """How the paragraphs are written: ``text`` escapes plain text, ``cite`` cites keys (with a leading space),
    ``member`` writes a grid parameter's values, ``emph`` emphasises, ``to`` joins a range, ``dash`` sets off a
    clause, ``paragraph`` writes a heading and its body."""

    text: Callable[[str], str]
    cite: Callable[[list[str]], str]
    member: Callable[[str, list], str]
    emph: Callable[[str], str]
    to: str
    dash: str
    paragraph: Callable[[str, str], str]


def _number(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _tex_member(name: str, values: list) -> str:
    symbol = {"gamma": r"\gamma"}.get(name) or (latex_escape(name) if len(name) == 1 else
                                                 f"\\mathrm{{{latex_escape(name)}}}")
    return f"${symbol} \\in \\{{{', '.join(_number(v) for v in values)}\\}}$"


def _md_member(name: str, values: list) -> str:
    return f"{ {'gamma': 'γ'}.get(name, name)} ∈ {{{', '.join(_number(v) for v in values)}}}"


LATEX = Style(text=latex_escape, cite=lambda keys: f" {citep(keys)}" if keys else "", member=_tex_member,
              emph=lambda text: f"\\emph{{{text}}}", to="--", dash=" -- ",
              paragraph=lambda heading, body: f"\\paragraph{{{latex_escape(heading)}.}} {body}")
MARKDOWN = Style(text=str, cite=lambda keys: "", member=_md_member, emph=lambda text: f"*{text}*", to="–",
                 dash=" – ", paragraph=lambda heading, body: f"**{heading}.** {body}")


def write_methods(section: str, exps: list[Experiment], folder: Path) -> str:
    """Write ``<section slug>_methods.tex`` and ``.md`` into ``folder`` (the tables' folder); returns the Markdown,
    which report.md shows."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{dataset_slug(section)}_methods"
    markdown = methods(exps, MARKDOWN)
    # on its own in a thesis: option names (svm_backend=onedal) may break after an underscore
    (folder / f"{stem}.tex").write_text(standalone(breakable(methods(exps, LATEX))))
    (folder / f"{stem}.md").write_text(markdown)
    return markdown


def methods(exps: list[Experiment], style: Style) -> str:
    """The section's methods: data and protocol, then a paragraph per model kind (in the report's order)."""
    runs = [run for exp in exps for run in exp.runs]
    several_seeds = len({run.metrics["seed"] for run in runs}) > 1
    several_datasets = len({exp.dataset for exp in exps}) > 1  # a mode's own section: models fitted on each
    paragraphs = [style.paragraph("Data and protocol", " ".join(_data_and_protocol(runs, style)))]
    for kind in dict.fromkeys(exp.kind for exp in exps):
        title = KINDS[kind].title if kind in KINDS else kind
        paragraphs.append(style.paragraph(title[:1].upper() + title[1:], _kind_body(
            [exp for exp in exps if exp.kind == kind], style, several_seeds, several_datasets)))
    ensembles = [ensemble.exp for ensemble in shown_ensembles(
        [exp for exp in exps if not exp.runs[0].protocol.scores_another_dataset])]  # what the table shows
    if ensembles:
        paragraphs.append(style.paragraph("Seed ensembles", _seed_ensembles(ensembles, style)))
    return "\n\n".join(paragraphs) + "\n"


def _seed_ensembles(exps: list[Experiment], style: Style) -> str:
    """What the seed-ensembles table scores (``._ensembles``), for the experiments it shows."""
    protocol = exps[0].runs[0].protocol
    named = _listed([f"the {len(exp.runs)} seeds of {exp.title}" for exp in exps])
    pooled = (" Each seed draws its own folds; an image's probabilities come, in every seed, from the fold model "
              "that held it out, so the ensemble's figures are pooled over all images." if protocol.per_fold else "")
    return (style.text(f"For {named}, the seed-ensembles table also scores every image by the mean of the class "
                       f"probabilities that the seeds' models gave it") + style.cite(ENSEMBLE_SOURCES)
            + style.text(f": every seed, equal weights, nothing chosen on any image.{pooled}"))


# ------------------------------------------------------------------------------------------- data and protocol

def _data_and_protocol(runs: list[Run], style: Style) -> list[str]:
    """Sentences on the data, the protocol, the images per part, the seeds and what no selection step saw."""
    data = [_data(d, run, style) for run in runs for d in (run.manifest["dataset"],
                                                           *evaluation_of(run).other_datasets(run)) if d]
    by_protocol: dict[type, list[Run]] = {}
    for run in runs:
        by_protocol.setdefault(run.protocol, []).append(run)
    sentences = [f"{style.text('Data')}: {'; '.join(dict.fromkeys(data))}."]
    for protocol, of_protocol in by_protocol.items():
        sentences += [f"{style.text('Protocol: ' + protocol.report_caption(of_protocol))}.",
                      _sizes(protocol, of_protocol, style), _seeds(protocol, of_protocol, style),
                      _unseen(protocol, of_protocol, style)]
    return sentences


def _data(recorded: dict, run: Run, style: Style) -> str:
    """``CK+ \\citep{lucey2010} (ck+48-folders), 981 images of 118 subjects, 7 classes (anger, ...)``: a dataset
    as the run's manifest recorded it, with the options of its registry entry that the run's config set to other
    than their defaults."""
    name = recorded.get("name", run.dataset)
    layout = recorded.get("layout")
    options = [f"{BY_NAME[key].flag} {run.config[key]}" for key in getattr(DATASETS.get(name), "own_options", ())
               if run.config.get(key) not in (None, BY_NAME[key].default) and name == run.dataset]
    details = [part for part in (layout if layout not in (None, name) else None, *options) if part]
    classes = recorded.get("class_names") or []
    counts = [f"{recorded['n_images']:,} images" if recorded.get("n_images") else "",
              f"of {recorded['n_subjects']:,} subjects" if recorded.get("n_subjects") else ""]
    about = [" ".join(c for c in counts if c), f"{len(classes)} classes ({', '.join(classes)})" if classes else ""]
    about = ", ".join(a for a in about if a)
    return (style.text(title_of(name)) + style.cite(DATASET_SOURCES.get(name, []))
            + style.text((f" ({', '.join(details)})" if details else "") + (f", {about}" if about else "")))


def _sizes(protocol, runs: list[Run], style: Style) -> str:
    """Images per part (``train``, ``val``, ``test`` of the recorded split sizes), as a range over folds and runs
    where they differ."""
    names = {"train": "training", "val": protocol.validation_split or "validation",
             "test": protocol.test_part or ("test fold" if protocol.per_fold else "test")}
    parts = []
    for role, name in names.items():
        values = sorted({size[role] for run in runs for size in run.manifest["protocol"]["sizes"].values()
                         if isinstance(size, dict) and size.get(role) is not None})
        if values:
            span = f"{values[0]:,}" if len(values) == 1 else f"{values[0]:,}{style.to}{values[-1]:,}"
            parts.append(f"{name} {span}")
    head = "Images per fold" if protocol.per_fold else "Images"
    return style.text(f"{head}: {', '.join(parts)}.") if parts else ""


def _seeds(protocol, runs: list[Run], style: Style) -> str:
    """The seeds, and whether every run with one seed on one copy of the data used the same split (one recorded
    split fingerprint per seed and dataset fingerprint)."""
    prints: dict[tuple, set] = {}
    for run in runs:
        prints.setdefault((run.metrics["seed"], run.manifest["dataset"]["fingerprint"]), set()).add(
            run.manifest["protocol"]["fingerprint"])
    seeds = sorted({seed for seed, _ in prints})
    what = "folds" if protocol.per_fold else "split"
    shared = (f"every run with the same seed on the same data used the same {what} (one split fingerprint each)"
              if all(len(found) == 1 for found in prints.values()) else
              f"runs with the same seed on the same data did not all use the same {what} (see the split "
              f"fingerprints in the provenance)")
    return style.text(f"Seed{'s' if len(seeds) > 1 else ''}: {_listed(seeds)}; {shared}.")


def _unseen(protocol, runs: list[Run], style: Style) -> str:
    """What no selection step saw, by the protocol (its test part) and what the runs fitted or chose."""
    chosen = _listed([what for what, made in (
        ("the hyperparameters", any(run.config.get("param_grid") for run in runs)),
        ("the visual vocabularies", any(f.get("fitted_per_fold") for run in runs
                                        for f in (run.manifest.get("features") or {}).values()
                                        if isinstance(f, dict))),
        ("the PCA projections", any(run.metrics.get("pca_components") for run in runs)),
        ("the kept epochs", any("best_epoch" in params for run in runs
                                for params in (run.metrics.get("best_params") or {}).values()
                                if isinstance(params, dict)))) if made]) or "all fitted quantities"
    if protocol.scores_another_dataset:
        text = (f"No target image was seen while fitting or selecting: {chosen} came from the source dataset under "
                f"its own protocol, and target images pixel-identical to a source image were dropped, not scored.")
    elif protocol.validation_split:
        text = (f"{protocol.test_part} was never seen while selecting: {chosen} were fitted or chosen on the "
                f"training images and {protocol.validation_split} only, and {protocol.test_part} was scored once, "
                f"after selection.")
    else:
        text = (f"No test fold was seen while selecting: {chosen} were chosen or fitted inside each training fold "
                f"only, whose subjects never appear in its test fold.")
    return style.text(text)


def _counted(n, noun: str) -> str:
    """``1 epoch``, ``12 epochs``."""
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _listed(items) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    items = [str(item) for item in items]
    return ", ".join(items[:-1]) + f" and {items[-1]}" if len(items) > 1 else "".join(items)


# ------------------------------------------------------------------------------------------------- model kinds

def _kind_body(exps: list[Experiment], style: Style, several_seeds: bool, several_datasets: bool) -> str:
    """The experiments of one kind and the settings all their runs share; then, where runs differ, each model on its
    features (and dataset, where the section's models were fitted on several) with the settings its runs share, and
    within it each group of runs with the same remaining settings (named by its variant's options, and its seeds
    where the section has several)."""
    runs = [(exp, run) for exp in exps for run in exp.runs]
    facts = {id(run): [fact for describe in FACTS if (fact := describe(run, style)) is not None] for _, run in runs}
    shared = _common([facts[id(run)] for _, run in runs])

    def name(exp: Experiment, title: str) -> str:
        return f"{title} [{exp.features}]" + (f" fitted on {title_of(exp.dataset)}" if several_datasets else "")

    names = [_named(name(exp, exp.title), [r.metrics["seed"] for r in exp.runs], style, several_seeds)
             for exp in exps]
    sentences = [f"{style.text('Experiments')}: {'; '.join(names)}.", *map(_sentence, shared)]
    if all(len(facts[id(run)]) == len(shared) for _, run in runs):
        return " ".join(sentences)
    families: dict[tuple[str, str, str], list] = {}
    for exp, run in runs:
        families.setdefault((exp.dataset, exp.model, exp.features), []).append((exp, run))
    for members in families.values():
        family = members[0][0]
        own = [f for f in _common([facts[id(run)] for _, run in members]) if f not in shared]
        groups: dict[tuple, dict[int, tuple[Experiment, list]]] = {}
        for exp, run in members:
            rest = tuple(f for f in facts[id(run)] if f not in shared and f not in own)
            groups.setdefault(rest, {}).setdefault(id(exp), (exp, []))[1].append(run.metrics["seed"])
        seeds = sorted({run.metrics["seed"] for _, run in members})
        text = [f"{style.emph(_named(name(family, family.display_name), seeds, style, several_seeds))}:",
                *map(_sentence, own)] if own else []
        for rest, variants in groups.items():
            if rest and (len(groups) > 1 or not own):
                label = "; ".join(_named(exp.variant if own else name(exp, exp.title), ran, style,
                                         several_seeds and (not own or sorted(set(ran)) != seeds))
                                  for exp, ran in variants.values())
                text.append(f"{style.emph(label)}: " + " ".join(map(_sentence, rest)))
            elif rest:
                text += map(_sentence, rest)
        sentences += text
    return " ".join(sentences)


def _common(fact_lists: list[list]) -> list:
    """The facts every list holds, in the first list's order."""
    return [fact for fact in fact_lists[0] if all(fact in facts for facts in fact_lists[1:])]


def _named(name: str, seeds: list, style: Style, several_seeds: bool) -> str:
    """``SVM, RBF kernel [hog] (seeds 0 and 1)``: how the tables name an experiment or variant, with its seeds where
    the section has several (``seed 1`` alone for an unnamed variant)."""
    seeds = sorted(set(seeds))
    told = f"seed{'s' if len(seeds) > 1 else ''} {_listed(seeds)}" if several_seeds or not name else ""
    return style.text(f"{name} ({told})" if name and told else name or told)


def _sentence(fact: tuple[str, str]) -> str:
    label, text = fact
    return f"{label}: {text}."


#: A fact of a run: (its label, its text), both already written in the style; None where the run did not record it.
Fact = tuple[str, str]


def _model(run: Run, style: Style) -> Fact:
    """The model as registered (display name, description), its parameter count and the source it follows."""
    model = run.metrics["model"]
    spec = registered_spec(model)
    text = style.text(display_name(model)) + style.cite(model_keys(run))
    details = [spec.description if spec is not None else "",
               f"{run.metrics['n_params']:,} parameters" if run.metrics.get("n_params") else "",
               f"after {run.config['model_source']}" if run.config.get("model_source") else ""]
    details = [d for d in details if d]
    return style.text("Model"), text + (style.text(style.dash + "; ".join(details)) if details else "")


def _features(run: Run, style: Style) -> Fact | None:
    """Each feature extractor with the parameters the run recorded, and the length of the feature vector."""
    recorded = run.manifest.get("features")
    if not isinstance(recorded, dict) or not recorded:
        return None
    parts = [style.text(name) + style.cite(FEATURE_SOURCES.get(name, []))
             + style.text(f" ({_extractor(name, (entry or {}).get('params') or {})})")
             for name, entry in recorded.items()]
    n = run.metrics.get("n_features")
    return style.text("Features"), "; ".join(parts) + (style.text(f"; {n:,} values per image") if n else "")


def _extractor(name: str, params: dict) -> str:
    """The registry's description of an extractor where the run recorded exactly its parameters, else those
    parameters."""
    entry = FEATURES.get(name)
    if entry is not None and json.loads(json.dumps(entry[0]().get_params(), default=str)) == params:
        return entry[1]
    return ", ".join(f"{key.replace('_', ' ')} {value}" for key, value in params.items() if value is not None)


def _pca(run: Run, style: Style) -> Fact | None:
    if run.config.get("pca") is None:
        return None
    n = run.metrics.get("pca_components")
    return style.text("PCA"), style.text(f"{n:,} components, fitted on training images only" if n else "none")


def _mirror(run: Run, style: Style) -> Fact | None:
    mirrored = run.manifest.get("mirrored_training")
    if mirrored is None:
        return None
    return style.text("Training images"), style.text(
        "each with its left-right mirror image (validation and test images are never mirrored)" if mirrored
        else "the originals only (no mirror images)")


def _grid(run: Run, style: Style) -> Fact | None:
    """The declared grid the run searched (config.json's ``param_grid``), and its number of points."""
    grid = run.config.get("param_grid") or {}
    if not grid:
        return None
    members = [style.member(key.rsplit("__", 1)[-1], list(values)) for key, values in grid.items()]
    return style.text("Grid"), ", ".join(members) + style.text(f" ({prod(len(v) for v in grid.values())} points)")


def _fitted_under(run: Run) -> tuple[type, dict]:
    """The protocol the run's models were fitted and selected under, with its manifest entry (a cross-dataset
    run's source protocol)."""
    recorded = run.manifest["protocol"]
    if run.has_source_part:
        recorded = recorded["source"]
        return PROTOCOLS.get(recorded.get("kind"), run.protocol), recorded
    return run.protocol, recorded


def _selection(run: Run, style: Style) -> Fact | None:
    """How the run selected without test data, as its manifest recorded it, with the inner folds it ran."""
    protocol, recorded = _fitted_under(run)
    selection = recorded.get("selection")
    if not selection:
        return None
    text = style.text(selection) + style.cite(SEARCH_SOURCES.get(run.config.get("search"), []))
    folds = run.config.get("inner_folds")
    if protocol.per_fold and folds:
        used = ((run.manifest.get("adapted") or {}).get("inner_folds") or {}).values()
        fewer = sorted({v for v in used if v is not None and v != folds})
        # a CNN runs none of them: its validation split is one of them (one in ``folds`` of the training subjects)
        what = (f"the validation split is one of {folds} subject-grouped inner folds (about 1/{folds} of the training "
                f"fold's subjects)" if trained_by_epochs(run) else f"{folds} subject-grouped inner folds")
        text += style.text(f"; {what}" + (
            f" ({_listed(fewer)} in training folds with too few subjects)" if fewer else ""))
    return style.text("Selection"), text


def _solver(run: Run, style: Style) -> Fact | None:
    backend = run_platform(run).get("svm_backend")  # runs recorded before the option: libsvm, as they ran
    if not backend:
        return None
    text, package = SOLVERS.get(backend, (backend, None))
    version = (run.manifest.get("packages") or {}).get(package)
    said = style.text(text + (f" {version}" if version else "")) + style.cite(SOLVER_SOURCES.get(backend, []))
    by_libsvm = folds_decided_by_libsvm(run.manifest)
    if by_libsvm:  # oneDAL's own inference disagreed with the solution it exported (models/_onedal.py)
        said += style.text(f"; in {_listed(by_libsvm)} oneDAL's own decision values disagreed with the solution it "
                           f"exported, so that solution decided there through libsvm's code") + style.cite(
            SOLVER_SOURCES["libsvm"])
    return style.text("SVM solver"), said


def _initialisation(run: Run, style: Style) -> Fact | None:
    if not trained_by_epochs(run):
        return None
    source = run.manifest.get("init_from")
    if source:
        run_id = str(source.get("run_id") or "").rsplit("_", 1)[-1]
        text = (f"the trained weights of a {source.get('dataset', 'earlier')} run ({source.get('model_file')}, run "
                f"{run_id}), fine-tuned; classifier layer {source.get('classifier')}")
    elif run.config.get("pretrained"):
        text = "ImageNet weights (keras.applications), fine-tuned"
    else:
        text = "random (Keras's default initialisers), trained from scratch"
    return style.text("Initialisation"), style.text(text)


#: How the methods name the settings a dataset's validated CNN recipe may change (``ModelSpec.dataset_training``).
RECIPE_SETTINGS = {"epochs": "number of epochs", "batch_size": "batch size", "lr": "learning rate",
                   "patience": "early-stopping patience", "optimizer": "optimiser",
                   "schedule": "learning-rate schedule", "l2": "weight penalty", "tta": "test-time augmentation"}


def _recipe(run: Run, style: Style) -> Fact | None:
    """Where a CNN run records a recipe (``--recipe``, or a dataset with a validated one), which of its settings are
    those its dataset's validated recipe chose (the recipe as the run recorded it in ``training.validated_recipe``,
    or as registered now for runs from before; its values as the run recorded them, whatever the recipe's name),
    which were set for the run (neither the paper's nor the validated value), or that they are the paper's;
    nothing for runs that record none."""
    if not run.config.get("recipe") or not trained_by_epochs(run):
        return None
    spec = registered_spec(run.config.get("model", ""))
    if spec is None:
        return None
    # as the run recorded it when it ran; runs from before it did: as registered now
    validated = training_facts(run).get("validated_recipe", spec.dataset_training.get(run.config.get("dataset"), {}))
    paper = recipe_of(spec, run.config.get("dataset"), paper=True)
    recorded = {**run.config, "l2": trained_l2(run)}
    chosen = [RECIPE_SETTINGS.get(key, key) for key, value in validated.items() if recorded.get(key) == value]
    by_hand = [f"{RECIPE_SETTINGS[key]} ({_number(recorded[key])})" for key in RECIPE_SETTINGS
               if recorded.get(key) is not None and key in paper and recorded[key] != paper[key]
               and not (key in validated and recorded[key] == validated[key])]
    parts = ([f"the {_listed(chosen)}, chosen for this dataset on its validation images only (no test image seen)"]
             if chosen else []) + ([f"the {_listed(by_hand)}, set for this run"] if by_hand else [])
    return style.text("Recipe"), style.text("the paper's, except " + "; and ".join(parts) if parts else "the paper's")


def _scaled(factor: float) -> str:
    """How the plateau schedule changes the rate: "divided by 10" (x0.1), "multiplied by 0.75"."""
    return f"divided by {1 / factor:g}" if (1 / factor).is_integer() else f"multiplied by {factor:g}"


def _optimiser(run: Run, style: Style) -> Fact | None:
    """The optimiser with its learning rate and schedule (as ``benchmark.training`` applies them)."""
    if not trained_by_epochs(run):
        return None
    recipe, config = recipe_of_run(run), run.config
    lr, schedule = config.get("lr"), recipe["schedule"]
    text = style.text(OPTIMIZERS.get(recipe["optimizer"], recipe["optimizer"])) + style.cite(
        OPTIMIZER_SOURCES.get(recipe["optimizer"], []))
    if schedule == "plateau":
        factor, wait = plateau_rule(config.get("patience") or 0, training_facts(run))
        rate = (f"learning rate {_number(lr)}, {_scaled(factor)} whenever the validation loss has not fallen for "
                f"{_counted(wait, 'epoch')}")
    elif schedule == "cosine":
        rate = f"learning rate {_number(lr)}, decayed to 0 along a cosine over the {config.get('epochs')} epochs"
    else:
        rate = f"fixed learning rate {_number(lr)}"
    return style.text("Optimiser"), text + style.text(", " + rate) + style.cite(SCHEDULE_SOURCES.get(schedule, []))


def _training(run: Run, style: Style) -> Fact | None:
    if not trained_by_epochs(run):
        return None
    config = run.config
    return style.text("Training"), (
        style.text(f"at most {_counted(config['epochs'], 'epoch')} in batches of {config.get('batch_size')}; "
                   f"early stopping")
        + style.cite(EARLY_STOPPING_SOURCES)
        + style.text(f" after {_counted(config.get('patience'), 'epoch')} without a lower validation loss"
                     + (f" (by more than {_number(float(delta))})" if (delta := training_facts(run).get("min_delta"))
                        else "")
                     + (" (cross-entropy plus the weight penalty)" if trained_l2(run) > 0 else "")
                     + ", keeping the weights of the epoch with the lowest validation loss"))


def _weight_penalty(run: Run, style: Style) -> Fact | None:
    """The L2 penalty a CNN trained with (``--l2``; :func:`trained_l2`) and where it acted (where the paper puts it,
    for a builder that places its own; else every kernel); nothing where there was none."""
    if not trained_by_epochs(run):
        return None
    spec = registered_spec(run.config.get("model", ""))
    l2 = trained_l2(run)
    if not l2:
        return None
    where = ("the convolution kernels its paper penalises" if spec is not None and places_own_penalty(spec)
             else "every convolution and dense kernel")
    return style.text("Weight penalty"), style.text(f"L2 with coefficient {_number(l2)} on {where}, added to the "
                                                    f"loss")


def _augmentation(run: Run, style: Style) -> Fact | None:
    augment = run.config.get("augment")
    if augment is None:
        return None
    text = (f"random horizontal flips, rotations by up to ±{AUGMENTATION['rotation_degrees']:g} degrees, zooms by "
            f"up to ±{100 * AUGMENTATION['zoom']:g}% and shifts by up to ±{100 * AUGMENTATION['shift']:g}% of the "
            f"image side, drawn anew for every training image in every epoch" if augment else "none")
    return style.text("Augmentation"), style.text(text)


def _class_weights(run: Run, style: Style) -> Fact | None:
    if not run.config.get("class_weights"):
        return None
    return style.text("Loss"), style.text("weighted by inverse class frequency on the training images")


def _tta(run: Run, style: Style) -> Fact | None:
    if not trained_by_epochs(run):
        return None
    tta = recipe_of_run(run)["tta"]
    text = {"none": "none (each test image predicted once)",
            "flip": "class probabilities averaged over each test image and its mirror image",
            "ten-crop": f"class probabilities averaged over ten views of each test image: its four corner crops and "
                        f"centre crop ({100 * TEN_CROP_SHARE:g}% of each side, resized back) and their mirror "
                        f"images"}.get(tta, tta)
    return style.text("Test-time augmentation"), style.text(text) + style.cite(TTA_SOURCES.get(tta, []))


def _backend(run: Run, style: Style) -> Fact | None:
    """Keras and the backend that trained, with their recorded versions, the device and the precision."""
    device = run.manifest.get("training_device") or {}
    if not device:
        return None
    packages = run.manifest.get("packages") or {}
    backend = device.get("backend") or "tensorflow"
    keras_version = device.get("keras") or packages.get("keras") or ""
    version = device.get("backend_version") or packages.get(backend) or ""
    onednn = str(device.get("onednn")).strip().lower() in ("1", "true")
    text = (style.text(f"Keras {keras_version}".strip()) + style.cite(BACKEND_SOURCES["keras"])
            + style.text(f" on {BACKENDS.get(backend, backend)} {version}".rstrip()) + style.cite(
                BACKEND_SOURCES.get(backend, []))
            + style.text(f", {device.get('device')}" + (" with oneDNN kernels" if onednn and
                                                       device.get("device") == "CPU" else "")
                         + f", {PRECISIONS.get(device.get('precision'), device.get('precision'))}"
                         + ("; deterministic operations" if device.get("deterministic_ops") else "")))
    return style.text("Software"), text


#: The facts of a run, in the order a paragraph says them.
FACTS = (_model, _features, _pca, _mirror, _grid, _selection, _solver, _initialisation, _recipe, _optimiser,
         _training, _weight_penalty, _augmentation, _class_weights, _tta, _backend)
