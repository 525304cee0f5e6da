"""Expand an experiment into self-contained runs, execute them on a backend, write the results.

``run_one(RunSpec) -> RunResult`` is pure and picklable (the unit a parallel backend ships);
``execute_run`` wraps it so that a run that raises is recorded, not lost. :func:`execute` runs a
list of runs on a backend (experiments/backends.py), writes each finished run as a part as soon as
it arrives, skips runs an earlier, stopped invocation already finished, and consolidates the
parts into ``runs/steps/events/health.parquet``. ``run_experiment`` does that for a catalog
experiment (``cascadelab run``); experiments/sweep.py does it for a sweep.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from experiments.metrics import run_outcomes
from experiments.model import EcosystemModel
from experiments.spec import ExperimentSpec, ScenarioSpec, spec_to_dict
from experiments.store import (
    RUNS_FILE,
    consolidate_parts,
    finished_parts,
    read_manifest,
    read_table,
    remove_parts,
    result_dir,
    spec_hash,
    write_manifest,
    write_part,
)
from protocols.events import EVENT_COLUMNS

__all__ = [
    "ExecutionSummary",
    "ExperimentResult",
    "RunResult",
    "RunSpec",
    "execute",
    "execute_run",
    "expand",
    "finish",
    "run_experiment",
    "run_one",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RunSpec:
    """One run: a fully resolved scenario, its identity and its own seed.

    ``design`` holds extra columns of the run's row in runs.parquet, in order (a sweep's setting,
    scenario and parameter values: the run's row of the design table).
    """

    experiment: str
    variant: str
    replication: int
    scenario: ScenarioSpec
    seed: np.random.SeedSequence
    design: tuple[tuple[str, Any], ...] = ()

    @property
    def run_id(self) -> str:
        """``<variant>-r<replication>``."""
        return f"{self.variant}-r{self.replication}"


@dataclass(slots=True)
class RunResult:
    """Tables of one run (rows of the experiment's Parquet files) and where and how long it ran."""

    run: dict
    steps: pd.DataFrame
    events: pd.DataFrame
    health: pd.DataFrame
    wall_time_s: float = 0.0
    worker: str = ""


@dataclass(slots=True)
class ExperimentResult:
    """Where an experiment's results went, and its runs table."""

    path: Path
    runs: pd.DataFrame
    wall_time_s: float


@dataclass(frozen=True, slots=True)
class ExecutionSummary:
    """What :func:`execute` did: runs executed now, skipped as already finished, failed."""

    n_runs: int
    n_executed: int
    n_skipped: int
    n_failed: int
    wall_time_s: float
    already_complete: bool = False


def expand(spec: ExperimentSpec) -> list[RunSpec]:
    """All runs of ``spec``: variants x replications, replication ``r`` seeded by child ``r``."""
    children = np.random.SeedSequence(spec.seed).spawn(spec.replications)
    runs = []
    for variant in spec.variants:
        scenario = spec.variant_scenario(variant)
        for r, child in enumerate(children):
            runs.append(RunSpec(spec.name, variant.name, r, scenario, child))
    return runs


def _identity(run: RunSpec) -> dict:
    return {"run_id": run.run_id, "variant": run.variant, "replication": run.replication}


def _with_identity(df: pd.DataFrame, ident: dict) -> pd.DataFrame:
    for i, (k, v) in enumerate(ident.items()):
        df.insert(i, k, v)
    return df


def run_one(
    run: RunSpec, *, progress: Callable[[int], None] | None = None, profile: bool = False
) -> RunResult:
    """Build the world of ``run``, step it to the end, and return its tables."""
    model = EcosystemModel(run.scenario, rng=run.seed, profile=profile)
    model.run(progress=progress)
    ident = _identity(run)
    steps = model.recorder.frame()
    steps.insert(1, "time_s", steps["step"] * run.scenario.step_seconds)
    steps = _with_identity(steps, ident)
    events = pd.DataFrame(model.events.columns, columns=list(EVENT_COLUMNS))
    events = events.astype(
        {
            "step": np.int64,
            "account": np.int64,
            "amount": np.float64,
            "value_usd": np.float64,
            # text columns typed even when a run has no events, so every part has one schema
            **dict.fromkeys(("kind", "protocol", "asset", "detail"), "str"),
        }
    )
    events = _with_identity(events, ident)
    health = _with_identity(model.recorder.health_frame(), ident)
    row = {
        **ident,
        **dict(run.design),
        "seed_entropy": str(run.seed.entropy),
        "spawn_key": ",".join(str(k) for k in run.seed.spawn_key),
        "steps": int(model.steps),
        **run_outcomes(model, steps, events),
        "status": "ok",
        "error": "",
        "traceback": "",
    }
    return RunResult(run=row, steps=steps, events=events, health=health)


def execute_run(run: RunSpec, progress: Callable[[int], None] | None = None) -> RunResult:
    """:func:`run_one`, but a run that raises becomes a ``failed`` row with its traceback.

    The work unit every backend ships (top level, so spawned processes and Ray can import it).
    Exceptions are data here: a deterministic failure would fail again, so it is not retried.
    """
    started = time.perf_counter()
    try:
        result = run_one(run, progress=progress)
    except Exception as exc:
        log.warning("run %s failed: %s: %s", run.run_id, type(exc).__name__, exc)
        row = {
            **_identity(run),
            **dict(run.design),
            "seed_entropy": str(run.seed.entropy),
            "spawn_key": ",".join(str(k) for k in run.seed.spawn_key),
            "status": "failed",
            "error": f"{type(exc).__name__}: {exc}",
            "traceback": traceback.format_exc(),
        }
        empty = pd.DataFrame()
        result = RunResult(run=row, steps=empty, events=empty, health=empty)
    result.wall_time_s = time.perf_counter() - started
    result.worker = f"{socket.gethostname()}:{os.getpid()}"
    return result


class _Progress:
    """A progress bar counting runs (done, failed, ETA); fractions come from per-step ticks."""

    def __init__(self, total: int, done: int, desc: str, enabled: bool) -> None:
        self.failed = 0
        self.done = done
        self.bar = None
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(
                total=total,
                initial=done,
                unit="run",
                desc=desc,
                dynamic_ncols=True,
                mininterval=0.5,
                bar_format="{l_bar}{bar}| {n:.1f}/{total} [{elapsed}<{remaining}{postfix}]",
            )
            self._postfix()

    def _postfix(self) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(f"failed={self.failed}", refresh=False)

    def tick(self, fraction: float) -> None:
        if self.bar is not None:
            self.bar.update(fraction)

    def finished(self, failed: bool) -> None:
        self.done += 1
        self.failed += int(failed)
        if self.bar is not None:
            self.bar.n = self.done
            self._postfix()
            self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def execute(
    runs: Sequence[RunSpec],
    folder: Path,
    *,
    backend: str = "serial",
    workers: int | None = None,
    address: str | None = None,
    progress: bool = True,
    retry_failed: bool = False,
) -> ExecutionSummary:
    """Run ``runs`` on ``backend`` into ``folder`` and write its consolidated tables.

    Each run that finishes is written at once as a part (``folder/parts/<run_id>``); runs that
    already have a part are skipped (``retry_failed`` re-runs the failed ones), so the same call
    after an interruption finishes the job. The tables are then consolidated in the order of
    ``runs`` and the parts removed: equal inputs give byte-identical tables whatever the backend
    and however often the execution was interrupted.

    Raises
    ------
    ValueError
        If ``backend`` is unknown or two runs share a run id.
    """
    from experiments.backends import BACKENDS

    if backend not in BACKENDS:
        raise ValueError(f"execute.backend: must be one of {', '.join(BACKENDS)}, got {backend!r}")
    ids = [r.run_id for r in runs]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise ValueError(f"execute.runs: run ids must be unique, {dup!r} repeats")
    folder = Path(folder)
    started = time.perf_counter()
    finished = finished_parts(folder)
    if not finished and _complete(folder, ids):
        n_failed = int((read_table(folder / RUNS_FILE)["status"] != "ok").sum())
        return ExecutionSummary(
            len(ids), 0, len(ids), n_failed, time.perf_counter() - started, already_complete=True
        )
    skip = {i for i, s in finished.items() if s == "ok" or not retry_failed}
    todo = [r for r in runs if r.run_id not in skip]
    desc = runs[0].experiment if runs else ""
    bar = _Progress(len(runs), len(runs) - len(todo), desc, progress)

    def tick(run: RunSpec, n: int) -> None:  # per-step progress (the serial backend reports it)
        bar.tick(n / run.scenario.steps)

    n_failed = sum(1 for i in skip if finished[i] != "ok")
    results = BACKENDS[backend](todo, workers=workers, address=address, on_step=tick)
    try:
        _write_results(folder, islice(results, len(todo)), bar)
        # the backend winds down (pool processes exiting, a local Ray cluster shutting down)
        # while the parts are consolidated; closing it below waits for that
        consolidate_parts(folder, ids)
    finally:
        results.close()
    return ExecutionSummary(
        len(ids),
        len(todo),
        len(runs) - len(todo),
        bar.failed + n_failed,
        time.perf_counter() - started,
    )


def _write_results(folder: Path, results: Iterator[RunResult], bar: _Progress) -> None:
    """Write each run's result as a part as soon as it arrives."""
    try:
        for result in results:
            failed = result.run["status"] != "ok"
            tables = {
                "runs": pd.DataFrame([result.run]),
                "steps": result.steps,
                "events": result.events,
                "health": result.health,
            }
            info = {
                "status": result.run["status"],
                "wall_time_s": result.wall_time_s,
                "worker": result.worker,
            }
            write_part(folder, result.run["run_id"], tables, info)
            bar.finished(failed)
    finally:
        bar.close()


def _complete(folder: Path, ids: list[str]) -> bool:
    """Whether ``folder`` already holds the consolidated tables of exactly these runs."""
    try:
        manifest = read_manifest(folder)
        runs = read_table(folder / RUNS_FILE)
    except (FileNotFoundError, ValueError):
        return False
    return bool((manifest.get("extra") or {}).get("complete")) and list(runs["run_id"]) == ids


def finish(
    folder: Path,
    *,
    spec: dict,
    digest: str,
    summary: ExecutionSummary,
    backend: str,
    extra: dict,
) -> pd.DataFrame:
    """Write the manifest of a completed execution, remove the parts, return runs.parquet.

    A call that found the results already complete leaves the manifest (and its wall time) alone.
    Parts are removed only when every run succeeded.
    """
    runs = read_table(folder / RUNS_FILE)
    if summary.already_complete:
        return runs
    n_failed = int((runs["status"] != "ok").sum())
    write_manifest(
        folder,
        spec=spec,
        spec_hash=digest,
        wall_time_s=summary.wall_time_s,
        backend=backend,
        extra={
            **extra,
            "n_runs": summary.n_runs,
            "n_failed": n_failed,
            "n_resumed": summary.n_skipped,
            "complete": True,
        },
    )
    if n_failed == 0:  # parts of failed runs stay, so that --retry-failed re-runs only those
        remove_parts(folder)
    return runs


def run_experiment(
    spec: ExperimentSpec,
    *,
    out_root: Path = Path("results"),
    progress: bool = True,
    report: bool = True,
    backend: str = "serial",
    workers: int | None = None,
    address: str | None = None,
) -> ExperimentResult:
    """Run every run of ``spec`` on ``backend`` and write its results folder (resumable)."""
    from experiments.report import write_report

    spec_json = spec_to_dict(spec)
    digest = spec_hash(spec_json)
    folder = result_dir(out_root, spec.name, digest)
    runs = expand(spec)
    summary = execute(
        runs, folder, backend=backend, workers=workers, address=address, progress=progress
    )
    runs_df = finish(
        folder,
        spec=spec_json,
        digest=digest,
        summary=summary,
        backend=backend,
        extra={"experiment": spec.name},
    )
    if report:
        write_report(folder)
    return ExperimentResult(path=folder, runs=runs_df, wall_time_s=summary.wall_time_s)
