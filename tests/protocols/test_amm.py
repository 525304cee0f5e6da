"""Tests of the constant-product AMM: x*y=k maths, fees to LPs, liquidity, statuses, ledger."""

from __future__ import annotations

import dataclasses
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.amm import AmmParams, ConstantProductAMM
from protocols.ledger import Ledger
from protocols.types import TxStatus

X0 = 1000.0  # ETH
Y0 = 2_000_000.0  # USDC, so the pool starts at 2000 USD/ETH


def make_pool(fee_frac: float = 0.003) -> tuple[Ledger, ConstantProductAMM, int, int]:
    """A seeded ETH/USDC pool, its seeding LP and a funded trader."""
    ledger = Ledger(("USDC", "ETH"))
    amm = ConstantProductAMM("uni", ledger, base_asset="ETH", params=AmmParams(fee_frac=fee_frac))
    lp = ledger.open_holder("lp")
    trader = ledger.open_holder("trader")
    usdc, eth = ledger.asset_id("USDC"), ledger.asset_id("ETH")
    for holder in (lp, trader):
        ledger.mint(holder, usdc, 1e9, "test funding")
        ledger.mint(holder, eth, 1e5, "test funding")
    amm.seed(lp, X0, Y0)
    return ledger, amm, lp, trader


def snapshot(ledger: Ledger, amm: ConstantProductAMM) -> tuple:
    balances = tuple(tuple(ledger.balances_of_asset(a)) for a in range(len(ledger.assets)))
    return balances, amm.reserves, amm.total_shares


def invariant_per_share(amm: ConstantProductAMM) -> float:
    x, y = amm.reserves
    return math.sqrt(x * y) / amm.total_shares


def assert_books_match_ledger(ledger: Ledger, amm: ConstantProductAMM) -> None:
    ledger.check_conservation()
    x, y = amm.reserves
    assert ledger.balance(amm.holder, ledger.asset_id("ETH")) == pytest.approx(x, rel=1e-12)
    assert ledger.balance(amm.holder, ledger.asset_id("USDC")) == pytest.approx(y, rel=1e-12)
    assert ledger.supply(amm.lp_asset_id) == pytest.approx(amm.total_shares, rel=1e-12)


def test_amm_seed_mints_geometric_mean_shares():
    ledger, amm, lp, _ = make_pool()
    assert amm.lp_asset == "LP-ETH-USDC"
    assert amm.total_shares == pytest.approx(math.sqrt(X0 * Y0), rel=1e-15)
    assert ledger.balance(lp, amm.lp_asset_id) == amm.total_shares
    assert amm.price_usd == Y0 / X0
    assert amm.share_price_usd == pytest.approx(2 * Y0 / math.sqrt(X0 * Y0), rel=1e-15)
    assert_books_match_ledger(ledger, amm)


@pytest.mark.parametrize("fee", [0.0, 0.003, 0.01])
@pytest.mark.parametrize(("asset_in", "amount_in"), [("ETH", 10.0), ("USDC", 150_000.0)])
def test_amm_swap_slippage_matches_constant_product_closed_form(fee, asset_in, amount_in):
    ledger, amm, _, trader = make_pool(fee)
    x, y = amm.reserves
    r_in, r_out = (x, y) if asset_in == "ETH" else (y, x)
    expected = r_out * amount_in * (1 - fee) / (r_in + amount_in * (1 - fee))
    assert amm.quote_amount_out(asset_in, amount_in) == pytest.approx(expected, rel=1e-14)
    status, out = amm.swap(trader, asset_in, amount_in)
    assert status == TxStatus.OK
    assert out == pytest.approx(expected, rel=1e-14)
    # Execution price is worse than the pre-trade price by the x*y=k slippage plus the fee.
    spot = y / x
    exec_price = out / amount_in if asset_in == "USDC" else amount_in / out
    slippage = amount_in * (1 - fee) / r_in
    if asset_in == "ETH":
        assert spot / (out / amount_in) == pytest.approx((1 + slippage) / (1 - fee), rel=1e-12)
    else:
        assert (1 / exec_price) / spot == pytest.approx((1 + slippage) / (1 - fee), rel=1e-12)
    if fee == 0.0:
        new_x, new_y = amm.reserves
        assert new_x * new_y == pytest.approx(x * y, rel=1e-14)
    assert_books_match_ledger(ledger, amm)


