"""Perp margin kernels against plain NumPy / Python references and DOMAIN.md A4 test vectors."""

from __future__ import annotations

import numpy as np
import pytest

from protocols.margin.perp_kernels import (
    account_margin,
    adl_scores,
    find_liquidatable,
    settle_funding,
    tier_index,
    tiered_maintenance_margin,
)
from protocols.perp_params import (
    MarginTier,
    PerpMarketParams,
    PerpParams,
    maintenance_amounts_usd,
)


def _tables(mm_scale: float = 1.0, markets: tuple[PerpMarketParams, ...] | None = None):
    kw = {} if markets is None else {"markets": markets}
    return PerpParams(mm_scale=mm_scale, **kw).tier_arrays()


def _mm(notional: float, mm_scale: float = 1.0) -> float:
    floors, mmr, cum, _, n_tiers = _tables(mm_scale)
    return tiered_maintenance_margin(notional, floors[0], mmr[0], cum[0], n_tiers[0])


# ---------------------------------------------------------------------- references
def ref_maintenance(notional: float, tiers: tuple[MarginTier, ...], scale: float) -> float:
    """MM as the sum of marginal rates over brackets (no maintenance amounts at all)."""
    mm = 0.0
    for i, tier in enumerate(tiers):
        hi = tiers[i + 1].notional_floor_usd if i + 1 < len(tiers) else np.inf
        inside = max(0.0, min(notional, hi) - tier.notional_floor_usd)
        mm += inside * tier.maintenance_margin_frac * scale
    return mm


def ref_account_margin(coll, value, debt, size, entry, mark, params: PerpParams):
    n = size.shape[0]
    equity = coll @ value - debt + (size * (mark - entry)).sum(axis=1)
    mm, im, nt = np.zeros(n), np.zeros(n), np.zeros(n)
    for a in range(n):
        for m, market in enumerate(params.markets):
            notional = abs(size[a, m]) * mark[m]
            if notional == 0.0:
                continue
            tier = [t for t in market.tiers if t.notional_floor_usd <= notional][-1]
            mm[a] += ref_maintenance(notional, market.tiers, params.mm_scale)
            im[a] += notional * params.mm_scale / tier.max_leverage
            nt[a] += notional
    return equity, mm, im, nt


def ref_adl_scores(size, entry, mark, equity):
    out = np.full(size.shape, -np.inf)
    for a in range(size.shape[0]):
        if size[a] == 0.0 or equity[a] <= 0.0:
            continue
        pnl = np.sign(size[a]) * (mark - entry[a]) / entry[a]
        lev = abs(size[a]) * mark / equity[a]
        out[a] = pnl * lev if pnl > 0 else pnl / lev
    return out


def ref_settle_funding(size, mark_rate, usdc, debt, vault):
    pay = size @ mark_rate
    to_vault = sum(min(p, u) for p, u in zip(pay, usdc, strict=True) if p > 0)
    need = sum(max(-p - d, 0.0) for p, d in zip(pay, debt, strict=True) if p < 0)
    scale = min(1.0, (vault + to_vault) / need) if need > 0 else 1.0
    usdc, debt = usdc.copy(), debt.copy()
    from_vault = 0.0
    for a, p in enumerate(pay):
        if p > 0:
            cash = min(p, usdc[a])
            usdc[a] -= cash
            debt[a] += p - cash
        elif p < 0:
            credit = -p * scale
            rep = min(credit, debt[a])
            debt[a] -= rep
            usdc[a] += credit - rep
            from_vault += credit - rep
    shortfall = -pay[pay < 0].sum() * (1 - scale)
    return usdc, debt, to_vault, from_vault, shortfall


# ---------------------------------------------------------------------- tiers
def test_tiered_maintenance_binance_vector():
    # DOMAIN.md A4 [C]: MM(1M) = 8,700 and MM(5M) = 108,700 USDT.
    assert _mm(1_000_000.0) == pytest.approx(8_700.0, abs=1e-6)
    assert _mm(5_000_000.0) == pytest.approx(108_700.0, abs=1e-6)


def test_maintenance_amounts_binance_column():
    tiers = PerpMarketParams(asset="BTC").tiers
    cum = maintenance_amounts_usd(
        np.array([t.notional_floor_usd for t in tiers]),
        np.array([t.maintenance_margin_frac for t in tiers]),
    )
    expected = [
        0,
        50,
        1_300,
        16_300,
        266_300,
        1_266_300,
        2_516_300,
        5_016_300,
        25_016_300,
        100_016_300,
    ]
    np.testing.assert_allclose(cum, expected, atol=1e-6)


@pytest.mark.parametrize("mm_scale", [0.5, 1.0, 2.5])
def test_tiered_maintenance_continuous_and_scaled(mm_scale):
    tiers = PerpMarketParams(asset="BTC").tiers
    for t in tiers[1:]:
        f = t.notional_floor_usd
        assert _mm(f * (1 - 1e-12), mm_scale) == pytest.approx(_mm(f, mm_scale), rel=1e-9)
    for notional in np.geomspace(1e3, 4e8, 57):
        assert _mm(notional, mm_scale) == pytest.approx(
            ref_maintenance(notional, tiers, mm_scale), rel=1e-10
        )
    assert _mm(1_000_000.0, mm_scale) == pytest.approx(8_700.0 * mm_scale)


def test_tier_index_picks_bracket():
    floors = np.array([0.0, 50_000.0, 250_000.0, np.inf])
    assert [tier_index(x, floors, 3) for x in (0.0, 49_999.0, 50_000.0, 1e9)] == [0, 0, 1, 2]


