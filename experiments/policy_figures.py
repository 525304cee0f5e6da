"""Figures and a table comparing recalibration policies, from the result tables alone.

For experiments whose variants are named ``<scenario>-<policy>`` (``recalibration-policies``).
:func:`write_policy_figures` draws both figures and the markdown table into a result folder; the
report can call it and link ``figures/policy_outcomes.png``, ``figures/policy_margins.png`` and
include ``policy_table.md``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = [
    "POLICY_METRICS",
    "plot_margin_paths",
    "plot_policy_outcomes",
    "policy_section",
    "policy_table",
    "split_variant",
    "write_policy_figures",
]

POLICY_METRICS: tuple[tuple[str, str, float], ...] = (
    ("bad_debt_usd", "bad debt ($M)", 1e-6),
    ("liquidation_volume_usd", "liquidated volume ($M)", 1e-6),
    ("insurance_drawdown_frac", "insurance fund drawdown (%)", 100.0),
    ("margin_peak_to_trough", "margin peak / trough", 1.0),
    ("mm_scale_peak_to_trough", "mm_scale peak / trough", 1.0),
    ("margin_max_1d_increase_frac", "largest 1-day margin rise (%)", 100.0),
    ("perp_margin_to_notional", "maintenance margin / notional (%)", 100.0),
)
"""(runs.parquet column, label, display factor) of the compared outcomes; columns missing from
``runs`` are skipped."""


def split_variant(variant: str) -> tuple[str, str]:
    """``"2020-breaker-ramp"`` -> ``("2020", "breaker-ramp")``."""
    scenario, _, policy = variant.partition("-")
    return scenario, policy or scenario


def _with_keys(df: pd.DataFrame) -> pd.DataFrame:
    keys = df["variant"].map(split_variant)
    return df.assign(scenario=keys.str[0], policy=keys.str[1])


def policy_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean over replications of every available metric, one row per (scenario, policy), in the
    order of first appearance."""
    df = _with_keys(runs)
    cols = [c for c, _, _ in POLICY_METRICS if c in df.columns]
    out = df.groupby(["scenario", "policy"], sort=False)[cols].mean().reset_index()
    return out


def format_policy_table(runs: pd.DataFrame) -> str:
    """The policy table as markdown, in display units."""
    table = policy_table(runs)
    metrics = [(c, label, f) for c, label, f in POLICY_METRICS if c in table.columns]
    head = ["scenario", "policy", *(label for _, label, _ in metrics)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for _, row in table.iterrows():
        cells = [str(row["scenario"]), str(row["policy"])]
        cells += [f"{row[c] * f:,.2f}" for c, _, f in metrics]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _figure(nrows: int, ncols: int, height: float) -> tuple[Figure, np.ndarray]:
    fig = Figure(figsize=(11.0, 0.8 + height * nrows), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(nrows, ncols, squeeze=False)


def plot_policy_outcomes(runs: pd.DataFrame) -> Figure:
    """One panel per metric: grouped bars (policy on the x axis, one bar per scenario), the mean
    over replications with a min-max whisker."""
    df = _with_keys(runs)
    metrics = [m for m in POLICY_METRICS if m[0] in df.columns]
    if not metrics:
        raise ValueError(f"runs: none of the policy metrics {[m[0] for m in POLICY_METRICS]}")
    policies = list(pd.unique(df["policy"]))
    scenarios = list(pd.unique(df["scenario"]))
    ncols = 2
    fig, axes = _figure((len(metrics) + 1) // ncols, ncols, 2.6)
    width = 0.8 / max(1, len(scenarios))
    x = np.arange(len(policies))
    for ax, (col, label, factor) in zip(axes.flat, metrics, strict=False):
        for j, scen in enumerate(scenarios):
            g = df[df["scenario"] == scen].groupby("policy")[col]
            mean = g.mean().reindex(policies) * factor
            lo = g.min().reindex(policies) * factor
            hi = g.max().reindex(policies) * factor
            pos = x - 0.4 + width * (j + 0.5)
            ax.bar(pos, mean, width, color=f"C{j}", label=scen)
            ax.errorbar(
                pos,
                mean,
                yerr=[mean - lo, hi - mean],
                fmt="none",
                ecolor="0.2",
                lw=0.8,
                capsize=2,
            )
        ax.set_title(label, fontsize=10)
        ax.set_xticks(x, policies, rotation=30, ha="right", fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    for ax in list(axes.flat)[len(metrics) :]:
        ax.set_visible(False)
    axes.flat[0].legend(title="scenario", fontsize=8)
    n_reps = int(df["replication"].nunique()) if "replication" in df.columns else 1
    fig.suptitle(f"Outcomes by recalibration policy (mean of {n_reps} replications, min-max)")
    return fig


def plot_margin_paths(steps: pd.DataFrame) -> Figure:
    """The governed perp margin scale over time, one panel per scenario, one line per policy
    (first replication)."""
    for c in ("variant", "replication", "time_s", "perp_mm_scale"):
        if c not in steps.columns:
            raise ValueError(f"steps: missing column {c!r}")
    df = _with_keys(steps[steps["replication"] == steps["replication"].min()])
    scenarios = list(pd.unique(df["scenario"]))
    fig, axes = _figure(len(scenarios), 1, 2.4)
    for ax, scen in zip(axes[:, 0], scenarios, strict=True):
        d = df[df["scenario"] == scen]
        for i, (policy, g) in enumerate(d.groupby("policy", sort=False)):
            ax.plot(
                g["time_s"] / 3600.0,
                g["perp_mm_scale"],
                color=f"C{i}",
                lw=1.4,
                label=policy,
                drawstyle="steps-post",
            )
        ax.set_title(f"scenario {scen}", fontsize=10)
        ax.set_ylabel("perp mm_scale")
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("time (hours)")
    axes[0, 0].legend(fontsize=8, ncols=4)
    return fig


def write_policy_figures(result_dir: Path, runs: pd.DataFrame, steps: pd.DataFrame) -> list[Path]:
    """Write ``figures/policy_outcomes.png``, ``figures/policy_margins.png`` and
    ``policy_table.md`` into ``result_dir``; returns their paths."""
    fig_dir = Path(result_dir) / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    paths = [fig_dir / "policy_outcomes.png", fig_dir / "policy_margins.png"]
    plot_policy_outcomes(runs).savefig(paths[0], dpi=110)
    plot_margin_paths(steps).savefig(paths[1], dpi=110)
    table = Path(result_dir) / "policy_table.md"
    table.write_text(format_policy_table(runs) + "\n")
    return [*paths, table]


def policy_section(result_dir: Path, runs: pd.DataFrame, steps: pd.DataFrame) -> str:
    """Write the policy figures and table; return the report's markdown section for them."""
    write_policy_figures(result_dir, runs, steps)
    return (
        "## Policies compared\n\nMean over replications, one row per (scenario, policy). "
        "Margin peak / trough and the largest 1-day rise are of maintenance margin per USD of "
        "notional (CPMI-IOSCO procyclicality measures); mm_scale peak / trough is the governed "
        "lever alone.\n\n"
        + format_policy_table(runs)
        + "\n\n![policy outcomes](figures/policy_outcomes.png)\n\n"
        + "![margin scale paths](figures/policy_margins.png)"
    )
