"""Time the margin kernels against their plain NumPy references, printed as one table.

Run: ``.venv/bin/python benchmarks/bench_margin.py [--sizes 1e3,1e4,1e5,1e6] [--repeats 5]``.

For each book size (about 10 positions per account, rows grouped by account as a venue stores
them) it times, after one warm-up call, the median of ``--repeats`` runs of:

- Greeks: ``greek_kernels.black76_greeks_usd`` vs ``pricing_references.numpy_black76_greeks_usd``
  over the book's options;
- full revaluation: ``portfolio_margin(method=FULL)`` on the 27-scenario Deribit grid, aggregated
  per account, vs ``margin_references.portfolio_margin_ref``;
- Taylor: ``portfolio_margin(method=TAYLOR)`` vs ``portfolio_margin_ref(taylor=True)``, from
  the same ``PositionBook`` as the full call (Greeks included, nothing cached between calls);
- its two parts, no NumPy twin: ``taylor|agg``, the fused Greeks-and-aggregates pass
  (``taylor_kernels.taylor_aggregates``; the note gives the Greek-based
  ``portfolio_kernels.greek_aggregates`` it replaced), and ``taylor|held``, the scenario pass
  alone (``margin_from_greeks``), what a venue that already holds per-account Greeks pays.

Throughput is position-scenario revaluations per second (``n_positions x 27 / seconds``; for
Taylor the same count, i.e. revaluations *replaced*). Every kernel is single-threaded, so the
throughput is per core. The Taylor speed-up over full revaluation is the median of ratios of
back-to-back (full, Taylor) pairs, so load from other processes hits both sides alike. The
Taylor rows also show its error against full revaluation on the same book. A cold start
(import + compile + first call) runs in a subprocess with an empty ``NUMBA_CACHE_DIR`` and
again with that cache warm. The machine may be shared: numbers are
indicative.
"""

from __future__ import annotations

import argparse
import functools
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from protocols.margin.book import InstrumentKind, PositionBook
from protocols.margin.greek_kernels import black76_greeks_usd
from protocols.margin.margin_references import portfolio_margin_ref
from protocols.margin.portfolio_kernels import greek_aggregates, margin_from_greeks
from protocols.margin.portfolio_margin import (
    MarginMethod,
    basis_risk,
    portfolio_margin,
)
from protocols.margin.pricing_references import numpy_black76_greeks_usd
from protocols.margin.scenario_grid import ScenarioGrid, deribit_grid
from protocols.margin.taylor_kernels import taylor_aggregates

FORWARD_USD = 60_000.0
EXPIRIES_DAYS = np.array([1, 2, 3, 7, 14, 21, 28, 56, 91, 119, 182]) - 1.0 / 3.0
"""Deribit-like listed expiries (dailies, weeklies, monthlies, quarterlies), 8 hours before."""
EXPIRY_WEIGHTS = np.array([0.03, 0.03, 0.03, 0.06, 0.06, 0.06, 0.15, 0.15, 0.2, 0.1, 0.13])
"""Share of strategies per expiry: open interest sits mostly in monthlies and quarterlies [R]."""

_CALL, _PUT, _FUT = int(InstrumentKind.CALL), int(InstrumentKind.PUT), int(InstrumentKind.FUTURE)
# (kinds, strike moneyness sign per leg: -1 OTM put side, +1 OTM call side, 0 none, signs of size)
_STRATEGIES = (
    ((_PUT,), (-1,), (-1,)),  # short OTM put
    ((_CALL,), (1,), (-1,)),  # short OTM call
    ((_FUT, _PUT), (0, -1), (1, 1)),  # long future + protective put
    ((_CALL, _CALL), (1, 2), (1, -1)),  # call spread
    ((_PUT, _PUT), (-1, -2), (1, -1)),  # put spread
    ((_FUT, _CALL), (0, 1), (1, -1)),  # covered call
    ((_PUT, _CALL), (-1, 1), (-1, -1)),  # short strangle
    ((_FUT,), (0,), (-1,)),  # futures hedge
    ((_CALL,), (1,), (1,)),  # long OTM call
)


