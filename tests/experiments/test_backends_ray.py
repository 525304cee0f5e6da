"""The local-cluster Ray backend: while the cluster starts in the background the driver executes
runs itself, then hands the rest to Ray; every run exactly once, a failed start-up is reported
after the driver's runs are saved, and the cluster is shut down however the sweep ends. The
cluster listens on loopback only, however Ray was imported."""

from __future__ import annotations

import ipaddress
import os
import sys
import threading
from pathlib import Path

import pandas as pd
import pytest

from experiments import backends, runner
from experiments.backends import run_ray, run_serial
from experiments.catalog.governance_sweep import tiny
from experiments.store import (
    EVENTS_FILE,
    HEALTH_FILE,
    RUNS_FILE,
    STEPS_FILE,
    read_manifest,
    read_table,
)
from experiments.sweep import expand_sweep, run_sweep

TABLES = (RUNS_FILE, STEPS_FILE, EVENTS_FILE, HEALTH_FILE)
DRIVER = f":{os.getpid()}"  # RunResult.worker ends with the pid of the process that ran it


def _gate_start(
    monkeypatch, *, fail: Exception | None = None
) -> tuple[threading.Event, threading.Event]:
    """Hold the background start-up until ``gate`` is set; then start Ray for real and set
    ``up``, or raise ``fail``."""
    gate, up = threading.Event(), threading.Event()
    real = backends.start_local_ray

    def gated(n_cpus: int) -> None:
        assert gate.wait(60), "the test never opened the gate"
        if fail is not None:
            raise fail
        real(n_cpus)
        up.set()

    monkeypatch.setattr(backends, "start_local_ray", gated)
    return gate, up


def _after_saved_runs(monkeypatch, n_runs: int, action) -> None:
    """Call ``action()`` in the driver right after it has saved its ``n_runs``-th run."""
    real = runner.write_part
    saved = []

    def write(*args, **kwargs):
        path = real(*args, **kwargs)
        saved.append(path)
        if len(saved) == n_runs:
            action()
        return path

    monkeypatch.setattr(runner, "write_part", write)


def _starter_alive() -> bool:
    return any(t.name == "cascadelab-ray-start" for t in threading.enumerate())


def _rows(results) -> pd.DataFrame:
    return pd.DataFrame([r.run for r in results]).sort_values("run_id", ignore_index=True)


@pytest.mark.slow
def test_run_ray_runs_in_the_driver_until_the_cluster_is_up_then_on_ray(
    monkeypatch, ray_loopback
) -> None:
    ray = ray_loopback
    runs = expand_sweep(tiny())
    gate, up = _gate_start(monkeypatch)
    results = []
    for result in run_ray(runs, workers=2):
        results.append(result)
        if len(results) == 2:  # two runs done here: let Ray start, and wait until it is up
            gate.set()
            assert up.wait(60)
    assert not ray.is_initialized() and not _starter_alive()  # shut down what it started
    ids = [r.run["run_id"] for r in results]
    assert sorted(ids) == sorted(r.run_id for r in runs)  # each run exactly once
    in_driver = [r.run["run_id"] for r in results if r.worker.endswith(DRIVER)]
    # the driver took the first runs (one more at most: it may look before Ray says it is up)
    assert in_driver[:2] == ids[:2] == [r.run_id for r in runs[:2]]
    assert 2 <= len(in_driver) <= 3
    assert len({r.worker for r in results if not r.worker.endswith(DRIVER)}) >= 1
    assert all(r.run["status"] == "ok" for r in results)
    # the same rows as the serial backend, wherever each run executed
    pd.testing.assert_frame_equal(_rows(results), _rows(run_serial(runs)))


