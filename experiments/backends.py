"""Execution backends: ``BACKENDS[name](runs, *, workers, address, on_step)`` yields a
:class:`~experiments.runner.RunResult` for every run, in the order the runs finish.

A backend only decides *where* :func:`~experiments.runner.execute_run` is called; results, their
order in the tables and resumption are the runner's business, so every backend gives the same
tables. At most a few runs per worker are in flight at once, so memory stays bounded however many
runs there are. Ray is an optional extra, imported only by :func:`run_ray`.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from functools import partial
from pathlib import Path

from experiments.runner import RunResult, RunSpec, execute_run

__all__ = [
    "BACKENDS",
    "RAY_MAX_RETRIES",
    "Backend",
    "loopback_ray_env",
    "run_process",
    "run_ray",
    "run_serial",
]

log = logging.getLogger(__name__)

Backend = Callable[..., Iterator[RunResult]]
OnStep = Callable[[RunSpec, int], None]

# Times Ray re-runs a task whose worker died (lost node, OOM kill); an exception raised by the
# run itself is a result (status "failed") and never retried.
RAY_MAX_RETRIES = 3
_IN_FLIGHT_PER_WORKER = 2  # queued work per worker: keeps workers busy, memory bounded
# STACK.md, "Ray on loopback": with these set before Ray starts, it only uses 127.0.0.1.
_RAY_LOOPBACK_ENV = {
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_USAGE_STATS_REPORT_URL": "http://127.0.0.1:9/",
    "RAY_AUTH_MODE": "disabled",
}


def _workers(workers: int | None) -> int:
    n = (os.cpu_count() or 1) if workers is None else workers
    if n < 1:
        raise ValueError(f"backend.workers: must be >= 1, got {workers}")
    return n


def run_serial(
    runs: Sequence[RunSpec],
    *,
    workers: int | None = None,
    address: str | None = None,
    on_step: OnStep | None = None,
) -> Iterator[RunResult]:
    """Every run in this process, one after the other (with per-step progress)."""
    for run in runs:
        yield execute_run(run, progress=partial(on_step, run) if on_step else None)


def run_process(
    runs: Sequence[RunSpec],
    *,
    workers: int | None = None,
    address: str | None = None,
    on_step: OnStep | None = None,
) -> Iterator[RunResult]:
    """A pool of ``workers`` spawned processes (default: one per core).

    Spawn, not fork: Mesa forces it anyway, and a forked numba/BLAS state is not safe.
    """
    n = _workers(workers)
    pending: set[Future[RunResult]] = set()
    queue = iter(runs)
    pool = ProcessPoolExecutor(max_workers=n, mp_context=multiprocessing.get_context("spawn"))
    try:
        for run in queue:
            pending.add(pool.submit(execute_run, run))
            if len(pending) >= n * _IN_FLIGHT_PER_WORKER:
                break
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield future.result()
                nxt = next(queue, None)
                if nxt is not None:
                    pending.add(pool.submit(execute_run, nxt))
    finally:
        # on Ctrl-C or an abandoned generator: drop queued runs, do not wait for running ones
        pool.shutdown(wait=not pending, cancel_futures=True)


@contextlib.contextmanager
def loopback_ray_env() -> Iterator[None]:
    """Apply STACK.md's loopback settings (and a temporary HOME holding an empty
    ``ray_bootstrap_config.yaml``, which skips the cloud-metadata probe) while Ray starts."""
    saved = {k: os.environ.get(k) for k in (*_RAY_LOOPBACK_ENV, "HOME")}
    with tempfile.TemporaryDirectory(prefix="cascadelab-ray-home-") as home:
        (Path(home) / "ray_bootstrap_config.yaml").write_text("{}\n", encoding="utf-8")
        os.environ.update(_RAY_LOOPBACK_ENV)
        os.environ["HOME"] = home
        try:
            yield
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


def run_ray(
    runs: Sequence[RunSpec],
    *,
    workers: int | None = None,
    address: str | None = None,
    on_step: OnStep | None = None,
) -> Iterator[RunResult]:
    """Ray tasks: a local cluster of ``workers`` CPUs on loopback, or the cluster at ``address``.

    With ``address`` (``"auto"``, ``"127.0.0.1:6379"``, ``"ray://..."``) the environment is left
    as it is and the cluster's own CPUs are used; an already connected driver is reused. Ray is
    shut down afterwards only if this call started or joined it. A task whose worker dies is
    retried up to :data:`RAY_MAX_RETRIES` times.
    """
    import ray

    started = False
    if not ray.is_initialized():
        if address is None:
            with loopback_ray_env():  # "local": a new cluster, never one found on the machine
                ray.init(
                    address="local",
                    num_cpus=_workers(workers),
                    include_dashboard=False,
                    logging_level=logging.WARNING,
                    log_to_driver=False,
                )
        else:
            ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
        started = True
    try:
        task = ray.remote(num_cpus=1, max_retries=RAY_MAX_RETRIES)(execute_run)
        n = _workers(workers) if workers is not None else int(ray.cluster_resources()["CPU"])
        queue = iter(runs)
        # range first: zip must not pull (and lose) one run more than it keeps
        first = zip(range(n * _IN_FLIGHT_PER_WORKER), queue, strict=False)
        pending = [task.remote(r) for _, r in first]
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            result = ray.get(done[0])
            nxt = next(queue, None)
            if nxt is not None:
                pending.append(task.remote(nxt))
            yield result
    finally:
        if started:
            ray.shutdown()


BACKENDS: dict[str, Backend] = {"serial": run_serial, "process": run_process, "ray": run_ray}
