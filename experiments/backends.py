"""Execution backends: ``BACKENDS[name](runs, *, workers, address, on_step)`` is a generator
that yields a :class:`~experiments.runner.RunResult` for every run, in the order the runs finish.

A backend only decides *where* :func:`~experiments.runner.execute_run` is called; results, their
order in the tables and resumption are the runner's business, so every backend gives the same
tables. At most a few runs per worker are in flight at once, so memory stays bounded however many
runs there are. Once it has the last result in hand, a backend starts winding down (a pool's
processes exiting, a local Ray cluster shutting down) before yielding it; closing the generator
waits for that to finish, so the caller can consolidate the tables in between. Ray is an
optional extra, imported only by the Ray backend's functions.
"""

from __future__ import annotations

import contextlib
import gc
import ipaddress
import logging
import multiprocessing
import os
import pickle
import tempfile
import threading
import time
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from functools import partial
from itertools import islice
from pathlib import Path
from types import MappingProxyType

from experiments.runner import RunResult, RunSpec, execute_run

__all__ = [
    "BACKENDS",
    "RAY_MAX_RETRIES",
    "Backend",
    "loopback_ray_env",
    "run_process",
    "run_ray",
    "run_serial",
    "start_local_ray",
]

log = logging.getLogger(__name__)

Backend = Callable[..., Generator[RunResult, None, None]]
OnStep = Callable[[RunSpec, int], None]

# Times Ray re-runs a task whose worker died (lost node, OOM kill); an exception raised by the
# run itself is a result (status "failed") and never retried.
RAY_MAX_RETRIES = 3
_IN_FLIGHT_PER_WORKER = 2  # queued work per worker: keeps workers busy, memory bounded
# STACK.md, "Ray on loopback": with these set before Ray starts (the second one before Ray is
# imported: see loopback_ray_env), it only uses 127.0.0.1.
_RAY_LOOPBACK_ENV = {
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_USAGE_STATS_REPORT_URL": "http://127.0.0.1:9/",
    "RAY_AUTH_MODE": "disabled",
}


# Ray's system config for a local cluster (Ray 2.60). Its workers import experiments.runner as
# they start; and three of Ray's start-up waits are cut short, which are idle time on 2 cores:
# - no metrics collection: with it on, the raylet waits for the metrics agent (about 0.6 s)
#   before it registers with the GCS, which ray.init polls once a second (GlobalStateAccessor::
#   GetNode), so start-up often took a second longer; nothing reads the metrics of a cluster that
#   lives for one sweep;
# - the raylet connects to its own object store right after starting the store's thread, and if
#   the socket is not bound yet (likely while the driver keeps a core busy) it retries only after
#   raylet_client_connect_timeout_milliseconds, 1 s by default: every 50 ms here, with the same
#   10 s of patience;
# - the workers start (and import) with the raylet, not once ray.init has connected: they use the
#   core left idle while ray.init waits for its next poll (enable_worker_prestart; still one
#   worker per CPU).
_LOCAL_RAY_CONFIG: Mapping[str, object] = MappingProxyType(
    {
        "preload_python_modules": [execute_run.__module__],
        "enable_metrics_collection": False,
        "raylet_client_connect_timeout_milliseconds": 50,
        "raylet_client_num_connect_attempts": 200,
        "enable_worker_prestart": True,
    }
)


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
) -> Generator[RunResult, None, None]:
    """Every run in this process, one after the other (with per-step progress)."""
    for run in runs:
        yield execute_run(run, progress=partial(on_step, run) if on_step else None)