# ---------------------------------------------------------------------- account margin
def test_account_margin_matches_reference_random():
    rng = np.random.default_rng(7)
    params = PerpParams(mm_scale=1.3)
    n = 300
    coll = np.abs(rng.normal(size=(n, 3))) * np.array([5e4, 10.0, 0.5])
    value = np.array([1.0, 3000.0 * 0.8, 60000.0 * 0.75])
    debt = np.where(rng.random(n) < 0.2, rng.random(n) * 1e4, 0.0)
    size = rng.standard_t(2, size=(n, 2)) * np.array([300.0, 20.0])
    size[rng.random((n, 2)) < 0.25] = 0.0
    entry = np.array([3000.0, 60000.0]) * np.exp(rng.normal(0, 0.1, size=(n, 2)))
    mark = np.array([2900.0, 61000.0])
    got = account_margin(coll, value, debt, size, entry, mark, *params.tier_arrays())
    want = ref_account_margin(coll, value, debt, size, entry, mark, params)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-6)
    assert np.all(got[2] >= got[1])  # initial >= maintenance everywhere


def test_account_margin_dydx_isolated_liquidation_price():
    # DOMAIN.md A4 [S inputs, C result]: e = 1000, short -3 at 3000, MMF 5% -> p' = 3174.60.
    market = PerpMarketParams(
        asset="ETH",
        tiers=(
            MarginTier(notional_floor_usd=0.0, maintenance_margin_frac=0.05, max_leverage=20.0),
        ),
    )
    tables = PerpParams(markets=(market,)).tier_arrays()

    def excess(price: float) -> float:
        eq, mm, _, _ = account_margin(
            np.array([[1000.0, 0.0, 0.0]]),
            np.array([1.0, 0.0, 0.0]),
            np.zeros(1),
            np.array([[-3.0]]),
            np.array([[3000.0]]),
            np.array([price]),
            *tables,
        )
        return float(eq[0] - mm[0])

    lo, hi = 3000.0, 4000.0
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if excess(mid) > 0 else (lo, mid)
    assert lo == pytest.approx(3174.60, abs=0.005)
    assert lo == pytest.approx((1000 + 3 * 3000) / (3 * 0.05 + 3), rel=1e-9)


def test_find_liquidatable_matches_numpy():
    rng = np.random.default_rng(3)
    eq, mm = rng.normal(100, 50, 1000), np.abs(rng.normal(100, 50, 1000))
    np.testing.assert_array_equal(find_liquidatable(eq, mm, 1e-6), np.flatnonzero(eq < mm - 1e-6))
    assert find_liquidatable(np.zeros(0), np.zeros(0), 0.0).size == 0


# ---------------------------------------------------------------------- ADL
def test_adl_scores_hand_built_book_ranks_profit_times_leverage():
    mark = 2850.0
    # shorts entered at 3000 (profitable), one short entered at 2800 (losing), one long, one flat
    size = np.array([-10.0, -50.0, -100.0, -20.0, 5.0, 0.0])
    entry = np.array([3000.0, 3000.0, 3000.0, 2800.0, 3000.0, 0.0])
    equity = np.array([2_500.0, 27_500.0, 115_000.0, 9_000.0, 4_000.0, 1_000.0])
    scores = adl_scores(size, entry, mark, equity)
    np.testing.assert_allclose(scores, ref_adl_scores(size, entry, mark, equity))
    shorts = np.flatnonzero(size < 0)
    order = shorts[np.argsort(-scores[shorts], kind="stable")]
    assert order.tolist() == [0, 1, 2, 3]  # highest PnL% x leverage first, the loser last
    assert scores[3] < 0.0 < scores[2]
    assert scores[0] == pytest.approx(0.05 * (10 * mark / 2_500.0))
    assert scores[5] == -np.inf


def test_adl_scores_random_matches_reference():
    rng = np.random.default_rng(11)
    size = rng.normal(size=500)
    size[::7] = 0.0
    entry = 3000.0 * np.exp(rng.normal(0, 0.2, 500))
    equity = rng.normal(5_000, 5_000, 500)
    np.testing.assert_allclose(
        adl_scores(size, entry, 3100.0, equity), ref_adl_scores(size, entry, 3100.0, equity)
    )


# ---------------------------------------------------------------------- funding
@pytest.mark.parametrize("vault", [1e9, 5.0, 0.0])
def test_settle_funding_matches_reference(vault):
    rng = np.random.default_rng(5)
    n = 200
    size = rng.normal(size=(n, 2)) * np.array([10.0, 0.5])
    mark_rate = np.array([3000.0, 60000.0]) * np.array([0.0003, -0.0002])
    coll = np.zeros((n, 3))
    coll[:, 1] = np.where(rng.random(n) < 0.3, 0.0, rng.random(n) * 20.0)
    debt = np.where(coll[:, 1] == 0.0, rng.random(n) * 5.0, 0.0)
    want = ref_settle_funding(size, mark_rate, coll[:, 1].copy(), debt.copy(), vault)
    to_v, from_v, short = settle_funding(size, mark_rate, coll, 1, debt, vault)
    np.testing.assert_allclose(coll[:, 1], want[0], atol=1e-12)
    np.testing.assert_allclose(debt, want[1], atol=1e-12)
    np.testing.assert_allclose([to_v, from_v, short], want[2:], atol=1e-9)
    assert np.all(coll[:, 1] >= 0.0) and np.all(debt >= 0.0)
    assert from_v <= vault + to_v + 1e-9
