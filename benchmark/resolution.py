"""Resolving a run's options: the requested :class:`~benchmark.options.RunConfig` checked and completed against
the model registry, the model's kind, the dataset registry and the protocol.

One layer above the option declaration (:mod:`benchmark.options`, a leaf), because it needs those registries:
the model's kind fills in and checks its own options; options the protocol, the dataset or the kind does not use
resolve to None, so they never split an experiment in two.
"""

from __future__ import annotations

import os
from dataclasses import asdict

from models import get_model

from .datasets import DATASETS, dataset_entry
from .errors import FerBenchError
from .evaluations import evaluation_for, foreign_options
from .kinds import kind_of
from .options import BY_NAME, MAX_SEED, OPTIONS, RunConfig, is_int
from .protocols import protocol_class

__all__ = ["check_ranges", "ignored_options", "resolve"]


def resolve(config: RunConfig) -> RunConfig:
    """The validated, completed config; raises :class:`FerBenchError` (exit 2) naming the option.

    The model's kind fills in and checks its own options; options the protocol or the dataset does not use
    resolve to None, so they never split an experiment in two (a FER2013 run made with --folds 5 is the same
    experiment as one made with the default 10)."""
    entry = dataset_entry(config.dataset)
    spec = get_model(config.model)
    kind = kind_of(spec)
    check_ranges(config)
    unused = (*protocol_class(entry.protocol).unused_options(kind.selects_by_search), *entry.unused_options())
    evaluation = evaluation_for(config)
    unused = (*evaluation.unused_options(config, unused), *foreign_options(evaluation))
    return RunConfig(**{**asdict(config), **kind.resolve(config, spec), **{k: None for k in unused}})


def ignored_options(requested, resolved) -> list[str]:
    """The options the user set (away from their defaults) that this run cannot use, so they resolved to None
    (``--folds`` on FER2013's official split, ``--ck-neutral`` on FER2013, ``--data-dir`` on the embedded
    synthetic faces). A run says so, rather than silently ignoring them."""
    return [o.flag for o in OPTIONS if getattr(requested, o.name) not in (None, o.default)
            and getattr(resolved, o.name) is None and not o.null_is_a_value]


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
    for entry in DATASETS.values():  # each dataset's own options, by the rules its entry declares
        for option, (accepts, expected) in entry.option_rules.items():
            value = getattr(config, option)
            if value is not None and not accepts(value):
                raise bad(option.replace("_", "-"), expected, value)
    if config.halving_min_samples is not None and (not is_int(config.halving_min_samples)
                                                   or config.halving_min_samples < 1):
        raise FerBenchError(f"halving_min_samples must be a positive integer, got {config.halving_min_samples!r}")