def run_process(
    runs: Sequence[RunSpec],
    *,
    workers: int | None = None,
    address: str | None = None,
    on_step: OnStep | None = None,
) -> Generator[RunResult, None, None]:
    """A pool of ``workers`` spawned processes (default: one per core).

    Spawn, not fork: Mesa forces it anyway, and a forked numba/BLAS state is not safe. When the
    last run is done the pool is told to shut down before its results are yielded: its
    processes exit (about half a second of interpreter teardown) while the caller writes.
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
            for run in islice(queue, len(done)):  # refill first: workers stay busy meanwhile
                pending.add(pool.submit(execute_run, run))
            if not pending:
                pool.shutdown(wait=False)
            for future in done:
                yield future.result()
    finally:
        # on Ctrl-C or an abandoned generator: drop queued runs, do not wait for running ones;
        # after the last run, Python's exit handler of concurrent.futures joins the processes
        pool.shutdown(wait=False, cancel_futures=True)


@contextlib.contextmanager
def loopback_ray_env() -> Iterator[None]:
    """Apply STACK.md's loopback settings while Ray starts: its environment variables, a
    temporary HOME holding an empty ``ray_bootstrap_config.yaml`` (which skips the
    cloud-metadata probe), and the node address 127.0.0.1.

    Ray reads ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER`` once, when it is imported
    (``ray_constants.ENABLE_RAY_CLUSTER``). Imported before the variable is set (by
    :func:`run_ray`, a test, a notebook), Ray would pick its node address by a UDP connect
    towards a public resolver (here 192.0.2.2, the machine's network interface) and its
    servers would listen on every interface. So the constant is also set, for the duration, to
    what the variable gives on import, and restored afterwards (a later ``--address`` join
    needs the reachable address).
    """
    # Ray 2.60 internals: if they move, nothing is set here and start_local_ray's check of the
    # node address still refuses a cluster that is not on loopback
    try:
        from ray._private import ray_constants
    except ImportError:
        ray_constants = None
    saved = {k: os.environ.get(k) for k in (*_RAY_LOOPBACK_ENV, "HOME")}
    saved_flag = getattr(ray_constants, "ENABLE_RAY_CLUSTER", None)
    with tempfile.TemporaryDirectory(prefix="cascadelab-ray-home-") as home:
        (Path(home) / "ray_bootstrap_config.yaml").write_text("{}\n", encoding="utf-8")
        os.environ.update(_RAY_LOOPBACK_ENV)
        os.environ["HOME"] = home
        if saved_flag is not None:
            ray_constants.ENABLE_RAY_CLUSTER = False
        try:
            yield
        finally:
            if saved_flag is not None:
                ray_constants.ENABLE_RAY_CLUSTER = saved_flag
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


# Processes of Ray's head node (Ray 2.60, methods of ray._private.node.Node) that a local
# cluster living for one sweep does without; ray.init has no switch for them:
# - the API server: include_dashboard=False still starts it (with Ray's usage-stats module
#   only), and ray.init waits, polling every 0.1 s, until it has written its address to the GCS,
#   before the raylet (and so the workers) can start;
# - the autoscaler monitor: a cluster of fixed size has nothing to scale, and ray.shutdown
#   gives it a second to exit after the GCS has gone;
# - the log monitor: it forwards the workers' output to the driver, which log_to_driver=False
#   turns off.
# The raylet, the GCS, and the agents the raylet starts itself are left as they are.
_SKIPPED_HEAD_PROCESSES = ("start_api_server", "start_monitor", "start_log_monitor")


def _skip_process(*args: object, **kwargs: object) -> None:
    """Stands in for one of :data:`_SKIPPED_HEAD_PROCESSES` while a local cluster starts."""


@contextlib.contextmanager
def _lean_head_node() -> Iterator[None]:
    """While Ray starts a local cluster, its head node starts none of
    :data:`_SKIPPED_HEAD_PROCESSES`; Ray's methods are restored afterwards, also on an error.

    Best effort over Ray internals: if the class or a method is not where Ray 2.60 has it, it is
    left alone (Ray then starts that process as before).
    """
    try:
        from ray._private.node import Node
    except ImportError:  # moved: Ray starts every process as before
        Node = None
    known = vars(Node) if Node is not None else {}
    saved = {name: known[name] for name in _SKIPPED_HEAD_PROCESSES if name in known}
    for name in saved:
        setattr(Node, name, _skip_process)
    try:
        yield
    finally:
        for name, method in saved.items():
            setattr(Node, name, method)


class _SigtermNoteFilter(logging.Filter):
    """Drops Ray's note that a driver started outside the main thread sets no SIGTERM handler:
    expected here (the driver's processes still die with it: Ray ties them to its lifetime)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("SIGTERM handler is not set")


def start_local_ray(n_cpus: int) -> None:
    """Start a new local Ray cluster of ``n_cpus`` CPUs on loopback and connect to it.

    The settings of :func:`run_ray`: STACK.md's loopback environment and the node address
    127.0.0.1 (checked once it is up: a cluster on any other address is shut down and an error
    raised), no dashboard, no worker logs forwarded to the driver, no metrics collection, a head
    node without API server, autoscaler monitor or log monitor (:func:`_lean_head_node`), and
    the workers Ray prestarts import :mod:`experiments.runner` while the cluster comes up (Ray's
    ``preload_python_modules``), so the first tasks do not pay for the imports. Useful to keep
    one cluster up across several sweeps (``run_ray`` reuses a connected driver); end it with
    ``ray.shutdown()``.

    Ray ties the processes it starts to the life of the calling *thread*
    (``PR_SET_PDEATHSIG``): call it from a thread that outlives the cluster.
    """
    if n_cpus < 1:
        raise ValueError(f"start_local_ray.n_cpus: must be >= 1, got {n_cpus}")
    import ray

    note = _SigtermNoteFilter()
    ray_log = logging.getLogger("ray._private.worker")
    ray_log.addFilter(note)
    try:
        # "local": a new cluster, never one found on the machine
        with loopback_ray_env(), _lean_head_node():
            ray.init(
                address="local",
                num_cpus=n_cpus,
                include_dashboard=False,
                logging_level=logging.WARNING,
                log_to_driver=False,
                # a copy: Ray writes into the dict it is given (the session's spilling directory)
                _system_config=dict(_LOCAL_RAY_CONFIG),
            )
    finally:
        ray_log.removeFilter(note)
    node_ip = ray.util.get_node_ip_address()
    if not ipaddress.ip_address(node_ip).is_loopback:  # never leave Ray listening outside
        ray.shutdown()
        raise RuntimeError(
            f"start_local_ray: the local Ray cluster came up on {node_ip}, not on loopback "
            f"(Ray {ray.__version__}); it was shut down"
        )


class _LocalCluster:
    """A local Ray cluster started (and later shut down) by a background thread.

    The thread that calls ``ray.init`` must outlive the cluster: Ray ties the processes it
    spawns to the life of the spawning *thread* (``PR_SET_PDEATHSIG``). So the thread starts
    Ray, reports, waits for :meth:`close`, then shuts Ray down itself.
    """

    def __init__(self, n_cpus: int) -> None:
        self.error: BaseException | None = None
        self._checked = False
        self._ready = threading.Event()
        self._release = threading.Event()
        # daemon: a driver that dies without close() must not hang the interpreter at exit
        self._thread = threading.Thread(
            target=self._main, args=(n_cpus,), name="cascadelab-ray-start", daemon=True
        )
        self._thread.start()

    def _main(self, n_cpus: int) -> None:
        t0 = time.perf_counter()
        try:
            start_local_ray(n_cpus)  # looked up at call time: tests replace it
        except BaseException as exc:  # reported to the driver by check()
            self.error = exc
            self._ready.set()
            return
        self._ready.set()
        log.debug("local Ray cluster up in %.2f s", time.perf_counter() - t0)
        self._release.wait()
        import ray

        t0 = time.perf_counter()
        ray.shutdown()
        log.debug("local Ray cluster shut down in %.2f s", time.perf_counter() - t0)

    @property
    def started(self) -> bool:
        """Whether start-up has finished (successfully or not)."""
        return self._ready.is_set()

    def check(self, n_done: int) -> None:
        """Wait for start-up to finish; raise if it failed."""
        self._ready.wait()
        self._checked = True
        if self.error is not None:
            raise RuntimeError(
                f"run_ray: the local Ray cluster failed to start "
                f"({type(self.error).__name__}: {self.error}); the {n_done} run(s) finished "
                f"in this process are saved, the same command resumes after them"
            ) from self.error

    def release(self) -> None:
        """Start shutting the cluster down (after start-up, if it is still starting)."""
        self._release.set()

    def close(self) -> None:
        """Shut the cluster down and wait until it is down."""
        self._release.set()
        self._thread.join()
        if self.error is not None and not self._checked:  # every run finished without Ray
            log.warning("the local Ray cluster failed to start (not needed): %r", self.error)


def _ray_tasks(
    queue: Iterator[RunSpec], n_workers: int, drained: Callable[[], None] | None = None
) -> Iterator[RunResult]:
    """Every run left in ``queue`` as a Ray task on the connected cluster, as they finish.

    ``drained`` is called once the last result is in hand, before it is yielded (the local
    cluster starts shutting down then). That result is first copied out of the object store
    (``ray.get`` gives arrays that are read-only views of Ray's shared memory) by an in-band
    pickle round trip, and every other reference to Ray's objects is dropped.
    """
    import ray

    task = ray.remote(num_cpus=1, max_retries=RAY_MAX_RETRIES)(execute_run)
    # range first: zip must not pull (and lose) one run more than it keeps
    first = zip(range(n_workers * _IN_FLIGHT_PER_WORKER), queue, strict=False)
    pending = [task.remote(r) for _, r in first]
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        result = ray.get(done[0])
        nxt = next(queue, None)
        if nxt is not None:
            pending.append(task.remote(nxt))
        if not pending and drained is not None:
            # nothing of Ray's may outlive the cluster: a dropped ObjectRef or buffer calls
            # into the (by then shut down) core worker, which ends the process
            result = pickle.loads(pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
            del done
            gc.collect()
            drained()
        yield result


def run_ray(
    runs: Sequence[RunSpec],
    *,
    workers: int | None = None,
    address: str | None = None,
    on_step: OnStep | None = None,
) -> Generator[RunResult, None, None]:
    """Ray tasks: a local cluster of ``workers`` CPUs on loopback, or the cluster at ``address``.

    With ``address`` (``"auto"``, ``"127.0.0.1:6379"``, ``"ray://..."``) the environment is left
    as it is and the cluster's own CPUs are used; an already connected driver is reused. Ray is
    shut down afterwards only if this call started or joined it. A task whose worker dies is
    retried up to :data:`RAY_MAX_RETRIES` times.

    A local cluster takes seconds to start (about 1.5 s on 2 cores, then 0.5-1 s until its
    workers have imported the project: a tenth of a 64-run sweep), so it starts in a background
    thread while this process executes runs from the front of the queue itself, one at a time
    (with per-step progress); once Ray is up, the driver finishes the run in hand and the rest
    become Ray tasks. Every run is executed exactly once, and the results are the same wherever
    a run executes. If the cluster fails to start, the runs finished so far are yielded (and so
    saved) and a ``RuntimeError`` says what failed.
    """
    import ray

    if ray.is_initialized() or address is not None:
        yield from _run_on_cluster(runs, workers=workers, address=address)
        return
    n = _workers(workers)
    if not runs:  # nothing to do (a finished sweep resumed): no cluster
        return
    cluster = _LocalCluster(n)
    try:
        n_done = 0
        while n_done < len(runs) and not cluster.started:
            run = runs[n_done]
            yield execute_run(run, progress=partial(on_step, run) if on_step else None)
            n_done += 1
        if n_done < len(runs):
            cluster.check(n_done)
            log.debug("%d run(s) executed in the driver while Ray started", n_done)
            yield from _ray_tasks(iter(runs[n_done:]), n, drained=cluster.release)
    finally:
        cluster.close()  # waits for the shutdown; also on Ctrl-C and an abandoned generator


def _run_on_cluster(
    runs: Sequence[RunSpec], *, workers: int | None, address: str | None
) -> Generator[RunResult, None, None]:
    """:func:`run_ray` on a connected driver, or on the cluster at ``address``."""
    import ray

    joined = False
    if not ray.is_initialized():
        ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
        joined = True
    try:
        n = _workers(workers) if workers is not None else int(ray.cluster_resources()["CPU"])
        yield from _ray_tasks(iter(runs), n)
    finally:
        if joined:
            ray.shutdown()


BACKENDS: dict[str, Backend] = {"serial": run_serial, "process": run_process, "ray": run_ray}