def realistic_book(n_positions: int, rng: np.random.Generator) -> PositionBook:
    """About 10 positions per account drawn from common option strategies.

    Strikes are OTM by a normal multiple of the expiry's 1-sd move, rounded to $500; IVs follow a
    skewed smile ``atm + skew ln(K/F) + curvature ln(K/F)^2`` clipped to 40-120%; sizes are
    lognormal (0.1-20 coins) with the strategy's signs.
    """
    kinds: list[int] = []
    moneyness: list[int] = []
    signs: list[int] = []
    legs_account: list[int] = []
    legs_strategy: list[int] = []
    account = 0
    in_account = 0
    per_account = rng.integers(6, 15)
    n_strat = 0
    while len(kinds) < n_positions:
        k, m, s = _STRATEGIES[rng.integers(len(_STRATEGIES))]
        kinds += k
        moneyness += m
        signs += s
        legs_account += [account] * len(k)
        legs_strategy += [n_strat] * len(k)
        n_strat += 1
        in_account += len(k)
        if in_account >= per_account:
            account += 1
            in_account = 0
            per_account = rng.integers(6, 15)
    kind = np.array(kinds[:n_positions])
    mono = np.array(moneyness[:n_positions], dtype=float)
    sign = np.array(signs[:n_positions], dtype=float)
    acc = np.array(legs_account[:n_positions])
    strat = np.array(legs_strategy[:n_positions])
    n_strat = strat.max() + 1
    t_years = rng.choice(EXPIRIES_DAYS, size=n_strat, p=EXPIRY_WEIGHTS)[strat] / 365.0
    atm = rng.uniform(0.45, 0.85, size=n_strat)[strat]
    size = np.exp(rng.normal(0.0, 1.0, size=n_strat))[strat].clip(0.1, 20.0) * sign
    move = np.abs(rng.normal(0.8, 0.5, size=n_positions)) * mono
    strike = FORWARD_USD * np.exp(move * atm * np.sqrt(t_years))
    strike = np.maximum(np.round(strike / 500.0) * 500.0, 500.0)
    x = np.log(strike / FORWARD_USD)
    iv = np.clip(atm - 0.25 * x + 0.6 * x * x, 0.40, 1.20)
    return PositionBook(
        account=acc,
        kind=kind,
        size_base=size,
        strike_usd=np.where(kind == _FUT, 0.0, strike),
        t_years=t_years,
        iv=iv,
        n_accounts=int(acc.max()) + 1,
    )


def _median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up: compilation (or cache load) and first-touch of memory
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def _median_paired_ratio(slow, fast, repeats: int) -> float:
    """Median over ``repeats`` back-to-back pairs of ``time(slow) / time(fast)``."""
    ratios = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        slow()
        t1 = time.perf_counter()
        fast()
        ratios.append((t1 - t0) / (time.perf_counter() - t1))
    return float(np.median(ratios))


_COLD = """
import time
t0 = time.perf_counter()
import numpy as np
from protocols.margin.book import PositionBook
from protocols.margin.portfolio_margin import MarginMethod, portfolio_margin
from protocols.margin.scenario_grid import ScenarioGrid, deribit_grid
book = PositionBook(account=np.array([0, 0]), kind=np.array([0, 2]), size_base=np.array([1.0, 1.0]),
                    strike_usd=np.array([0.0, 55000.0]), t_years=np.array([0.0, 0.1]),
                    iv=np.array([0.0, 0.6]), n_accounts=1)
for m in MarginMethod:
    portfolio_margin(book, 60000.0, deribit_grid(), method=m)
print(time.perf_counter() - t0)
"""


def cold_start_seconds() -> tuple[float, float]:
    """(compile from an empty cache, load from the warm cache): import + first PM calls, s."""
    out = []
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        for _ in range(2):
            res = subprocess.run(
                [sys.executable, "-c", _COLD], env=env, capture_output=True, text=True, check=True
            )
            out.append(float(res.stdout.strip().splitlines()[-1]))
    return out[0], out[1]


