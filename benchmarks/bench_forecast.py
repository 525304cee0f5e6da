"""Held-out QLIKE and MSE of every volatility forecaster, per asset, calm and stressed.

Run: ``.venv/bin/python benchmarks/bench_forecast.py [--refit-days N]`` (the same table as
``cascadelab forecast evaluate``). About 20-60 s on a 2-core machine: walk-forward refits every
``refit_days`` over 2019-01 to 2021-06 on Binance hourly BTC/ETH, then the models fitted on all of
Binance forecast CoinGecko WBTC/WETH 2021-08 to 2023-02 (LUNA and FTX included). See
``experiments/forecasting.py`` for the definitions.
"""

from __future__ import annotations

import argparse
import sys
import time


def main() -> int:
    """Evaluate and print the tables."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--refit-days", type=int, default=90)
    args = p.parse_args()
    from experiments.forecasting import EvaluationSpec, evaluate, format_table

    t0 = time.perf_counter()
    table, _ = evaluate(EvaluationSpec(refit_days=args.refit_days))
    print(format_table(table))
    print(f"wall time {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
