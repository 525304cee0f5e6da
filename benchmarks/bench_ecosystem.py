"""Time the ``baseline`` world: wall time, steps/s, agent actions/s, peak memory, time per phase.

Run: ``.venv/bin/python benchmarks/bench_ecosystem.py [--steps N] [--seed S]``. The baseline is
10,080 one-minute steps with 2,084 agents; the budget is 60 s on a 2-core machine. Build time
(population, warm start, numba compilation from cache) is reported separately from stepping.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time


def main() -> int:
    """Run the benchmark and print its tables."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--seed", type=int, default=None, help="root seed (default: the catalog's)")
    args = p.parse_args()

    t0 = time.perf_counter()
    from experiments import catalog
    from experiments.model import PHASES, EcosystemModel
    from experiments.overrides import apply_overrides
    from experiments.runner import expand

    experiment = catalog.get("baseline")
    if args.steps:
        experiment = apply_overrides(experiment, {"scenario.steps": args.steps})
    if args.seed is not None:
        experiment = apply_overrides(experiment, {"seed": args.seed})
    run = expand(experiment)[0]  # the same run (and seed) as `cascadelab run baseline`
    t_import = time.perf_counter() - t0

    t1 = time.perf_counter()
    model = EcosystemModel(run.scenario, rng=run.seed, profile=True)
    t_build = time.perf_counter() - t1
    t2 = time.perf_counter()
    model.run()
    t_run = time.perf_counter() - t2
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0

    rec = model.recorder.frame()
    n_agents = len(model.agents)
    actions = model.n_actions
    arb_calls = len(model.arbitrageurs) * model.steps
    total = t_import + t_build + t_run
    rows = [
        ("agents", f"{n_agents:,}"),
        ("steps", f"{model.steps:,}"),
        ("import (s)", f"{t_import:.2f}"),
        ("build world (s)", f"{t_build:.2f}"),
        ("run (s)", f"{t_run:.2f}"),
        ("total wall (s)", f"{total:.2f}"),
        ("steps / s", f"{model.steps / t_run:,.0f}"),
        ("scheduled agent actions", f"{actions:,}"),
        ("agent actions / s (scheduled)", f"{actions / t_run:,.0f}"),
        ("arbitrage passes (every step)", f"{arb_calls:,}"),
        ("ledger transfers", f"{model.ledger.transfer_count:,}"),
        ("events", f"{len(model.events):,}"),
        ("liquidation volume (USD)", f"{rec['liquidation_volume_usd'].sum():,.0f}"),
        ("peak RSS (MB)", f"{peak_mb:,.0f}"),
    ]
    width = max(len(k) for k, _ in rows)
    print("cascadelab baseline benchmark")
    for k, v in rows:
        print(f"  {k:<{width}}  {v:>14}")
    print()
    print(f"  {'phase':<12} {'seconds':>9} {'share':>7} {'us/step':>9}")
    phase_total = sum(model.phase_seconds.values())
    for name in PHASES:
        s = model.phase_seconds[name]
        print(f"  {name:<12} {s:>9.2f} {s / phase_total:>7.1%} {1e6 * s / model.steps:>9.1f}")
    print(f"  {'total':<12} {phase_total:>9.2f}")
    budget = 60.0
    print()
    print(f"  budget {budget:.0f} s: {'within' if total <= budget else 'OVER'} ({total:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