@settings(max_examples=80, deadline=None)
@given(
    fee=st.floats(0.0, 0.05),
    swaps=st.lists(
        st.tuples(st.booleans(), st.floats(1e-9, 0.9)),  # (base in?, size as a fraction of reserve)
        min_size=1,
        max_size=25,
    ),
)
def test_amm_k_never_decreases_across_swaps(fee, swaps):
    ledger, amm, _, trader = make_pool(fee)
    for base_in, frac in swaps:
        x, y = amm.reserves
        k_before = x * y
        asset_in, amount = ("ETH", frac * x) if base_in else ("USDC", frac * y)
        status, _ = amm.swap(trader, asset_in, amount)
        if status != TxStatus.OK:
            assert status == TxStatus.INSUFFICIENT_BALANCE
            continue
        new_x, new_y = amm.reserves
        assert new_x > 0.0 and new_y > 0.0
        assert new_x * new_y >= k_before * (1 - 1e-13)  # exact in reals, float rounding only
    assert_books_match_ledger(ledger, amm)


def test_amm_fees_accrue_to_lps():
    ledger, amm, lp, trader = make_pool(0.003)
    value_per_share_0 = invariant_per_share(amm)
    shares = ledger.balance(lp, amm.lp_asset_id)
    for _ in range(20):  # round trips: the price comes back, the fees stay
        _, usdc_out = amm.swap(trader, "ETH", 20.0)
        amm.swap(trader, "USDC", usdc_out)
        assert invariant_per_share(amm) > value_per_share_0
    status, base, quote = amm.remove_liquidity(lp, shares)
    assert status == TxStatus.OK
    # sqrt(k)/shares grew, so the LP's pro-rata claim beats the deposit at every price.
    assert base * quote > X0 * Y0 * 1.001
    assert amm.reserves == (0.0, 0.0) and amm.total_shares == 0.0
    assert_books_match_ledger(ledger, amm)


@settings(max_examples=60, deadline=None)
@given(
    move=st.floats(-0.5, 0.5),
    base_amount=st.floats(1e-3, 5e3),
    quote_amount=st.floats(1.0, 1e7),
    remove_frac=st.floats(0.01, 1.0),
)
def test_amm_add_remove_liquidity_keeps_share_value(move, base_amount, quote_amount, remove_frac):
    ledger, amm, _, trader = make_pool()
    asset_in = "ETH" if move > 0 else "USDC"
    amm.swap(trader, asset_in, abs(move) * (X0 if move > 0 else Y0))
    before = invariant_per_share(amm)
    price = amm.price_usd
    share_price = amm.share_price_usd
    newcomer = ledger.open_holder("newcomer")
    usdc, eth = ledger.asset_id("USDC"), ledger.asset_id("ETH")
    ledger.mint(newcomer, eth, base_amount, "test funding")
    ledger.mint(newcomer, usdc, quote_amount, "test funding")
    x, y = amm.reserves
    status, shares = amm.add_liquidity(newcomer, base_amount, quote_amount)
    assert status == TxStatus.OK
    taken_base = base_amount - ledger.balance(newcomer, eth)
    taken_quote = quote_amount - ledger.balance(newcomer, usdc)
    # Only the pool ratio is taken; one side is used fully, the excess of the other is left.
    # (taken_* come from subtracting a wallet balance from the minted amount: when almost all of
    # one side is left over, that subtraction loses ~amount/taken ulps, hence rel=1e-7.)
    assert taken_quote / taken_base == pytest.approx(y / x, rel=1e-7)
    assert max(taken_base / base_amount, taken_quote / quote_amount) == pytest.approx(1.0, rel=1e-9)
    assert shares == pytest.approx(taken_base / x * (amm.total_shares - shares), rel=1e-9)
    assert invariant_per_share(amm) == pytest.approx(before, rel=1e-12)
    assert amm.price_usd == pytest.approx(price, rel=1e-12)
    assert amm.share_price_usd == pytest.approx(share_price, rel=1e-12)

    status, base, quote = amm.remove_liquidity(newcomer, shares * remove_frac)
    assert status == TxStatus.OK
    assert base == pytest.approx(taken_base * remove_frac, rel=1e-9)
    assert quote == pytest.approx(taken_quote * remove_frac, rel=1e-9)
    assert invariant_per_share(amm) == pytest.approx(before, rel=1e-12)
    assert_books_match_ledger(ledger, amm)


