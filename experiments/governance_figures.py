"""Figures of the governance report, built from runs.parquet and the per-setting table alone.

Like experiments/figures.py, every ``plot_*`` returns a matplotlib
:class:`~matplotlib.figure.Figure` on an Agg canvas and never touches pyplot or the global backend.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from experiments.figures import format_usd
from experiments.metrics import expected_shortfall

__all__ = ["plot_distributions", "plot_heatmaps", "plot_pareto"]

_WIDTH_IN = 10.0
_MAX_HEATMAP_PAIRS = 3
# (title, statistic over a group of runs, colormap, number format): the heatmap panels.
_HEAT_STATS = (
    (
        "ES99 of bad debt",
        lambda g: expected_shortfall(g["bad_debt_usd"].to_numpy(), 0.99),
        "Reds",
        format_usd,
    ),
    (
        "P(insolvency)",
        lambda g: float(g["insolvent"].astype(float).mean()),
        "Oranges",
        lambda v: f"{100 * v:.0f}%",
    ),
    (
        "capital efficiency",
        lambda g: float(g["capital_efficiency"].mean()),
        "Greens",
        lambda v: f"{v:.1f}x",
    ),
)


def _figure(height_in: float) -> Figure:
    fig = Figure(figsize=(_WIDTH_IN, height_in), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _ok(runs: pd.DataFrame) -> pd.DataFrame:
    return runs[runs["status"] == "ok"] if "status" in runs.columns else runs


def _label(v: object) -> str:
    return f"{v:g}" if isinstance(v, float | int) and not isinstance(v, bool) else str(v)


def plot_pareto(table: pd.DataFrame, front: list[str], recommended: str) -> Figure:
    """ES99 of bad debt against capital efficiency, one point per setting; the Pareto front is
    joined by a line and the recommended setting circled."""
    fig = _figure(5.0)
    ax = fig.add_subplot()
    t = table.dropna(subset=["es99_bad_debt_usd", "capital_efficiency"])
    on_front = t["setting"].isin(front)
    ax.scatter(
        t.loc[~on_front, "capital_efficiency"],
        t.loc[~on_front, "es99_bad_debt_usd"],
        color="0.6",
        s=30,
        label="dominated setting",
    )
    f = t.set_index("setting").loc[front]
    ax.plot(
        f["capital_efficiency"],
        f["es99_bad_debt_usd"],
        "o-",
        color="C0",
        ms=6,
        label="Pareto front",
    )
    for sid, r in t.set_index("setting").iterrows():
        ax.annotate(
            str(sid),
            (r["capital_efficiency"], r["es99_bad_debt_usd"]),
            fontsize=7,
            xytext=(3, 3),
            textcoords="offset points",
            color="0.3",
        )
    if recommended in t["setting"].to_numpy():
        r = t.set_index("setting").loc[recommended]
        ax.scatter(
            [r["capital_efficiency"]],
            [r["es99_bad_debt_usd"]],
            s=220,
            facecolors="none",
            edgecolors="C3",
            linewidths=2,
            label=f"recommended ({recommended})",
        )
    ax.set_xlabel("capital efficiency (notional per USD of maintenance margin, mean)")
    ax.set_ylabel("ES99 of bad debt (USD)")
    top = float(t["es99_bad_debt_usd"].max()) if len(t) else 0.0
    ax.set_yscale("symlog", linthresh=max(1.0, top * 1e-3))
    ax.set_ylim(bottom=0.0, top=max(1.0, 1.5 * top))
    ax.yaxis.set_major_formatter(lambda y, _pos: format_usd(y))
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    ax.set_title("Safety against capital efficiency (lower right is better)")
    return fig


def plot_heatmaps(runs: pd.DataFrame, axes: list[str]) -> Figure:
    """For each pair of axes (at most three pairs): ES99 of bad debt, insolvency probability and
    capital efficiency over all runs with those two values (pooled over the other axes)."""
    ok = _ok(runs)
    pairs = list(itertools.combinations(axes, 2))[:_MAX_HEATMAP_PAIRS]
    fig = _figure(0.6 + 3.2 * len(pairs))
    grid = fig.subplots(len(pairs), len(_HEAT_STATS), squeeze=False)
    for row, (a, b) in enumerate(pairs):
        xs, ys = sorted(pd.unique(ok[a])), sorted(pd.unique(ok[b]))
        groups = ok.groupby([a, b], sort=True)
        for col, (title, stat, cmap, fmt) in enumerate(_HEAT_STATS):
            z = np.full((len(ys), len(xs)), np.nan)
            for (va, vb), g in groups:
                z[ys.index(vb), xs.index(va)] = stat(g)
            ax = grid[row, col]
            finite = z[np.isfinite(z)]
            vmax = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
            ax.imshow(z, origin="lower", aspect="auto", cmap=cmap, vmin=0.0, vmax=vmax)
            for (i, j), v in np.ndenumerate(z):
                if np.isfinite(v):
                    ax.text(
                        j,
                        i,
                        fmt(v),
                        ha="center",
                        va="center",
                        fontsize=7,
                        color="white" if v > 0.6 * vmax else "black",
                    )
            ax.set_xticks(range(len(xs)), [_label(x) for x in xs], fontsize=7)
            ax.set_yticks(range(len(ys)), [_label(y) for y in ys], fontsize=7)
            ax.set_xlabel(a, fontsize=8)
            ax.set_ylabel(b, fontsize=8)
            ax.set_title(title, fontsize=9)
    return fig


def plot_distributions(runs: pd.DataFrame) -> Figure:
    """Bad debt and liquidated volume of every run, one column per setting, coloured by scenario."""
    ok = _ok(runs)
    settings = sorted(pd.unique(ok["setting"]))
    scenarios = list(pd.unique(ok["scenario"]))
    fig = _figure(6.5)
    panels = fig.subplots(2, 1, sharex=True, squeeze=False)[:, 0]
    rng = np.random.default_rng(0)  # horizontal jitter only, for legibility
    pos = {s: i for i, s in enumerate(settings)}
    for ax, (column, label) in zip(
        panels,
        (("bad_debt_usd", "bad debt (USD)"), ("liquidation_volume_usd", "liquidated volume (USD)")),
        strict=True,
    ):
        for k, scen in enumerate(scenarios):
            d = ok[ok["scenario"] == scen]
            x = d["setting"].map(pos).to_numpy(dtype=float) + (k - (len(scenarios) - 1) / 2) * 0.12
            x = x + rng.uniform(-0.03, 0.03, size=x.size)
            ax.scatter(x, d[column], s=12, alpha=0.75, color=f"C{k % 10}", label=str(scen))
        top = float(ok[column].max()) if len(ok) else 1.0
        ax.set_yscale("symlog", linthresh=max(1.0, top * 1e-3))
        ax.set_ylim(bottom=0.0, top=max(1.0, 1.5 * top))
        ax.yaxis.set_major_formatter(lambda y, _pos: format_usd(y))
        ax.set_ylabel(label)
        ax.grid(alpha=0.3, axis="y")
    panels[0].legend(fontsize=7, ncols=min(4, len(scenarios)), loc="upper left")
    step = max(1, len(settings) // 40)
    panels[-1].set_xticks(range(0, len(settings), step), settings[::step], rotation=90, fontsize=7)
    panels[-1].set_xlabel("setting")
    panels[0].set_title("Outcomes of every run per setting (colour: scenario)")
    return fig
