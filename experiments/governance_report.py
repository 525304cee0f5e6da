"""The governance report of a sweep: which risk setting to run, and why, from runs.parquet alone.

Per setting (pooled over its scenarios and replications): mean and tail (ES95, ES99) of bad debt,
the probability of any insolvency, insurance-fund drawdown, liquidated volume, capital efficiency
and margin procyclicality, each with a 95% bootstrap interval; the Pareto front of safety (ES99 of
bad debt) against capital efficiency; a recommended setting with its reason; figures.

Intervals: percentile bootstrap stratified by scenario (each scenario keeps its number of runs, so
the mix of crash replays and stress paths is fixed and only the replications are resampled),
seeded, so the report is deterministic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from experiments.figures import format_usd
from experiments.governance_figures import plot_distributions, plot_heatmaps, plot_pareto
from experiments.report import FIGURE_DPI, FIGURES_DIR, REPORT_FILE
from experiments.store import RUNS_FILE, read_manifest, read_table

__all__ = [
    "DEFAULT_RISK_BUDGET_FRAC",
    "Recommendation",
    "build_report",
    "pareto_front",
    "recommend",
    "setting_table",
    "write_governance_report",
]

# Default tail-risk budget: ES99 of bad debt at most this fraction of the starting perp insurance
# fund (the venue could absorb the average 1%-worst-case loss ten times over).
DEFAULT_RISK_BUDGET_FRAC = 0.1
_CI_LEVEL = 0.95
_N_BOOT = 2_000
_BOOT_SEED = 20_260_601
# (column, label, statistic, kind): the per-setting table and its formatting.
_MEAN_OUTCOMES = (
    ("bad_debt_usd", "bad debt, mean", "usd"),
    ("insurance_drawdown_frac", "insurance drawdown, mean", "frac"),
    ("liquidation_volume_usd", "liquidated volume, mean", "usd"),
    ("capital_efficiency", "capital efficiency, mean", "x"),
    ("margin_peak_to_trough", "margin peak/trough, mean", "x"),
    ("margin_max_1d_increase_frac", "largest 1-day margin rise, mean", "frac"),
)


def _es_rows(x: np.ndarray, level: float) -> np.ndarray:
    """Expected shortfall of every row of ``x``; see :func:`experiments.metrics.expected_shortfall`
    (a test checks the two agree)."""
    n = x.shape[1]
    s = -np.sort(-x, axis=1)
    m = n * (1.0 - level)
    if m <= 1.0:
        return s[:, 0]
    k = math.floor(m)
    return (s[:, :k].sum(axis=1) + (m - k) * s[:, k]) / m


def _boot_index(groups: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``(n_boot, n)`` indices resampling each group (scenario) within itself."""
    cols = []
    for g in pd.unique(groups):
        members = np.flatnonzero(groups == g)
        cols.append(members[rng.integers(members.size, size=(_N_BOOT, members.size))])
    return np.concatenate(cols, axis=1)


def _with_ci(out: dict, name: str, point: float, boot: np.ndarray) -> None:
    lo, hi = np.quantile(boot, [(1 - _CI_LEVEL) / 2, (1 + _CI_LEVEL) / 2])
    out[name], out[f"{name}_lo"], out[f"{name}_hi"] = float(point), float(lo), float(hi)


def _stats(group: pd.DataFrame, rng: np.random.Generator) -> dict:
    ok = group[group["status"] == "ok"] if "status" in group else group
    out: dict = {"n_runs": len(group), "n_failed": len(group) - len(ok)}
    if ok.empty:
        return out
    idx = _boot_index(ok["scenario"].to_numpy(), rng)
    bad = ok["bad_debt_usd"].to_numpy(dtype=np.float64)
    for level, name in ((0.95, "es95_bad_debt_usd"), (0.99, "es99_bad_debt_usd")):
        _with_ci(out, name, _es_rows(bad[None, :], level)[0], _es_rows(bad[idx], level))
    insolvent = ok["insolvent"].to_numpy(dtype=np.float64)
    _with_ci(out, "p_insolvent", insolvent.mean(), insolvent[idx].mean(axis=1))
    for column, _, _ in _MEAN_OUTCOMES:
        x = ok[column].to_numpy(dtype=np.float64)
        if np.isfinite(x).all():
            _with_ci(out, column, x.mean(), x[idx].mean(axis=1))
        else:
            out[column] = float(np.nanmean(x)) if np.isfinite(x).any() else float("nan")
    return out


