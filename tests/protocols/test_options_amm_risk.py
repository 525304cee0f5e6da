"""OptionsAMM risk machinery: circuit breakers at their thresholds and timeouts, the LP queue held
while they are active, and the delta hedge on a real perp exchange (DOMAIN.md A6, A4)."""

from __future__ import annotations

import pytest

from protocols.events import EventLog
from protocols.ledger import Ledger
from protocols.margin.deribit_marks import default_surface
from protocols.options_amm import OptionsAMM
from protocols.options_amm_params import OptionsAmmParams
from protocols.perp import PerpExchange
from protocols.perp_params import PerpParams
from protocols.types import EventKind, FixedPrice, TxStatus

STEP = 60
SPOT = 3000.0
HALF_DAY_STEPS = 720


class World:
    """Ledger, bank, fixed ETH oracle, a perp exchange with a vault, and an options AMM on it."""

    def __init__(self, *, pool_usd: float = 10e6, hedge: bool = True, **overrides) -> None:
        self.ledger = Ledger(("USDC", "ETH"))
        self.events = EventLog()
        self.bank = self.ledger.open_holder("bank")
        self.ledger.mint(self.bank, 0, 1e12, "genesis")
        self.oracle = FixedPrice(SPOT)
        self.perp = PerpExchange(
            "perp",
            self.ledger,
            self.events,
            oracles={"ETH": self.oracle},
            params=PerpParams(
                markets=PerpParams().markets[:1], collateral=PerpParams().collateral[:2]
            ),
            step_seconds=STEP,
        )
        assert self.perp.seed_vault(self.bank, 1e9) == TxStatus.OK
        defaults = {"deposit_delay_seconds": 0.0, "withdrawal_delay_seconds": 0.0}
        params = OptionsAmmParams(**{**defaults, **overrides})
        self.amm = OptionsAMM(
            "opt",
            self.ledger,
            self.events,
            asset="ETH",
            oracle=self.oracle,
            params=params,
            surface=default_surface("ETH"),
            step_seconds=STEP,
            hedge_venue=self.perp if hedge else None,
        )
        assert self.amm.seed(self.bank, pool_usd) == TxStatus.OK

    def user(self, usd: float = 1e7) -> int:
        holder = self.ledger.open_holder(f"user{self.ledger.n_holders}")
        self.ledger.transfer(self.bank, holder, 0, usd)
        return holder

    def usdc(self, holder: int) -> float:
        return self.ledger.balance(holder, 0)

    def sid(self, tenor: float = 28.0, is_call: bool = True) -> int:
        return self.amm.series.find(is_call=is_call, strike_usd=SPOT, tenor_days=tenor, step=0)


@pytest.mark.parametrize("sign", [-1.0, 1.0])
def test_iv_variance_breaker_trips_just_above_its_threshold_and_resets(sign: float) -> None:
    w = World(hedge=False)
    amm, u, sid = w.amm, w.user(), w.sid()
    step = 100
    amm.accrue(step)
    # 50 coins = 10 standard sizes = +0.10 base IV; GWAV(1 day) is still the old IV
    assert amm.buy(u, sid, 50.0 * (1.0 + sign * 1e-5)).status == TxStatus.OK
    amm.accrue(step)
    assert amm.max_iv_variance == pytest.approx(0.10 * (1.0 + sign * 1e-5))
    if sign < 0:
        assert amm.breaker_trips["iv_variance"] == 0 and not amm.breaker_active(step)
        assert w.events.count(EventKind.BREAKER_TRIP) == 0
        return
    assert amm.breaker_trips == {
        "liquidity": 0,
        "iv_variance": 1,
        "skew_variance": 0,
        "board_settlement": 0,
    }
    assert amm.breaker_until_step == step + HALF_DAY_STEPS
    assert w.events.count(EventKind.BREAKER_TRIP) == 1
    amm.accrue(step)  # still crossed at the same step: extends, is not a new trip
    assert amm.breaker_trips["iv_variance"] == 1
    # the GWAV catches up with the new IV, the crossing ends, the 12 h timeout runs out
    for s in range(step + 1, step + HALF_DAY_STEPS + 1):
        amm.accrue(s)
        assert amm.breaker_active(s) == (s < step + HALF_DAY_STEPS)
    assert amm.breaker_trips["iv_variance"] == 1


@pytest.mark.parametrize("sign", [-1.0, 1.0])
def test_skew_variance_breaker_trips_just_above_its_threshold(sign: float) -> None:
    # skew moves 7.5 / 500 per coin here, so 23.33 coins move it by 0.35; IV breaker off
    w = World(hedge=False, skew_adjustment_factor=7.5, iv_variance_cb_threshold=10.0)
    amm, u, sid = w.amm, w.user(), w.sid()
    amm.accrue(10)
    assert amm.buy(u, sid, 0.35 / 7.5 * 500.0 * (1.0 + sign * 1e-5)).status == TxStatus.OK
    amm.accrue(10)
    assert amm.max_skew_variance == pytest.approx(0.35 * (1.0 + sign * 1e-5))
    assert amm.breaker_trips["skew_variance"] == (1 if sign > 0 else 0)
    assert amm.breaker_until_step == (10 + HALF_DAY_STEPS if sign > 0 else 0)


