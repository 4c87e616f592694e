"""Every option of a run, declared once as the fields of :class:`RunConfig`, and what derives from them.

:class:`RunConfig` is the single declaration: each field's type and default, and in its metadata (:func:`option`)
its help text, command-line flag and role (whether it changes a run's numbers, whether it defines the loaded
data, which model kinds it applies to, whether a suite may set it). Everything else derives from it: :data:`OPTIONS`,
the ``fer-bench run`` command-line signature (:func:`cli_parameters`), the suite validator's types, the config
hash (options that change results), the suite's data cache key (options that define the data) and the report's
variant names (options that change results, less the experiment's identity).

This module is a leaf: it imports nothing of fer-bench's but its errors. Checking and completing a config
against the models, datasets and protocols (which need those registries) is :mod:`benchmark.resolution`'s job.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, fields
from typing import Any, Optional

import numpy as np

ALL, CLASSICAL, DEEP = "all", "classical", "deep"
#: Seeds go to numpy's and scikit-learn's generators, which take 0 .. 2**32 - 1.
MAX_SEED = 2 ** 32 - 1


@dataclass(frozen=True)
class Option:
    """One option of a run (one field of :class:`RunConfig`), as the command line, suites and hashes see it.

    ``kind`` is the TOML/Python type a suite may give (a tuple where several are accepted); ``cli_kind`` the
    type the command line parses where it differs (paths stay strings, so an empty one can be refused rather
    than read as the current folder); ``flags`` the command-line spelling when it is not the
    plain ``--name`` (boolean switches, short forms). ``changes_results=False`` keeps an option out of the config
    hash; ``defines_data`` marks what identifies a loaded dataset; ``applies_to`` names the model kind it is for
    (``all``, or a kind's name: the kind resolves options of other kinds to None);
    ``in_suite=False`` for the experiment's identity (set by the suite's blocks) and where runs are written.
    ``hashed_when_none=False`` for options added after runs were recorded: where they resolve to None (they do
    not apply), they stay out of the config hash, so those runs keep their hashes (and resumed suites skip them);
    ``unhashed_values`` likewise for the values that do what every run did before the option existed (Adam for
    ``--optimizer``): a run made with them keeps the hash it always had, and is the same experiment in the report.
    ``null_is_a_value`` where a resolved None is itself a setting (``--l2``: the published penalty), not an option
    the run cannot use.
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
    unhashed_values: tuple = ()
    null_is_a_value: bool = False

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


_REQUIRED = object()


def option(kind, default, help: str, *, cli_kind=None, flags: tuple[str, ...] = (), changes_results: bool = True,
           defines_data: bool = False, applies_to: str = ALL, in_suite: bool = True, on_cli: bool = True,
           hashed_when_none: bool = True, unhashed_values: tuple = (), null_is_a_value: bool = False):
    """A :class:`RunConfig` field that is also an :class:`Option` (its declaration rides in the field's metadata);
    ``default=_REQUIRED`` for the fields every run must give."""
    declared = dict(kind=kind, help=help, cli_kind=cli_kind, flags=flags, changes_results=changes_results,
                    defines_data=defines_data, applies_to=applies_to, in_suite=in_suite, on_cli=on_cli,
                    required=default is _REQUIRED, hashed_when_none=hashed_when_none, unhashed_values=unhashed_values,
                    null_is_a_value=null_is_a_value)
    if default is _REQUIRED:
        return field(metadata={"option": declared})
    return field(default=default, metadata={"option": declared})