def setting_table(runs: pd.DataFrame, axes: list[str]) -> pd.DataFrame:
    """One row per setting: its parameter values, run counts and the statistics with intervals.

    Columns ``<stat>``, ``<stat>_lo``, ``<stat>_hi`` for ``es95_bad_debt_usd``,
    ``es99_bad_debt_usd``, ``p_insolvent`` and the means of the outcomes in ``_MEAN_OUTCOMES``.
    """
    missing = [c for c in ("setting", "scenario", *axes) if c not in runs.columns]
    if missing:
        raise ValueError(f"{RUNS_FILE}: missing sweep column(s) {missing}")
    rows = []
    for i, (sid, group) in enumerate(runs.groupby("setting", sort=True)):
        rng = np.random.default_rng(np.random.SeedSequence(_BOOT_SEED, spawn_key=(i,)))
        first = group.iloc[0]
        rows.append({"setting": sid, **{a: first[a] for a in axes}, **_stats(group, rng)})
    table = pd.DataFrame(rows)
    stats = [
        "es95_bad_debt_usd",
        "es99_bad_debt_usd",
        "p_insolvent",
        *(c for c, _, _ in _MEAN_OUTCOMES),
    ]
    for name in (f"{s}{suffix}" for s in stats for suffix in ("", "_lo", "_hi")):
        if name not in table.columns:  # no setting had a finished run
            table[name] = np.nan
    return table


def pareto_front(table: pd.DataFrame) -> list[str]:
    """Settings no other setting beats on both safety (lower ES99 of bad debt) and capital
    efficiency (higher), ties broken by the insolvency probability; in order of efficiency."""
    t = table.dropna(subset=["es99_bad_debt_usd", "capital_efficiency"])
    risk = t["es99_bad_debt_usd"].to_numpy()
    p = t["p_insolvent"].to_numpy()
    eff = t["capital_efficiency"].to_numpy()
    front = []
    for i in range(len(t)):
        no_worse = (risk <= risk[i]) & (eff >= eff[i]) & (p <= p[i])
        better = (risk < risk[i]) | (eff > eff[i]) | (p < p[i])
        if not (no_worse & better).any():
            front.append(i)
    order = sorted(front, key=lambda i: (-eff[i], risk[i]))
    return [str(t["setting"].iloc[i]) for i in order]


@dataclass(frozen=True, slots=True, kw_only=True)
class Recommendation:
    """The recommended setting, whether it met the risk budget, and the reason in words."""

    setting: str
    feasible: bool
    reason: str


def _val(v: object) -> str:
    return f"{v:g}" if isinstance(v, float | int) and not isinstance(v, bool) else str(v)


def _describe(row: pd.Series, axes: list[str]) -> str:
    return f"`{row['setting']}` (" + ", ".join(f"{a} = {_val(row[a])}" for a in axes) + ")"


def recommend(table: pd.DataFrame, axes: list[str], budget_usd: float) -> Recommendation:
    """The most capital-efficient setting whose ES99 of bad debt is within ``budget_usd``.

    Settings with failed runs are not eligible. If none fits the budget, the safest setting
    (lowest ES99, then lowest insolvency probability, then most efficient) is recommended.
    """
    t = table[(table["n_failed"] == 0) & table["es99_bad_debt_usd"].notna()]
    if t.empty:
        raise ValueError("recommend: no setting has complete runs")
    t = t.sort_values(["setting"])
    feasible = t[t["es99_bad_debt_usd"] <= budget_usd]
    best_eff = t.loc[t["capital_efficiency"].idxmax()]
    safest = t.sort_values(
        ["es99_bad_debt_usd", "p_insolvent", "capital_efficiency"], ascending=[True, True, False]
    ).iloc[0]
    if feasible.empty:
        r = safest
        reason = (
            f"No setting keeps the ES99 of bad debt within the budget of {format_usd(budget_usd)}. "
            f"{_describe(r, axes)} is the safest: ES99 {format_usd(r['es99_bad_debt_usd'])}, "
            f"insolvency probability {r['p_insolvent']:.0%}, capital efficiency "
            f"{r['capital_efficiency']:.1f}x."
        )
        return Recommendation(setting=str(r["setting"]), feasible=False, reason=reason)
    r = feasible.sort_values(
        ["capital_efficiency", "es99_bad_debt_usd", "p_insolvent"], ascending=[False, True, True]
    ).iloc[0]
    reason = (
        f"{_describe(r, axes)} is the most capital-efficient setting whose ES99 of bad debt, "
        f"{format_usd(r['es99_bad_debt_usd'])} (95% interval "
        f"{format_usd(r['es99_bad_debt_usd_lo'])}–{format_usd(r['es99_bad_debt_usd_hi'])}), is "
        f"within the budget of {format_usd(budget_usd)}: {r['capital_efficiency']:.1f}x notional "
        f"per USD of maintenance margin, insolvency probability {r['p_insolvent']:.0%} "
        f"({r['p_insolvent_lo']:.0%}–{r['p_insolvent_hi']:.0%})."
    )
    if best_eff["setting"] != r["setting"]:
        reason += (
            f" The most efficient setting overall, {_describe(best_eff, axes)}, would add "
            f"{100 * (best_eff['capital_efficiency'] / r['capital_efficiency'] - 1):.0f}% "
            f"efficiency at an ES99 of {format_usd(best_eff['es99_bad_debt_usd'])}."
        )
    if safest["setting"] != r["setting"]:
        reason += (
            f" The safest, {_describe(safest, axes)}, has ES99 "
            f"{format_usd(safest['es99_bad_debt_usd'])} at {safest['capital_efficiency']:.1f}x."
        )
    if r["es99_bad_debt_usd_hi"] > budget_usd:
        reason += " Caution: the upper end of its ES99 interval exceeds the budget."
    return Recommendation(setting=str(r["setting"]), feasible=True, reason=reason)


