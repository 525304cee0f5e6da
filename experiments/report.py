"""report.md and figures from a result folder, built from manifest.json and the Parquet files alone.

``summary_table`` aggregates ``runs.parquet`` per variant (mean, min and max over replications);
the report and the CLI's final table both use it, so the two always agree.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from experiments.figures import (
    format_usd,
    plot_health,
    plot_insurance_fund,
    plot_liquidations,
    plot_prices,
)
from experiments.options_report import hedging_section, options_amm_section
from experiments.policy_figures import policy_section
from experiments.store import (
    EVENTS_FILE,
    HEALTH_FILE,
    MANIFEST_FILE,
    RUNS_FILE,
    STEPS_FILE,
    read_manifest,
    read_table,
)

__all__ = ["format_summary", "summary_table", "write_report"]

REPORT_FILE = "report.md"
FIGURES_DIR = "figures"
FIGURE_DPI = 110
_DRAWDOWN_PREFIX = "max_price_drawdown_frac_"
_MAX_RUN_ROWS = 20  # runs listed individually in report.md

# Aggregated outcome columns of runs.parquet: (column, label in report.md, kind of number).
_OUTCOMES: tuple[tuple[str, str, str], ...] = (
    ("bad_debt_usd", "bad debt (total)", "usd"),
    ("lending_bad_debt_usd", "bad debt, lending", "usd"),
    ("perp_bad_debt_usd", "bad debt, perp", "usd"),
    ("socialised_loss_usd", "socialised loss", "usd"),
    ("liquidation_volume_usd", "liquidation volume", "usd"),
    ("n_liquidations", "liquidations (count)", "count"),
    ("insurance_drawdown_frac", "insurance fund drawdown", "frac"),
    ("adl_volume_usd", "ADL volume", "usd"),
    ("proposals_accepted", "proposals accepted", "count"),
    ("proposals_rejected", "proposals rejected", "count"),
    ("mean_mm_scale", "mm_scale, mean", "scale"),
    ("max_mm_scale", "mm_scale, max", "scale"),
)
_STATS = ("mean", "min", "max")
# Outcomes compared between variants in the report's Comparison paragraph.
_COMPARED = (("bad_debt_usd", "bad debt"), ("liquidation_volume_usd", "liquidation volume"))


def _outcomes(runs: pd.DataFrame) -> list[tuple[str, str, str]]:
    """Fixed outcomes plus one max price drawdown per asset present in ``runs``."""
    assets = [c[len(_DRAWDOWN_PREFIX) :] for c in runs.columns if c.startswith(_DRAWDOWN_PREFIX)]
    drawdowns = [(f"{_DRAWDOWN_PREFIX}{a}", f"max price drawdown {a}", "frac") for a in assets]
    # drawdowns go after the loss outcomes, before governance (proposals, mm_scale)
    cut = next(i for i, (c, _, _) in enumerate(_OUTCOMES) if c == "proposals_accepted")
    return [*_OUTCOMES[:cut], *drawdowns, *_OUTCOMES[cut:]]


def summary_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per-variant aggregate of the outcome columns of ``runs.parquet``.

    Returns
    -------
    DataFrame
        One row per variant, in order of first appearance, with ``variant``, ``n_runs`` and, for
        every outcome column ``c``, ``c_mean``, ``c_min`` and ``c_max`` over replications.

    Raises
    ------
    ValueError
        If ``runs`` lacks ``variant`` or an outcome column; the message lists them.
    """
    outcomes = [c for c, _, _ in _outcomes(runs)]
    missing = [c for c in ["variant", *outcomes] if c not in runs.columns]
    if missing:
        raise ValueError(f"{RUNS_FILE}: missing column(s) {missing}")
    grouped = runs.groupby("variant", sort=False)[outcomes]
    out = pd.DataFrame({"n_runs": runs.groupby("variant", sort=False).size()})
    for stat in _STATS:
        agg = grouped.agg(stat).astype(float)
        out = out.join(agg.add_suffix(f"_{stat}"))
    order = ["n_runs", *(f"{c}_{s}" for c in outcomes for s in _STATS)]
    out = out[order].rename_axis("variant").reset_index()
    out["variant"] = out["variant"].astype(str)
    return out


