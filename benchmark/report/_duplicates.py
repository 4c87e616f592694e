"""Runs of one experiment and seed made more than once: counted once when they agree, used not at all when not.

Two runs are duplicates when they share the experiment (:func:`._experiments.experiment_key`: dataset, model, features,
the options behind the config hash, the data fingerprint and the platform, i.e. the training device and
precision of a CNN or the SVM backend) and the seed. They should predict identically; runs on another device,
precision or backend are not duplicates but variants, and get their own table rows. Duplicates that predict
the same are counted once (the latest is used). Duplicates that predict differently mean one of them cannot be
reproduced, and taking either would be a guess: neither is used, and a warning names them all until the user
removes the wrong one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..record import Run
from ._experiments import experiment_key, run_platform
from ._names import title_of


@dataclass
class Duplicates:
    """The runs to use (one per experiment and seed), and what was set aside."""

    runs: list[Run] = field(default_factory=list)
    identical: list[tuple[str, str]] = field(default_factory=list)  # (run not used, the run used in its place)
    conflicting: list[list[str]] = field(default_factory=list)  # run ids that disagree, none used
    warnings: list[str] = field(default_factory=list)  # one line per disagreeing group


def resolve_duplicates(runs: list[Run]) -> Duplicates:
    """Group runs by experiment and seed; keep one of each group whose predictions agree, none of the others."""
    groups: dict[tuple, list[Run]] = {}
    for run in runs:
        groups.setdefault((experiment_key(run), run.metrics["seed"]), []).append(run)
    out = Duplicates()
    for same in groups.values():
        same.sort(key=lambda r: r.run_id)  # run ids start with their UTC start time: the last is the latest
        latest = same[-1]
        differing = [(run, _differences(run, latest)) for run in same[:-1]]
        differing = [(run, d) for run, d in differing if d]
        if not differing:
            out.runs.append(latest)
            out.identical += [(run.run_id, latest.run_id) for run in same[:-1]]
            continue
        out.conflicting.append([run.run_id for run in same])
        out.warnings.append(_warning(same, differing[0][1]))
    out.runs.sort(key=lambda r: r.run_id)
    return out


def _predicted(run: Run):
    return run.predictions.set_index("sample_id")["y_pred"].astype(str).sort_index()


def _differences(a: Run, b: Run) -> str:
    """"" when both runs predict the same class for the same samples, else how they differ."""
    pa, pb = _predicted(a), _predicted(b)
    if not pa.index.equals(pb.index):
        return "they predict different samples"
    n = int((pa != pb).sum())
    return f"{n} of {len(pa)} predictions differ" if n else ""


def _warning(same: list[Run], how: str) -> str:
    m = same[0].metrics
    names = ", ".join(run.run_id for run in same[:-1]) + f" and {same[-1].run_id}"
    platform = ", ".join(f"{k} {v}" for k, v in run_platform(same[0]).items() if v is not None)
    return (f"disagreeing duplicates: {names} are the same experiment ({m['model']} [{m['features']}] on "
            f"{title_of(m['dataset'])}, seed {m['seed']}, config {same[0].config.get('config_hash', '?')}, same data"
            + (f", {platform}" if platform else "") + f") but {how}; "
            + ("neither is" if len(same) == 2 else "none of them is")
            + " used until you remove the wrong one from runs/")