def _fmt(kind: str, x: float) -> str:
    if x is None or not math.isfinite(x):
        return "n/a"
    return {
        "usd": format_usd,
        "frac": lambda v: f"{100 * v:.1f}%",
        "p": lambda v: f"{100 * v:.0f}%",
        "x": lambda v: f"{v:.2f}",
    }[kind](x)


def _cell(row: pd.Series, name: str, kind: str) -> str:
    text = _fmt(kind, row.get(name, float("nan")))
    lo, hi = row.get(f"{name}_lo"), row.get(f"{name}_hi")
    if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)) or lo == hi:
        return text
    return f"{text} [{_fmt(kind, lo)}, {_fmt(kind, hi)}]"


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join([*lines, *("| " + " | ".join(r) + " |" for r in rows)])


def _settings_md(table: pd.DataFrame, axes: list[str], front: list[str], rec: str) -> str:
    header = ["setting", *axes, "runs", "ES95 bad debt", "ES99 bad debt", "P(insolvency)"]
    header += [label for _, label, _ in _MEAN_OUTCOMES]
    rows = []
    for _, r in table.iterrows():
        mark = (
            " (recommended)"
            if r["setting"] == rec
            else " (Pareto)"
            if r["setting"] in front
            else ""
        )
        runs = f"{r['n_runs']}" + (f", {r['n_failed']} failed" if r["n_failed"] else "")
        rows.append(
            [
                f"`{r['setting']}`{mark}",
                *(_val(r[a]) for a in axes),
                runs,
                _cell(r, "es95_bad_debt_usd", "usd"),
                _cell(r, "es99_bad_debt_usd", "usd"),
                _cell(r, "p_insolvent", "p"),
                *(_cell(r, c, kind) for c, _, kind in _MEAN_OUTCOMES),
            ]
        )
    return _md_table(header, rows)


def _failures_md(runs: pd.DataFrame) -> str:
    failed = runs[runs["status"] != "ok"] if "status" in runs else runs.iloc[:0]
    if failed.empty:
        return "Every run finished."
    rows = [
        [f"`{r['run_id']}`", str(r["error"]).splitlines()[0][:120].replace("|", "\\|")]
        for _, r in failed.head(20).iterrows()
    ]
    more = f"\n\n{len(failed) - 20} more failed runs in `{RUNS_FILE}`." if len(failed) > 20 else ""
    return (
        f"{len(failed)} run(s) failed (their tracebacks are in `{RUNS_FILE}`, column "
        f"`traceback`); their settings are not eligible for the recommendation.\n\n"
        + _md_table(["run", "error"], rows)
        + more
    )


