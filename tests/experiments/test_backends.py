"""Backends give bit-identical tables (serial, process, Ray local and multi-node); failed runs are
recorded with their traceback, not dropped and not retried."""

from __future__ import annotations

import pytest

from experiments import backends
from experiments.catalog.governance_sweep import SCENARIOS, tiny
from experiments.spec import VariantSpec
from experiments.store import EVENTS_FILE, HEALTH_FILE, RUNS_FILE, STEPS_FILE, read_table
from experiments.sweep import run_sweep

TABLES = (RUNS_FILE, STEPS_FILE, EVENTS_FILE, HEALTH_FILE)
# A scenario that fails deterministically when its run starts: the replay has 1,440 steps.
TOO_LONG = VariantSpec(
    name="too-long",
    overrides=(
        ("market.replay", "eth-2020-03-12"),
        ("market.path_model", "replay"),
        ("steps", 5_000),
    ),
)


def _sweep(tmp_path, name: str, backend: str, **kwargs):
    return run_sweep(
        tiny(), out_root=tmp_path / name, backend=backend, progress=False, report=False, **kwargs
    )


def _assert_identical(a, b) -> None:
    assert a.path.name == b.path.name  # same spec hash
    for table in TABLES:
        assert (a.path / table).read_bytes() == (b.path / table).read_bytes(), table


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    return _sweep(tmp_path_factory.mktemp("serial"), "serial", "serial")


def test_serial_sweep_writes_one_row_per_run_with_parameters(serial) -> None:
    runs = read_table(serial.path / RUNS_FILE)
    assert len(runs) == 8 and list(runs["status"].unique()) == ["ok"]
    assert list(runs.columns[:7]) == [
        "run_id",
        "variant",
        "replication",
        "setting",
        "scenario",
        "perp.mm_scale",
        "governance.timelock_seconds",
    ]
    assert list(runs["run_id"]) == sorted(runs["run_id"])
    assert not any("time" in c and "timelock" not in c for c in runs.columns)  # no wall clock
    steps = read_table(serial.path / STEPS_FILE)
    assert set(steps["run_id"]) == set(runs["run_id"])
    assert not (serial.path / "parts").exists()  # consolidated, parts removed
    timings = read_table(serial.path / "timings.parquet")
    assert (timings["wall_time_s"] > 0).all()


def test_process_backend_is_bitwise_equal_to_serial(tmp_path, serial) -> None:
    _assert_identical(serial, _sweep(tmp_path, "process", "process", workers=2))


def test_backend_is_closed_after_the_tables_are_consolidated(tmp_path, serial, monkeypatch):
    """The runner takes one result per run, consolidates, and only then closes the backend, so
    a backend's wind-down (pool processes exiting, a local Ray cluster shutting down) overlaps
    the consolidation; it never asks the backend for a result past the last run."""
    seen = {}

    def recording(runs, **kwargs):
        try:
            yield from backends.run_serial(runs, **kwargs)
            seen["asked_past_the_last_run"] = True
        finally:
            seen["consolidated_when_closed"] = [p.name for p in tmp_path.glob(f"*/*/*/{RUNS_FILE}")]

    monkeypatch.setitem(backends.BACKENDS, "recording", recording)
    result = _sweep(tmp_path, "recording", "recording")
    assert seen == {"consolidated_when_closed": [RUNS_FILE]}
    _assert_identical(result, serial)


def test_failed_run_is_recorded_with_its_traceback_and_not_retried(tmp_path) -> None:
    sweep = tiny(scenarios=(SCENARIOS[2], TOO_LONG))
    kwargs = {"out_root": tmp_path, "progress": False, "report": True}
    result = run_sweep(sweep, backend="process", workers=2, **kwargs)
    runs = read_table(result.path / RUNS_FILE).set_index("run_id")
    failed = runs[runs["scenario"] == "too-long"]
    assert len(failed) == 4 and (failed["status"] == "failed").all()
    assert failed["error"].str.contains("steps: must be <= 1440").all()
    assert failed["traceback"].str.startswith("Traceback (most recent call last)").all()
    assert failed["bad_debt_usd"].isna().all()
    ok = runs[runs["scenario"] == "garch-stress"]
    assert (ok["status"] == "ok").all() and (ok["error"] == "").all()
    assert set(read_table(result.path / STEPS_FILE)["run_id"]) == set(ok.index)
    report = (result.path / "report.md").read_text()
    assert "4 run(s) failed" in report and "**None.**" in report
    # the failed runs' parts stay; a plain rerun skips them, --retry-failed runs only them again
    assert len(list((result.path / "parts").iterdir())) == 8
    again = run_sweep(sweep, backend="serial", **kwargs)
    assert (again.path / RUNS_FILE).read_bytes() == (result.path / RUNS_FILE).read_bytes()
    retried = run_sweep(sweep, backend="serial", retry_failed=True, **kwargs)
    assert retried.runs["status"].value_counts().to_dict() == {"ok": 4, "failed": 4}
    assert retried.wall_time_s < 60


@pytest.mark.slow
def test_ray_local_cluster_is_bitwise_equal_to_serial(tmp_path, serial, ray_loopback) -> None:
    ray = ray_loopback  # run_ray applies the loopback settings itself; this guards the test
    result = _sweep(tmp_path, "ray", "ray", workers=2)
    assert not ray.is_initialized()  # the backend shut down what it started
    _assert_identical(serial, result)


@pytest.mark.slow
def test_ray_two_node_cluster_is_bitwise_equal_to_serial(tmp_path, serial, ray_loopback) -> None:
    from ray.cluster_utils import Cluster  # ray_loopback: the nodes start on loopback

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    try:
        assert cluster.address.startswith("127.0.0.1:")
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        result = _sweep(tmp_path, "cluster", "ray", address=cluster.address)
        workers = set(read_table(result.path / "timings.parquet")["worker"])
    finally:
        cluster.shutdown()
    _assert_identical(serial, result)
    assert len(workers) >= 2  # both nodes' workers took runs