def test_liquidity_breaker_trips_when_free_liquidity_falls_below_one_percent() -> None:
    w = World(hedge=False, pool_usd=100_000.0)
    amm, u, sid = w.amm, w.user(), w.sid(tenor=7.0)
    while amm.free_liquidity_usd / amm.nav_usd >= 0.014:  # each 0.1 call locks 0.3% of NAV
        assert amm.buy(u, sid, 0.1).status == TxStatus.OK
    while True:  # now in steps of 0.03% of NAV
        amm.accrue(1)
        if amm.free_liquidity_usd / amm.nav_usd < 0.01:
            break
        assert amm.breaker_trips["liquidity"] == 0 and not amm.breaker_active(1)
        assert amm.buy(u, sid, 0.01).status == TxStatus.OK
    assert amm.free_liquidity_usd / amm.nav_usd > 0.0097
    assert amm.breaker_trips["liquidity"] == 1
    assert amm.breaker_until_step == 1 + 3 * 2 * HALF_DAY_STEPS  # 3 days


def test_queued_requests_wait_for_the_breaker_and_fill_at_that_moments_price() -> None:
    w = World(hedge=False)
    amm, u, lp, sid = w.amm, w.user(), w.user(), w.sid()
    amm.accrue(0)
    assert amm.buy(u, sid, 60.0).status == TxStatus.OK  # +0.12 base IV: trips
    amm.accrue(0)
    assert amm.breaker_active(0) and amm.breaker_until_step == HALF_DAY_STEPS
    request_price = amm.share_price_usd
    assert amm.request_deposit(lp, 50_000.0) == TxStatus.QUEUED
    assert amm.request_withdrawal(w.bank, 1_000.0) == TxStatus.QUEUED
    bank, step = w.usdc(w.bank), 1
    amm.accrue(step)
    while amm.breaker_active(step):  # the crossing lasts a while, then the 12 h timeout runs
        assert amm.lp.shares_of(lp) == 0.0 and amm.lp.queued_deposits_usd == 50_000.0
        assert amm.lp.queued_withdrawal_shares == 1_000.0
        step += 1
        amm.accrue(step)
    assert step > HALF_DAY_STEPS and step == amm.breaker_until_step
    assert amm.lp.queued_deposits_usd == 0.0 and amm.lp.queued_withdrawal_shares == 0.0
    details = [d for d in w.events.columns["detail"] if d.startswith("shares=")]
    price = float(details[-2].split("share_price_usd=")[1])  # the deposit's fill
    assert price != pytest.approx(request_price, rel=1e-9)  # 12 h of theta later
    assert amm.lp.shares_of(lp) == pytest.approx(50_000.0 / price)
    # the withdrawal is paid at the same moment's price, less the 1% fee
    assert w.usdc(w.bank) - bank == pytest.approx(1_000.0 * price * 0.99)
    w.ledger.check_conservation()


def test_hedge_brings_net_delta_within_band_with_a_real_perp_position() -> None:
    w = World(hedge_band_nav_frac=0.001)
    amm, u, sid = w.amm, w.user(), w.sid()
    assert amm.buy(u, sid, 200.0).status == TxStatus.OK
    options_delta = amm.net_delta_base
    assert options_delta < -50.0 and amm.hedge_size_base == 0.0
    nav0 = amm.nav_usd
    amm.accrue(1)
    size, entry = w.perp.position(amm.hedger.account, "ETH")
    assert size == pytest.approx(-options_delta, rel=1e-4) and amm.hedge_size_base == size
    assert amm.net_delta_base == pytest.approx(0.0, abs=1e-9)  # hedged to zero, as Lyra does
    assert w.perp.open_interest_usd("ETH")[0] > 0.0
    fee = size * entry * w.perp.params.markets[0].taker_fee_frac
    assert amm.hedge_cost_total_usd == pytest.approx(fee + (entry - SPOT) * size)
    # margin: half the hedge notional; NAV falls by the hedge cost (fees and slippage to vault)
    assert amm.hedge_equity_usd == pytest.approx(0.5 * size * SPOT, rel=1e-3)
    assert amm.nav_usd == pytest.approx(nav0 - amm.hedge_cost_total_usd, rel=1e-6)
    assert w.events.count(EventKind.HEDGE) == 1
    w.ledger.check_conservation()
    amm.accrue(2)  # inside the hedge interval: no new order
    assert w.events.count(EventKind.HEDGE) == 1


def test_hedge_liquidated_on_the_perp_is_read_back_and_rehedged() -> None:
    w = World(hedge_margin_frac=0.03, hedge_band_nav_frac=0.001)
    amm, u, sid = w.amm, w.user(), w.sid(is_call=False)
    assert amm.buy(u, sid, 300.0).status == TxStatus.OK  # short puts: the pool is long delta
    amm.accrue(1)
    hedged = amm.hedge_size_base
    assert hedged < -100.0  # so it sold perps
    w.oracle.price_usd = SPOT * 1.05  # the short perp loses more than its 3% margin
    assert w.perp.liquidate().n_liquidations == 1
    after = w.perp.position(amm.hedger.account, "ETH")[0]
    assert hedged < after <= 0.0
    assert amm.hedge_size_base == after  # read back from the exchange, not remembered
    options_delta = amm.book.valuation(SPOT * 1.05, 1, amm.params)[1]
    assert amm.net_delta_base == pytest.approx(options_delta + after)
    amm.accrue(1 + 60)  # the next hedge interval: back within the band
    assert abs(amm.net_delta_base) * SPOT * 1.05 <= 0.001 * amm.nav_usd
    assert amm.hedger.failures == 0
    w.ledger.check_conservation()