@dataclass
class RunConfig:
    """Every option of a run. Resolution (:func:`benchmark.resolution.resolve`) validates them and fills the
    defaults that depend on the model and environment; options that do not apply to the model's kind or protocol
    resolve to None (pca for CNNs, epochs for SVMs, folds on FER2013's official split), so they never change a
    run's config hash. The field order is the order ``config.json`` records them in."""

    dataset: str = option(str, _REQUIRED, "fer2013, ferplus, ck+ or synthetic.", flags=("--dataset", "-d"),
                          defines_data=True, in_suite=False)
    model: str = option(str, _REQUIRED, "A registered model (see 'fer-bench models').", flags=("--model", "-m"),
                        in_suite=False)
    features: Optional[str] = option(
        Optional[str], None, "Features for classical models, joined by + (default: the model's per dataset, as "
        "'fer-bench models' lists them).", in_suite=False)
    data_dir: Optional[str] = option(
        str, None, "Dataset folder or file (default: $FER_BENCH_DATA/<dataset> or ./data/<dataset>).",
        changes_results=False, defines_data=True)
    test_dataset: Optional[str] = option(
        str, None, "Cross-dataset evaluation: fit and select on --dataset as its own protocol does, then score every "
        "image of this dataset once (classes matched by emotion; see the README).", hashed_when_none=False)
    test_data_dir: Optional[str] = option(
        str, None, "Folder or file of --test-dataset (default: $FER_BENCH_DATA/<test dataset> or ./data/<test "
        "dataset>).", changes_results=False, hashed_when_none=False)
    # the seed also picks FER2013's halves when the test/ folder has no split prefixes
    seed: int = option(int, 0, "Seed for folds, subsampling and models; recorded in the run.", defines_data=True,
                       in_suite=False)
    folds: Optional[int] = option(int, 10, "Outer subject-independent folds (k-fold protocols).")
    inner_folds: Optional[int] = option(int, 5, "Inner grouped CV folds that select hyperparameters (k-fold).")
    n_jobs: int = option(int, -1, "Parallel workers for features and search (-1: all cores).", changes_results=False)
    reports_dir: str = option(str, "reports", "Where runs/ is written.", changes_results=False, in_suite=False)
    cache_dir: Optional[str] = option(
        str, None, "Feature cache (default: $FER_BENCH_CACHE or ~/.cache/fer-bench).", changes_results=False,
        applies_to=CLASSICAL)
    strict: bool = option(bool, False, "Fail on the first unreadable image instead of skipping it.",
                          flags=("--strict",), defines_data=True)
    ck_frames: Optional[int] = option(int, 3, "CK+ original release: last N frames of each labelled sequence.",
                                      defines_data=True)
    ck_neutral: Optional[bool] = option(bool, False, "CK+ original release: add each sequence's first frame as "
                                        "neutral.", flags=("--ck-neutral",), defines_data=True)
    ferplus_labels: Optional[str] = option(
        str, "majority", "FER+: how the ten annotators' votes become one label: majority (FERPlus's rule; images "
        "without one are dropped) or plurality.", defines_data=True, hashed_when_none=False)
    pca: Any = option((int, str), "auto", "PCA components before the SVM: auto (400 above 10,000 training images), "
                      "none, or a number.", cli_kind=str, applies_to=CLASSICAL)
    halving_min_samples: Optional[int] = option(
        int, 3000, "FER2013 SVMs: training images in the first successive-halving round (--search halving).",
        applies_to=CLASSICAL, on_cli=False)
    svm_backend: Optional[str] = option(
        str, "auto", "SVM solver: auto (liblinear, pair by pair, for svm-linear on FER2013 and FER+; otherwise "
        "oneDAL where scikit-learn-intelex is installed, else libsvm), onedal, libsvm or liblinear (svm-linear "
        "only); the solver that ran is recorded.", applies_to=CLASSICAL, hashed_when_none=False)
    mirror: Optional[str] = option(
        str, "on", "SVMs: also train on each training image's mirror image (left-right flip): on or off.",
        applies_to=CLASSICAL, hashed_when_none=False)
    search: Optional[str] = option(
        str, "exhaustive", "FER2013 SVMs: exhaustive (every grid point fitted on all of Training, scored on "
        "PublicTest) or halving (successive halving over training sizes, for large grids).", applies_to=CLASSICAL,
        hashed_when_none=False)
    epochs: Optional[int] = option(int, None, "CNNs: maximum epochs (default: the architecture's paper).",
                                   applies_to=DEEP)
    batch_size: Optional[int] = option(int, None, "CNNs: batch size (default: the paper's).", applies_to=DEEP)
    lr: Optional[float] = option((float, int), None, "CNNs: learning rate (default: the recipe's).",
                                 cli_kind=Optional[float], applies_to=DEEP)
    patience: Optional[int] = option(int, None, "CNNs: early-stopping patience on validation loss, in epochs "
                                     "(default: the paper's).", applies_to=DEEP)
    augment: Optional[bool] = option(bool, True, "CNNs: flip, rotation, zoom and shift augmentation while "
                                     "training.", flags=("--augment/--no-augment",), applies_to=DEEP)
    class_weights: Optional[bool] = option(bool, False, "CNNs: weight the loss by inverse class frequency "
                                           "(FER2013's rare Disgust).", flags=("--class-weights",), applies_to=DEEP)
    pretrained: Optional[bool] = option(bool, False, "resnet50/xception: start from ImageNet weights (needs "
                                        "internet once; default: from scratch).", flags=("--pretrained",),
                                        applies_to=DEEP)
    optimizer: Optional[str] = option(
        str, None, "CNNs: adam, or sgd (SGD with Nesterov momentum 0.9, as Khaireddin & Chen train) (default: the "
        "architecture's recipe, see 'fer-bench models').", applies_to=DEEP, hashed_when_none=False,
        unhashed_values=("adam",))
    schedule: Optional[str] = option(
        str, None, "CNNs: learning rate schedule: plateau (x0.1 after patience/4 epochs without a better validation "
        "loss, unless the architecture's recipe has its own rule: see 'fer-bench models'), cosine (cosine decay "
        "to 0 over --epochs) or none (default: the recipe's).", applies_to=DEEP,
        hashed_when_none=False, unhashed_values=("plateau",))
    tta: Optional[str] = option(
        str, None, "CNNs: test-time augmentation: none, flip (the image and its mirror image) or ten-crop (four "
        "corner and a centre crop, and their mirror images); predictions.csv records each image's probabilities "
        "averaged over its views (default: the recipe's).", applies_to=DEEP,
        hashed_when_none=False, unhashed_values=("none",))
    l2: Optional[float] = option(
        (float, int), None, "CNNs: L2 penalty coefficient on the weights, added to the loss: mini-xception's goes "
        "where its paper puts 0.01 (its 3x3 and separable convolutions); every other architecture's on every "
        "convolution and dense kernel; 0 for none (default: the recipe's, see 'fer-bench models'; config.json "
        "records null for the published value, except VGG-FER's, written out).", cli_kind=Optional[float],
        applies_to=DEEP, hashed_when_none=False, null_is_a_value=True)
    recipe: Optional[str] = option(
        str, None, "CNNs: validated (where 'fer-bench models' lists a recipe chosen on a dataset's validation "
        "images, e.g. mini-xception on FER2013, that recipe; elsewhere the paper's) or paper (the architecture's "
        "registered paper recipe on every dataset); options given explicitly override either (default: "
        "validated). The settings it chooses are recorded and hashed, not its name.", changes_results=False, applies_to=DEEP,
        hashed_when_none=False)
    backend: Optional[str] = option(
        str, None, "CNNs: the Keras backend that trains: tensorflow, jax or torch (default: $KERAS_BACKEND, else the "
        "first of them installed); recorded with its version and device.", applies_to=DEEP, hashed_when_none=False,
        unhashed_values=("tensorflow",))
    init_from: Optional[str] = option(
        str, None, "CNNs: start from the trained weights of a finished run of the same architecture with one model "
        "(its folder, e.g. a FER2013 run) and fine-tune; refused when that run saw any of this run's test images. "
        "The classifier is re-initialised where the classes differ.", changes_results=False, applies_to=DEEP,
        hashed_when_none=False)
    #: what --init-from starts from, as the hash of the source's weights (its first 16 hex digits): this, not the
    #: folder's path, tells experiments apart (filled in by resolution)
    init_weights: Optional[str] = option(str, None, "The SHA-256 (16 hex digits) of --init-from's weights.",
                                         applies_to=DEEP, in_suite=False, on_cli=False, hashed_when_none=False)


