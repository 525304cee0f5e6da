"""Scenario grids: the published tables (DOMAIN.md A2, A3), the term factor, validation."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from protocols.margin.margin_references import vol_term_factor_ref
from protocols.margin.portfolio_kernels import vol_term_factor
from protocols.margin.scenario_grid import (
    EXTENDED_SPOT_SHOCKS,
    EXTENDED_WEIGHTS,
    MarginLevel,
    ScenarioGrid,
    deribit_extended_grid,
    deribit_grid,
    paradex_grid,
    span_grid,
)


def test_deribit_grid_is_nine_moves_by_three_vols():
    g = deribit_grid()
    assert g.n_scenarios == 27
    spot = np.array(g.spot_shocks)
    np.testing.assert_allclose(np.unique(spot), np.arange(-16, 17, 4) / 100.0, atol=1e-15)
    assert sorted(set(g.vol_shocks)) == [-0.22, 0.0, 0.40]
    pairs = {(round(s, 6), v) for s, v in zip(g.spot_shocks, g.vol_shocks, strict=True)}
    assert len(pairs) == 27
    assert set(g.weights) == {1.0}


def test_deribit_extended_grid_damps_to_base_range():
    g = deribit_extended_grid()
    assert g.n_scenarios == 27 + 8
    ext = np.array(g.spot_shocks[27:])
    w = np.array(g.weights[27:])
    np.testing.assert_array_equal(ext, EXTENDED_SPOT_SHOCKS)
    assert set(g.vol_shocks[27:]) == {0.40}
    # DOMAIN.md A2 observation: weight x |move| ~ 16% for every extended scenario
    np.testing.assert_allclose(w * np.abs(ext), 0.16, atol=0.003)


def test_paradex_grid_puts_16pct_only_with_vol_up():
    g = paradex_grid()
    assert g.n_scenarios == 24
    base = list(zip(g.spot_shocks[:16], g.vol_shocks[:16], strict=True))
    assert (-0.16, 0.40) in base and (0.16, 0.40) in base
    assert (-0.16, -0.22) not in base and (0.16, -0.22) not in base
    assert g.weights[16:] == EXTENDED_WEIGHTS
    assert g.scan_level is MarginLevel.INITIAL and g.im_over_mm == 2.0


def test_span_grid_has_extremes_at_35pct_of_twice_the_range():
    g = span_grid(0.12, 0.35)
    assert g.n_scenarios == 16
    np.testing.assert_allclose(g.spot_shocks[14:], (0.24, -0.24))
    assert g.vol_shocks[14:] == (0.0, 0.0)
    assert g.weights[14:] == (0.35, 0.35)
    assert g.weights[:14] == (1.0,) * 14
    np.testing.assert_allclose(g.spot_shocks[:14:2], np.array([0, 1, -1, 2, -2, 3, -3]) * 0.04)
    assert g.vol_shocks[:4] == (0.35, -0.35, 0.35, -0.35)
    assert g.lookahead_days == 1.0
    assert g.vega_power_short == g.vega_power_long == 0.0
    assert span_grid(0.1, 0.3, extreme_mult=3.0).spot_shocks[14] == pytest.approx(0.3)


@pytest.mark.parametrize(
    ("dte", "expected"),
    [
        (10.0, 3.0**0.30),
        (60.0, 0.5**0.13),
        (0.2, 30.0**0.30),
        (30.0, 1.0),
        (29.0, (30 / 29) ** 0.3),
    ],
)
def test_vol_term_factor_follows_deribit_power_rule(dte, expected):
    g = deribit_grid()
    term = g.kernel_arrays()[3]
    assert vol_term_factor(dte / 365.0, term) == pytest.approx(expected, rel=1e-12)
    assert vol_term_factor_ref(np.array([dte / 365.0]), g)[0] == pytest.approx(expected, rel=1e-12)


def test_vol_term_factor_is_one_without_term_scaling():
    term = span_grid(0.1, 0.3).kernel_arrays()[3]
    assert vol_term_factor(1.0 / 365.0, term) == 1.0


def test_initial_and_maintenance_follow_scan_level():
    req = np.array([10.0, 0.0])
    im, mm = deribit_grid(im_over_mm=1.25).initial_and_maintenance(req)
    np.testing.assert_allclose(im, [12.5, 0.0])
    np.testing.assert_allclose(mm, req)
    im, mm = paradex_grid().initial_and_maintenance(req)
    np.testing.assert_allclose(im, req)
    np.testing.assert_allclose(mm, [5.0, 0.0])


def test_scenario_grid_replace_revalidates():
    g = deribit_grid()
    wider = dataclasses.replace(g, spot_shocks=tuple(2 * s for s in g.spot_shocks))
    assert max(wider.spot_shocks) == pytest.approx(0.32)
    with pytest.raises(ValueError, match=r"ScenarioGrid\.weights: must be in \(0, 1\]"):
        dataclasses.replace(g, weights=(1.5,) * 27)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"spot_shocks": (-1.0,), "vol_shocks": (0.0,), "weights": (1.0,)},
            "spot_shocks: must be > -1",
        ),
        ({"spot_shocks": (), "vol_shocks": (), "weights": ()}, "spot_shocks: must be non-empty"),
        (
            {"spot_shocks": (0.1,), "vol_shocks": (0.0, 0.1), "weights": (1.0,)},
            "vol_shocks: must be of length",
        ),
        (
            {"spot_shocks": (0.1,), "vol_shocks": (0.0,), "weights": (0.0,)},
            r"weights: must be in \(0, 1\]",
        ),
        (
            {"spot_shocks": (np.nan,), "vol_shocks": (0.0,), "weights": (1.0,)},
            "spot_shocks: must be finite",
        ),
        ({"im_over_mm": 0.5}, "im_over_mm: must be >= 1"),
        ({"min_vol_mult": 0.0}, r"min_vol_mult: must be in \(0, 1\]"),
        ({"net_delta_frac": -0.1}, "net_delta_frac: must be >= 0"),
        ({"dte_floor_days": 0.0}, "dte_floor_days: must be > 0"),
    ],
)
def test_scenario_grid_rejects_bad_fields(changes, message):
    base = {"spot_shocks": (0.1,), "vol_shocks": (0.0,), "weights": (1.0,)}
    with pytest.raises(ValueError, match=f"ScenarioGrid.{message}"):
        ScenarioGrid(**{**base, **changes})


def test_factories_reject_bad_arguments():
    with pytest.raises(ValueError, match=r"span_grid\.price_scan_range: must be > 0"):
        span_grid(0.0, 0.3)
    with pytest.raises(ValueError, match=r"span_grid\.extreme_mult"):
        span_grid(0.4, 0.3, extreme_mult=3.0)
    with pytest.raises(ValueError, match=r"deribit_grid\.n_moves: must be odd"):
        deribit_grid(n_moves=8)