@settings(max_examples=100, deadline=None)
@given(fee=st.sampled_from([0.0, 0.0005, 0.003, 0.01]), ratio=st.floats(0.2, 5.0))
def test_amm_amount_in_to_reach_price_lands_on_target(fee, ratio):
    _, amm, _, trader = make_pool(fee)
    target = amm.price_usd * ratio
    asset_in, amount_in = amm.amount_in_to_reach_price(target)
    assert asset_in == ("ETH" if ratio < 1.0 else "USDC") or amount_in == 0.0
    if amount_in > 0.0:
        status, _ = amm.swap(trader, asset_in, amount_in)
        assert status == TxStatus.OK
    assert amm.price_usd == pytest.approx(target, rel=1e-9)


def test_amm_amount_in_to_reach_price_at_current_price_is_zero():
    _, amm, _, _ = make_pool()
    assert amm.amount_in_to_reach_price(amm.price_usd) == ("ETH", 0.0)
    with pytest.raises(ValueError, match="target_price_usd"):
        amm.amount_in_to_reach_price(0.0)


@pytest.mark.parametrize("reference", [1500.0, 1990.0, 2000.0, 2010.0, 2600.0])
def test_amm_arbitrage_amount_in_maximises_profit(reference):
    fee = 0.003
    _, amm, _, _ = make_pool(fee)

    def profit(asset_in: str, amount: float) -> float:
        out = amm.quote_amount_out(asset_in, amount)
        # Base in: bought outside at the reference, sold here. Quote in: base sold outside.
        return out - reference * amount if asset_in == "ETH" else out * reference - amount

    asset_in, amount = amm.arbitrage_amount_in(reference)
    inside_band = (1 - fee) * amm.price_usd <= reference <= amm.price_usd / (1 - fee)
    if inside_band:
        assert amount == 0.0
        assert profit("ETH", 1e-3) < 0.0 and profit("USDC", 1.0) < 0.0
        return
    assert asset_in == ("ETH" if reference < amm.price_usd else "USDC")
    best = profit(asset_in, amount)
    assert best > 0.0
    assert best > profit(asset_in, amount * 0.99)
    assert best > profit(asset_in, amount * 1.01)


def test_amm_swap_below_min_amount_out_fails_cleanly_with_slippage():
    ledger, amm, _, trader = make_pool()
    expected = amm.quote_amount_out("ETH", 10.0)
    before = snapshot(ledger, amm)
    assert amm.swap(trader, "ETH", 10.0, min_amount_out=expected * 1.0001) == (
        TxStatus.SLIPPAGE,
        0.0,
    )
    assert snapshot(ledger, amm) == before
    status, out = amm.swap(trader, "ETH", 10.0, min_amount_out=expected * 0.9999)
    assert status == TxStatus.OK and out == expected


def test_amm_insufficient_balance_changes_nothing():
    ledger, amm, lp, _ = make_pool()
    poor = ledger.open_holder("poor")
    ledger.mint(poor, ledger.asset_id("ETH"), 1.0, "test funding")
    before = snapshot(ledger, amm)
    assert amm.swap(poor, "ETH", 2.0) == (TxStatus.INSUFFICIENT_BALANCE, 0.0)
    assert amm.swap(poor, "USDC", 1.0) == (TxStatus.INSUFFICIENT_BALANCE, 0.0)
    assert amm.add_liquidity(poor, 1.0, 1e6) == (TxStatus.INSUFFICIENT_BALANCE, 0.0)
    assert amm.remove_liquidity(poor, 1.0) == (TxStatus.INSUFFICIENT_BALANCE, 0.0, 0.0)
    assert amm.remove_liquidity(lp, amm.total_shares * 1.01) == (
        TxStatus.INSUFFICIENT_BALANCE,
        0.0,
        0.0,
    )
    assert snapshot(ledger, amm) == before