def bench_size(
    book: PositionBook, grid: ScenarioGrid, repeats: int
) -> list[tuple[str, float, float, float, str]]:
    """``(kernel, numba s, numpy s, work units, note)`` rows for one book."""
    f = FORWARD_USD
    opt = book.kind != InstrumentKind.FUTURE
    fwd = np.full(int(opt.sum()), f)
    strike, t, iv = book.strike_usd[opt], book.t_years[opt], book.iv[opt]
    call = book.kind[opt] == InstrumentKind.CALL
    ones = np.ones_like(fwd)
    taylor = MarginMethod.TAYLOR
    g_nb = _median_seconds(lambda: black76_greeks_usd(fwd, strike, t, iv, ones, call), repeats)
    g_np = _median_seconds(
        lambda: numpy_black76_greeks_usd(fwd, strike, t, iv, ones, call), repeats
    )
    full = functools.partial(portfolio_margin, book, f, grid)
    tay = functools.partial(portfolio_margin, book, f, grid, method=taylor)
    full_nb = _median_seconds(full, repeats)
    full_np = _median_seconds(lambda: portfolio_margin_ref(book, f, grid), repeats)
    tay_nb = _median_seconds(tay, repeats)
    tay_np = _median_seconds(lambda: portfolio_margin_ref(book, f, grid, taylor=True), repeats)
    speedup = _median_paired_ratio(full, tay, repeats)
    # The Taylor path's two parts: the fused pass over positions, and the scenario pass over
    # accounts alone (what a venue that already holds each account's Greeks pays).
    spot, vol, weights, term, charges = grid.kernel_arrays()
    cols = (book.account, book.kind, book.size_base, book.strike_usd, book.t_years, book.iv)
    agg_args = (*cols, f, term, charges, book.n_accounts)
    fused = _median_seconds(lambda: taylor_aggregates(*agg_args), repeats)
    greek_based = _median_seconds(lambda: greek_aggregates(*agg_args), repeats)
    greeks, agg, _ = taylor_aggregates(*agg_args)
    held = _median_seconds(
        lambda: margin_from_greeks(greeks, agg, spot, vol, weights, charges, f), repeats
    )
    basis = basis_risk(book, f, grid)
    revals = book.n_positions * grid.n_scenarios
    return [
        ("greeks", g_nb, g_np, fwd.size, f"{fwd.size:,} options (Mrev/s = M options/s)"),
        ("full PM", full_nb, full_np, revals, f"{book.n_accounts:,} accounts"),
        (
            "taylor PM",
            tay_nb,
            tay_np,
            revals,
            f"{speedup:.1f}x faster than full (median of paired runs); margin error max "
            f"{basis.max_abs_diff_usd:,.0f} p99 {basis.p99_abs_diff_usd:,.0f} USD, rel p99 "
            f"{basis.p99_rel_diff:.1%}, under-margined {basis.under_margined_frac:.0%} of "
            f"accounts (mean full {basis.full_usd.mean():,.0f} USD)",
        ),
        (
            "taylor|agg",
            fused,
            float("nan"),
            revals,
            f"fused Greeks+aggregates pass, {fused / book.n_positions * 1e9:.1f} ns/position "
            f"(Greek-based greek_aggregates: {greek_based / book.n_positions * 1e9:.1f})",
        ),
        (
            "taylor|held",
            held,
            float("nan"),
            revals,
            f"scenario pass only, {held / book.n_positions * 1e9:.1f} ns/position: "
            f"{full_nb / held:.0f}x faster than full, per-account Greeks already held",
        ),
    ]


def main() -> int:
    """Run the benchmark and print its table."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--sizes", default="1e3,1e4,1e5,1e6", help="comma-separated position counts")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--seed", type=int, default=20240521)
    p.add_argument("--no-cold", action="store_true", help="skip the cold-start subprocesses")
    args = p.parse_args()
    sizes = [int(float(s)) for s in args.sizes.split(",")]
    rng = np.random.default_rng(args.seed)
    grid = deribit_grid()
    n_s = grid.n_scenarios

    head = (
        f"{'kernel':<11} {'positions':>10} {'numba s':>9} {'numpy s':>9} {'ratio':>6} "
        f"{'numba Mrev/s':>12} {'numpy Mrev/s':>12}  notes"
    )
    print(f"margin kernels, Deribit grid ({n_s} scenarios), median of {args.repeats} after warm-up")
    print(head)
    print("-" * len(head))
    for n in sizes:
        for name, nb, nm, revs, note in bench_size(realistic_book(n, rng), grid, args.repeats):
            print(
                f"{name:<11} {n:>10,} {nb:>9.4f} {nm:>9.4f} {nm / nb:>6.1f} "
                f"{revs / nb / 1e6:>12.1f} {revs / nm / 1e6:>12.1f}  {note}"
            )
    if not args.no_cold:
        cold, warm = cold_start_seconds()
        print()
        print(
            f"cold start, empty NUMBA_CACHE_DIR (import + compile + first PM calls): {cold:.2f} s"
        )
        print(f"warm start, cache populated (import + load + first PM calls):         {warm:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
