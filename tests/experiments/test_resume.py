"""A killed sweep resumes with the same call and ends with the tables of an uninterrupted one."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from experiments.catalog.governance_sweep import tiny
from experiments.overrides import apply_overrides
from experiments.store import (
    EVENTS_FILE,
    HEALTH_FILE,
    MANIFEST_FILE,
    RUNS_FILE,
    STEPS_FILE,
    write_part,
)
from experiments.sweep import expand_sweep, run_sweep

TABLES = (RUNS_FILE, STEPS_FILE, EVENTS_FILE, HEALTH_FILE)
STEPS = 300
REPLICATIONS = 3  # 4 settings x 2 scenarios x 3 = 24 runs
_SCRIPT = """
import sys
from pathlib import Path
from experiments.catalog.governance_sweep import tiny
from experiments.overrides import apply_overrides
from experiments.sweep import run_sweep

if __name__ == "__main__":
    sweep = apply_overrides(tiny(replications={reps}), {{"base.scenario.steps": {steps}}})
    run_sweep(sweep, out_root=Path(sys.argv[1]), backend="serial", progress=False, report=False)
"""


def _sweep():
    return apply_overrides(tiny(replications=REPLICATIONS), {"base.scenario.steps": STEPS})


def _kill_after_parts(out_root, n_parts: int, timeout_s: float = 60.0) -> int:
    """Start the sweep in a subprocess, SIGKILL it once ``n_parts`` runs are recorded."""
    script = _SCRIPT.format(reps=REPLICATIONS, steps=STEPS)
    proc = subprocess.Popen([sys.executable, "-c", script, str(out_root)])
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            parts = list(out_root.glob("*/*/parts/*/part.json"))
            if len(parts) >= n_parts:
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.02)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    return len(list(out_root.glob("*/*/parts/*/part.json")))


@pytest.mark.slow
def test_killed_sweep_resumes_to_the_uninterrupted_tables(tmp_path) -> None:
    n_runs = len(expand_sweep(_sweep()))
    done = _kill_after_parts(tmp_path / "killed", 3)
    assert 3 <= done < n_runs, "the sweep must be killed part-way"
    folder = next((tmp_path / "killed").glob("*/*"))
    assert not (folder / RUNS_FILE).exists()
    # the same call finishes the job (here on another backend), skipping the finished runs
    resumed = run_sweep(
        _sweep(),
        out_root=tmp_path / "killed",
        backend="process",
        workers=2,
        progress=False,
        report=False,
    )
    manifest = json.loads((resumed.path / MANIFEST_FILE).read_text())
    assert manifest["extra"]["n_resumed"] >= done
    whole = run_sweep(
        _sweep(), out_root=tmp_path / "whole", backend="serial", progress=False, report=False
    )
    for table in TABLES:
        assert (resumed.path / table).read_bytes() == (whole.path / table).read_bytes(), table


def test_half_written_part_is_discarded_and_complete_sweep_is_not_rerun(tmp_path) -> None:
    sweep = tiny()
    runs = expand_sweep(sweep)
    first = run_sweep(sweep, out_root=tmp_path / "a", progress=False, report=False)
    folder = first.path
    manifest = (folder / MANIFEST_FILE).read_text()
    # a complete result: the same call changes nothing (not even the manifest's wall time)
    again = run_sweep(sweep, out_root=tmp_path / "a", progress=False, report=False)
    assert (folder / MANIFEST_FILE).read_text() == manifest
    assert again.runs.equals(first.runs)
    # a stopped sweep left a finished part and a half-written one behind
    other = tmp_path / "b" / folder.parent.name / folder.name
    (other / "parts" / f".tmp-{runs[1].run_id}-999").mkdir(parents=True)
    (other / "parts" / f".tmp-{runs[1].run_id}-999" / RUNS_FILE).write_bytes(b"garbage")
    from experiments.runner import execute_run

    result = execute_run(runs[0])
    tables = {
        "runs": __import__("pandas").DataFrame([result.run]),
        "steps": result.steps,
        "events": result.events,
        "health": result.health,
    }
    write_part(other, runs[0].run_id, tables, {"status": "ok", "wall_time_s": 0.0, "worker": ""})
    resumed = run_sweep(sweep, out_root=tmp_path / "b", progress=False, report=False)
    assert json.loads((other / MANIFEST_FILE).read_text())["extra"]["n_resumed"] == 1
    for table in TABLES:
        assert (resumed.path / table).read_bytes() == (folder / table).read_bytes(), table
