"""Every option of a run, declared once, and the validation that turns requested options into a resolved config.

:data:`OPTIONS` is the single declaration: each option's type, default, help, command-line flag and role
(whether it changes a run's numbers, whether it defines the loaded data, which model kinds it applies to,
whether a suite may set it). Everything else derives from it: :class:`RunConfig` (a dataclass built from it),
the ``fer-bench run`` command-line signature, the suite validator's types, the config hash (options that change
results), the suite's data cache key (options that define the data) and the report's variant names (options
that change results, less the experiment's identity).
"""

from __future__ import annotations

import inspect
import os
from dataclasses import asdict, dataclass, field, make_dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

from .errors import FerBenchError

ALL, CLASSICAL, DEEP = "all", "classical", "deep"
#: Seeds go to numpy's and scikit-learn's generators, which take 0 .. 2**32 - 1.
MAX_SEED = 2 ** 32 - 1


@dataclass(frozen=True)
class Option:
    """One option of a run.

    ``kind`` is the TOML/Python type a suite may give (a tuple where several are accepted); ``cli_kind`` the
    type the command line parses where it differs (paths stay strings, so an empty one can be refused rather
    than read as the current folder); ``flags`` the command-line spelling when it is not the
    plain ``--name`` (boolean switches, short forms). ``changes_results=False`` keeps an option out of the config
    hash; ``defines_data`` marks what identifies a loaded dataset; ``applies_to`` names the model kind it is for;
    ``in_suite=False`` for the experiment's identity (set by the suite's blocks) and where runs are written.
    ``hashed_when_none=False`` for options added after runs were recorded: where they resolve to None (they do
    not apply), they stay out of the config hash, so those runs keep their hashes (and resumed suites skip them).
    """

    name: str
    kind: Any
    default: Any
    help: str
    cli_kind: Any = None
    flags: tuple[str, ...] = ()
    changes_results: bool = True
    defines_data: bool = False
    applies_to: str = ALL
    in_suite: bool = True
    on_cli: bool = True
    required: bool = False
    hashed_when_none: bool = True

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


OPTIONS: tuple[Option, ...] = (
    Option("dataset", str, None, "fer2013, ferplus, ck+ or synthetic.", flags=("--dataset", "-d"),
           defines_data=True, in_suite=False, required=True),
    Option("model", str, None, "A registered model (see 'fer-bench models').", flags=("--model", "-m"),
           in_suite=False, required=True),
    Option("features", Optional[str], None, "Features for classical models, joined by + (default: the model's, "
           "hog+landmarks for the SVMs).", in_suite=False),
    Option("data_dir", str, None, "Dataset folder or file (default: $FER_BENCH_DATA/<dataset> or "
           "./data/<dataset>).", changes_results=False, defines_data=True),
    Option("test_dataset", str, None, "Cross-dataset evaluation: fit and select on --dataset as its own protocol "
           "does, then score every image of this dataset once (classes matched by emotion; see the README).",
           hashed_when_none=False),
    Option("test_data_dir", str, None, "Folder or file of --test-dataset (default: $FER_BENCH_DATA/<test dataset> "
           "or ./data/<test dataset>).", changes_results=False, hashed_when_none=False),
    # the seed also picks FER2013's halves when the test/ folder has no split prefixes
    Option("seed", int, 0, "Seed for folds, subsampling and models; recorded in the run.", defines_data=True,
           in_suite=False),
    Option("folds", int, 10, "Outer subject-independent folds (k-fold protocols)."),
    Option("inner_folds", int, 5, "Inner grouped CV folds that select hyperparameters (k-fold)."),
    Option("n_jobs", int, -1, "Parallel workers for features and search (-1: all cores).", changes_results=False),
    Option("reports_dir", str, "reports", "Where runs/ is written.", changes_results=False, in_suite=False),
    Option("cache_dir", str, None, "Feature cache (default: $FER_BENCH_CACHE or ~/.cache/fer-bench).",
           changes_results=False, applies_to=CLASSICAL),
    Option("strict", bool, False, "Fail on the first unreadable image instead of skipping it.", flags=("--strict",),
           defines_data=True),
    Option("ck_frames", int, 3, "CK+ original release: last N frames of each labelled sequence.", defines_data=True),
    Option("ck_neutral", bool, False, "CK+ original release: add each sequence's first frame as neutral.",
           flags=("--ck-neutral",), defines_data=True),
    Option("ferplus_labels", str, "majority", "FER+: how the ten annotators' votes become one label: majority "
           "(FERPlus's rule; images without one are dropped) or plurality.", defines_data=True,
           hashed_when_none=False),
    Option("pca", (int, str), "auto", "PCA components before the SVM: auto (400 above 10,000 training images), "
           "none, or a number.", cli_kind=str, applies_to=CLASSICAL),
    Option("halving_min_samples", int, 3000, "FER2013 SVMs: training images in the first successive-halving "
           "round (--search halving).", applies_to=CLASSICAL, on_cli=False),
    Option("svm_backend", str, "auto", "SVMs: auto (oneDAL where scikit-learn-intelex is installed, else "
           "libsvm), onedal or libsvm; the backend that ran is recorded.", applies_to=CLASSICAL,
           hashed_when_none=False),
    Option("mirror", str, "on", "SVMs: also train on each training image's mirror image (left-right flip): on "
           "or off.", applies_to=CLASSICAL,
           hashed_when_none=False),
    Option("search", str, "exhaustive", "FER2013 SVMs: exhaustive (every grid point fitted on all of Training, "
           "scored on PublicTest) or halving (successive halving over training sizes, for large grids).",
           applies_to=CLASSICAL, hashed_when_none=False),
    Option("epochs", int, None, "CNNs: maximum epochs (default: the architecture's paper).", applies_to=DEEP),
    Option("batch_size", int, None, "CNNs: batch size (default: the paper's).", applies_to=DEEP),
    Option("lr", (float, int), None, "CNNs: Adam learning rate (default: the paper's).", cli_kind=Optional[float],
           applies_to=DEEP),
    Option("patience", int, None, "CNNs: early-stopping patience on validation loss, in epochs (default: the "
           "paper's).", applies_to=DEEP),
    Option("augment", bool, True, "CNNs: flip, rotation, zoom and shift augmentation while training.",
           flags=("--augment/--no-augment",), applies_to=DEEP),
    Option("class_weights", bool, False, "CNNs: weight the loss by inverse class frequency (FER2013's rare "
           "Disgust).", flags=("--class-weights",), applies_to=DEEP),
    Option("pretrained", bool, False, "resnet50/xception: start from ImageNet weights (needs internet once; "
           "default: from scratch).", flags=("--pretrained",), applies_to=DEEP),
)
BY_NAME = {o.name: o for o in OPTIONS}

