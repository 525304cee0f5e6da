"""The option venues inside the world: graph, wiring, per-step metrics, outcomes and reports."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from agents.hedging import HedgeRule
from contagion.graph import hedge_venues, issued_by
from experiments.model import EcosystemModel
from experiments.options_report import hedging_frontier
from experiments.options_spec import OptionsSpec, hedge_params
from experiments.overrides import SpecError, apply_overrides
from experiments.runner import expand, run_experiment, run_one
from experiments.spec import ScenarioSpec
from experiments.world import build_graph


def _world(small_spec, steps: int, **options) -> EcosystemModel:
    spec = small_spec("baseline", steps).scenario
    opt = OptionsSpec(
        amm=True,
        pm_exchange=True,
        n_protection_buyers=6,
        n_speculators=6,
        n_vol_sellers=4,
        n_lps=4,
        option_trader_period_seconds=600.0,
        mm_initial_straddles_base=20.0,
        **options,
    )
    spec = dataclasses.replace(spec, options=opt)
    return EcosystemModel(spec, rng=np.random.SeedSequence(11))


def test_graph_has_option_venues_only_when_enabled() -> None:
    plain = build_graph(ScenarioSpec())
    assert "options_amm" not in plain and "pm_exchange" not in plain
    g = build_graph(ScenarioSpec(options=OptionsSpec(amm=True, pm_exchange=True)))
    assert hedge_venues(g, "options_amm") == ["perp"]
    assert issued_by(g, "options_amm") == ["token:LP-OPT-ETH"]
    assert g.has_edge("oracle:ETH", "pm_exchange")
    assert g.has_edge("asset:USDC", "pm_exchange")


def test_option_world_steps_with_conservation_and_real_hedges(small_spec) -> None:
    model = _world(small_spec, 240)
    amm, pm, perp = model.options_amm, model.pm_exchange, model.perp
    assert amm is not None and pm is not None
    # the LPs' seed is the pool's NAV at the start, and their shares are its LP token
    assert amm.nav_usd == pytest.approx(model.spec.options.amm_liquidity_usd, rel=1e-9)
    model.run()  # check_conservation is on in small specs: the ledger balances every step
    steps = model.recorder.frame()
    for col in ("options_amm_nav_usd", "pm_maintenance_margin_usd", "mm_hedge_cost_usd"):
        assert np.isfinite(steps[col]).all(), col
    # the pool's hedge is a real perp position, read back from the perp exchange
    hedge = perp.position(amm.hedger.account, model.spec.options.asset)[0]
    assert hedge == pytest.approx(amm.hedge_size_base)
    # option traders traded: the pool wrote options and earned fees
    assert steps["options_amm_fees_usd"].iloc[-1] > 0.0
    # market makers hedged on the perp: every one of them holds a perp position or rebalanced
    assert all(m.n_rebalances > 0 for m in model.option_makers)
    assert model.token_marks[amm.lp_asset] == pytest.approx(amm.share_price_usd)


def test_option_outcomes_are_in_the_run_row(small_spec) -> None:
    spec = small_spec(
        "hedging-frequency",
        180,
        **{"scenario.options.market_makers": ("interval:3600", "band:0.05", "ww:300")},
    )
    result = run_one(expand(spec)[0])
    row = result.run
    for label in ("interval-3600", "band-0.05", "ww-300"):
        assert row[f"hedger_{label}_rebalances"] >= 1
        assert np.isfinite(row[f"hedger_{label}_hedge_cost_usd"])
    # a fixed hourly interval over 3 hours: rebalances at most every hour
    assert row["hedger_interval-3600_rebalances"] <= 4
    assert row["pm_bad_debt_usd"] == 0.0


def test_hedging_frequency_report_has_the_frontier(tmp_path, small_spec) -> None:
    spec = small_spec(
        "hedging-frequency",
        150,
        **{"scenario.options.market_makers": ("interval:900", "band:0.05")},
    )
    result = run_experiment(spec, out_root=tmp_path, progress=False, report=True)
    runs = pd.read_parquet(result.path / "runs.parquet")
    frontier = hedging_frontier(runs)
    assert len(frontier) == 2 * 2  # (calm, stressed) x two hedgers
    assert set(frontier["rule"]) == {"interval", "band"}
    report = (result.path / "report.md").read_text()
    assert "## Hedging frontier" in report
    assert (result.path / "figures" / "hedging_frontier.png").stat().st_size > 10_000


def test_options_amm_stress_report_compares_variants(tmp_path, small_spec) -> None:
    spec = small_spec("options-amm-stress", 120)
    result = run_experiment(spec, out_root=tmp_path, progress=False, report=True)
    runs = pd.read_parquet(result.path / "runs.parquet")
    assert set(runs["variant"]) == {
        "crash-static",
        "crash-recalibrated",
        "spike-static",
        "spike-recalibrated",
    }
    assert runs["options_amm_solvent"].dtype == bool
    report = (result.path / "report.md").read_text()
    assert "## Options AMM under stress" in report


def test_options_spec_errors_name_the_field_and_rule() -> None:
    with pytest.raises(SpecError, match=r"OptionsSpec.market_makers\[1\].*'<rule>:<width>'"):
        OptionsSpec(market_makers=("band:0.1", "gamma:2"))
    with pytest.raises(SpecError, match=r"OptionsSpec.n_lps.*>= 0"):
        OptionsSpec(n_lps=-1)
    with pytest.raises(SpecError, match=r"ScenarioSpec.options.asset.*market assets"):
        ScenarioSpec(options=OptionsSpec(amm=True, asset="SOL"))
    with pytest.raises(SpecError, match=r"options.mm_capital_usd"):
        apply_overrides(ScenarioSpec(), {"options.mm_capital_usd": 0.0}, prefix="scenario")


def test_hedger_entries_become_hedge_params() -> None:
    p = hedge_params("interval:900", step_seconds=60, book_notional_base=200.0, cost_frac=5e-4)
    assert p.rule is HedgeRule.FIXED_INTERVAL and p.interval_steps == 15
    p = hedge_params("band:0.05", step_seconds=60, book_notional_base=200.0, cost_frac=5e-4)
    assert p.rule is HedgeRule.DELTA_BAND and p.band_base == pytest.approx(10.0)
    p = hedge_params("ww:300", step_seconds=60, book_notional_base=200.0, cost_frac=5e-4)
    assert p.rule is HedgeRule.WHALLEY_WILMOTT and p.risk_aversion == pytest.approx(3e-4)
