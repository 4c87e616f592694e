"""The report's unit: an experiment (dataset, model, features, options, platform) and its runs, one per seed.

Runs are grouped into experiments per report section (a dataset under one protocol with its parameters, so no
3-fold figure is compared with a 10-fold one); experiments sharing model and features are variants, named by the
options that differ. :func:`best` picks the best experiment of a model kind without looking at test data where
the protocol has a validation part.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import numpy as np

from models import get_model, list_models

from ..errors import FerBenchError
from ..evaluations import evaluation_of
from ..kinds import KINDS, RECIPE, earlier_training_rule, null_l2, searched_another_grid
from ..options import IDENTITY, NON_RESULT_OPTIONS, RECORDED_EXTRAS, hashed
from ..record import Run
from ._names import section_name, slug

#: Config entries that never distinguish one experiment from another in a table: options that do not change
#: results, the experiment's identity (its own columns; seeds are aggregated) and what config.json adds.
NOT_A_VARIANT = {*NON_RESULT_OPTIONS, *IDENTITY, *RECORDED_EXTRAS}


def machine_of(run: Run) -> str:
    """The machine a run ran on, as its manifest recorded it: "AMD EPYC x 2 cores, GPU NVIDIA H200"."""
    m = run.manifest
    return (f"{m.get('cpu')} x {m.get('cpu_count')} cores"
            + (f", GPU {', '.join(m['gpus'])}" if m.get("gpus") else ""))


def trained_by_epochs(run: Run) -> bool:
    """Whether the run trained a network by epochs: its config.json records the CNN options (None for a run of a
    kind they do not apply to)."""
    return run.config.get("epochs") is not None


def recipe_of_run(run: Run) -> dict:
    """A CNN run's optimizer, learning-rate schedule and test-time augmentation as it trained: its config's, or,
    in runs recorded before those options existed (None), the default every CNN trained with then."""
    return {key: run.config.get(key) or default for key, (_, default) in RECIPE.items()}


def training_facts(run: Run) -> dict:
    """What a CNN run's metrics.json records of its training (``training``: L2, a paper's plateau rule ...); {} for
    runs that record none (and the methods' unit tests, whose runs may have no metrics)."""
    return (getattr(run, "metrics", None) or {}).get("training") or {}


def trained_l2(run: Run) -> float:
    """The L2 coefficient a CNN run trained with: its config's, else (null) as its metrics record it, or, for runs
    recorded before the option, what a null meant for its architecture (``kinds.null_l2``: the published
    coefficient; 0: none)."""
    spec = registered_spec(run.config.get("model", ""))
    meant = null_l2(spec) if spec is not None else 0.0
    return next((float(v) for v in (run.config.get("l2"), training_facts(run).get("l2")) if v is not None), meant)


def registered_spec(model: str):
    """The registry's entry of ``model``, or None where a run names a model no longer (or never) registered."""
    try:
        return get_model(model)
    except FerBenchError:
        return None


def display_name(model: str) -> str:
    """How the report names a model for a reader: its registration's ``display_name`` ("SVM, RBF kernel"), or its
    command-line name where it has none (a model registered by a test, or no longer registered)."""
    spec = registered_spec(model)
    return (spec.display_name if spec is not None else "") or model


def run_platform(run: Run) -> dict:
    """What computed a run's numbers, beyond the options (the model kind says what it records: a CNN's training
    device and precision, an SVM's implementation). Runs that differ here may differ in their numbers, so they
    are variants of an experiment, never seeds of one or duplicates of each other."""
    kind = KINDS.get(run.kind)
    return kind.platform(run.manifest, run.config) if kind is not None else {}


def run_options(run: Run) -> dict:
    """The options that make a run's experiment, without seed and paths, plus the data it ran on and the
    platform that ran it: runs of one model on two different copies or layouts of a dataset, or on a GPU and
    a CPU, are never averaged together."""
    # an option added after runs were recorded counts only where it applies (as in the config hash), so a run
    # recorded before it existed and one recording it as None are the same experiment
    return {**{k: v for k, v in run.config.items() if k not in NOT_A_VARIANT and hashed(k, v)},
            "data": run.manifest["dataset"]["fingerprint"][:12],
            **evaluation_of(run).experiment_options(run),
            **run_platform(run), **grid_of(run), **rule_of(run)}


#: How :func:`_merge_own_seed_sources` marks starting weights that came, for each seed, from that seed's run of one
#: source experiment.
OWN_SEEDS = "each seed's own run of "


def _own_seed_source(run: Run) -> str | None:
    """The seed-free fingerprint of the experiment a fine-tuned CNN's source run belongs to, where that source ran
    with the run's own seed (manifest.json's ``init_from`` records both since they were recorded); else None."""
    source = run.manifest.get("init_from") or {}
    if source.get("experiment") and source.get("seed") is not None and source["seed"] == run.metrics["seed"]:
        return str(source["experiment"])
    return None


def _merge_own_seed_sources(experiments: list[Experiment]) -> list[Experiment]:
    """Experiments that differ only in their starting weights, each of whose runs started from the run of its own
    seed of one source experiment (a suite's pretraining block with several seeds), are the seeds of one
    experiment, pretraining included: merged, their ``init_weights`` the source experiment's (:data:`OWN_SEEDS`).
    Runs that fine-tuned one fixed source keep that source's weights hash: their seeds fine-tune the same weights,
    another experiment. Where the two kinds of runs mix, or a seed repeats, nothing is merged."""
    buckets: dict[tuple, list[Experiment]] = {}
    for exp in experiments:
        sources = {_own_seed_source(run) for run in exp.runs}
        if exp.options.get("init_weights") and len(sources) == 1 and None not in sources:
            rest = json.dumps({k: v for k, v in exp.options.items() if k != "init_weights"}, sort_keys=True,
                              default=str)
            buckets.setdefault((exp.dataset, exp.model, exp.features, rest, *sources), []).append(exp)
    merged = {id(exp) for same in buckets.values() if len(same) > 1 for exp in same}
    out = [exp for exp in experiments if id(exp) not in merged]
    for (*_, source), same in buckets.items():
        runs = [run for exp in same for run in exp.runs]
        if len(same) < 2:
            continue
        if len({run.metrics["seed"] for run in runs}) < len(runs):
            out += same  # two runs of one seed from different sources: not the seeds of one experiment
            continue
        first = same[0]
        out.append(Experiment(first.dataset, first.model, first.features, first.kind,
                              {**first.options, "init_weights": OWN_SEEDS + source}, runs))
    return out


def grid_of(run: Run) -> dict:
    """``{"grid": "earlier 1a2b3c"}`` (the recorded grid's fingerprint) for a run that searched another grid than its
    model declares now: a grid changed since, so its search could choose differently and it is never a seed of
    today's runs; nothing for a run that searched today's grid (so today's experiments keep their names)."""
    if not searched_another_grid(run.config):
        return {}
    grid = json.dumps(run.config["param_grid"], sort_keys=True, default=str)
    return {"grid": f"earlier {hashlib.sha256(grid.encode()).hexdigest()[:6]}"}


def rule_of(run: Run) -> dict:
    """``{"rule": "earlier plateau factor 0.1, patience 12"}`` for a CNN run that trained with another plateau or
    early-stopping rule than its model declares now (``kinds.earlier_training_rule``): never a seed of today's
    runs; nothing otherwise (so today's experiments keep their names)."""
    earlier = earlier_training_rule(run.config, training_facts(run)) if trained_by_epochs(run) else None
    return {"rule": f"earlier {earlier}"} if earlier else {}


def experiment_key(run: Run) -> tuple:
    """What identifies a run's experiment (every run of one key is a seed of one table row). Two runs with the
    same key and seed have the same config hash, data and platform: they are duplicates."""
    return (run.dataset, run.metrics["model"], run.metrics["features"],
            json.dumps(run_options(run), sort_keys=True, default=str))


@dataclass
class Experiment:
    """One experiment of the matrix: its runs, one per seed (sorted by seed)."""

    dataset: str
    model: str
    features: str
    kind: str
    options: dict
    runs: list[Run] = field(default_factory=list)
    variant: str = ""

    @property
    def label(self) -> str:
        """The command-line model name with the variant's options: what the CSV files and comparisons record."""
        return self.model + (f" ({self.variant})" if self.variant else "")

    @property
    def display_name(self) -> str:
        """The model as a reader knows it ("SVM, RBF kernel"), from its registration."""
        return display_name(self.model)

    @property
    def title(self) -> str:
        """:attr:`display_name` with the variant's options: how the LaTeX and Markdown tables and the figures name
        the row."""
        return self.display_name + (f" ({self.variant})" if self.variant else "")

    @property
    def slug(self) -> str:
        text = f"{self.model}_{self.features}" + (f"_{self.variant}" if self.variant else "")
        return slug(text)

    def values(self, key: str) -> np.ndarray:
        return np.array([_get(run.metrics, key) for run in self.runs], dtype=float)

    def summary(self, key: str) -> tuple[float, float | None]:
        """(mean, std): over seeds when there are several, else the run's own (k-fold: over folds)."""
        v = self.values(key)
        if len(v) > 1:
            return float(np.mean(v)), float(np.std(v, ddof=1))
        std = self.runs[0].metrics.get(f"{key}_std") if "." not in key else None
        return float(v[0]), std


def _get(metrics: dict, dotted: str):
    value = metrics
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return np.nan
        value = value[part]
    return np.nan if value is None else value


#: Kinds in the order the registry of kinds lists them (classical first).
KIND_ORDER = {name: k for k, name in enumerate(KINDS)}


def group_experiments(runs: list[Run]) -> dict[str, list[Experiment]]:
    """Experiments per dataset, classical first, in registry order; variants named by the options that differ.

    ``runs`` hold one run per experiment and seed (:func:`resolve_duplicates` sees to that).
    """
    order = {spec.name: k for k, spec in enumerate(list_models())}
    experiments: dict[tuple, Experiment] = {}
    for run in runs:
        m = run.metrics
        exp = experiments.setdefault(experiment_key(run), Experiment(m["dataset"], m["model"], m["features"],
                                                                     run.kind, run_options(run)))
        exp.runs.append(run)
    by_dataset: dict[str, list[Experiment]] = {}
    for exp in _merge_own_seed_sources(list(experiments.values())):
        exp.runs.sort(key=lambda r: r.metrics["seed"])
        by_dataset.setdefault(exp.dataset, []).append(exp)
    by_dataset = _sections(by_dataset)
    for exps in by_dataset.values():
        _name_variants(exps)
        exps.sort(key=lambda e: (KIND_ORDER.get(e.kind, 99), order.get(e.model, 999), e.features, e.variant))
    return dict(sorted(by_dataset.items()))


def _sections(by_dataset: dict[str, list[Experiment]]) -> dict[str, list[Experiment]]:
    """One report section per dataset and protocol with its parameters ("ck+ (10-fold)", "fer2013 (official
    split)"): results of different fold counts are not comparable, so no table bolds a 3-fold figure against a
    10-fold one; and the section, so every file name, is the same whatever other runs are in the folder."""
    out: dict[str, list[Experiment]] = {}
    for dataset, exps in by_dataset.items():
        for exp in exps:
            out.setdefault(section_name(dataset, protocol_tag(exp)), []).append(exp)
    return out


def protocol_tag(exp: Experiment) -> str:
    """The protocol and its parameters as the user chose them: "10-fold" (the --folds asked for), "official
    split", or "unofficial split" (FER2013 test images without split prefixes, halved at random)."""
    run = exp.runs[0]
    if run.has_source_part:  # scored on another dataset: the protocol its models were fitted under
        return f"{exp.options['folds']}-fold" if exp.options.get("folds") else "official split"
    if run.protocol.per_fold:
        return f"{exp.options.get('folds') or len(run.metrics.get('folds', {}))}-fold"
    return "official split" if run.official_split else "unofficial split"


#: What marks a run trained on declared data changed since (:func:`grid_of`, :func:`rule_of`): always in its name.
ALWAYS_NAMED = ("grid", "rule")


def _name_variants(exps: list[Experiment]) -> None:
    """Experiments sharing model and features are told apart by the options whose values differ; a CNN that
    started from another run's weights (``--init-from``) is always marked, with the source's dataset and run, and
    so is a run that searched an earlier grid or trained by an earlier rule (:data:`ALWAYS_NAMED`)."""
    by_name: dict[tuple, list[Experiment]] = {}
    for exp in exps:
        by_name.setdefault((exp.model, exp.features), []).append(exp)
    for same in by_name.values():
        keys = [] if len(same) < 2 else sorted(
            k for k in set().union(*(e.options for e in same)) if k not in ("init_weights", *ALWAYS_NAMED)
            and len({json.dumps(e.options.get(k), default=str) for e in same}) > 1)
        for exp in same:
            parts = [f"{k}={shown_option(exp, k)}" for k in keys]
            parts += [f"{k}={exp.options[k]}" for k in ALWAYS_NAMED if exp.options.get(k)]
            exp.variant = ", ".join(parts + ([pretrained_from(exp)] if exp.options.get("init_weights") else []))


def shown_option(exp: Experiment, key: str):
    """An option's value as a variant's name shows it: the recorded one, or, where the experiment records none (a
    CNN's L2 or recipe setting left at what every run of it trained with before the option), the value it trained
    with (``l2=0.01``, ``optimizer=adam``), never "None"."""
    value, run = exp.options.get(key), exp.runs[0]
    if value is not None:
        return value
    if key in RECIPE and trained_by_epochs(run):
        return recipe_of_run(run)[key]
    if key == "l2" and trained_by_epochs(run):
        return trained_l2(run)
    return value


def pretrained_from(exp: Experiment) -> str:
    """``pretrained on fer2013, run 8f806df899``: the source of a fine-tuned CNN's starting weights, as its
    manifest recorded it (the run id's last part is the source's config hash); where each seed started from its own
    seed's run (:func:`_merge_own_seed_sources`), the source experiment's seed-free fingerprint
    (``init_from.experiment`` in their manifests)."""
    source = exp.runs[0].manifest.get("init_from") or {}
    if str(exp.options.get("init_weights")).startswith(OWN_SEEDS):  # a source run per seed: named by the source
        # experiment's fingerprint, which adding a seed does not change (the methods name each seed's source run)
        return (f"pretrained on {source.get('dataset', 'another run')}, each seed from its own seed's run of "
                f"experiment {exp.options['init_weights'][len(OWN_SEEDS):]}")
    run = str(source.get("run_id") or "").rsplit("_", 1)[-1] or f"weights {exp.options.get('init_weights')}"
    return f"pretrained on {source.get('dataset', 'another run')}, run {run}"


def best(exps: list[Experiment], kind: str) -> Experiment | None:
    """The best experiment of a kind: by PublicTest (validation) accuracy on the official split, so the test
    images that the paired test uses play no part in choosing the pair; by mean accuracy over folds on k-fold
    protocols, which have no held-out set (the significance caption says the choice is post hoc)."""
    candidates = [e for e in exps if e.kind == kind]
    if not candidates:
        return None
    key = "validation.accuracy" if candidates[0].runs[0].protocol.validation_split else "accuracy"
    return max(candidates, key=lambda e: (np.nan_to_num(e.summary(key)[0], nan=-1.0), e.label))


def best_of_each_kind(exps: list[Experiment]) -> tuple[Experiment, Experiment] | None:
    """The best experiment (:func:`best`) of each of the first two model kinds, in registry order, that have
    experiments here (classical and deep: the comparison the benchmark exists for); None with fewer than two."""
    present = [kind for kind in KINDS if any(e.kind == kind for e in exps)]
    if len(present) < 2:
        return None
    return best(exps, present[0]), best(exps, present[1])