def test_amm_invalid_amounts_and_assets():
    ledger, amm, lp, trader = make_pool()
    before = snapshot(ledger, amm)
    assert amm.swap(trader, "ETH", 0.0) == (TxStatus.INVALID_AMOUNT, 0.0)
    assert amm.add_liquidity(trader, 0.0, 100.0) == (TxStatus.INVALID_AMOUNT, 0.0)
    assert amm.remove_liquidity(lp, 0.0) == (TxStatus.INVALID_AMOUNT, 0.0, 0.0)
    assert snapshot(ledger, amm) == before
    with pytest.raises(ValueError, match="asset_in must be"):
        amm.swap(trader, "BTC", 1.0)
    with pytest.raises(ValueError, match="amount_in must be finite and >= 0"):
        amm.swap(trader, "ETH", -1.0)
    with pytest.raises(ValueError, match="amount_in"):
        amm.quote_amount_out("ETH", math.nan)


def test_amm_emptied_pool_refuses_swaps_and_reseeds():
    ledger, amm, lp, trader = make_pool()
    amm.swap(trader, "ETH", 5.0)
    status, _, _ = amm.remove_liquidity(lp, ledger.balance(lp, amm.lp_asset_id))
    assert status == TxStatus.OK
    assert math.isnan(amm.price_usd) and math.isnan(amm.share_price_usd)
    assert amm.swap(trader, "ETH", 1.0) == (TxStatus.INSUFFICIENT_LIQUIDITY, 0.0)
    assert amm.quote_amount_out("ETH", 1.0) == 0.0
    assert amm.amount_in_to_reach_price(2000.0) == ("ETH", 0.0)
    assert amm.seed(trader, 10.0, 25_000.0) == pytest.approx(math.sqrt(10.0 * 25_000.0))
    assert amm.price_usd == 2500.0
    assert_books_match_ledger(ledger, amm)


@settings(max_examples=40, deadline=None)
@given(
    ops=st.lists(
        st.tuples(st.sampled_from(["swap_base", "swap_quote", "add", "remove"]), st.floats(0, 1)),
        max_size=30,
    )
)
def test_amm_ledger_conserves_across_operations(ops):
    ledger, amm, lp, trader = make_pool()
    for op, frac in ops:
        x, y = amm.reserves
        if op == "swap_base":
            amm.swap(trader, "ETH", frac * x + 1e-6)
        elif op == "swap_quote":
            amm.swap(trader, "USDC", frac * y + 1e-6)
        elif op == "add":
            amm.add_liquidity(trader, frac * 100.0, frac * 300_000.0)
        else:
            amm.remove_liquidity(lp, frac * ledger.balance(lp, amm.lp_asset_id))
        assert_books_match_ledger(ledger, amm)


def test_amm_params_validation_and_setter():
    with pytest.raises(ValueError, match=r"AmmParams\.fee_frac: must be in \[0, 1\)"):
        AmmParams(fee_frac=-0.001)
    with pytest.raises(ValueError, match=r"AmmParams\.fee_frac"):
        AmmParams(fee_frac=1.0)
    assert AmmParams().fee_frac == 0.003
    ledger, amm, _, trader = make_pool()
    with pytest.raises(ValueError, match=r"ConstantProductAMM\.params"):
        amm.params = 0.001
    amm.params = dataclasses.replace(amm.params, fee_frac=0.0)
    x, y = amm.reserves
    assert amm.quote_amount_out("ETH", 1.0) == pytest.approx(y / (x + 1.0), rel=1e-15)
    with pytest.raises(ValueError, match="already exists"):
        ConstantProductAMM("uni2", ledger, base_asset="ETH")
    with pytest.raises(ValueError, match="already has liquidity"):
        amm.seed(trader, 1.0, 1.0)
    fresh = ConstantProductAMM("other", Ledger(("USDC", "ETH")), base_asset="ETH")
    with pytest.raises(ValueError, match="base_amount must be finite and > 0"):
        fresh.seed(0, 0.0, 1.0)
    with pytest.raises(ValueError, match="cannot pay"):
        fresh.seed(fresh.holder, 1.0, 1.0)