@pytest.mark.slow
def test_ray_local_cluster_sweep_with_runs_in_driver_and_on_ray_is_bitwise_equal_to_serial(
    monkeypatch, tmp_path, ray_loopback
) -> None:
    ray = ray_loopback
    kwargs = {"progress": False, "report": False}
    serial = run_sweep(tiny(), out_root=tmp_path / "serial", backend="serial", **kwargs)
    gate, up = _gate_start(monkeypatch)

    def start_and_wait() -> None:  # the driver saved two runs: start Ray, and wait for it
        gate.set()
        assert up.wait(60)

    _after_saved_runs(monkeypatch, 2, start_and_wait)
    result = run_sweep(tiny(), out_root=tmp_path / "ray", backend="ray", workers=2, **kwargs)
    assert not ray.is_initialized()  # the backend shut down what it started
    workers = read_table(result.path / "timings.parquet")["worker"]
    assert 2 <= workers.str.endswith(DRIVER).sum() <= 3  # the rest ran on Ray's workers
    assert workers[~workers.str.endswith(DRIVER)].nunique() >= 1
    assert serial.path.name == result.path.name  # same spec hash
    for table in TABLES:
        assert (serial.path / table).read_bytes() == (result.path / table).read_bytes(), table


def test_run_ray_reports_a_failed_start_after_saving_the_driver_runs(monkeypatch, tmp_path) -> None:
    pytest.importorskip("ray")
    gate, _ = _gate_start(monkeypatch, fail=OSError("no room for the object store"))
    _after_saved_runs(monkeypatch, 1, gate.set)  # the first saved run lets the start-up fail
    kwargs = {"out_root": tmp_path / "out", "progress": False, "report": False}
    with pytest.raises(RuntimeError, match="local Ray cluster failed to start") as err:
        run_sweep(tiny(), backend="ray", workers=2, **kwargs)
    assert "OSError: no room for the object store" in str(err.value)
    assert "same command resumes" in str(err.value)
    assert isinstance(err.value.__cause__, OSError)
    assert not _starter_alive()
    # the driver's runs were saved: a rerun skips them and ends with the serial tables
    resumed = run_sweep(tiny(), backend="serial", **kwargs)
    whole = run_sweep(tiny(), backend="serial", **{**kwargs, "out_root": tmp_path / "whole"})
    assert read_manifest(resumed.path)["extra"]["n_resumed"] >= 1
    for table in TABLES:
        assert (resumed.path / table).read_bytes() == (whole.path / table).read_bytes(), table


@pytest.mark.slow
def test_run_ray_shuts_the_cluster_down_when_the_sweep_is_abandoned(
    monkeypatch, ray_loopback
) -> None:
    ray = ray_loopback
    gate, _ = _gate_start(monkeypatch)
    stream = run_ray(expand_sweep(tiny()), workers=2)
    first = next(stream)  # executed in the driver while the cluster starts
    assert first.worker.endswith(DRIVER) and _starter_alive()
    gate.set()
    stream.close()  # what Ctrl-C or an exception in the consumer does to the generator
    assert not ray.is_initialized() and not _starter_alive()


@pytest.mark.slow
def test_each_local_cluster_gets_the_backend_settings_and_its_own_spill_directory(
    ray_loopback,
) -> None:
    # Ray writes the session's spilling directory into the system config it is given: were the
    # module's settings passed as they are, the second cluster would spill into the first one's
    # (deleted) session and Ray would warn about an "unstable API"
    ray = ray_loopback
    from ray._private import worker  # Ray 2.60 internals: the settings the node started with

    settings = dict(backends._LOCAL_RAY_CONFIG)
    sessions = []
    for _ in range(2):
        backends.start_local_ray(1)
        try:
            node = worker._global_node
            config = node._config
            for key, value in settings.items():
                assert config[key] == value, key
            assert node.get_session_dir_path() in config["object_spilling_config"]
            sessions.append(node.get_session_dir_path())
        finally:
            ray.shutdown()
    assert sessions[0] != sessions[1]
    assert dict(backends._LOCAL_RAY_CONFIG) == settings