def _format(kind: str, x: float) -> str:
    if x is None or not math.isfinite(x):
        return "n/a"
    if kind == "usd":
        return format_usd(x)
    if kind == "frac":
        return f"{100.0 * x:.1f}%"
    if kind == "count":
        return f"{x:.0f}" if float(x).is_integer() else f"{x:.1f}"
    return f"{x:.2f}"


def _cell(row: pd.Series, column: str, kind: str) -> str:
    mean = _format(kind, row[f"{column}_mean"])
    lo, hi = _format(kind, row[f"{column}_min"]), _format(kind, row[f"{column}_max"])
    if row["n_runs"] <= 1 or lo == hi:
        return mean
    return f"{mean} ({lo}–{hi})"


def format_summary(df: pd.DataFrame) -> str:
    """Fixed-width text table of a :func:`summary_table` for the terminal (means over runs)."""
    dd_cols = [
        c.removesuffix("_mean")
        for c in df.columns
        if c.startswith(_DRAWDOWN_PREFIX) and c.endswith("_mean")
    ]
    header = [
        "variant",
        "runs",
        "bad debt",
        "bad debt min-max",
        "liq volume",
        "liqs",
        "ins dd",
        "ADL",
    ]
    header += [f"dd {c[len(_DRAWDOWN_PREFIX) :]}" for c in dd_cols]
    header += ["prop acc/rej", "mm mean/max"]
    rows = []
    for _, r in df.iterrows():
        cells = [
            str(r["variant"]),
            f"{int(r['n_runs'])}",
            _format("usd", r["bad_debt_usd_mean"]),
            f"{_format('usd', r['bad_debt_usd_min'])}-{_format('usd', r['bad_debt_usd_max'])}",
            _format("usd", r["liquidation_volume_usd_mean"]),
            _format("count", r["n_liquidations_mean"]),
            _format("frac", r["insurance_drawdown_frac_mean"]),
            _format("usd", r["adl_volume_usd_mean"]),
            *(_format("frac", r[f"{c}_mean"]) for c in dd_cols),
            f"{_format('count', r['proposals_accepted_mean'])}"
            f"/{_format('count', r['proposals_rejected_mean'])}",
            f"{r['mean_mm_scale_mean']:.2f}/{r['max_mm_scale_max']:.2f}",
        ]
        rows.append(cells)
    widths = [max(len(x) for x in col) for col in zip(header, *rows, strict=True)]

    def line(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        return "  ".join([first, *(c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))])

    rule = "-" * len(line(header))
    return "\n".join([line(header), rule, *(line(r) for r in rows)])


