"""Tests of the reference market: exogenous path, transient linear impact, trading, params."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.ledger import Ledger
from protocols.market import EXTERNAL_HOLDER, ImpactParams, ReferenceMarket, ReferenceMarketParams
from protocols.types import TxStatus

ETH_DEPTH_USD = 1e9
BTC_DEPTH_USD = 2e9
HALF_LIFE_S = 600.0
STEP_S = 60


def make_params(fee_frac: float = 0.0005, half_life: float = HALF_LIFE_S) -> ReferenceMarketParams:
    return ReferenceMarketParams(
        impact={
            "ETH": ImpactParams(depth_usd=ETH_DEPTH_USD, half_life_seconds=half_life),
            "BTC": ImpactParams(depth_usd=BTC_DEPTH_USD, half_life_seconds=half_life),
        },
        fee_frac=fee_frac,
    )


def make_market(
    fee_frac: float = 0.0005, half_life: float = HALF_LIFE_S
) -> tuple[Ledger, ReferenceMarket]:
    ledger = Ledger(("USDC", "ETH", "BTC"))
    market = ReferenceMarket(
        ledger,
        assets=("ETH", "BTC"),
        initial_prices_usd=(2000.0, 30000.0),
        params=make_params(fee_frac, half_life),
        step_seconds=STEP_S,
    )
    return ledger, market


def funded_trader(ledger: Ledger, usdc: float = 1e7, eth: float = 1000.0) -> int:
    trader = ledger.open_holder("trader")
    ledger.mint(trader, ledger.asset_id("USDC"), usdc, "test funding")
    ledger.mint(trader, ledger.asset_id("ETH"), eth, "test funding")
    return trader


def test_reference_market_no_flow_price_equals_fundamental_path():
    _, market = make_market()
    rng = np.random.default_rng(7)
    returns = rng.normal(0.0, 0.002, size=(2000, 2))
    for r in returns:
        market.advance(r)
        assert market.price_usd("ETH") == market.fundamental_usd("ETH")
        assert market.price_usd("BTC") == market.fundamental_usd("BTC")
    expected = np.array([2000.0, 30000.0]) * np.exp(returns.sum(axis=0))
    np.testing.assert_allclose(market.prices_usd, expected, rtol=1e-12)
    assert market.impact("ETH") == 0.0


def test_reference_market_sale_lowers_next_price_by_linear_amount():
    ledger, market = make_market()
    trader = funded_trader(ledger)
    price = market.price_usd("ETH")
    size = 500.0
    status, _ = market.trade(trader, "ETH", -size)
    assert status == TxStatus.OK
    assert market.price_usd("ETH") == price  # flow moves the *next* step's price
    assert market.pending_flow_usd("ETH") == pytest.approx(-size * price, rel=1e-15)
    market.advance(np.zeros(2))
    expected_impact = -size * price / ETH_DEPTH_USD  # -1e-3
    assert market.impact("ETH") == pytest.approx(expected_impact, rel=1e-12)
    assert market.price_usd("ETH") == pytest.approx(price * math.exp(expected_impact), rel=1e-14)
    assert market.price_usd("ETH") / price - 1.0 == pytest.approx(expected_impact, rel=1e-3)
    assert market.fundamental_usd("ETH") == price
    assert market.price_usd("BTC") == 30000.0  # other assets untouched
    assert market.pending_flow_usd("ETH") == 0.0


def test_reference_market_impact_halves_after_one_half_life():
    _, market = make_market(half_life=600.0)
    market.record_flow("ETH", -1000.0)
    market.advance(np.zeros(2))
    initial = market.impact("ETH")
    assert initial == pytest.approx(-1000.0 * 2000.0 / ETH_DEPTH_USD, rel=1e-12)
    for _ in range(10):  # 10 steps x 60 s = one half-life
        market.advance(np.zeros(2))
    assert market.impact("ETH") == pytest.approx(initial / 2.0, rel=1e-12)
    for _ in range(10):
        market.advance(np.zeros(2))
    assert market.impact("ETH") == pytest.approx(initial / 4.0, rel=1e-12)


def test_reference_market_impact_and_return_compose():
    _, market = make_market(half_life=math.inf)
    market.record_flow("BTC", 100.0)  # a buy pushes the price up
    market.advance(np.array([0.0, 0.01]))
    impact = 100.0 * 30000.0 / BTC_DEPTH_USD
    assert market.fundamental_usd("BTC") == pytest.approx(30000.0 * math.exp(0.01), rel=1e-15)
    assert market.price_usd("BTC") == pytest.approx(30000.0 * math.exp(0.01 + impact), rel=1e-14)
    market.advance(np.array([0.0, 0.0]))  # infinite half-life: permanent impact
    assert market.impact("BTC") == pytest.approx(impact, rel=1e-15)


def test_reference_market_trade_conserves_ledger_and_charges_fee():
    fee = 0.001
    ledger, market = make_market(fee_frac=fee)
    trader = funded_trader(ledger)
    usdc, eth = ledger.asset_id("USDC"), ledger.asset_id("ETH")
    ext = market.holder
    assert ledger.holder_name(ext) == EXTERNAL_HOLDER
    mints = [e for e in ledger.events if e.holder == EXTERNAL_HOLDER]
    assert {e.asset for e in mints} == {"USDC", "ETH", "BTC"}
    assert ledger.balance(ext, eth) == pytest.approx(1e12 / 2000.0)

    usdc0, eth0 = ledger.balance(trader, usdc), ledger.balance(trader, eth)
    ext_usdc0 = ledger.balance(ext, usdc)
    status, paid = market.trade(trader, "ETH", 10.0)
    assert status == TxStatus.OK
    assert paid == pytest.approx(10.0 * 2000.0 * (1 + fee), rel=1e-15)
    assert ledger.balance(trader, usdc) == pytest.approx(usdc0 - paid, rel=1e-15)
    assert ledger.balance(trader, eth) == eth0 + 10.0

    status, received = market.trade(trader, "ETH", -10.0)
    assert status == TxStatus.OK
    assert received == pytest.approx(-10.0 * 2000.0 * (1 - fee), rel=1e-15)
    assert ledger.balance(trader, eth) == eth0
    # The round trip cost the trader exactly the two fees, which the rest of the world kept.
    round_trip_fee = 2 * 10.0 * 2000.0 * fee
    assert usdc0 - ledger.balance(trader, usdc) == pytest.approx(round_trip_fee, rel=1e-9)
    assert ledger.balance(ext, usdc) - ext_usdc0 == pytest.approx(round_trip_fee, rel=1e-6)
    assert market.pending_flow_usd("ETH") == 0.0  # buy and sell net out
    ledger.check_conservation()


def test_reference_market_trade_insufficient_balance_changes_nothing():
    ledger, market = make_market()
    trader = funded_trader(ledger, usdc=1000.0, eth=1.0)
    before = [ledger.balances_of_asset(a) for a in range(len(ledger.assets))]
    assert market.trade(trader, "ETH", 1.0) == (TxStatus.INSUFFICIENT_BALANCE, 0.0)
    assert market.trade(trader, "ETH", -2.0) == (TxStatus.INSUFFICIENT_BALANCE, 0.0)
    assert market.trade(trader, "BTC", -0.1) == (TxStatus.INSUFFICIENT_BALANCE, 0.0)
    assert [ledger.balances_of_asset(a) for a in range(len(ledger.assets))] == before
    assert market.pending_flow_usd("ETH") == 0.0
    assert market.trade(trader, "ETH", 0.0) == (TxStatus.OK, 0.0)


def test_reference_market_trade_exceeding_inventory_is_insufficient_liquidity():
    ledger = Ledger(("USDC", "ETH"))
    market = ReferenceMarket(
        ledger,
        assets=("ETH",),
        initial_prices_usd=(2000.0,),
        params=ReferenceMarketParams(
            impact={"ETH": ImpactParams(depth_usd=1e9, half_life_seconds=600.0)}
        ),
        step_seconds=STEP_S,
        inventory_usd=2e6,
    )
    trader = funded_trader(ledger, usdc=1e8, eth=5000.0)
    assert market.trade(trader, "ETH", 2000.0) == (TxStatus.INSUFFICIENT_LIQUIDITY, 0.0)
    assert market.trade(trader, "ETH", -2000.0) == (TxStatus.INSUFFICIENT_LIQUIDITY, 0.0)
    assert market.trade(trader, "ETH", 999.0)[0] == TxStatus.OK


@settings(max_examples=60, deadline=None)
@given(
    trades=st.lists(
        st.tuples(st.sampled_from(["ETH", "BTC"]), st.floats(-50.0, 50.0), st.booleans()),
        max_size=30,
    )
)
def test_reference_market_random_trades_conserve_ledger(trades):
    ledger, market = make_market()
    trader = funded_trader(ledger, usdc=1e8, eth=100.0)
    ledger.mint(trader, ledger.asset_id("BTC"), 10.0, "test funding")
    flow = {"ETH": 0.0, "BTC": 0.0}
    for asset, size, advance in trades:
        price = market.price_usd(asset)
        status, _ = market.trade(trader, asset, size)
        if status == TxStatus.OK:
            flow[asset] += size * price
        if advance:
            impacts = {a: market.impact(a) for a in flow}
            market.advance(np.zeros(2))
            decay = 2.0 ** (-STEP_S / HALF_LIFE_S)
            depth = {"ETH": ETH_DEPTH_USD, "BTC": BTC_DEPTH_USD}
            for a in flow:
                expected = impacts[a] * decay + flow[a] / depth[a]
                assert market.impact(a) == pytest.approx(expected, rel=1e-9, abs=1e-15)
                flow[a] = 0.0
        ledger.check_conservation()
        for aid in range(len(ledger.assets)):
            assert min(ledger.balances_of_asset(aid)) >= 0.0


def test_reference_market_price_of_quote_is_one_and_unknown_asset_raises():
    _, market = make_market()
    assert market.price_usd("USDC") == 1.0
    with pytest.raises(ValueError, match="unknown asset"):
        market.price_usd("SOL")
    with pytest.raises(ValueError, match="unknown asset"):
        market.trade(0, "SOL", 1.0)
    with pytest.raises(ValueError, match="finite"):
        market.trade(0, "ETH", math.nan)
    with pytest.raises(ValueError, match="need 2 log-returns"):
        market.advance(np.zeros(3))
    with pytest.raises(ValueError, match="log-return of ETH"):
        market.advance(np.array([math.inf, 0.0]))


def test_reference_market_params_validation():
    with pytest.raises(ValueError, match=r"ImpactParams\.depth_usd: must be finite and > 0"):
        ImpactParams(depth_usd=0.0, half_life_seconds=60.0)
    with pytest.raises(ValueError, match=r"ImpactParams\.depth_usd"):
        ImpactParams(depth_usd=math.inf, half_life_seconds=60.0)
    with pytest.raises(ValueError, match=r"ImpactParams\.half_life_seconds: must be > 0"):
        ImpactParams(depth_usd=1e9, half_life_seconds=0.0)
    with pytest.raises(ValueError, match=r"ImpactParams\.half_life_seconds"):
        ImpactParams(depth_usd=1e9, half_life_seconds=math.nan)
    ok = ImpactParams(depth_usd=1e9, half_life_seconds=60.0)
    with pytest.raises(ValueError, match=r"ReferenceMarketParams\.fee_frac: must be in \[0, 1\)"):
        ReferenceMarketParams(impact={"ETH": ok}, fee_frac=-0.001)
    with pytest.raises(ValueError, match=r"ReferenceMarketParams\.fee_frac"):
        ReferenceMarketParams(impact={"ETH": ok}, fee_frac=1.0)
    with pytest.raises(ValueError, match=r"ReferenceMarketParams\.impact: must map"):
        ReferenceMarketParams(impact={"ETH": 1e9})
    with pytest.raises(ValueError, match=r"ReferenceMarketParams\.impact: must not repeat"):
        ReferenceMarketParams(impact=(("ETH", ok), ("ETH", ok)))
    with pytest.raises(ValueError, match=r"ReferenceMarketParams\.impact: must be a mapping"):
        ReferenceMarketParams(impact=(ok, ok))  # positional pairing is not accepted
    # Mapping and pairs in any order are the same (hashable) params.
    other = ImpactParams(depth_usd=2e9, half_life_seconds=60.0)
    a = ReferenceMarketParams(impact={"ETH": ok, "BTC": other})
    b = ReferenceMarketParams(impact=(("BTC", other), ("ETH", ok)))
    assert a == b and hash(a) == hash(b)
    assert a.impact_of("BTC") is other


def test_reference_market_constructor_and_setter_validation():
    ledger = Ledger(("USDC", "ETH"))
    params = ReferenceMarketParams(impact={"ETH": ImpactParams(depth_usd=1e9, half_life_seconds=1)})
    kwargs = {"params": params, "step_seconds": STEP_S}
    with pytest.raises(ValueError, match="has no entry for 'BTC'"):
        ReferenceMarket(ledger, assets=("ETH", "BTC"), initial_prices_usd=(1.0, 1.0), **kwargs)
    with pytest.raises(ValueError, match="initial_prices_usd"):
        ReferenceMarket(ledger, assets=("ETH",), initial_prices_usd=(0.0,), **kwargs)
    with pytest.raises(ValueError, match="quote asset"):
        ReferenceMarket(ledger, assets=("ETH", "USDC"), initial_prices_usd=(1.0, 1.0), **kwargs)
    with pytest.raises(ValueError, match="step_seconds"):
        ReferenceMarket(
            ledger, assets=("ETH",), initial_prices_usd=(1.0,), params=params, step_seconds=0
        )
    _, market = make_market(half_life=600.0)
    with pytest.raises(ValueError, match=r"ReferenceMarket\.params"):
        market.params = {"fee_frac": 0.0}
    # Recalibration replaces params: a shorter half-life decays the impact faster.
    market.record_flow("ETH", -1000.0)
    market.advance(np.zeros(2))
    initial = market.impact("ETH")
    faster = dataclasses.replace(
        market.params,
        impact={
            "ETH": ImpactParams(depth_usd=ETH_DEPTH_USD, half_life_seconds=60.0),
            "BTC": ImpactParams(depth_usd=BTC_DEPTH_USD, half_life_seconds=60.0),
        },
        fee_frac=0.0,
    )
    market.params = faster
    market.advance(np.zeros(2))
    assert market.impact("ETH") == pytest.approx(initial / 2.0, rel=1e-12)
    assert market.params is faster


def test_market_discard_pending_flow_forgets_unapplied_flow() -> None:
    from protocols.ledger import Ledger
    from protocols.market import ImpactParams, ReferenceMarket, ReferenceMarketParams

    ledger = Ledger(("USDC", "ETH"))
    m = ReferenceMarket(
        ledger,
        assets=("ETH",),
        initial_prices_usd=(2000.0,),
        params=ReferenceMarketParams(
            impact={"ETH": ImpactParams(depth_usd=1e8, half_life_seconds=600.0)}
        ),
        step_seconds=60,
    )
    m.record_flow("ETH", -10_000.0)
    m.discard_pending_flow()
    import numpy as np

    m.advance(np.zeros(1))
    assert m.price_usd("ETH") == 2000.0