def write_governance_report(result_dir: Path, *, risk_budget_usd: float | None = None) -> Path:
    """Build ``report.md`` and ``figures/*.png`` of a sweep's result folder; return the report.

    ``risk_budget_usd`` defaults to :data:`DEFAULT_RISK_BUDGET_FRAC` of the median starting perp
    insurance fund of the runs.

    Raises
    ------
    FileNotFoundError
        If the folder, its manifest or runs.parquet is missing.
    ValueError
        If the manifest does not describe a sweep, or no setting has a finished run.
    """
    folder = Path(result_dir)
    manifest = read_manifest(folder)
    facts = (manifest.get("extra") or {}).get("sweep")
    if not facts:
        raise ValueError(f"{folder}: not a sweep (the manifest has no extra.sweep)")
    runs = read_table(folder / RUNS_FILE)
    axes = list(facts["axes"])
    table = setting_table(runs, axes)
    if risk_budget_usd is None:
        start = runs.get("insurance_fund_start_usd")
        known = start is not None and bool(start.notna().any())
        risk_budget_usd = DEFAULT_RISK_BUDGET_FRAC * float(np.nanmedian(start)) if known else 0.0
    front = pareto_front(table)
    try:
        rec = recommend(table, axes, risk_budget_usd)
    except ValueError:  # every setting has failed runs: report them, recommend nothing
        rec = Recommendation(setting="", feasible=False, reason="")

    fig_dir = folder / FIGURES_DIR
    fig_dir.mkdir(exist_ok=True)
    figures = [
        ("pareto.png", "Safety against capital efficiency", plot_pareto(table, front, rec.setting))
    ]
    if facts["mode"] == "grid" and len(axes) >= 2:
        figures.append(("heatmaps.png", "Two-parameter heatmaps", plot_heatmaps(runs, axes)))
    figures.append(("distributions.png", "Outcome distributions", plot_distributions(runs)))
    for name, _, fig in figures:
        fig.savefig(fig_dir / name, dpi=FIGURE_DPI)

    ok = runs[runs["status"] == "ok"] if "status" in runs else runs
    values = "; ".join(f"{a}: {', '.join(_val(v) for v in pd.unique(runs[a]))}" for a in axes)
    what = [
        f"sweep: `{facts.get('mode')}` over {len(axes)} axes ({values})",
        f"scenarios: {', '.join(f'`{s}`' for s in facts['scenarios'])}; "
        f"{facts['replications']} replication(s) each",
        f"{len(table)} settings, {len(runs)} runs, {len(runs) - len(ok)} failed",
        f"spec hash: `{manifest.get('spec_hash', '?')}`; backend {manifest.get('backend', '?')}, "
        f"wall time {manifest.get('wall_time_s', 0):.1f} s; git commit "
        f"`{manifest.get('git_commit')}`",
    ]
    sections = [
        f"# cascadelab governance report: {(manifest.get('extra') or {}).get('experiment', '')}",
        "## What was run\n\n" + "\n".join(f"- {w}" for w in what),
        "## Recommendation\n\n"
        + (
            f"**`{rec.setting}`.** {rec.reason}"
            if rec.setting
            else "**None.** Every setting has failed runs (see below), so none can be compared "
            "fairly."
        )
        + "\n\nRule: the most "
        f"capital-efficient setting with ES99 of bad debt at most {format_usd(risk_budget_usd)} "
        "(default: 10% of the starting insurance fund; `cascadelab report DIR --risk-budget-usd "
        "X` changes it), among settings whose runs all finished.",
        "## Settings\n\nPooled over scenarios and replications; 95% bootstrap intervals in "
        "brackets. ES = expected shortfall (mean of the worst 5% / 1% of runs; with fewer than "
        "100 runs, ES99 is the worst run). Capital efficiency = notional per USD of perp "
        "maintenance margin. Insolvency = any bad debt, socialised loss, vault shortfall or "
        "ADL.\n\n" + _settings_md(table, axes, front, rec.setting),
        "## Pareto front\n\nNot beaten on both ES99 of bad debt and capital efficiency, most "
        "efficient first: " + ", ".join(f"`{s}`" for s in front) + ".",
        "## Failed runs\n\n" + _failures_md(runs),
        "## Figures\n\n"
        + "\n\n".join(f"### {t}\n\n![{t}]({FIGURES_DIR}/{n})" for n, t, _ in figures),
    ]
    path = folder / REPORT_FILE
    path.write_text("\n\n".join(sections) + "\n", encoding="utf-8")
    return path


def build_report(result_dir: Path, *, risk_budget_usd: float | None = None) -> Path:
    """``report.md`` of any result folder: the governance report for a sweep, the experiment
    report (:func:`experiments.report.write_report`) otherwise."""
    from experiments.report import write_report

    manifest = read_manifest(Path(result_dir))
    if (manifest.get("extra") or {}).get("sweep"):
        return write_governance_report(result_dir, risk_budget_usd=risk_budget_usd)
    return write_report(result_dir)
