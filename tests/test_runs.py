"""Run folders (atomic creation), run ids, config hashes and provenance helpers."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone

import pytest

from benchmark.runs import (INCOMPLETE_PREFIX, PhaseTimer, config_hash, make_run_id, run_folder, system_info,
                            write_json)

CONFIG = {"dataset": "ck+", "model": "svm-rbf", "features": "hog+landmarks", "seed": 1, "folds": 10,
          "n_jobs": -1, "reports_dir": "reports", "cache_dir": "/c", "data_dir": None}


def test_run_folder_appears_only_when_the_body_completes(tmp_path):
    """Inside the body the files go to a hidden .incomplete-<id> folder; on success it is renamed to <id>."""
    runs = tmp_path / "runs"
    with run_folder(runs, "r1") as tmp:
        assert tmp.name == f"{INCOMPLETE_PREFIX}r1" and tmp.is_dir()
        (tmp / "metrics.json").write_text("{}")
        assert not (runs / "r1").exists()
    assert [p.name for p in runs.iterdir()] == ["r1"]
    assert (runs / "r1" / "metrics.json").read_text() == "{}"


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()])
def test_run_folder_exception_leaves_no_folder(tmp_path, error):
    """An exception (or Ctrl-C) inside the body re-raises and leaves neither the final nor the
    .incomplete-* folder behind."""
    runs = tmp_path / "runs"
    with pytest.raises(type(error)):
        with run_folder(runs, "r2") as tmp:
            (tmp / "metrics.json").write_text("{}")
            (tmp / "sub").mkdir()
            (tmp / "sub" / "x.csv").write_text("a\n")
            raise error
    assert list(runs.iterdir()) == []


def test_config_hash_ignores_speed_and_path_options():
    """n_jobs, reports_dir, cache_dir and data_dir do not change the hash; seed, model and folds do."""
    h = config_hash(CONFIG)
    assert re.fullmatch(r"[0-9a-f]{10}", h)
    assert config_hash({**CONFIG, "n_jobs": 4, "reports_dir": "/x", "cache_dir": "/y", "data_dir": "/z"}) == h
    for change in ({"seed": 2}, {"model": "svm-linear"}, {"folds": 5}, {"features": "hog"}):
        assert config_hash({**CONFIG, **change}) != h
    assert config_hash(dict(reversed(list(CONFIG.items())))) == h  # key order does not matter


def test_make_run_id_names_time_and_config():
    """The run id starts with the UTC time, names dataset, model, features and seed, and ends in the hash."""
    now = datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=timezone.utc)
    run_id = make_run_id(CONFIG, now=now)
    assert run_id.startswith("20250102T030405678901Z_")
    assert run_id.endswith("_" + config_hash(CONFIG))
    for part in ("ck+", "svm-rbf", "hog+landmarks", "s1"):
        assert part in run_id
    assert "/" not in run_id and " " not in run_id
    assert make_run_id({**CONFIG, "features": None}, now=now) != run_id
    assert "pixels" in make_run_id({**CONFIG, "features": None}, now=now)


def test_make_run_id_follows_the_documented_format():
    """README: reports/runs/<UTC time>_<dataset>_<model>_<features>_s<seed>_<config hash>/."""
    now = datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=timezone.utc)
    run_id = make_run_id(CONFIG, now=now)
    assert run_id.split("_") == ["20250102T030405678901Z", "ck+", "svm-rbf", "hog+landmarks", "s1",
                                 config_hash(CONFIG)]


class _Clock:
    """A stand-in for time.perf_counter that moves only when the test says so."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def test_phase_timer_accumulates_named_phases(monkeypatch):
    """Repeated phases add up (not the last one only), a phase that raises still counts its time, and the total
    runs from the timer's creation, so it includes the time between phases."""
    import time

    clock = _Clock(1000.0)
    monkeypatch.setattr(time, "perf_counter", clock)
    timer = PhaseTimer()
    with timer.phase("load"):
        clock.advance(1.5)
    clock.advance(0.25)  # between phases: in the total only
    for seconds in (2.0, 3.0):
        with timer.phase("fit"):
            clock.advance(seconds)
    with pytest.raises(ValueError):
        with timer.phase("predict"):
            clock.advance(0.5)
            raise ValueError
    clock.advance(0.125)
    assert timer.summary() == {"load": 1.5, "fit": 5.0, "predict": 0.5, "total": 7.375}
    assert list(timer.summary()) == ["load", "fit", "predict", "total"]
    with timer.phase("fit"):
        clock.advance(0.0004)  # summaries are rounded to the millisecond; the sums are not
    assert timer.seconds["fit"] == pytest.approx(5.0004)
    assert timer.summary() == {"load": 1.5, "fit": 5.0, "predict": 0.5, "total": 7.375}


def test_system_info_and_write_json(tmp_path):
    """system_info records tool, Python and package versions and hardware; write_json round-trips it."""
    info = system_info()
    for key in ("tool", "tool_version", "git_commit", "git_dirty", "python", "packages", "platform", "cpu",
                "cpu_count", "memory_gib", "gpus", "started_utc"):
        assert key in info
    assert info["tool"] == "fer-bench"
    assert info["packages"]["numpy"] and info["packages"]["scikit-learn"]
    write_json(tmp_path / "m.json", {**info, "path": tmp_path})
    assert json.loads((tmp_path / "m.json").read_text())["path"] == str(tmp_path)