def _md_table(header: list[str], rows: list[list[str]], *, n_text: int = 1) -> str:
    """Markdown table; the first ``n_text`` columns left-aligned, the rest (numbers) right."""

    def esc(s: str) -> str:
        return str(s).replace("|", "\\|")

    lines = ["| " + " | ".join(esc(h) for h in header) + " |"]
    lines.append("|" + "|".join(["---"] * n_text + ["---:"] * (len(header) - n_text)) + "|")
    lines += ["| " + " | ".join(esc(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _find_key(obj: Any, key: str) -> Iterator[Any]:
    """Every value stored under ``key`` anywhere in a nested JSON object."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == key:
                yield v
            yield from _find_key(v, key)
    elif isinstance(obj, list):
        for v in obj:
            yield from _find_key(v, key)


def _compare_sentence(label: str, metric: str, base: pd.Series, other: pd.Series) -> str:
    b, x = base[f"{metric}_mean"], other[f"{metric}_mean"]
    bn, xn = f"`{base['variant']}`", f"`{other['variant']}`"
    if x == b:
        return f"{xn} had the same mean {label} as {bn} ({format_usd(x)})."
    pct = f", {100.0 * (x - b) / b:+.1f}%" if b != 0 else f"; {bn} had none"
    text = (
        f"{xn} had {format_usd(abs(x - b))} {'less' if x < b else 'more'} {label} than {bn} "
        f"({format_usd(x)} vs {format_usd(b)}{pct})"
    )
    if min(base["n_runs"], other["n_runs"]) >= 2:
        overlap = not (
            other[f"{metric}_max"] < base[f"{metric}_min"]
            or base[f"{metric}_max"] < other[f"{metric}_min"]
        )
        text += (
            "; the min–max ranges over replications overlap, so the gap is within the spread"
            if overlap
            else "; the min–max ranges over replications do not overlap"
        )
    return text + "."


def _comparison(summary: pd.DataFrame) -> str:
    """A computed paragraph comparing every variant with the first one (the baseline)."""
    base = summary.iloc[0]
    sentences = [f"Means over replications, each variant against the first, `{base['variant']}`."]
    for _, other in summary.iloc[1:].iterrows():
        for metric, label in _COMPARED:
            sentences.append(_compare_sentence(label, metric, base, other))
    if len(summary) > 2:
        for metric, label in _COMPARED:
            best = summary.loc[summary[f"{metric}_mean"].idxmin()]
            sentences.append(
                f"Least {label}: `{best['variant']}` ({format_usd(best[f'{metric}_mean'])})."
            )
    return " ".join(sentences)


def _experiment_name(manifest: dict, folder: Path) -> str:
    """From the manifest (extra.experiment, spec.experiment or spec.name), else the folder."""
    spec, extra = manifest.get("spec") or {}, manifest.get("extra") or {}
    name = extra.get("experiment") or spec.get("experiment") or spec.get("name")
    return str(name or folder.parent.name)


def _what_was_run(manifest: dict, runs: pd.DataFrame, folder: Path) -> str:
    spec = manifest.get("spec", {})
    experiment = _experiment_name(manifest, folder)
    variants = [str(v) for v in pd.unique(runs["variant"])]
    reps = runs.groupby("variant", sort=False).size()
    n_steps = sorted({int(s) for s in runs["steps"]})
    found = _find_key(spec, "step_seconds")
    step_seconds = sorted({s for s in found if isinstance(s, int | float)})
    steps_text = ", ".join(str(s) for s in n_steps) + " steps per run"
    if len(step_seconds) == 1:
        horizon_h = max(n_steps) * step_seconds[0] / 3600.0
        steps_text += f" of {step_seconds[0]:g} s (horizon {horizon_h:.3g} h)"
    elif step_seconds:
        steps_text += f"; step_seconds in spec: {', '.join(f'{s:g}' for s in step_seconds)}"
    entropies = [str(e) for e in pd.unique(runs["seed_entropy"])]
    versions = manifest.get("versions") or {}
    commit = manifest.get("git_commit")
    commit = f"`{commit}`" if commit else "not recorded (no git checkout or no commit)"
    items = [
        f"experiment: `{experiment}`",
        f"spec hash: `{manifest.get('spec_hash', '?')}` (folder `{folder.name}`)",
        f"variants ({len(variants)}): " + ", ".join(f"`{v}`" for v in variants),
        "replications per variant: "
        + (str(reps.iloc[0]) if reps.nunique() == 1 else f"{reps.min()} to {reps.max()}"),
        f"steps: {steps_text}; {len(runs)} runs in total",
        "seed entropy: "
        + ", ".join(f"`{e}`" for e in entropies)
        + " (one child SeedSequence per run, spawn keys below)",
        f"backend: {manifest.get('backend', '?')}, "
        f"wall time {manifest.get('wall_time_s', 0):.1f} s, "
        f"created {manifest.get('created_utc', '?')}",
        f"git commit: {commit}; python {manifest.get('python', '?')}",
        "versions: " + ", ".join(f"{k} {v}" for k, v in versions.items() if v),
    ]
    return "\n".join(f"- {i}" for i in items)


def _runs_table(runs: pd.DataFrame, steps: pd.DataFrame) -> str:
    hours = steps.drop_duplicates(["run_id", "step"]).set_index(["run_id", "step"])["time_s"] / 3600
    rows = []
    for _, r in runs.head(_MAX_RUN_ROWS).iterrows():
        h = hours.get((r["run_id"], int(r["worst_step"])), float("nan"))
        rows.append(
            [
                f"`{r['run_id']}`",
                str(r["variant"]),
                f"`{r['spawn_key']}`",
                str(int(r["replication"])),
                f"{int(r['worst_step'])} ({h:.2f} h)",
                format_usd(r["bad_debt_usd"]),
                format_usd(r["liquidation_volume_usd"]),
            ]
        )
    table = _md_table(
        [
            "run",
            "variant",
            "spawn key",
            "replication",
            "worst step",
            "bad debt",
            "liquidation volume",
        ],
        rows,
        n_text=3,
    )
    if len(runs) > _MAX_RUN_ROWS:
        table += f"\n\n{len(runs) - _MAX_RUN_ROWS} more runs in `{RUNS_FILE}`."
    return table


def _events_table(events: pd.DataFrame, variants: list[str]) -> str:
    if events.empty:
        return "No events recorded."
    counts = events.groupby(["kind", "variant"]).size().unstack(fill_value=0)
    counts = counts.reindex(columns=variants, fill_value=0)
    rows = [[f"`{k}`", *(str(int(n)) for n in counts.loc[k])] for k in counts.index]
    return "Events per kind, summed over replications.\n\n" + _md_table(["kind", *variants], rows)


POLICY_EXPERIMENTS = frozenset({"recalibration-policies"})
"""Experiments whose variants are ``<scenario>-<policy>``: their report compares policies."""

EXPERIMENT_SECTIONS: dict[str, Callable[[Path, pd.DataFrame, pd.DataFrame], str]] = {
    **dict.fromkeys(POLICY_EXPERIMENTS, policy_section),
    "hedging-frequency": hedging_section,
    "options-amm-stress": options_amm_section,
}
"""Experiment name -> its own report section (figures and tables beyond the common ones)."""

_FIGURES: tuple[tuple[str, str, str, Callable[[dict[str, pd.DataFrame]], Any]], ...] = (
    (
        "prices.png",
        "Prices",
        "Reference market, AMM spot and oracle price per asset.",
        lambda t: plot_prices(t["steps"]),
    ),
    (
        "liquidations_bad_debt.png",
        "Liquidations and bad debt",
        "Liquidation volume per step and cumulative bad debt, per protocol.",
        lambda t: plot_liquidations(t["steps"]),
    ),
    (
        "insurance_fund.png",
        "Insurance fund",
        "Perp insurance fund balance over time.",
        lambda t: plot_insurance_fund(t["steps"]),
    ),
    (
        "health.png",
        "Account health",
        "Lending health factor and perp equity / maintenance "
        "margin, before and after each run's worst step (liquidation below 1).",
        lambda t: plot_health(t["health"]),
    ),
)


def write_report(result_dir: Path) -> Path:
    """Build ``figures/*.png`` and ``report.md`` in a result folder; return the report's path.

    Raises
    ------
    FileNotFoundError
        If the folder or one of manifest.json, runs/steps/events/health.parquet is missing; the
        message names every missing file.
    """
    folder = Path(result_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"result folder not found: {folder}")
    needed = {"runs": RUNS_FILE, "steps": STEPS_FILE, "events": EVENTS_FILE, "health": HEALTH_FILE}
    missing = [f for f in (MANIFEST_FILE, *needed.values()) if not (folder / f).is_file()]
    if missing:
        raise FileNotFoundError(
            f"cannot build the report: {folder} is missing {', '.join(missing)}"
        )
    manifest = read_manifest(folder)
    tables = {key: read_table(folder / name) for key, name in needed.items()}
    runs = tables["runs"]
    summary = summary_table(runs)
    variants = summary["variant"].tolist()

    fig_dir = folder / FIGURES_DIR
    fig_dir.mkdir(exist_ok=True)
    figure_md = []
    for filename, title, caption, build in _FIGURES:
        build(tables).savefig(fig_dir / filename, dpi=FIGURE_DPI)
        figure_md.append(f"### {title}\n\n{caption}\n\n![{title}]({FIGURES_DIR}/{filename})")

    outcome_rows = [
        [label, *(_cell(row, column, kind) for _, row in summary.iterrows())]
        for column, label, kind in _outcomes(runs)
    ]
    note = "Mean over replications" + (
        ", min–max in parentheses." if (summary["n_runs"] > 1).any() else "."
    )
    sections = [
        f"# cascadelab report: {_experiment_name(manifest, folder)}",
        "## What was run\n\n" + _what_was_run(manifest, runs, folder),
        f"## Headline outcomes\n\n{note}\n\n{_md_table(['outcome', *variants], outcome_rows)}",
    ]
    if len(summary) >= 2:
        sections.append("## Comparison\n\n" + _comparison(summary))
    own_section = EXPERIMENT_SECTIONS.get(_experiment_name(manifest, folder))
    if own_section is not None:
        sections.append(own_section(folder, runs, tables["steps"]))
    sections += [
        "## Runs\n\n" + _runs_table(runs, tables["steps"]),
        "## Events\n\n" + _events_table(tables["events"], variants),
        "## Figures\n\n" + "\n\n".join(figure_md),
    ]
    path = folder / REPORT_FILE
    path.write_text("\n\n".join(sections) + "\n", encoding="utf-8")
    return path