#: The options in field order, derived from :class:`RunConfig`.
OPTIONS: tuple[Option, ...] = tuple(
    Option(f.name, default=None if f.metadata["option"]["required"] else f.default, **f.metadata["option"])
    for f in fields(RunConfig))
BY_NAME = {o.name: o for o in OPTIONS}

#: Options that change how fast a run goes or where it reads and writes, never its numbers (not hashed).
NON_RESULT_OPTIONS = tuple(o.name for o in OPTIONS if not o.changes_results)
#: Options kept out of the config hash where they resolve to None (see :attr:`Option.hashed_when_none`).
UNHASHED_WHEN_NONE = tuple(o.name for o in OPTIONS if not o.hashed_when_none)
#: Values kept out of the config hash, by option (see :attr:`Option.unhashed_values`).
UNHASHED_VALUES = {o.name: o.unhashed_values for o in OPTIONS if o.unhashed_values}


def hashed(name: str, value) -> bool:
    """Whether option ``name`` at ``value`` counts in a run's config hash and in what tells experiments apart:
    not a value that does what runs did before the option existed (None where it does not apply, a legacy
    default), so those runs keep their hashes."""
    if value is None and name in UNHASHED_WHEN_NONE:
        return False
    return not (name in UNHASHED_VALUES and isinstance(value, str) and value in UNHASHED_VALUES[name])


#: What config.json records beside the options (its hash, the grid searched, where the model came from).
RECORDED_EXTRAS = ("config_hash", "param_grid", "model_source")


def options_hash(config: dict, *, leave_out: tuple[str, ...] = ()) -> str:
    """Hash of the options in ``config`` that determine a run's numbers (not n_jobs or output paths, nor the
    options of ``leave_out``): a run's config hash, and, leaving out the seed, its experiment's."""
    relevant = {k: v for k, v in sorted(config.items())
                if k not in NON_RESULT_OPTIONS and k not in leave_out and hashed(k, v)}
    return hashlib.sha256(json.dumps(relevant, sort_keys=True, default=str).encode()).hexdigest()[:10]


#: What identifies one loaded dataset (a suite loads each such dataset once).
DATA_KEYS = tuple(o.name for o in OPTIONS if o.defines_data)


def data_options(config) -> dict:
    """The keyword options of ``load_dataset`` for ``config``: those that define the data, less its name and
    folder (e.g. ``strict``, ``seed``, ``ck_frames``)."""
    return {k: getattr(config, k) for k in DATA_KEYS if k not in ("dataset", "data_dir")}


#: Options a suite's [defaults] and options tables may set, with the TOML types each accepts.
SUITE_TYPES = {o.name: o.kind for o in OPTIONS if o.in_suite}
#: An experiment's identity in a report row: shown as columns, never as a variant.
IDENTITY = ("dataset", "model", "features", "seed")


def is_int(value) -> bool:
    """An integer (Python or numpy), and not a bool (which Python counts as one)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)
