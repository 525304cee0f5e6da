"""PerpExchange: skew pricing, fees, PnL settlement, margin checks, funding, ledger invariants."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from protocols.events import EventLog
from protocols.ledger import Ledger
from protocols.perp import PerpExchange
from protocols.perp_liquidation import fill_position
from protocols.perp_params import PerpMarketParams, PerpParams
from protocols.types import EventKind, FixedPrice, TxStatus

STEP_SECONDS = 60


class FakeAMM:
    """Constant-product pool with the ConstantProductAMM swap signature (protocols/amm.py)."""

    def __init__(self, ledger: Ledger, base: str, fee_frac: float = 0.003) -> None:
        self.ledger, self.base, self.fee_frac = ledger, base, fee_frac
        self.holder = ledger.open_holder(f"fake-amm:{base}")

    def reserves(self) -> tuple[float, float]:
        lb = self.ledger
        return (
            lb.balance(self.holder, lb.asset_id(self.base)),
            lb.balance(self.holder, lb.asset_id("USDC")),
        )

    def swap(self, holder, asset_in, amount_in, min_amount_out=0.0):
        lb = self.ledger
        asset_out = "USDC" if asset_in == self.base else self.base
        if lb.balance(holder, lb.asset_id(asset_in)) < amount_in:
            return TxStatus.INSUFFICIENT_BALANCE, 0.0
        r_in = lb.balance(self.holder, lb.asset_id(asset_in))
        r_out = lb.balance(self.holder, lb.asset_id(asset_out))
        x = amount_in * (1.0 - self.fee_frac)
        out = r_out * x / (r_in + x)
        if out < min_amount_out:
            return TxStatus.SLIPPAGE, 0.0
        lb.transfer(holder, self.holder, lb.asset_id(asset_in), amount_in)
        lb.transfer(self.holder, holder, lb.asset_id(asset_out), out)
        return TxStatus.OK, out


class World:
    """A ledger, a bank holder with plenty of everything, ETH/BTC oracles and one exchange."""

    def __init__(
        self,
        params: PerpParams | None = None,
        *,
        vault: float = 1e8,
        insurance: float = 0.0,
        with_amm: bool = False,
    ) -> None:
        self.ledger = Ledger(("USDC", "ETH", "BTC"))
        self.events = EventLog()
        self.bank = self.ledger.open_holder("bank")
        for asset, amount in (("USDC", 1e12), ("ETH", 1e7), ("BTC", 1e6)):
            self.ledger.mint(self.bank, self.ledger.asset_id(asset), amount, "genesis")
        self.oracles = {"ETH": FixedPrice(3000.0), "BTC": FixedPrice(60000.0)}
        self.flows: list[tuple[str, float]] = []
        venues = {}
        if with_amm:
            amm = FakeAMM(self.ledger, "ETH")
            self.ledger.transfer(self.bank, amm.holder, self.ledger.asset_id("ETH"), 1_000.0)
            self.ledger.transfer(self.bank, amm.holder, self.ledger.asset_id("USDC"), 3_000_000.0)
            venues["ETH"] = self.amm = amm
        self.ex = PerpExchange(
            "perp",
            self.ledger,
            self.events,
            oracles=self.oracles,
            params=params or clean_params(),
            step_seconds=STEP_SECONDS,
            spot_venues=venues,
            flow_sink=lambda asset, size: self.flows.append((asset, size)),
        )
        if vault:
            assert self.ex.seed_vault(self.bank, vault) == TxStatus.OK
        if insurance:
            assert self.ex.seed_insurance(self.bank, insurance) == TxStatus.OK

    def account(self, usdc: float = 0.0, eth: float = 0.0) -> int:
        holder = self.ledger.open_holder(f"trader{self.ex.n_accounts}")
        # the wallet keeps 1,000 USDC and 1 ETH besides what it deposits
        self.ledger.transfer(self.bank, holder, self.ledger.asset_id("USDC"), usdc + 1_000.0)
        self.ledger.transfer(self.bank, holder, self.ledger.asset_id("ETH"), eth + 1.0)
        a = self.ex.open_account(holder)
        if usdc:
            assert self.ex.deposit(a, "USDC", usdc) == TxStatus.OK
        if eth:
            assert self.ex.deposit(a, "ETH", eth) == TxStatus.OK
        return a

    def usdc(self, holder: int) -> float:
        return self.ledger.balance(holder, self.ledger.asset_id("USDC"))

    def check_invariants(self) -> None:
        self.ledger.check_conservation()
        ex, n = self.ex, self.ex.n_accounts
        for asset in ("USDC", "ETH", "BTC"):
            held = self.ledger.balance(ex.margin_holder, self.ledger.asset_id(asset))
            claims = sum(ex.collateral_of(a, asset) for a in range(n))
            assert held == pytest.approx(claims, rel=1e-9, abs=1e-6), asset
        assert all(ex.collateral_of(a, s) >= 0.0 for a in range(n) for s in ("USDC", "ETH", "BTC"))
        assert all(ex.debt_of(a) >= -1e-9 for a in range(n))
        for asset in ex.params.market_assets:
            sizes = np.array([ex.position(a, asset)[0] for a in range(n)] or [0.0])
            long_usd, short_usd = ex.open_interest_usd(asset)
            mark = ex.mark_price(asset)
            assert long_usd == pytest.approx(sizes.clip(min=0).sum() * mark, abs=1e-6)
            assert short_usd == pytest.approx(-sizes.clip(max=0).sum() * mark, abs=1e-6)


def clean_params(**overrides) -> PerpParams:
    """Default tiers, but no fee and no skew premium: round numbers in hand-worked tests."""
    markets = tuple(
        PerpMarketParams(asset=a, taker_fee_frac=0.0, skew_scale_usd=1e15) for a in ("ETH", "BTC")
    )
    return PerpParams(markets=markets, **overrides)


# ---------------------------------------------------------------------- position arithmetic
@pytest.mark.parametrize(
    ("size", "entry", "delta", "price", "want"),
    [
        (0.0, 0.0, 2.0, 100.0, (2.0, 100.0, 0.0)),
        (2.0, 100.0, 2.0, 110.0, (4.0, 105.0, 0.0)),
        (4.0, 105.0, -1.0, 115.0, (3.0, 105.0, 10.0)),
        (3.0, 105.0, -3.0, 95.0, (0.0, 0.0, -30.0)),
        (3.0, 105.0, -5.0, 95.0, (-2.0, 95.0, -30.0)),
        (-2.0, 95.0, 1.0, 90.0, (-1.0, 95.0, 5.0)),
    ],
)
def test_fill_position_average_realise_flip(size, entry, delta, price, want):
    assert fill_position(size, entry, delta, price) == pytest.approx(want)


# ---------------------------------------------------------------------- trading
def test_trade_fills_at_average_premium_and_pays_fee_to_vault():
    market = PerpMarketParams(asset="ETH", skew_scale_usd=1e8, taker_fee_frac=0.0004)
    w = World(PerpParams(markets=(market,)))
    a = w.account(usdc=100_000.0)
    vault0 = w.ex.vault_usd
    status, fill = w.ex.trade(a, "ETH", 100.0)
    assert status == TxStatus.OK
    assert fill == pytest.approx(3000.0 * (1 + 0.5 * (0.0 + 0.003)))  # premium 300k / 1e8
    assert w.ex.mark_price("ETH") == pytest.approx(3009.0)
    assert w.ex.position(a, "ETH") == pytest.approx((100.0, fill))
    fee = 100.0 * fill * 0.0004
    assert w.ex.vault_usd - vault0 == pytest.approx(fee)
    assert w.ex.collateral_of(a, "USDC") == pytest.approx(100_000.0 - fee)
    status, fill2 = w.ex.trade(a, "ETH", -50.0)  # premium 0.003 -> 0.0015
    assert fill2 == pytest.approx(3000.0 * (1 + 0.00225))
    realised = 50.0 * (fill2 - fill)
    fee2 = 50.0 * fill2 * 0.0004
    assert w.ex.collateral_of(a, "USDC") == pytest.approx(100_000.0 - fee + realised - fee2)
    assert w.ex.vault_usd - vault0 == pytest.approx(fee - realised + fee2)
    w.check_invariants()


def test_trade_premium_is_clamped():
    market = PerpMarketParams(asset="ETH", skew_scale_usd=1e6, max_premium_frac=0.01)
    w = World(PerpParams(markets=(market,)))
    a = w.account(usdc=1e6)
    assert w.ex.trade(a, "ETH", 100.0)[0] == TxStatus.OK  # 300k / 1e6 = 30% -> clamped 1%
    assert w.ex.mark_price("ETH") == pytest.approx(3030.0)


def test_trade_initial_margin_refuses_over_leverage():
    w = World()
    a = w.account(usdc=1_000.0)
    ledger_before = w.usdc(w.ex.margin_holder), w.ex.vault_usd
    # 150k notional sits in the 100x bracket: IM = 1,500 > 1,000 of equity
    assert w.ex.trade(a, "ETH", 50.0)[0] == TxStatus.HEALTH_TOO_LOW
    assert w.ex.position(a, "ETH") == (0.0, 0.0)
    assert (w.usdc(w.ex.margin_holder), w.ex.vault_usd) == ledger_before
    # 30k notional at 125x: IM = 240
    assert w.ex.trade(a, "ETH", -10.0)[0] == TxStatus.OK
    _, _, initial = w.ex.margin_state()
    assert initial[a] == pytest.approx(30_000.0 / 125.0)
    # a reduction is always allowed, even when it would not pass the initial check
    w.oracles["ETH"].price_usd = 3_090.0
    assert w.ex.trade(a, "ETH", 5.0)[0] == TxStatus.OK
    # mm_scale scales the initial requirement too
    w.ex.params = dataclasses.replace(w.ex.params, mm_scale=5.0)
    assert w.ex.margin_state()[2][a] == pytest.approx(5 * 5 * 3090.0 / 125.0)
    w.check_invariants()


def test_withdraw_keeps_initial_margin():
    w = World()
    a = w.account(usdc=10_000.0)
    assert w.ex.trade(a, "ETH", 100.0)[0] == TxStatus.OK  # 300k notional, IM = 6,000
    assert w.ex.account_equity_usd(a) == pytest.approx(10_000.0)
    assert w.ex.withdraw(a, "USDC", 4_500.0) == TxStatus.HEALTH_TOO_LOW
    assert w.ex.withdraw(a, "USDC", 20_000.0) == TxStatus.INSUFFICIENT_BALANCE
    owner = w.ex.owner_of(a)
    before = w.usdc(owner)
    assert w.ex.withdraw(a, "USDC", 3_900.0) == TxStatus.OK
    assert w.usdc(owner) - before == pytest.approx(3_900.0)
    w.check_invariants()


def test_bad_calls_return_status_or_raise():
    w = World()
    a = w.account(usdc=100.0)
    assert w.ex.trade(99, "ETH", 1.0) == (TxStatus.UNKNOWN_ACCOUNT, 0.0)
    assert w.ex.trade(a, "ETH", 0.0)[0] == TxStatus.INVALID_AMOUNT
    assert w.ex.deposit(a, "USDC", 1e6) == TxStatus.INSUFFICIENT_BALANCE
    assert w.ex.deposit(99, "USDC", 1.0) == TxStatus.UNKNOWN_ACCOUNT
    with pytest.raises(ValueError, match="market must be one of"):
        w.ex.trade(a, "DOGE", 1.0)
    with pytest.raises(ValueError, match="amount must be finite and >= 0"):
        w.ex.deposit(a, "USDC", -1.0)
    with pytest.raises(ValueError, match="asset must be one of"):
        w.ex.withdraw(a, "DOGE", 1.0)
    with pytest.raises(ValueError, match="same markets"):
        w.ex.params = PerpParams(markets=(PerpMarketParams(asset="ETH"),))


def test_realised_loss_beyond_usdc_sells_eth_collateral():
    w = World(with_amm=True)
    a = w.account(usdc=100.0, eth=10.0)  # equity 100 + 10 x 3000 x 0.8
    assert w.ex.trade(a, "ETH", 100.0)[0] == TxStatus.OK
    w.oracles["ETH"].price_usd = 2_950.0
    eth_pool0, _ = w.amm.reserves()
    assert w.ex.trade(a, "ETH", -100.0)[0] == TxStatus.OK  # realises -5,000
    assert w.ex.debt_of(a) == 0.0
    sold = 10.0 - w.ex.collateral_of(a, "ETH")
    assert sold > 0.0 and w.amm.reserves()[0] - eth_pool0 == pytest.approx(sold)
    w.check_invariants()


def test_deposit_of_usdc_repays_debit_balance():
    w = World()
    a = w.account(eth=10.0)
    assert w.ex.trade(a, "ETH", 10.0)[0] == TxStatus.OK
    w.ex.accrue(100)  # funding on an ETH-only account becomes a debit balance
    debt = w.ex.debt_of(a)
    assert debt > 0.0
    vault0 = w.ex.vault_usd
    assert w.ex.deposit(a, "USDC", 50.0) == TxStatus.OK
    assert w.ex.debt_of(a) == 0.0
    assert w.ex.collateral_of(a, "USDC") == pytest.approx(50.0 - debt)
    assert w.ex.vault_usd - vault0 == pytest.approx(debt)
    w.check_invariants()


# ---------------------------------------------------------------------- funding
def funding_world(skew_scale: float = 1e8) -> World:
    market = PerpMarketParams(asset="ETH", taker_fee_frac=0.0, skew_scale_usd=skew_scale)
    return World(PerpParams(markets=(market,)))


def test_funding_longs_pay_shorts_and_vault_takes_net_side():
    w = funding_world()
    long_, short = w.account(usdc=100_000.0), w.account(usdc=100_000.0)
    w.ex.trade(long_, "ETH", 100.0)
    w.ex.trade(short, "ETH", -40.0)
    # net 60 ETH long: P = 180k / 1e8 = 0.0018; F = P + clamp(0.0001 - P, +-0.0005) = 0.0013
    assert w.ex.funding_rate_8h("ETH") == pytest.approx(0.0013)
    mark = w.ex.mark_price("ETH")
    assert mark == pytest.approx(3000.0 * 1.0018)
    u_long, u_short = w.ex.collateral_of(long_, "USDC"), w.ex.collateral_of(short, "USDC")
    vault0 = w.ex.vault_usd
    w.ex.accrue(1)
    per_base = mark * 0.0013 * STEP_SECONDS / 28_800.0
    assert u_long - w.ex.collateral_of(long_, "USDC") == pytest.approx(100.0 * per_base)
    assert w.ex.collateral_of(short, "USDC") - u_short == pytest.approx(40.0 * per_base)
    assert w.ex.vault_usd - vault0 == pytest.approx(60.0 * per_base)
    w.ex.accrue(6)  # five more steps at once
    assert u_long - w.ex.collateral_of(long_, "USDC") == pytest.approx(600.0 * per_base)
    w.check_invariants()


def test_funding_negative_premium_shorts_pay():
    w = funding_world()
    long_, short = w.account(usdc=100_000.0), w.account(usdc=100_000.0)
    w.ex.trade(long_, "ETH", 10.0)
    w.ex.trade(short, "ETH", -110.0)
    rate = w.ex.funding_rate_8h("ETH")
    assert rate == pytest.approx(-0.003 + 0.0005)  # P = -0.003, clamp(I - P) = +0.0005
    u_long, u_short = w.ex.collateral_of(long_, "USDC"), w.ex.collateral_of(short, "USDC")
    w.ex.accrue(1)
    assert w.ex.collateral_of(long_, "USDC") > u_long
    assert w.ex.collateral_of(short, "USDC") < u_short


def test_funding_small_premium_pays_interest_rate():
    w = funding_world(skew_scale=1e15)
    a = w.account(usdc=10_000.0)
    w.ex.trade(a, "ETH", 1.0)
    assert w.ex.funding_rate_8h("ETH") == pytest.approx(0.0001, rel=1e-6)
    with pytest.raises(ValueError, match="step must be >= 0"):
        w.ex.accrue(-1)


# ---------------------------------------------------------------------- invariants
ACTIONS = st.lists(
    st.one_of(
        st.tuples(
            st.just("deposit"),
            st.integers(0, 2),
            st.sampled_from(["USDC", "ETH"]),
            st.floats(1.0, 5_000.0),
        ),
        st.tuples(
            st.just("withdraw"),
            st.integers(0, 2),
            st.sampled_from(["USDC", "ETH"]),
            st.floats(1.0, 5_000.0),
        ),
        st.tuples(
            st.just("trade"),
            st.integers(0, 2),
            st.sampled_from(["ETH", "BTC"]),
            st.floats(-40.0, 40.0),
        ),
        st.tuples(
            st.just("price"),
            st.integers(0, 2),
            st.sampled_from(["ETH", "BTC"]),
            st.floats(-0.25, 0.25),
        ),
        st.tuples(st.just("accrue"), st.integers(0, 2), st.just(""), st.integers(1, 500)),
        st.tuples(st.just("liquidate"), st.integers(0, 2), st.just(""), st.just(0.0)),
    ),
    max_size=40,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    actions=ACTIONS,
    insurance=st.sampled_from([0.0, 500.0, 1e6]),
    skew_scale=st.sampled_from([1e7, 1e15]),
)
def test_random_actions_conserve_ledger_and_claims(actions, insurance, skew_scale):
    markets = tuple(PerpMarketParams(asset=a, skew_scale_usd=skew_scale) for a in ("ETH", "BTC"))
    w = World(PerpParams(markets=markets), vault=1e6, insurance=insurance, with_amm=True)
    accounts = [w.account(usdc=5_000.0), w.account(eth=2.0), w.account(usdc=1_000.0, eth=1.0)]
    for owner in (w.ex.owner_of(a) for a in accounts):
        w.ledger.transfer(w.bank, owner, w.ledger.asset_id("USDC"), 20_000.0)
        w.ledger.transfer(w.bank, owner, w.ledger.asset_id("ETH"), 5.0)
    # leveraged books from the start so that price moves liquidate someone
    for a, asset, size in (
        (accounts[0], "ETH", 12.0),
        (accounts[1], "ETH", -10.0),
        (accounts[2], "BTC", 0.3),
        (accounts[0], "BTC", -0.2),
    ):
        assert w.ex.trade(a, asset, size)[0] == TxStatus.OK
    step = 0
    for kind, i, asset, x in [*actions, ("liquidate", 0, "", 0.0)]:
        a = accounts[i]
        if kind == "deposit":
            w.ex.deposit(a, asset, x / (3000.0 if asset == "ETH" else 1.0))
        elif kind == "withdraw":
            w.ex.withdraw(a, asset, x / (3000.0 if asset == "ETH" else 1.0))
        elif kind == "trade":
            w.ex.trade(a, asset, x / (20.0 if asset == "BTC" else 1.0))
        elif kind == "price":
            w.oracles[asset].price_usd *= float(np.exp(x))
        elif kind == "accrue":
            step += int(x)
            w.ex.accrue(step)
        else:
            n_events = len(w.events)
            summary = w.ex.liquidate()
            assert min(summary.bad_debt_usd, summary.volume_usd, summary.adl_volume_usd) >= 0.0
            for name in ("n_liquidations", "insurance_paid_usd", "adl_volume_usd", "bad_debt_usd"):
                if getattr(summary, name) > 0:
                    event(name)
            cols = w.events.columns
            adl_hit = {
                cols["account"][j]
                for j in range(n_events, len(w.events))
                if cols["kind"][j] == EventKind.ADL.name
            }
            if skew_scale > 1e12:  # marks do not move with open interest: one pass heals all
                equity, maintenance, _ = w.ex.margin_state()
                for b in set(accounts) - adl_hit:
                    assert equity[b] >= maintenance[b] - 1e-6
        w.check_invariants()
