"""Leases on run folders and suite experiments: exclusive while live, stale after the TTL or when the owner
process is gone; stale .incomplete run folders of killed processes are cleaned, live ones kept."""

from __future__ import annotations

import json
import os
import time

from benchmark.leases import LEASE_FILE, Lease, folder_is_stale, read_lease
from benchmark.runs import INCOMPLETE_PREFIX, clean_stale_incomplete


def test_a_lease_is_exclusive_until_released_or_stale(tmp_path, monkeypatch):
    path = tmp_path / "claims" / "x.json"
    first = Lease.acquire(path)
    assert first is not None and read_lease(path).token == first.token
    assert Lease.acquire(path) is None, "a live lease is not taken twice"
    first.release()
    assert not path.exists()
    second = Lease.acquire(path)
    assert second is not None
    # a killed process: its heartbeat stops, and after the TTL anyone may take over
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "heartbeat": time.time() - 3600}))
    assert read_lease(path).stale
    third = Lease.acquire(path)
    assert third is not None and third.token != second.token
    second.release()  # no longer ours: must not remove the new owner's lease
    assert read_lease(path).token == third.token
    third.release()


def test_a_lease_of_a_dead_process_on_this_host_is_stale_at_once(tmp_path):
    path = tmp_path / "x.json"
    lease = Lease.acquire(path)
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "pid": _dead_pid()}))
    assert read_lease(path).stale and "stale" in read_lease(path).describe()
    lease.release()


def _dead_pid() -> int:
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    return pid


def test_stale_incomplete_folders_are_cleaned_and_live_ones_kept(tmp_path, monkeypatch):
    """A killed run's .incomplete folder (dead owner, or no lease and old) is removed by the next run; one with a
    live lease (a run in progress, maybe on another host) is left alone."""
    runs = tmp_path / "runs"
    dead = runs / f"{INCOMPLETE_PREFIX}dead"
    dead.mkdir(parents=True)
    (dead / LEASE_FILE).write_text(json.dumps({"host": os.uname().nodename, "pid": _dead_pid(), "token": "t",
                                               "heartbeat": time.time()}))
    old = runs / f"{INCOMPLETE_PREFIX}old-version"
    old.mkdir()
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    elsewhere = runs / f"{INCOMPLETE_PREFIX}other-host"
    elsewhere.mkdir()
    # its last beat a second ago: live under the default TTL, stale under the 1 ms one below whatever the clock does
    (elsewhere / LEASE_FILE).write_text(json.dumps({"host": "another-host", "pid": 1, "token": "u",
                                                    "heartbeat": time.time() - 1}))
    young = runs / f"{INCOMPLETE_PREFIX}just-started"
    young.mkdir()
    assert folder_is_stale(elsewhere)[0] is False and folder_is_stale(young)[0] is False
    removed = clean_stale_incomplete(runs)
    assert len(removed) == 2 and all("removed the abandoned run folder" in line for line in removed)
    assert sorted(p.name for p in runs.iterdir()) == sorted([elsewhere.name, young.name])
    # the other host stops beating: after the TTL its folder is stale too
    monkeypatch.setenv("FER_BENCH_LEASE_TTL", "0.001")
    assert folder_is_stale(elsewhere)[0] is True
