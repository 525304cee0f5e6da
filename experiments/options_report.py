"""Report sections of the options experiments, from the result tables alone.

- ``hedging-frequency``: one market maker per hedging rule and width in every run, all starting
  from the same short-straddle book; :func:`hedging_section` draws the frontier of hedging cost
  against tracking error per path kind (the variant) and tabulates it.
- ``options-amm-stress``: :func:`options_amm_section` tabulates LP drawdown, breaker trips,
  hedging cost and solvency per variant and plots the LP share price through the stress.

Market-maker outcome columns of runs.parquet are ``hedger_<label>_<metric>`` with the label of the
spec entry (``band:0.05`` -> ``band-0.05``), see :func:`hedger_columns`.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = [
    "HEDGER_METRICS",
    "hedger_columns",
    "hedging_frontier",
    "hedging_section",
    "options_amm_section",
    "options_amm_table",
    "plot_hedging_frontier",
]

HEDGER_METRICS = ("hedge_cost_usd", "tracking_error_usd", "pnl_usd", "rebalances")
"""Per-market-maker outcomes in runs.parquet (``hedger_<label>_<metric>``)."""

_RULE_ORDER = ("interval", "band", "ww")
_RULE_NAMES = {"interval": "fixed interval", "band": "delta band", "ww": "Whalley-Wilmott"}
_COLUMN = re.compile(r"^hedger_(?P<label>.+)_(?P<metric>" + "|".join(HEDGER_METRICS) + r")$")

_AMM_METRICS: tuple[tuple[str, str, float], ...] = (
    ("options_amm_lp_drawdown_frac", "LP share-price drawdown (%)", 100.0),
    ("options_amm_share_price_change_frac", "LP share-price change (%)", 100.0),
    ("options_amm_breaker_trips", "breaker trips", 1.0),
    ("options_amm_breaker_hours", "hours under a breaker", 1.0),
    ("options_amm_hedge_cost_usd", "pool hedging cost ($k)", 1e-3),
    ("options_amm_fees_usd", "fees earned ($k)", 1e-3),
    ("options_amm_settlement_shortfall_usd", "unpaid settlement ($k)", 1e-3),
    ("options_amm_solvent", "runs solvent (%)", 100.0),
    ("pm_bad_debt_usd", "exchange bad debt ($k)", 1e-3),
)


def hedger_columns(label: str) -> list[str]:
    """The runs.parquet columns of one market maker."""
    return [f"hedger_{label}_{m}" for m in HEDGER_METRICS]


def hedging_frontier(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (variant, hedger): mean and standard deviation over replications of each
    hedger metric, with ``rule`` and ``width`` parsed from the label."""
    long = []
    for col in runs.columns:
        m = _COLUMN.match(col)
        if m:
            part = runs[["variant", "replication", col]].rename(columns={col: "value"})
            long.append(part.assign(label=m["label"], metric=m["metric"]))
    if not long:
        raise ValueError("runs: no hedger_<label>_<metric> columns (no market makers ran)")
    df = pd.concat(long, ignore_index=True)
    wide = df.pivot_table(
        index=["variant", "label"], columns="metric", values="value", aggfunc=["mean", "std"]
    )
    wide.columns = [f"{m}" if agg == "mean" else f"{m}_sd" for agg, m in wide.columns]
    out = wide.reset_index()
    parts = out["label"].str.split("-", n=1)
    out["rule"] = parts.str[0]
    out["width"] = pd.to_numeric(parts.str[1], errors="coerce")
    order = {r: i for i, r in enumerate(_RULE_ORDER)}
    out["_o"] = out["rule"].map(order).fillna(len(order))
    variants = list(pd.unique(runs["variant"]))
    out["_v"] = out["variant"].map({v: i for i, v in enumerate(variants)})
    return out.sort_values(["_v", "_o", "width"]).drop(columns=["_o", "_v"]).reset_index(drop=True)


