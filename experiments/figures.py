"""Figures built from the result tables alone (steps.parquet, health.parquet).

Every ``plot_*`` function takes DataFrames in the results schema and returns a matplotlib
:class:`~matplotlib.figure.Figure` drawn on an Agg canvas, so nothing here touches pyplot or the
global backend. Time axes are in hours (``time_s / 3600``), money in USD.

Conventions: one colour per variant (in order of first appearance); per-step series show one
replication (the lowest number, normally 0); cumulative series show the mean over replications
with a min-max band.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter

__all__ = [
    "format_usd",
    "plot_health",
    "plot_insurance_fund",
    "plot_liquidations",
    "plot_prices",
]

_WIDTH_IN = 10.0
_ROW_HEIGHT_IN = 3.0
_MAX_HEALTH_ROWS = 6  # variants shown in the health figure; more would be unreadable
_PROTOCOLS = (("lending", "Lending"), ("perp", "Perp"))
# (column prefix, legend label, line style, drawstyle, colour when there is a single variant)
_PRICE_SOURCES = (
    ("ref_price_usd_", "reference market", "-", "default", "0.15"),
    ("amm_price_usd_", "AMM spot", "--", "default", "C0"),
    ("oracle_price_usd_", "oracle (published)", ":", "steps-post", "C3"),
)


def format_usd(value: float) -> str:
    """Compact USD amount with three significant digits: ``$1.23M``, ``$45.6k``, ``-$950``."""
    if value is None or not math.isfinite(value):
        return "n/a"
    sign = "-" if value < 0 else ""
    x = abs(float(value))
    if x == 0:
        return "$0"
    if x < 10:
        return f"{sign}${x:.2f}"
    if x < 1_000:
        return f"{sign}${x:.0f}"
    for scale, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if x >= scale * 0.9995:  # 999_950 is "$1.00M", not "$1000k"
            y = x / scale
            digits = 0 if y >= 99.95 else 1 if y >= 9.995 else 2
            return f"{sign}${y:.{digits}f}{suffix}"
    raise AssertionError("unreachable")  # pragma: no cover


def _axis_usd(x: float, _pos: int | None = None) -> str:
    """Tick label: :func:`format_usd` without trailing zeros (``$2.5M``, ``$75k``)."""
    text = format_usd(x)
    head, dot, tail = text.partition(".")
    if not dot:
        return text
    digits = tail.rstrip("kMBT")
    suffix = tail[len(digits) :]
    digits = digits.rstrip("0")
    return f"{head}.{digits}{suffix}" if digits else f"{head}{suffix}"


_USD_AXIS = FuncFormatter(_axis_usd)
_PRICE_AXIS = FuncFormatter(lambda x, _pos: f"${x:,.0f}" if abs(x) >= 100 else f"${x:,.2f}")


def _require(df: pd.DataFrame, columns: list[str], table: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{table}: missing column(s) {missing}")


def _new_figure(nrows: int, ncols: int, *, sharex: bool = True) -> tuple[Figure, np.ndarray]:
    fig = Figure(figsize=(_WIDTH_IN, 1.0 + _ROW_HEIGHT_IN * nrows), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, sharex=sharex, squeeze=False)
    return fig, axes


def _variants(df: pd.DataFrame) -> list[str]:
    return [str(v) for v in pd.unique(df["variant"])]


def _first_replication(df: pd.DataFrame) -> pd.DataFrame:
    if df.empty:
        return df
    return df[df["replication"] == df["replication"].min()]


def _assets(steps: pd.DataFrame) -> list[str]:
    prefix = "ref_price_usd_"
    return [c[len(prefix) :] for c in steps.columns if c.startswith(prefix)]


def _hours_axis(ax: Axes, steps: pd.DataFrame) -> None:
    ax.set_xlabel("time (hours)")
    if not steps.empty:
        lo, hi = steps["time_s"].min() / 3600.0, steps["time_s"].max() / 3600.0
        if hi > lo:
            ax.set_xlim(lo, hi)


def _variant_color(i: int, n: int) -> str | tuple[float, ...]:
    """Colour of the i-th of n variants: tab10 up to 10 variants, then a sequential colormap."""
    if n <= 10:
        return f"C{i}"
    return tuple(colormaps["viridis"](i / (n - 1)))


def _variant_handles(variants: list[str]) -> list[Line2D]:
    n = len(variants)
    return [
        Line2D([], [], color=_variant_color(i, n), lw=2, label=v) for i, v in enumerate(variants)
    ]


def _mean_band(steps: pd.DataFrame, column: str) -> pd.DataFrame:
    """Per step: time in hours, mean, min and max of ``column`` over replications."""
    g = steps.groupby("step", sort=True)
    out = pd.DataFrame(
        {
            "hours": g["time_s"].first() / 3600.0,
            "mean": g[column].mean(),
            "lo": g[column].min(),
            "hi": g[column].max(),
        }
    )
    return out


def _plot_mean_band(ax: Axes, steps: pd.DataFrame, column: str, variants: list[str]) -> int:
    """Mean line and min-max band per variant; returns the largest replication count."""
    n_reps = 0
    for i, v in enumerate(variants):
        d = steps[steps["variant"] == v]
        reps = d["replication"].nunique()
        n_reps = max(n_reps, reps)
        band = _mean_band(d, column)
        color = _variant_color(i, len(variants))
        ax.plot(band["hours"], band["mean"], color=color, lw=1.6, label=v)
        if reps > 1:
            ax.fill_between(band["hours"], band["lo"], band["hi"], color=color, alpha=0.18, lw=0)
    return n_reps


def _replication_note(n_reps: int) -> str:
    if n_reps <= 1:
        return "one replication"
    return f"mean over {n_reps} replications, band: min-max"


def plot_prices(steps: pd.DataFrame) -> Figure:
    """Reference, AMM and oracle price per asset over time (one panel per asset).

    With one variant each price source has its own colour; with several, each variant has a colour
    and each source a line style. Only the lowest-numbered replication is drawn.
    """
    assets = _assets(steps)
    cols = [f"{p}{a}" for a in assets for p, *_ in _PRICE_SOURCES]
    _require(steps, ["variant", "replication", "step", "time_s", *cols], "steps")
    if not assets:
        raise ValueError("steps: no ref_price_usd_<ASSET> column, nothing to plot")
    rep0 = _first_replication(steps)
    variants = _variants(rep0)
    single = len(variants) == 1
    fig, axes = _new_figure(len(assets), 1)
    for ax, asset in zip(axes[:, 0], assets, strict=True):
        for i, v in enumerate(variants):
            d = rep0[rep0["variant"] == v].sort_values("step")
            hours = d["time_s"] / 3600.0
            for prefix, label, style, drawstyle, own_color in _PRICE_SOURCES:
                ax.plot(
                    hours,
                    d[f"{prefix}{asset}"],
                    ls=style,
                    drawstyle=drawstyle,
                    lw=1.3,
                    color=own_color if single else _variant_color(i, len(variants)),
                    label=label if single else f"{v}: {label}",
                )
        ax.set_title(f"{asset}/USD: reference market, AMM spot and oracle price")
        ax.set_ylabel(f"{asset} price (USD)")
        ax.yaxis.set_major_formatter(_PRICE_AXIS)
        ax.grid(alpha=0.3)
    _hours_axis(axes[-1, 0], rep0)
    if single:
        axes[0, 0].legend(loc="best", fontsize="small")
    else:
        style_handles = [
            Line2D([], [], color="0.35", ls=style, lw=1.5, label=label)
            for _, label, style, _, _ in _PRICE_SOURCES
        ]
        fig.legend(
            handles=[*_variant_handles(variants), *style_handles],
            loc="outside lower center",
            ncols=min(6, len(variants) + len(style_handles)),
            fontsize="small",
        )
    rep = int(rep0["replication"].min()) if not rep0.empty else 0
    fig.suptitle(f"Prices (replication {rep})")
    return fig


def plot_liquidations(steps: pd.DataFrame) -> Figure:
    """Liquidation volume per step and cumulative bad debt, one column per protocol.

    Top row: liquidation volume per step of the lowest-numbered replication. Bottom row:
    cumulative bad debt, mean over replications with a min-max band.
    """
    cols = [f"{p}_{m}" for p, _ in _PROTOCOLS for m in ("liquidation_volume_usd", "bad_debt_usd")]
    _require(steps, ["variant", "replication", "step", "time_s", *cols], "steps")
    variants = _variants(steps)
    rep0 = _first_replication(steps)
    rep = int(rep0["replication"].min()) if not rep0.empty else 0
    fig, axes = _new_figure(2, len(_PROTOCOLS))
    n_reps = 0
    for j, (key, name) in enumerate(_PROTOCOLS):
        top, bottom = axes[0, j], axes[1, j]
        for i, v in enumerate(variants):
            d = rep0[rep0["variant"] == v].sort_values("step")
            top.plot(
                d["time_s"] / 3600.0,
                d[f"{key}_liquidation_volume_usd"],
                drawstyle="steps-mid",
                lw=1.0,
                alpha=0.85,
                color=_variant_color(i, len(variants)),
            )
        n_reps = _plot_mean_band(bottom, steps, f"{key}_bad_debt_usd", variants)
        top.set_title(f"{name}: liquidation volume per step (replication {rep})")
        top.set_ylabel("liquidated (USD per step)")
        bottom.set_title(f"{name}: cumulative bad debt")
        bottom.set_ylabel("bad debt (USD, cumulative)")
        for ax in (top, bottom):
            ax.yaxis.set_major_formatter(_USD_AXIS)
            ax.set_ylim(bottom=0)
            ax.grid(alpha=0.3)
        _hours_axis(bottom, steps)
    fig.legend(
        handles=_variant_handles(variants),
        loc="outside lower center",
        ncols=min(6, len(variants)),
        fontsize="small",
    )
    fig.suptitle(f"Liquidations and bad debt (bad debt: {_replication_note(n_reps)})")
    return fig


def plot_insurance_fund(steps: pd.DataFrame) -> Figure:
    """Perp insurance fund balance over time: mean over replications with a min-max band."""
    keys = ["variant", "replication", "step", "time_s"]
    _require(steps, [*keys, "perp_insurance_fund_usd"], "steps")
    variants = _variants(steps)
    fig, axes = _new_figure(1, 1)
    ax = axes[0, 0]
    n_reps = _plot_mean_band(ax, steps, "perp_insurance_fund_usd", variants)
    ax.set_title(f"Perp insurance fund ({_replication_note(n_reps)})")
    ax.set_ylabel("insurance fund balance (USD)")
    ax.yaxis.set_major_formatter(_USD_AXIS)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    _hours_axis(ax, steps)
    ax.legend(handles=_variant_handles(variants), loc="best", fontsize="small")
    return fig


def plot_health(health: pd.DataFrame, *, clip_max: float = 4.0) -> Figure:
    """Histograms of account health before and after the worst step; rows: variants.

    Lending health is the Aave health factor, perp health is equity / maintenance margin; an
    account is liquidatable below 1 (dashed line). Values are clipped into ``[0, clip_max]``, so
    the edge bins also hold bankrupt accounts (< 0) and very safe ones (> ``clip_max``, or no
    debt). Counts are pooled over replications (each at its own worst step).
    """
    if not clip_max > 1.0:
        raise ValueError(f"plot_health.clip_max: must be > 1, got {clip_max}")
    _require(health, ["variant", "replication", "when", "protocol", "health"], "health")
    variants = _variants(health)
    shown = variants[:_MAX_HEALTH_ROWS]
    fig, axes = _new_figure(max(1, len(shown)), len(_PROTOCOLS), sharex=False)
    bins = np.linspace(0.0, clip_max, 41)
    x_labels = {"lending": "health factor", "perp": "equity / maintenance margin"}
    styles = {
        "before": {"histtype": "stepfilled", "color": "C0", "alpha": 0.45},
        "after": {"histtype": "step", "color": "C3", "lw": 1.6},
    }
    for r, v in enumerate(shown or ["(no data)"]):
        dv = health[health["variant"] == v]
        n_reps = dv["replication"].nunique()
        for j, (key, name) in enumerate(_PROTOCOLS):
            ax = axes[r, j]
            dp = dv[dv["protocol"] == key]
            counts = []
            for when, kw in styles.items():
                h = dp.loc[dp["when"] == when, "health"].to_numpy(dtype=float)
                h = np.clip(h[~np.isnan(h)], 0.0, clip_max)
                if h.size:
                    ax.hist(h, bins=bins, **kw)
                counts.append(str(h.size))
            ax.axvline(1.0, color="k", ls="--", lw=1.0)
            ax.set_xlim(0.0, clip_max)
            if dp.empty:
                ax.set_ylim(0.0, 1.0)
                ax.text(0.5, 0.5, "no accounts", transform=ax.transAxes, ha="center", va="center")
            ax.set_title(f"{v}: {name} (accounts before/after: {'/'.join(counts)})")
            ax.set_xlabel(f"{x_labels[key]} (clipped to [0, {clip_max:g}])")
            ax.set_ylabel(f"accounts ({n_reps} replication{'s' if n_reps != 1 else ''})")
            ax.grid(alpha=0.3)
    fig.legend(
        handles=[
            Patch(facecolor="C0", alpha=0.45, label="before the worst step"),
            Patch(facecolor="none", edgecolor="C3", lw=1.6, label="after the worst step"),
            Line2D([], [], color="k", ls="--", lw=1.0, label="liquidation threshold (1)"),
        ],
        loc="outside lower center",
        ncols=3,
        fontsize="small",
    )
    more = len(variants) - len(shown)
    suffix = f"; {more} more variant(s) not shown" if more > 0 else ""
    fig.suptitle(f"Account health before and after the worst step{suffix}")
    return fig
