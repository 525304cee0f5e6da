"""Time one sweep of 64 small runs on the serial, process and Ray backends.

Run: ``.venv/bin/python benchmarks/bench_sweep.py [--workers 2] [--steps 1440]``. The sweep is the
governance sweep's base world (521 agents, one-minute steps) on a 4 x 4 grid of maintenance-margin
scale and time-lock over its four scenarios, one replication: 64 runs. Each backend writes to its
own folder (a shared one would resume instead of running). Reported per backend: wall time, the
speed-up against serial, and the per-run overhead, ``wall * workers / runs - mean run time`` (the
CPU time per run not spent inside ``run_one``: process start-up, imports, pickling, Parquet
parts, consolidation). Ray is timed twice: end to end, as ``cascadelab sweep NAME --backend ray``
runs it (``run_sweep`` starts a local cluster, in the background while the driver executes the
first runs itself, and shuts it down before returning: both inside the wall time), and on a
cluster that is already up (start-up outside the wall time, for comparison only). The Ray rows
also say how many runs the driver executed. The goal is a speed-up of 1.7 or more on 2 cores.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path


def _measure(sweep, out: Path, backend: str, workers: int) -> tuple[float, float, int]:
    """Wall time of the sweep, mean run time, and the number of runs executed in this process."""
    from experiments.store import read_table
    from experiments.sweep import run_sweep

    t0 = time.perf_counter()
    result = run_sweep(
        sweep, out_root=out, backend=backend, workers=workers, progress=False, report=False
    )
    wall = time.perf_counter() - t0
    failed = result.runs[result.runs["status"] != "ok"]
    if len(failed):
        raise RuntimeError(
            f"{backend}: {len(failed)} runs failed, first: {failed['error'].iloc[0]}"
        )
    timings = read_table(result.path / "timings.parquet")
    in_driver = int(timings["worker"].str.endswith(f":{os.getpid()}").sum())
    return wall, float(timings["wall_time_s"].mean()), in_driver


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
        serial_wall, serial_run, _ = _measure(sweep, root / "serial", "serial", 1)
        rows.append(("serial", 1, serial_wall, serial_run))
        wall, run, _ = _measure(sweep, root / "process", "process", args.workers)
        rows.append(("process", args.workers, wall, run))
        if not args.skip_ray:
            wall, run, in_driver = _measure(sweep, root / "ray", "ray", args.workers)
            rows.append((f"ray (local cluster; {in_driver} in driver)", args.workers, wall, run))
            import ray

            from experiments.backends import start_local_ray

            t0 = time.perf_counter()
            start_local_ray(args.workers)  # the backend's settings, in the foreground
            startup = time.perf_counter() - t0
            try:
                wall, run, _ = _measure(sweep, root / "ray-up", "ray", args.workers)
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
