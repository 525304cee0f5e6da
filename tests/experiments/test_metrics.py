"""Outcome metrics: expected shortfall, capital efficiency, procyclicality, one run's outcomes."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from experiments.catalog.governance_sweep import tiny
from experiments.governance_report import _es_rows
from experiments.metrics import capital_efficiency, expected_shortfall, procyclicality
from experiments.runner import run_one
from experiments.sweep import expand_sweep


def test_expected_shortfall_by_hand() -> None:
    losses = np.arange(1.0, 21.0)  # 20 runs: 1..20
    # 95%: m = 1 -> the worst loss; 90%: m = 2 -> mean of the two worst
    assert expected_shortfall(losses, 0.95) == pytest.approx(20.0)
    assert expected_shortfall(losses, 0.90) == pytest.approx(19.5)
    # 87.5%: m = 2.5 -> (20 + 19 + 0.5 * 18) / 2.5
    assert expected_shortfall(losses, 0.875) == pytest.approx((20 + 19 + 9) / 2.5)
    assert expected_shortfall(np.array([3.0, np.nan]), 0.99) == 3.0
    assert math.isnan(expected_shortfall(np.array([]), 0.99))
    with pytest.raises(ValueError, match=r"expected_shortfall.level: must be in \(0, 1\)"):
        expected_shortfall(losses, 1.0)


@settings(max_examples=60, deadline=None)
@given(
    x=st.lists(st.floats(0, 1e9, allow_nan=False), min_size=1, max_size=60),
    level=st.sampled_from([0.5, 0.9, 0.95, 0.975, 0.99]),
)
def test_expected_shortfall_is_between_mean_and_max_and_rows_agree(x, level) -> None:
    a = np.array(x)
    es = expected_shortfall(a, level)
    assert a.mean() - 1e-6 * (1 + a.max()) <= es <= a.max() + 1e-6
    assert _es_rows(a[None, :], level)[0] == pytest.approx(es, rel=1e-12, abs=1e-9)


def _steps(mm: list[float], notional: list[float]) -> pd.DataFrame:
    n = len(mm)
    return pd.DataFrame(
        {
            "perp_maintenance_margin_usd": mm,
            "perp_notional_usd": notional,
            "lending_total_debt_usd": np.full(n, 50.0),
            "lending_total_collateral_usd": np.full(n, 100.0),
        }
    )


def test_capital_efficiency_is_notional_per_usd_of_margin() -> None:
    ce = capital_efficiency(_steps([1.0, 3.0], [100.0, 100.0]))
    assert ce["perp_margin_to_notional"] == pytest.approx(0.02)
    assert ce["capital_efficiency"] == pytest.approx(50.0)
    assert ce["lending_debt_to_collateral"] == pytest.approx(0.5)
    assert math.isnan(capital_efficiency(_steps([0.0], [0.0]))["capital_efficiency"])


def test_procyclicality_peak_to_trough_and_one_day_rise() -> None:
    # hourly steps over three days: the rate is 1% for a day, 3% for a day, then 1.5%
    day = 24
    rate = [0.01] * day + [0.03] * day + [0.015] * day
    steps = _steps([r * 1000.0 for r in rate], [1000.0] * len(rate))
    p = procyclicality(steps, step_seconds=3600)
    assert p["margin_peak_to_trough"] == pytest.approx(3.0)
    assert p["margin_max_1d_increase_frac"] == pytest.approx(2.0)
    # a slow rise spread over four days: no one-day window sees more than 1/4 of it (+-1 step)
    slow = np.linspace(0.01, 0.02, 4 * day + 1)
    p = procyclicality(_steps(list(slow * 1000.0), [1000.0] * slow.size), step_seconds=3600)
    assert p["margin_peak_to_trough"] == pytest.approx(2.0)
    assert p["margin_max_1d_increase_frac"] < 0.35
    # steps without open interest are ignored; none at all gives NaN
    p = procyclicality(_steps([0.0, 10.0, 20.0], [0.0, 1000.0, 1000.0]), step_seconds=60)
    assert p["margin_peak_to_trough"] == pytest.approx(2.0)
    assert math.isnan(procyclicality(_steps([0.0], [0.0]), 60)["margin_peak_to_trough"])


def test_run_outcomes_record_margins_and_insolvency() -> None:
    run = expand_sweep(tiny())[0]
    result = run_one(run)
    steps, row = result.steps, result.run
    for col in ("perp_maintenance_margin_usd", "perp_initial_margin_usd", "perp_notional_usd"):
        # the few traders open positions on their own clocks: zero at first, then positive
        assert np.isfinite(steps[col]).all() and (steps[col] >= 0).all(), col
        assert steps[col].iloc[-1] > 0, col
    assert (steps["perp_initial_margin_usd"] >= steps["perp_maintenance_margin_usd"]).all()
    expected = steps["perp_notional_usd"].sum() / steps["perp_maintenance_margin_usd"].sum()
    assert row["capital_efficiency"] == pytest.approx(expected)
    assert row["margin_peak_to_trough"] >= 1.0
    assert row["insolvent"] == (
        max(
            row["bad_debt_usd"],
            row["socialised_loss_usd"],
            row["adl_volume_usd"],
            row["perp_vault_shortfall_usd"],
        )
        > 0.01
    )
    assert row["perp.mm_scale"] == 0.75 and row["setting"] == "s000"
    assert (row["status"], row["error"]) == ("ok", "")
