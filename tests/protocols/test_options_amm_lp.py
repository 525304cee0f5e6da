"""OptionsAMM LP shares and queue: deposits and withdrawals fill at the NAV of their processing and
never dilute the other LPs; the withdrawal fee stays with the remaining LPs; delays; partial
withdrawals limited by burnable liquidity (Lyra v1 ``LiquidityPool``, DOMAIN.md A6)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocols.events import EventLog
from protocols.ledger import Ledger
from protocols.margin.deribit_marks import default_surface
from protocols.options_amm import OptionsAMM
from protocols.options_amm_params import OptionsAmmParams
from protocols.types import EventKind, FixedPrice, TxStatus

STEP = 60
SPOT = 3000.0
NO_BREAKERS = {
    "iv_variance_cb_threshold": 100.0,
    "skew_variance_cb_threshold": 100.0,
    "liquidity_cb_threshold": 0.0,
    "board_settlement_cb_seconds": 0.0,
}


class World:
    """Ledger, bank, fixed ETH oracle and an unhedged options AMM seeded by the bank."""

    def __init__(self, *, pool_usd: float = 10e6, **overrides) -> None:
        self.ledger = Ledger(("USDC", "ETH"))
        self.events = EventLog()
        self.bank = self.ledger.open_holder("bank")
        self.ledger.mint(self.bank, 0, 1e12, "genesis")
        self.oracle = FixedPrice(SPOT)
        defaults = {"deposit_delay_seconds": 0.0, "withdrawal_delay_seconds": 0.0, **NO_BREAKERS}
        self.amm = OptionsAMM(
            "opt",
            self.ledger,
            self.events,
            asset="ETH",
            oracle=self.oracle,
            params=OptionsAmmParams(**{**defaults, **overrides}),
            surface=default_surface("ETH"),
            step_seconds=STEP,
        )
        assert self.amm.seed(self.bank, pool_usd) == TxStatus.OK

    def user(self, usd: float) -> int:
        holder = self.ledger.open_holder(f"user{self.ledger.n_holders}")
        self.ledger.transfer(self.bank, holder, 0, usd)
        return holder

    def usdc(self, holder: int) -> float:
        return self.ledger.balance(holder, 0)

    def sid(self, strike: float = SPOT, tenor: float = 28.0, is_call: bool = True) -> int:
        return self.amm.series.find(is_call=is_call, strike_usd=strike, tenor_days=tenor, step=0)


OPS = st.lists(
    st.tuples(
        st.sampled_from(["deposit", "withdraw", "buy", "sell", "advance"]),
        st.integers(0, 2),
        st.floats(0.01, 1.0),
    ),
    min_size=1,
    max_size=20,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=OPS)
def test_lp_flows_never_dilute_the_other_lps(ops) -> None:
    w = World()
    amm = w.amm
    fee = amm.params.withdrawal_fee_frac  # 1%
    lps, trader = [w.user(3e6) for _ in range(3)], w.user(1e8)
    sids = [w.sid(), w.sid(2850.0, 28.0, False), w.sid(3150.0, 14.0)]
    step = 0
    for kind, who, frac in ops:
        if kind == "advance":
            step += int(frac * 4000)  # up to ~2.8 days; boards expire and roll on the way
            amm.accrue(step)
            continue
        if kind in ("buy", "sell"):
            sid = sids[who]
            if amm.series.active[sid]:
                size = 1.0 + 20.0 * frac
                if kind == "buy":
                    amm.buy(trader, sid, size)
                elif amm.position(trader, sid) > 0.0:
                    amm.sell(trader, sid, min(size, amm.position(trader, sid)))
            continue
        holder = lps[who]
        if kind == "deposit":
            status = amm.request_deposit(holder, frac * 1e6)
        else:
            shares = frac * amm.lp.shares_of(holder)
            if shares <= 0.0:
                continue
            status = amm.request_withdrawal(holder, shares)
        if status != TxStatus.QUEUED:
            assert status == TxStatus.INSUFFICIENT_BALANCE
            continue
        others = {h: amm.lp.shares_of(h) for h in (w.bank, *lps) if h != holder}
        supply0, price0, cash0 = amm.lp.share_supply, amm.share_price_usd, w.usdc(holder)
        held0 = amm.lp.shares_of(holder)
        amm.accrue(step)  # same step: marks unchanged, only the queue runs
        price1 = amm.share_price_usd
        if kind == "deposit":
            assert price1 == pytest.approx(price0, rel=1e-11)
            assert amm.lp.shares_of(holder) - held0 == pytest.approx(frac * 1e6 / price0)
        else:
            burned = supply0 - amm.lp.share_supply
            assert burned == pytest.approx(shares, rel=1e-9, abs=1e-6)
            assert w.usdc(holder) - cash0 == pytest.approx(shares * price0 * (1.0 - fee))
            # the 1% fee raises the price of every remaining share by the same amount
            expected = price0 * (1.0 + fee * burned / (supply0 - burned))
            assert price1 == pytest.approx(expected, rel=1e-11) and price1 >= price0
        assert {h: amm.lp.shares_of(h) for h in others} == others
        assert amm.lp.queued_deposits_usd == 0.0 and amm.lp.queued_withdrawal_shares == 0.0
        w.ledger.check_conservation()


def test_lp_requests_wait_for_their_delay() -> None:
    w = World(deposit_delay_seconds=7 * 86_400.0, withdrawal_delay_seconds=3600.0)
    amm, lp = w.amm, w.user(1e6)
    amm.accrue(5)
    assert amm.request_deposit(lp, 100_000.0) == TxStatus.QUEUED
    assert amm.request_withdrawal(w.bank, 10.0) == TxStatus.QUEUED
    amm.accrue(5 + 59)
    assert amm.lp.queued_withdrawal_shares == 10.0
    amm.accrue(5 + 60)  # one hour later
    assert amm.lp.queued_withdrawal_shares == 0.0 and amm.lp.queued_deposits_usd == 100_000.0
    amm.accrue(5 + 10_079)
    assert amm.lp.shares_of(lp) == 0.0
    amm.accrue(5 + 10_080)  # one week later
    assert amm.lp.shares_of(lp) == pytest.approx(100_000.0 / amm.share_price_usd)
    assert (
        w.events.count(EventKind.LP_DEPOSIT) == 2 and w.events.count(EventKind.LP_WITHDRAWAL) == 1
    )


def test_lp_withdrawal_is_paid_from_burnable_liquidity_and_the_rest_waits() -> None:
    w = World(pool_usd=100_000.0)
    amm, trader, sid = w.amm, w.user(1e6), w.sid(tenor=7.0)
    assert amm.buy(trader, sid, 28.0).status == TxStatus.OK  # locks 84,000
    burnable = amm.pool_usd - amm.locked_collateral_usd
    price = amm.share_price_usd
    assert amm.request_withdrawal(w.bank, 50_000.0) == TxStatus.QUEUED
    bank = w.usdc(w.bank)
    amm.accrue(0)
    assert w.usdc(w.bank) - bank == pytest.approx(burnable)
    paid_shares = burnable / (price * 0.99)
    assert amm.lp.queued_withdrawal_shares == pytest.approx(50_000.0 - paid_shares)
    assert amm.share_price_usd >= price
    amm.accrue(0)  # nothing burnable: still waiting
    assert amm.lp.queued_withdrawal_shares == pytest.approx(50_000.0 - paid_shares)
    assert amm.sell(trader, sid, 28.0).status == TxStatus.OK  # frees the collateral
    amm.accrue(0)
    assert amm.lp.queued_withdrawal_shares == 0.0
    w.ledger.check_conservation()


def test_lp_request_statuses_and_errors() -> None:
    w = World()
    amm, lp = w.amm, w.user(100.0)
    assert amm.request_deposit(lp, 0.0) == TxStatus.INVALID_AMOUNT
    assert amm.request_deposit(lp, 101.0) == TxStatus.INSUFFICIENT_BALANCE
    assert amm.request_withdrawal(lp, 1.0) == TxStatus.INSUFFICIENT_BALANCE
    assert amm.request_withdrawal(lp, -1.0) == TxStatus.INVALID_AMOUNT
    with pytest.raises(ValueError, match=r"OptionsAMM\.request_deposit: amount must be finite"):
        amm.request_deposit(lp, float("inf"))
    assert amm.seed(lp, 100.0) == TxStatus.OK  # at the current share price
    assert amm.lp.shares_of(lp) == pytest.approx(100.0 / amm.share_price_usd)
    with pytest.raises(ValueError, match=r"OptionsAMM\.lp_asset: 'LP-OPT-ETH' is already in use"):
        OptionsAMM(
            "opt2",
            w.ledger,
            w.events,
            asset="ETH",
            oracle=w.oracle,
            params=OptionsAmmParams(),
            surface=default_surface("ETH"),
            step_seconds=STEP,
        )
