"""Portfolio-margin kernels against the NumPy references, hand-computed grids and basis risk."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from protocols.margin.book import InstrumentKind, PositionBook
from protocols.margin.margin_references import (
    black76_greeks_ref,
    portfolio_margin_ref,
    random_book,
    scenario_pnl_ref,
)
from protocols.margin.option_kernels import black76_price
from protocols.margin.portfolio_kernels import MarginStatus, black76_greeks
from protocols.margin.portfolio_margin import (
    MarginMethod,
    basis_risk,
    portfolio_margin,
    scenario_pnl,
)
from protocols.margin.scenario_grid import (
    ScenarioGrid,
    deribit_extended_grid,
    deribit_grid,
    paradex_grid,
    span_grid,
)

F = 60_000.0
FUT, CALL, PUT = InstrumentKind.FUTURE, InstrumentKind.CALL, InstrumentKind.PUT
GRIDS = {
    "deribit": deribit_grid(),
    "deribit_extended": deribit_extended_grid(),
    "paradex": paradex_grid(),
    "span": span_grid(0.12, 0.35, short_option_minimum_frac=0.01),
}


def _book(rows: list[tuple[int, int, float, float, float, float]], n_accounts: int = 1):
    a, k, s, strike, t, iv = (np.array(c) for c in zip(*rows, strict=True))
    return PositionBook(
        account=a, kind=k, size_base=s, strike_usd=strike, t_years=t, iv=iv, n_accounts=n_accounts
    )


def _columns(r):
    return np.stack(
        [r.requirement_usd, r.scan_usd, r.min_delta_usd, r.som_usd, r.contingency_usd], axis=1
    )


@pytest.mark.parametrize("grid_name", sorted(GRIDS))
@pytest.mark.parametrize(
    ("seed", "n", "n_accounts"), [(1, 0, 3), (2, 1, 1), (3, 400, 40), (4, 3000, 700)]
)
@pytest.mark.parametrize("method", list(MarginMethod))
def test_portfolio_margin_matches_numpy_reference(grid_name, seed, n, n_accounts, method):
    grid = GRIDS[grid_name]
    book = random_book(np.random.default_rng(seed), n, n_accounts, F)
    r = portfolio_margin(book, F, grid, method=method)
    ref = portfolio_margin_ref(book, F, grid, taylor=method is MarginMethod.TAYLOR)
    np.testing.assert_allclose(_columns(r), ref, rtol=1e-10, atol=1e-6)
    im, mm = grid.initial_and_maintenance(ref[:, 0])
    np.testing.assert_allclose(r.initial_usd, im, rtol=1e-10, atol=1e-6)
    np.testing.assert_allclose(r.maintenance_usd, mm, rtol=1e-10, atol=1e-6)


def test_scenario_pnl_matches_reference_and_flags_floored_vols():
    grid = dataclasses.replace(
        deribit_grid(), vol_shocks=tuple(3 * v for v in deribit_grid().vol_shocks)
    )
    book = random_book(np.random.default_rng(7), 2000, 150, F)
    pnl, _, status = scenario_pnl(book, F, grid)
    pnl_ref, floored = scenario_pnl_ref(book, F, grid)
    np.testing.assert_allclose(pnl, pnl_ref, rtol=1e-10, atol=1e-6)
    assert floored.any() and not floored.all()
    np.testing.assert_array_equal(status == MarginStatus.VOL_FLOORED, floored)


def test_black76_greeks_match_reference_with_vanna_volga_by_differences():
    k, t, sig = 66_000.0, 30 / 365, 0.6
    for is_call in (True, False):
        p, d, g, v, va, vo = black76_greeks(F, k, t, sig, is_call)
        ref = black76_greeks_ref(F, k, t, sig, is_call)
        np.testing.assert_allclose([p, d, g, v], [float(x) for x in ref], rtol=1e-12)
        h = 1e-4
        d_up = black76_greeks(F, k, t, sig + h, is_call)
        d_dn = black76_greeks(F, k, t, sig - h, is_call)
        assert va == pytest.approx((d_up[1] - d_dn[1]) / (2 * h), rel=1e-6)
        assert vo == pytest.approx((d_up[3] - d_dn[3]) / (2 * h), rel=1e-6)


def test_single_future_scan_is_16pct_of_notional_on_deribit_grid():
    book = _book([(0, FUT, 2.0, 0.0, 0.0, 0.0)])
    grid = deribit_grid()
    r = portfolio_margin(book, F, grid)
    assert r.scan_usd[0] == pytest.approx(0.16 * 2 * F, rel=1e-12)
    assert r.min_delta_usd[0] == pytest.approx(0.02 * 2 * F)
    assert r.contingency_usd[0] == 0.0
    assert r.maintenance_usd[0] == pytest.approx(0.16 * 2 * F)
    assert r.initial_usd[0] == pytest.approx(1.25 * 0.16 * 2 * F)
    # offsetting futures pay the 1% contingency on the offsetting part only
    hedged = _book([(0, FUT, 2.0, 0.0, 0.0, 0.0), (0, FUT, -1.5, 0.0, 0.0, 0.0)])
    r = portfolio_margin(hedged, F, grid)
    assert r.scan_usd[0] == pytest.approx(0.16 * 0.5 * F)
    assert r.contingency_usd[0] == pytest.approx(0.01 * 1.5 * F)


def test_short_put_worst_deribit_scenario_by_hand():
    t, k, sig = 10 / 365, 55_000.0, 0.7
    book = _book([(0, PUT, -1.0, k, t, sig)])
    r = portfolio_margin(book, F, deribit_grid())
    g = (30 / 10) ** 0.30
    v0 = black76_price(F, k, t, sig, 1.0, False)
    worst = black76_price(0.84 * F, k, t, sig * (1 + 0.40 * g), 1.0, False) - v0
    assert r.scan_usd[0] == pytest.approx(worst, rel=1e-12)
    assert r.contingency_usd[0] == pytest.approx(0.01 * F)
    assert r.requirement_usd[0] == pytest.approx(worst + 0.01 * F, rel=1e-12)


def test_span_extreme_scenario_counts_35pct():
    psr = 0.10
    grid = span_grid(psr, 0.3)
    t, k, sig = 5 / 365, 0.8 * F, 0.5  # far OTM short put: only the -20% extreme hurts much
    book = _book([(0, PUT, -1.0, k, t, sig)])
    pnl, _, _ = scenario_pnl(book, F, grid)
    v0 = black76_price(F, k, t, sig, 1.0, False)
    later = t - 1 / 365
    extreme = black76_price((1 - 2 * psr) * F, k, later, sig, 1.0, False) - v0
    assert -pnl[0, 15] == pytest.approx(extreme, rel=1e-12)
    losses = -pnl[0] * np.array(grid.weights)
    r = portfolio_margin(book, F, grid)
    assert np.argmax(losses) == 15
    assert r.scan_usd[0] == pytest.approx(0.35 * extreme, rel=1e-12)
    assert r.maintenance_usd[0] == r.requirement_usd[0]
    assert r.initial_usd[0] == pytest.approx(1.1 * r.requirement_usd[0])


def test_extended_table_charges_short_far_otm_puts_more():
    book = _book([(0, PUT, -1.0, 0.5 * F, 30 / 365, 0.8)])
    base = portfolio_margin(book, F, deribit_grid()).scan_usd[0]
    ext = portfolio_margin(book, F, deribit_extended_grid()).scan_usd[0]
    assert ext > 5 * base > 0.0


def test_taylor_equals_full_for_futures_only_books():
    rng = np.random.default_rng(3)
    n = 500
    book = PositionBook(
        account=rng.integers(0, 60, n),
        kind=np.zeros(n, dtype=np.int64),
        size_base=rng.normal(0, 3, n),
        strike_usd=np.zeros(n),
        t_years=rng.uniform(0, 1, n),
        iv=np.zeros(n),
        n_accounts=60,
    )
    for grid in GRIDS.values():
        b = basis_risk(book, F, grid)
        np.testing.assert_allclose(b.approx_usd, b.full_usd, rtol=1e-12, atol=1e-8)
        assert b.max_abs_diff_usd < 1e-6


def _small_grid(h: float) -> ScenarioGrid:
    return ScenarioGrid(
        spot_shocks=(-h, -h, 0.0, h, h),
        vol_shocks=(2 * h, -2 * h, 2 * h, 2 * h, -2 * h),
        weights=(1.0,) * 5,
    )


def test_taylor_is_close_to_full_for_small_shocks():
    rng = np.random.default_rng(5)
    book = random_book(rng, 2000, 200, F)
    book = dataclasses.replace(book, t_years=rng.uniform(20 / 365, 0.5, 2000))
    coarse = basis_risk(book, F, _small_grid(0.01))
    fine = basis_risk(book, F, _small_grid(0.005))
    assert coarse.p99_rel_diff < 3e-3
    # a second-order expansion leaves a third-order remainder: halving the shocks cuts it ~8x
    assert fine.max_abs_diff_usd < coarse.max_abs_diff_usd / 5


def test_basis_risk_summary_is_consistent():
    book = random_book(np.random.default_rng(11), 3000, 300, F)
    b = basis_risk(book, F, deribit_grid())
    np.testing.assert_allclose(b.diff_usd, b.approx_usd - b.full_usd)
    assert b.max_abs_diff_usd == pytest.approx(np.abs(b.diff_usd).max())
    assert 0.0 < b.p99_abs_diff_usd <= b.max_abs_diff_usd
    assert 0.0 < b.p99_rel_diff <= b.max_rel_diff
    assert 0.0 < b.under_margined_frac < 1.0
    empty = basis_risk(random_book(np.random.default_rng(1), 0, 2, F), F, deribit_grid())
    assert empty.max_abs_diff_usd == 0.0 and empty.p99_rel_diff == 0.0


def test_accounts_without_positions_get_zero_margin():
    book = _book([(2, CALL, -1.0, 65_000.0, 0.1, 0.6)], n_accounts=4)
    r = portfolio_margin(book, F, deribit_grid())
    assert r.requirement_usd[[0, 1, 3]].tolist() == [0.0, 0.0, 0.0]
    assert r.requirement_usd[2] > 0.0


@pytest.mark.parametrize("bad", [0.0, -1.0, np.nan, np.inf])
def test_portfolio_margin_rejects_bad_forward(bad):
    book = _book([(0, FUT, 1.0, 0.0, 0.0, 0.0)])
    with pytest.raises(ValueError, match=r"portfolio_margin\.forward_usd: must be > 0"):
        portfolio_margin(book, bad, deribit_grid())


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("account", [0, 5], r"account: must be in \[0, n_accounts=2\)"),
        ("kind", [0, 7], "kind: must be an InstrumentKind value"),
        ("t_years", [0.1, -0.1], "t_years: must be >= 0"),
        ("iv", [0.5, 0.0], "iv: must be > 0 for options"),
        ("strike_usd", [1.0, 0.0], "strike_usd: must be > 0 for options"),
        ("size_base", [1.0, np.nan], "size_base: must be finite"),
        ("iv", [0.5], r"iv: must have the length of account \(2\)"),
    ],
)
def test_position_book_rejects_bad_rows(field, value, message):
    rows = {
        "account": [0, 1],
        "kind": [0, 1],
        "size_base": [1.0, -1.0],
        "strike_usd": [0.0, 60_000.0],
        "t_years": [0.0, 0.1],
        "iv": [0.0, 0.5],
    }
    rows[field] = value
    with pytest.raises(ValueError, match=f"PositionBook.{message}"):
        PositionBook(**{k: np.array(v) for k, v in rows.items()}, n_accounts=2)