#: Options that change how fast a run goes or where it reads and writes, never its numbers (not hashed).
NON_RESULT_OPTIONS = tuple(o.name for o in OPTIONS if not o.changes_results)
#: Options kept out of the config hash where they resolve to None (see :attr:`Option.hashed_when_none`).
UNHASHED_WHEN_NONE = tuple(o.name for o in OPTIONS if not o.hashed_when_none)
#: What identifies one loaded dataset (a suite loads each such dataset once).
DATA_KEYS = tuple(o.name for o in OPTIONS if o.defines_data)
def data_options(config) -> dict:
    """The keyword options of ``load_dataset`` for ``config``: those that define the data, less its name and
    folder (e.g. ``strict``, ``seed``, ``ck_frames``)."""
    return {k: getattr(config, k) for k in DATA_KEYS if k not in ("dataset", "data_dir")}


#: Options a suite's [defaults] and options tables may set, with the TOML types each accepts.
SUITE_TYPES = {o.name: o.kind for o in OPTIONS if o.in_suite}
#: Options that only apply to CNNs (an SVM refuses them; they resolve to None for SVMs).
DEEP_ONLY = tuple(o.name for o in OPTIONS if o.applies_to == DEEP)
#: Options that only apply to classical models (they resolve to None for CNNs).
CLASSICAL_ONLY = tuple(o.name for o in OPTIONS if o.applies_to == CLASSICAL)
#: An experiment's identity in a report row: shown as columns, never as a variant.
IDENTITY = ("dataset", "model", "features", "seed")


def _run_config_namespace() -> dict:
    def resolved(self) -> "RunConfig":
        """Validated and completed options; raises :class:`FerBenchError` (exit 2) for any invalid value."""
        return resolve(self)

    return {"resolved": resolved, "__doc__": (
        "Every option of a run (fields and defaults from :data:`OPTIONS`); ``resolved()`` validates them and fills "
        "the defaults that depend on the model and environment. Options that do not apply to the model's kind or "
        "protocol resolve to None (pca for CNNs, epochs for SVMs, folds on FER2013's official split), so they "
        "never change a run's config hash.")}


RunConfig = make_dataclass(
    "RunConfig",
    [(o.name, o.kind if not isinstance(o.kind, tuple) else Any) if o.required else
     (o.name, Any, field(default=o.default)) for o in OPTIONS],
    namespace=_run_config_namespace())
RunConfig.__module__ = __name__


def cli_parameters(names: tuple[str, ...] | None = None, *, optional: dict[str, str] | None = None
                   ) -> list[inspect.Parameter]:
    """A command's signature as Typer reads it, one keyword parameter per option: every command-line option
    (``fer-bench run``), or only ``names``; ``optional`` makes required options optional, with a new help text
    (``fer-bench datasets --dataset`` narrows a listing rather than naming what to run)."""
    import typer

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


