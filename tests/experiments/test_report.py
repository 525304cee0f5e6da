"""The report: summary table, figures and report.md built from a synthetic result folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from experiments.figures import (
    format_usd,
    plot_health,
    plot_insurance_fund,
    plot_liquidations,
    plot_prices,
)
from experiments.report import format_summary, summary_table, write_report
from experiments.store import (
    EVENTS_FILE,
    HEALTH_FILE,
    RUNS_FILE,
    STEPS_FILE,
    read_table,
    result_dir,
    spec_hash,
    write_manifest,
    write_table,
)

ASSETS = ("ETH", "BTC")
VARIANTS = ("baseline", "tight_mm")
N_REPS, N_STEPS, STEP_SECONDS, CRASH_STEP = 2, 50, 300, 25
SPEC = {
    "name": "crash_test",
    "seed": 20240805,
    "scenario": {"steps": N_STEPS, "step_seconds": STEP_SECONDS},
    "sweep": {"mode": "grid", "values": {"perp.mm_scale": [1.0, 1.5]}},
    "replications": N_REPS,
}
# runs.parquet outcomes per (variant, replication): bad debt and liquidation volume (USD).
BAD_DEBT = {"baseline": (1.2e6, 1.8e6), "tight_mm": (2.0e5, 4.0e5)}
LIQ_VOLUME = {"baseline": (5.0e6, 7.0e6), "tight_mm": (4.0e6, 4.5e6)}
N_LIQ = {"baseline": (40, 51), "tight_mm": (30, 33)}


def _steps(variant: str, rep: int, rng: np.random.Generator) -> pd.DataFrame:
    step = np.arange(N_STEPS, dtype=np.int64)
    crash = np.where(step >= CRASH_STEP, 1.0, 0.0)
    cols: dict[str, object] = {
        "run_id": f"{variant}-r{rep}",
        "variant": variant,
        "replication": rep,
        "step": step,
        "time_s": step * STEP_SECONDS,
    }
    for asset, p0, drop in (("ETH", 3000.0, 0.25), ("BTC", 60000.0, 0.15)):
        ref = p0 * np.exp(np.cumsum(rng.normal(0, 0.004, N_STEPS)) - drop * crash)
        amm = ref * (1 + rng.normal(0, 0.002, N_STEPS)) * np.where(step == CRASH_STEP, 0.97, 1.0)
        oracle = ref.copy()
        oracle[1:] = ref[:-1]  # one-step latency
        oracle = np.where(step % 6 == 0, oracle, np.nan)
        oracle = pd.Series(oracle).ffill().to_numpy()
        cols |= {
            f"ref_price_usd_{asset}": ref,
            f"amm_price_usd_{asset}": amm,
            f"oracle_price_usd_{asset}": oracle,
            f"perp_mark_price_usd_{asset}": ref * 1.0005,
            f"perp_funding_rate_8h_{asset}": np.full(N_STEPS, 1e-4),
            f"perp_oi_long_usd_{asset}": np.full(N_STEPS, 5e7),
            f"perp_oi_short_usd_{asset}": np.full(N_STEPS, 4.8e7),
        }
    share = {"baseline": 1.0, "tight_mm": 0.4}[variant]
    spike = np.exp(-0.5 * ((step - CRASH_STEP) / 2.0) ** 2)
    lend_liq = 3e5 * share * spike * (1 + rep)
    perp_liq = 2e5 * share * spike * (1 + rep)
    lend_bad = np.cumsum(spike) / spike.sum() * 0.6 * BAD_DEBT[variant][rep]
    perp_bad = np.cumsum(spike) / spike.sum() * 0.4 * BAD_DEBT[variant][rep]
    cols |= {
        "lending_utilisation": np.full(N_STEPS, 0.8),
        "lending_total_debt_usd": np.full(N_STEPS, 1e8),
        "lending_total_collateral_usd": np.full(N_STEPS, 1.5e8),
        "lending_liquidity_index": np.full(N_STEPS, 1.0),
        "lending_n_liquidatable": (spike * 20).astype(np.int64),
        "lending_min_hf": 1.3 - 0.4 * spike,
        "lending_ltv_scale": np.full(N_STEPS, 1.0),
        "lending_liquidation_volume_usd": lend_liq,
        "lending_bad_debt_usd": lend_bad,
        "perp_insurance_fund_usd": 1e7 - 3e6 * np.cumsum(spike) / spike.sum() * share,
        "perp_mm_scale": np.where(step > CRASH_STEP, 1.0 + 0.5 * (variant == "tight_mm"), 1.0),
        "perp_liquidation_volume_usd": perp_liq,
        "perp_bad_debt_usd": perp_bad,
        "perp_adl_volume_usd": np.zeros(N_STEPS),
        "gas_price_gwei": 20 + 80 * spike,
        "liquidation_volume_usd": lend_liq + perp_liq,
        "bad_debt_usd": lend_bad + perp_bad,
    }
    return pd.DataFrame(cols)


def _run_row(variant: str, rep: int, steps: pd.DataFrame) -> dict[str, object]:
    bad = BAD_DEBT[variant][rep]
    liq = LIQ_VOLUME[variant][rep]
    return {
        "run_id": f"{variant}-r{rep}",
        "variant": variant,
        "replication": rep,
        "seed_entropy": str(SPEC["seed"]),
        "spawn_key": f"({VARIANTS.index(variant) * N_REPS + rep},)",
        "steps": N_STEPS,
        "bad_debt_usd": bad,
        "lending_bad_debt_usd": 0.6 * bad,
        "perp_bad_debt_usd": 0.4 * bad,
        "socialised_loss_usd": 0.1 * bad,
        "liquidation_volume_usd": liq,
        "lending_liquidation_volume_usd": 0.7 * liq,
        "perp_liquidation_volume_usd": 0.3 * liq,
        "n_liquidations": N_LIQ[variant][rep],
        "adl_volume_usd": 0.0 if variant == "tight_mm" else 2.5e4 * (rep + 1),
        "insurance_fund_start_usd": 1e7,
        "insurance_fund_min_usd": steps["perp_insurance_fund_usd"].min(),
        "insurance_drawdown_frac": 1 - steps["perp_insurance_fund_usd"].min() / 1e7,
        "max_price_drawdown_frac_ETH": 0.25 + 0.01 * rep,
        "max_price_drawdown_frac_BTC": 0.15 + 0.01 * rep,
        "worst_step": CRASH_STEP,
        "proposals_accepted": 1 + rep,
        "proposals_rejected": 2,
        "mean_mm_scale": steps["perp_mm_scale"].mean(),
        "max_mm_scale": steps["perp_mm_scale"].max(),
    }


def _health(variant: str, rep: int, rng: np.random.Generator) -> pd.DataFrame:
    parts = []
    for when, shift in (("before", 0.0), ("after", -0.25)):
        for protocol, center, n in (("lending", 1.5, 300), ("perp", 2.5, 200)):
            h = rng.lognormal(np.log(center), 0.35, n) + shift
            h[:3] = [np.inf, -0.5, 12.0]  # no debt, bankrupt, very safe: all clipped in the plot
            parts.append(
                pd.DataFrame(
                    {
                        "run_id": f"{variant}-r{rep}",
                        "variant": variant,
                        "replication": rep,
                        "when": when,
                        "step": CRASH_STEP - 1 if when == "before" else CRASH_STEP,
                        "protocol": protocol,
                        "account": np.arange(n, dtype=np.int64),
                        "health": h,
                    }
                )
            )
    return pd.concat(parts, ignore_index=True)


def _events(variant: str, rep: int) -> pd.DataFrame:
    kinds = ["LIQUIDATION", "LIQUIDATION", "BAD_DEBT", "PROPOSAL_ACCEPTED", "PROPOSAL_REJECTED"]
    return pd.DataFrame(
        {
            "run_id": f"{variant}-r{rep}",
            "variant": variant,
            "replication": rep,
            "step": np.array([24, 25, 25, 30, 31], dtype=np.int64),
            "kind": kinds,
            "protocol": ["aave", "perp", "aave", "governance", "governance"],
            "account": np.array([3, 7, 3, -1, -1], dtype=np.int64),
            "asset": ["ETH", "BTC", "USDC", "", ""],
            "amount": [10.0, 0.5, 1e4, 0.0, 0.0],
            "value_usd": [2.5e4, 3e4, 1e4, 0.0, 0.0],
            "detail": ["", "", "", "mm_scale=1.5", "change too large"],
        }
    )


def make_tables(variants: tuple[str, ...] = VARIANTS) -> dict[str, pd.DataFrame]:
    """Synthetic runs/steps/events/health tables in the results schema."""
    rng = np.random.default_rng(99)
    steps, runs, events, health = [], [], [], []
    for variant in variants:
        for rep in range(N_REPS):
            s = _steps(variant, rep, rng)
            steps.append(s)
            runs.append(_run_row(variant, rep, s))
            events.append(_events(variant, rep))
            health.append(_health(variant, rep, rng))
    return {
        "runs": pd.DataFrame(runs),
        "steps": pd.concat(steps, ignore_index=True),
        "events": pd.concat(events, ignore_index=True),
        "health": pd.concat(health, ignore_index=True),
    }


def write_results(root: Path, variants: tuple[str, ...] = VARIANTS) -> Path:
    """A complete result folder (manifest + four Parquet files) under ``root``."""
    h = spec_hash(SPEC)
    folder = result_dir(root, SPEC["name"], h)
    tables = make_tables(variants)
    for key, name in (
        ("runs", RUNS_FILE),
        ("steps", STEPS_FILE),
        ("events", EVENTS_FILE),
        ("health", HEALTH_FILE),
    ):
        write_table(tables[key], folder / name)
    write_manifest(folder, spec=SPEC, spec_hash=h, wall_time_s=3.5, extra={"experiment": "crash"})
    return folder


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    return write_results(tmp_path_factory.mktemp("results"))


@pytest.fixture(scope="module")
def report_text(results) -> str:
    return write_report(results).read_text(encoding="utf-8")


def test_summary_table_mean_by_hand(results):
    summary = summary_table(read_table(results / RUNS_FILE))
    assert summary["variant"].tolist() == list(VARIANTS)
    base = summary.set_index("variant").loc["baseline"]
    assert base["n_runs"] == 2
    assert base["bad_debt_usd_mean"] == pytest.approx((1.2e6 + 1.8e6) / 2)
    assert base["bad_debt_usd_min"] == 1.2e6
    assert base["bad_debt_usd_max"] == 1.8e6
    assert base["n_liquidations_mean"] == pytest.approx(45.5)
    tight = summary.set_index("variant").loc["tight_mm"]
    assert tight["liquidation_volume_usd_mean"] == pytest.approx(4.25e6)
    assert tight["max_price_drawdown_frac_BTC_max"] == pytest.approx(0.16)
    assert tight["max_mm_scale_max"] == pytest.approx(1.5)


def test_summary_table_missing_column_is_named():
    runs = make_tables()["runs"].drop(columns=["adl_volume_usd"])
    with pytest.raises(ValueError, match="adl_volume_usd"):
        summary_table(runs)


def test_format_summary_fixed_width(results):
    text = format_summary(summary_table(read_table(results / RUNS_FILE)))
    lines = text.splitlines()
    assert len(lines) == 2 + len(VARIANTS)
    assert len({len(line) for line in lines}) == 1
    assert lines[2].startswith("baseline") and lines[3].startswith("tight_mm")
    assert format_usd(1.5e6) in lines[2] and format_usd(3e5) in lines[3]
    assert "dd ETH" in lines[0] and "dd BTC" in lines[0]


@pytest.mark.parametrize(
    "value, text",
    [
        (0.0, "$0"),
        (3.456, "$3.46"),
        (950.4, "$950"),
        (1234.0, "$1.23k"),
        (1.5e6, "$1.50M"),
        (3e5, "$300k"),
        (999_990.0, "$1.00M"),
        (-2.5e9, "-$2.50B"),
        (float("nan"), "n/a"),
    ],
)
def test_format_usd_compact(value, text):
    assert format_usd(value) == text


def test_write_report_names_variants_and_numbers(report_text):
    assert report_text.startswith("# cascadelab report: crash")
    assert spec_hash(SPEC) in report_text
    for variant in VARIANTS:
        assert f"`{variant}`" in report_text
    # headline table: mean (min–max) of bad debt, as the report formats it
    assert "$1.50M ($1.20M–$1.80M)" in report_text
    assert "$300k ($200k–$400k)" in report_text
    assert f"{STEP_SECONDS} s" in report_text and f"`{SPEC['seed']}`" in report_text


def test_write_report_comparison_is_computed(report_text):
    comparison = report_text.split("## Comparison")[1].split("##")[0]
    saved = format_usd(1.5e6 - 3e5)  # $1.20M
    assert f"`tight_mm` had {saved} less bad debt than `baseline`" in comparison
    assert "-80.0%" in comparison
    assert f"{format_usd(6e6 - 4.25e6)} less liquidation volume" in comparison
    assert "do not overlap" in comparison


def test_write_report_embeds_nontrivial_figures(results, report_text):
    names = ["prices", "liquidations_bad_debt", "insurance_fund", "health"]
    for name in names:
        png = results / "figures" / f"{name}.png"
        assert png.stat().st_size > 5_000
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"](figures/{name}.png)" in report_text


def test_write_report_is_deterministic(results, report_text):
    again = write_report(results).read_text(encoding="utf-8")
    assert again == report_text


def test_write_report_single_variant_has_no_comparison(tmp_path):
    text = write_report(write_results(tmp_path, ("baseline",))).read_text(encoding="utf-8")
    assert "## Comparison" not in text
    assert "$1.50M ($1.20M–$1.80M)" in text


def test_write_report_handles_empty_tables_and_zero_baseline(tmp_path):
    folder = write_results(tmp_path)
    runs = read_table(folder / RUNS_FILE)
    runs.loc[runs["variant"] == "baseline", "bad_debt_usd"] = 0.0
    write_table(runs, folder / RUNS_FILE)
    write_table(read_table(folder / EVENTS_FILE).iloc[0:0], folder / EVENTS_FILE)
    health = read_table(folder / HEALTH_FILE)
    write_table(health[health["protocol"] == "lending"], folder / HEALTH_FILE)
    text = write_report(folder).read_text(encoding="utf-8")
    assert "No events recorded." in text
    assert (
        "`tight_mm` had $300k more bad debt than `baseline` ($300k vs $0; `baseline` had none)"
        in text
    )
    assert (folder / "figures" / "health.png").stat().st_size > 5_000


@pytest.mark.parametrize("missing", [HEALTH_FILE, RUNS_FILE, "manifest.json"])
def test_write_report_missing_file_is_named(tmp_path, missing):
    folder = write_results(tmp_path)
    (folder / missing).unlink()
    with pytest.raises(FileNotFoundError, match=missing.replace(".", r"\.")):
        write_report(folder)


def test_plots_return_figures_with_expected_panels():
    t = make_tables()
    assert isinstance(plot_prices(t["steps"]), Figure)
    assert len(plot_prices(t["steps"]).axes) == len(ASSETS)
    assert len(plot_liquidations(t["steps"]).axes) == 4
    assert len(plot_insurance_fund(t["steps"]).axes) == 1
    assert len(plot_health(t["health"]).axes) == 2 * len(VARIANTS)


def test_plot_prices_missing_column_is_named():
    steps = make_tables()["steps"].drop(columns=["oracle_price_usd_BTC"])
    with pytest.raises(ValueError, match="oracle_price_usd_BTC"):
        plot_prices(steps)