def plot_hedging_frontier(runs: pd.DataFrame) -> Figure:
    """Hedging cost (x) against tracking error (y), one panel per variant, one line per rule
    through its widths (mean over replications, bars one standard deviation)."""
    fr = hedging_frontier(runs)
    variants = list(pd.unique(fr["variant"]))
    fig = Figure(figsize=(5.0 * len(variants), 4.2), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(variants), squeeze=False)[0]
    for ax, variant in zip(axes, variants, strict=True):
        d = fr[fr["variant"] == variant]
        for i, rule in enumerate(r for r in _RULE_ORDER if r in set(d["rule"])):
            g = d[d["rule"] == rule].sort_values("hedge_cost_usd")
            ax.errorbar(
                g["hedge_cost_usd"],
                g["tracking_error_usd"],
                xerr=g.get("hedge_cost_usd_sd", 0.0),
                yerr=g.get("tracking_error_usd_sd", 0.0),
                marker="o",
                color=f"C{i}",
                lw=1.2,
                capsize=2,
                label=_RULE_NAMES.get(rule, rule),
            )
            for _, row in g.iterrows():
                ax.annotate(
                    f"{row['width']:g}",
                    (row["hedge_cost_usd"], row["tracking_error_usd"]),
                    fontsize=7,
                    xytext=(3, 3),
                    textcoords="offset points",
                )
        ax.set_title(variant, fontsize=10)
        ax.set_xlabel("hedging cost, fees + slippage ($)")
        ax.set_ylabel("tracking error, std of hourly P&L ($)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return fig


def _fmt(x: float, digits: int = 1) -> str:
    return "–" if not np.isfinite(x) else f"{x:,.{digits}f}"


def hedging_section(result_dir: Path, runs: pd.DataFrame, steps: pd.DataFrame) -> str:
    """Write ``figures/hedging_frontier.png``; return the report section with the frontier table."""
    fig_dir = Path(result_dir) / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    plot_hedging_frontier(runs).savefig(fig_dir / "hedging_frontier.png", dpi=110)
    fr = hedging_frontier(runs)
    header = (
        "| path | rule | width | hedging cost ($) | tracking error ($) | P&L ($) | rebalances |"
    )
    lines = [header, "|" + "---|" * 3 + "---:|" * 4]
    for _, r in fr.iterrows():
        lines.append(
            f"| {r['variant']} | {_RULE_NAMES.get(r['rule'], r['rule'])} | {r['width']:g} | "
            f"{_fmt(r['hedge_cost_usd'], 0)} | {_fmt(r['tracking_error_usd'], 0)} | "
            f"{_fmt(r['pnl_usd'], 0)} | {_fmt(r['rebalances'], 0)} |"
        )
    return (
        "## Hedging frontier\n\nEvery run holds one market maker per rule and width, each starting "
        "from the same short at-the-money straddles and hedging on the perp (real taker fees and "
        "skew slippage). Tracking error is the standard deviation of a market maker's hourly "
        "mark-to-market P&L; hedging cost is what its hedge trades paid in fees and slippage "
        "against the index. Width: seconds between hedges (fixed interval), the delta band as a "
        "fraction of the book's notional (delta band), or the risk aversion (Whalley-Wilmott: "
        "larger is a narrower band). Mean over replications.\n\n"
        + "\n".join(lines)
        + "\n\n![hedging frontier](figures/hedging_frontier.png)"
    )


def options_amm_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean over replications of the options-AMM outcomes, one row per variant."""
    cols = [c for c, _, _ in _AMM_METRICS if c in runs.columns]
    if not cols:
        raise ValueError("runs: no options_amm_* columns (the options AMM did not run)")
    df = runs[["variant", *cols]].copy()
    for c in cols:
        df[c] = df[c].astype(float)
    return df.groupby("variant", sort=False)[cols].mean().reset_index()


def _plot_share_price(steps: pd.DataFrame) -> Figure:
    fig = Figure(figsize=(10.0, 5.6), layout="constrained")
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, sharex=True)
    first = steps[steps["replication"] == steps["replication"].min()]
    for i, (variant, g) in enumerate(first.groupby("variant", sort=False)):
        hours = g["time_s"] / 3600.0
        top.plot(hours, g["options_amm_share_price_usd"], color=f"C{i}", lw=1.3, label=variant)
        bottom.plot(
            hours,
            g["options_amm_breaker_active"] * (1.0 - 0.08 * i),
            color=f"C{i}",
            lw=1.3,
            drawstyle="steps-post",
        )
    top.set_ylabel("LP share price ($)")
    top.legend(fontsize=8)
    top.grid(alpha=0.3)
    bottom.set_ylabel("breaker active")
    bottom.set_xlabel("time (hours)")
    bottom.grid(alpha=0.3)
    return fig


def options_amm_section(result_dir: Path, runs: pd.DataFrame, steps: pd.DataFrame) -> str:
    """Write ``figures/options_amm.png``; return the report section with the outcome table."""
    fig_dir = Path(result_dir) / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    _plot_share_price(steps).savefig(fig_dir / "options_amm.png", dpi=110)
    table = options_amm_table(runs)
    metrics = [(c, label, k) for c, label, k in _AMM_METRICS if c in table.columns]
    header = "| variant | " + " | ".join(label for _, label, _ in metrics) + " |"
    lines = [header, "|---|" + "---:|" * len(metrics)]
    for _, r in table.iterrows():
        cells = [_fmt(float(r[c]) * k) for c, _, k in metrics]
        lines.append(f"| {r['variant']} | " + " | ".join(cells) + " |")
    return (
        "## Options AMM under stress\n\nMean over replications. The pool is the counterparty of "
        "every trade and hedges its delta on the perp; breakers block LP deposits and "
        "withdrawals while active. Solvent: the pool paid every settlement in full and ended "
        "with a positive NAV.\n\n" + "\n".join(lines) + "\n\n![LP share price and breakers]"
        "(figures/options_amm.png)"
    )