def _descendants(pid: int) -> set[int]:
    """The processes started by ``pid`` and by those processes (Ray's workers are grandchildren)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # exited meanwhile
            continue
        ppid = int(text[text.rindex(")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _listening_addresses(pids: set[int]) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """Local addresses of the listening TCP sockets of ``pids`` (from Linux's /proc)."""
    inodes = set()
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").glob("*"):
            try:
                link = os.readlink(fd)
            except OSError:
                continue
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
    found = []
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            field = line.split()
            if field[3] != "0A" or field[9] not in inodes:  # 0A: LISTEN
                continue
            raw = bytes.fromhex(field[1].split(":")[0])  # 32-bit words, each little-endian
            raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            address = ipaddress.ip_address(raw)
            found.append(getattr(address, "ipv4_mapped", None) or address)
    return found


def _pid() -> int:
    return os.getpid()


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads Linux's /proc")
def test_a_local_cluster_listens_on_loopback_only_though_ray_was_imported_first(
    ray_loopback, monkeypatch
) -> None:
    ray = ray_loopback
    from ray._private import ray_constants

    # what importing Ray before the settings leaves on Linux (as run_ray, a test or a notebook
    # does): Ray would take the machine's network address and listen on every interface
    monkeypatch.setattr(ray_constants, "ENABLE_RAY_CLUSTER", True)
    backends.start_local_ray(1)
    try:
        assert ray.get(ray.remote(_pid).remote()) != os.getpid()  # a worker is up
        assert ray.util.get_node_ip_address() == "127.0.0.1"
        assert {node["NodeManagerAddress"] for node in ray.nodes()} == {"127.0.0.1"}
        addresses = _listening_addresses(_descendants(os.getpid()) | {os.getpid()})
        assert len(addresses) >= 4  # GCS, raylet, driver, worker, at least
        assert all(a.is_loopback for a in addresses), sorted(map(str, addresses))
    finally:
        ray.shutdown()
    assert ray_constants.ENABLE_RAY_CLUSTER is True  # restored: an --address join needs it


@pytest.mark.slow
def test_a_local_cluster_not_on_loopback_is_shut_down_with_an_error(
    ray_loopback, monkeypatch
) -> None:
    ray = ray_loopback
    # Ray's own answer replaced: the check after start-up is the last line of defence
    monkeypatch.setattr(ray.util, "get_node_ip_address", lambda: "192.0.2.2")
    with pytest.raises(RuntimeError, match=r"came up on 192\.0\.2\.2, not on loopback"):
        backends.start_local_ray(1)
    assert not ray.is_initialized()


def _head_methods():
    from ray._private import node  # Ray 2.60 internals, as the backend patches them

    return {name: vars(node.Node)[name] for name in backends._SKIPPED_HEAD_PROCESSES}


@pytest.mark.slow
def test_a_local_cluster_runs_without_api_server_and_monitors(ray_loopback) -> None:
    ray = ray_loopback
    from ray._private import ray_constants, worker

    methods = _head_methods()
    backends.start_local_ray(1)
    try:
        started = set(worker._global_node.all_processes)
        assert {ray_constants.PROCESS_TYPE_GCS_SERVER, ray_constants.PROCESS_TYPE_RAYLET} <= started
        skipped = {
            ray_constants.PROCESS_TYPE_DASHBOARD,  # the API server
            ray_constants.PROCESS_TYPE_MONITOR,
            ray_constants.PROCESS_TYPE_LOG_MONITOR,
        }
        assert not started & skipped, started & skipped
        # the cluster works without them: a task runs, and a run gives the serial result
        assert ray.get(ray.remote(_pid).remote()) != os.getpid()
        run = expand_sweep(tiny())[0]
        on_ray = ray.get(ray.remote(runner.execute_run).remote(run))
        pd.testing.assert_frame_equal(_rows([on_ray]), _rows([runner.execute_run(run)]))
    finally:
        ray.shutdown()
    assert _head_methods() == methods  # Ray's own methods back for any later cluster


def test_ray_head_methods_are_restored_after_an_error_while_ray_starts(ray_loopback) -> None:
    methods = _head_methods()
    with pytest.raises(RuntimeError, match="start failed"), backends._lean_head_node():
        assert all(m is backends._skip_process for m in _head_methods().values())
        raise RuntimeError("start failed")
    assert _head_methods() == methods


def test_a_ray_without_rays_node_class_where_expected_starts_every_process(
    ray_loopback, monkeypatch
) -> None:
    from ray._private.node import Node

    methods = _head_methods()
    with monkeypatch.context() as patch:
        patch.setitem(sys.modules, "ray._private.node", None)  # its import now fails
        with backends._lean_head_node():
            # nothing patched: Ray would start every process as before
            assert {name: vars(Node)[name] for name in methods} == methods
    assert _head_methods() == methods