# ------------------------------------------------------------------------------------------------- validation

def resolve(config):
    """The validated, completed config; raises :class:`FerBenchError` (exit 2) naming the option.

    The model's kind fills in and checks its own options; options the protocol or the dataset does not use
    resolve to None, so they never split an experiment in two (a FER2013 run made with --folds 5 is the same
    experiment as one made with the default 10)."""
    from models import get_model

    from .datasets import dataset_entry
    from .kinds import kind_of
    from .protocols import protocol_class

    entry = dataset_entry(config.dataset)
    spec = get_model(config.model)
    kind = kind_of(spec)
    check_ranges(config)
    unused = (*protocol_class(entry.protocol).unused_options(kind.selects_by_search), *entry.unused_options())
    unused = _cross_dataset_unused(config, unused)
    return RunConfig(**{**asdict(config), **kind.resolve(config, spec), **{k: None for k in unused}})


def _cross_dataset_unused(config, unused: tuple[str, ...]) -> tuple[str, ...]:
    """``unused`` adjusted for ``--test-dataset``: the target's own data options (``--ck-frames`` for a CK+ target)
    load the target, so they are kept; ``--test-data-dir`` is unused without a target or for an embedded one. A
    target that is the source itself is refused."""
    from .datasets import DATASETS

    if config.test_dataset is None:
        return (*unused, "test_data_dir")
    target = DATASETS.get(config.test_dataset)
    if target is None:
        raise FerBenchError(f"--test-dataset: unknown dataset {config.test_dataset!r}; choose one of "
                            f"{', '.join(DATASETS)}")
    if config.test_dataset == config.dataset:
        raise FerBenchError(f"--test-dataset {config.test_dataset} is --dataset itself; cross-dataset evaluation "
                            f"scores another dataset (leave out --test-dataset to score {config.dataset} by its own "
                            f"protocol)")
    kept = tuple(o for o in unused if o not in target.own_options)
    return (*kept, "test_data_dir") if target.embedded is not None else kept


def ignored_options(requested, resolved) -> list[str]:
    """The options the user set (away from their defaults) that this run cannot use, so they resolved to None
    (``--folds`` on FER2013's official split, ``--ck-neutral`` on FER2013, ``--data-dir`` on the embedded
    synthetic faces). A run says so, rather than silently ignoring them."""
    return [o.flag for o in OPTIONS if getattr(requested, o.name) not in (None, o.default)
            and getattr(resolved, o.name) is None]


def check_ranges(config) -> None:
    """Refuse values that cannot run, before anything is loaded (the value that runs is the value recorded)."""
    def bad(option: str, expected: str, value) -> FerBenchError:
        return FerBenchError(f"--{option} must be {expected}, got {value!r}")

    if not is_int(config.seed) or not 0 <= config.seed <= MAX_SEED:
        raise bad("seed", f"an integer from 0 to {MAX_SEED:,}", config.seed)
    for option in ("folds", "inner_folds"):
        value = getattr(config, option)
        if value is not None and (not is_int(value) or value < 2):
            raise bad(option.replace("_", "-"), "an integer of at least 2", value)
    if not is_int(config.n_jobs) or config.n_jobs == 0:
        raise bad("n-jobs", "-1 (all cores), a positive number of workers, or -k (all cores but k-1)", config.n_jobs)
    cores = os.cpu_count() or 1
    if config.n_jobs > cores:
        raise bad("n-jobs", f"at most this machine's {cores} cores (-1 uses them all)", config.n_jobs)
    for option in ("reports_dir", "cache_dir", "data_dir", "test_data_dir"):
        value = getattr(config, option)
        if value is not None and not str(value).strip():
            raise FerBenchError(f"{BY_NAME[option].flag} is empty; give a folder (or leave the option out)")
    if config.ck_frames is not None and (not is_int(config.ck_frames) or config.ck_frames < 1):
        raise bad("ck-frames", "a positive integer", config.ck_frames)
    from .datasets._ferplus import LABEL_RULES

    if config.ferplus_labels is not None and config.ferplus_labels not in LABEL_RULES:
        raise bad("ferplus-labels", " or ".join(LABEL_RULES), config.ferplus_labels)
    if config.halving_min_samples is not None and (not is_int(config.halving_min_samples)
                                                   or config.halving_min_samples < 1):
        raise FerBenchError(f"halving_min_samples must be a positive integer, got {config.halving_min_samples!r}")


def is_int(value) -> bool:
    """An integer (Python or numpy), and not a bool (which Python counts as one)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)
