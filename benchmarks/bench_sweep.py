"""Time one sweep of 64 small runs on the serial, process and Ray backends.

Run: ``.venv/bin/python benchmarks/bench_sweep.py [--workers 2] [--steps 1440]``. The sweep is the
governance sweep's base world (521 agents, one-minute steps) on a 4 x 4 grid of maintenance-margin
scale and time-lock over its four scenarios, one replication: 64 runs. Each backend writes to its
own folder (a shared one would resume instead of running). Reported per backend: wall time, the
speed-up against serial, and the per-run overhead, ``wall * workers / runs - mean run time`` (the
CPU time per run not spent inside ``run_one``: process start-up, imports, pickling, Parquet
parts, consolidation). Ray is timed twice: end to end (``run_sweep`` starts and stops a local
cluster) and on a cluster that is already up. The goal is a speed-up of 1.7 or more on 2 cores.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path


def _measure(sweep, out: Path, backend: str, workers: int) -> tuple[float, float]:
    from experiments.store import read_table
    from experiments.sweep import run_sweep

    t0 = time.perf_counter()
    result = run_sweep(
        sweep, out_root=out, backend=backend, workers=workers, progress=False, report=False
    )
    wall = time.perf_counter() - t0
    mean_run = float(read_table(result.path / "timings.parquet")["wall_time_s"].mean())
    failed = int((result.runs["status"] != "ok").sum())
    if failed:
        raise RuntimeError(f"{backend}: {failed} runs failed")
    return wall, mean_run


def main() -> int:
    """Run the benchmark and print its table."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--steps", type=int, default=1_440)
    p.add_argument("--skip-ray", action="store_true")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)

    from experiments.catalog.governance_sweep import SWEEP
    from experiments.overrides import apply_overrides
    from experiments.sweep import SweepAxis, expand_sweep

    sweep = apply_overrides(
        SWEEP, {"name": "bench-sweep", "replications": 1, "base.scenario.steps": args.steps}
    )
    sweep = replace(
        sweep,
        axes=(
            SweepAxis(path="perp.mm_scale", values=(0.75, 1.0, 1.25, 1.5)),
            SweepAxis(path="governance.timelock_seconds", values=(0.0, 600.0, 1_800.0, 14_400.0)),
        ),
    )
    n = len(expand_sweep(sweep))
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp:
        root = Path(tmp)
        serial_wall, serial_run = _measure(sweep, root / "serial", "serial", 1)
        rows.append(("serial", 1, serial_wall, serial_run))
        wall, run = _measure(sweep, root / "process", "process", args.workers)
        rows.append(("process", args.workers, wall, run))
        if not args.skip_ray:
            wall, run = _measure(sweep, root / "ray", "ray", args.workers)
            rows.append(("ray (starts a local cluster)", args.workers, wall, run))
            import ray

            from experiments.backends import loopback_ray_env

            t0 = time.perf_counter()
            with loopback_ray_env():
                ray.init(
                    address="local",
                    num_cpus=args.workers,
                    include_dashboard=False,
                    logging_level=logging.WARNING,
                    log_to_driver=False,
                )
            startup = time.perf_counter() - t0
            try:
                wall, run = _measure(sweep, root / "ray-up", "ray", args.workers)
            finally:
                ray.shutdown()
            rows.append((f"ray (cluster up; start-up {startup:.1f} s)", args.workers, wall, run))

    print(f"\n{n} runs of {args.steps} steps, {sweep.base.scenario.agents.n_total} agents each\n")
    header = (
        f"{'backend':<36} {'workers':>7} {'wall s':>8} {'speed-up':>9} {'run s':>7} "
        f"{'overhead/run s':>15}"
    )
    print(header)
    print("-" * len(header))
    for name, workers, wall, run in rows:
        overhead = wall * workers / n - run
        print(
            f"{name:<36} {workers:>7} {wall:>8.1f} {serial_wall / wall:>8.2f}x {run:>7.2f} "
            f"{overhead:>15.3f}"
        )
    return 0


if __name__ == "__main__":  # spawned workers import this module: keep the guard
    sys.exit(main())
