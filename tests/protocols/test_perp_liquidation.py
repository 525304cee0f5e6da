"""PerpExchange liquidation engine: partial chunks, clearance fee, insurance, ADL, bad debt."""

from __future__ import annotations

import pytest

from protocols.events import EventLog
from protocols.ledger import Ledger
from protocols.perp import PerpExchange
from protocols.perp_params import PerpMarketParams, PerpParams
from protocols.types import EventKind, FixedPrice, TxStatus


class FakeAMM:
    """Constant-product pool with the ConstantProductAMM swap signature (protocols/amm.py)."""

    def __init__(self, ledger: Ledger, base: str, fee_frac: float = 0.003) -> None:
        self.ledger, self.base, self.fee_frac = ledger, base, fee_frac
        self.holder = ledger.open_holder(f"fake-amm:{base}")

    def swap(self, holder, asset_in, amount_in, min_amount_out=0.0):
        lb = self.ledger
        asset_out = "USDC" if asset_in == self.base else self.base
        r_in = lb.balance(self.holder, lb.asset_id(asset_in))
        r_out = lb.balance(self.holder, lb.asset_id(asset_out))
        out = r_out * amount_in * (1 - self.fee_frac) / (r_in + amount_in * (1 - self.fee_frac))
        lb.transfer(holder, self.holder, lb.asset_id(asset_in), amount_in)
        lb.transfer(self.holder, holder, lb.asset_id(asset_out), out)
        return TxStatus.OK, out


class World:
    """Default tiers and fees, no skew premium (marks equal the oracle), fixed oracles."""

    def __init__(self, *, insurance: float = 0.0, liquidation_fee_frac: float = 0.01) -> None:
        self.ledger = Ledger(("USDC", "ETH", "BTC"))
        self.events = EventLog()
        self.bank = self.ledger.open_holder("bank")
        self.ledger.mint(self.bank, 0, 1e12, "genesis")
        self.ledger.mint(self.bank, 1, 1e6, "genesis")
        self.oracles = {"ETH": FixedPrice(3000.0), "BTC": FixedPrice(60000.0)}
        self.amm = FakeAMM(self.ledger, "ETH")
        self.ledger.transfer(self.bank, self.amm.holder, 1, 1_000.0)
        self.ledger.transfer(self.bank, self.amm.holder, 0, 3_000_000.0)
        self.flows: list[tuple[str, float]] = []
        markets = tuple(
            PerpMarketParams(asset=a, taker_fee_frac=0.0, skew_scale_usd=1e15)
            for a in ("ETH", "BTC")
        )
        self.ex = PerpExchange(
            "perp",
            self.ledger,
            self.events,
            oracles=self.oracles,
            params=PerpParams(markets=markets, liquidation_fee_frac=liquidation_fee_frac),
            step_seconds=60,
            spot_venues={"ETH": self.amm},
            flow_sink=lambda asset, size: self.flows.append((asset, size)),
        )
        self.ex.seed_vault(self.bank, 1e8)
        if insurance:
            self.ex.seed_insurance(self.bank, insurance)

    def account(self, usdc: float = 0.0, eth: float = 0.0) -> int:
        holder = self.ledger.open_holder(f"trader{self.ex.n_accounts}")
        self.ledger.transfer(self.bank, holder, 0, usdc)
        self.ledger.transfer(self.bank, holder, 1, eth)
        a = self.ex.open_account(holder)
        for asset, amount in (("USDC", usdc), ("ETH", eth)):
            if amount:
                assert self.ex.deposit(a, asset, amount) == TxStatus.OK
        return a

    def equity(self, a: int) -> float:
        return float(self.ex.margin_state()[0][a])

    def check_invariants(self) -> None:
        self.ledger.check_conservation()
        for aid, asset in enumerate(("USDC", "ETH")):
            held = self.ledger.balance(self.ex.margin_holder, aid)
            claims = sum(self.ex.collateral_of(a, asset) for a in range(self.ex.n_accounts))
            assert held == pytest.approx(claims, rel=1e-9, abs=1e-6)

    def kinds(self) -> list[str]:
        return self.events.columns["kind"]


def test_liquidate_does_nothing_when_all_healthy():
    w = World()
    a = w.account(usdc=10_000.0)
    w.ex.trade(a, "ETH", 10.0)
    summary = w.ex.liquidate()
    assert summary.n_liquidations == 0 and summary.volume_usd == 0.0
    assert len(w.events) == 0 and w.flows == []


def test_partial_liquidation_lowers_requirement_and_stops_when_healthy():
    w = World(insurance=0.0)
    a = w.account(usdc=150_100.0)
    assert w.ex.trade(a, "ETH", 1_000.0)[0] == TxStatus.OK  # 3M notional, IM 150k at 20x
    w.oracles["ETH"].price_usd = 2_900.0
    equity, maintenance, _ = w.ex.margin_state()
    assert equity[a] == pytest.approx(50_100.0)
    assert maintenance[a] == pytest.approx(2.9e6 * 0.025 - 16_300.0)  # 56,200 > equity
    summary = w.ex.liquidate()
    # one chunk of 20%: 200 ETH at 2,900, fee 1% = 5,800; MM(2.32M) = 41,700 <= 44,300
    assert summary.n_liquidations == 1
    assert summary.volume_usd == pytest.approx(200 * 2_900.0)
    assert w.ex.position(a, "ETH")[0] == pytest.approx(800.0)
    equity, maintenance, _ = w.ex.margin_state()
    assert maintenance[a] == pytest.approx(2.32e6 * 0.025 - 16_300.0)
    assert equity[a] == pytest.approx(50_100.0 - 5_800.0)
    assert equity[a] >= maintenance[a]
    assert w.ex.insurance_fund_usd == pytest.approx(5_800.0)
    assert w.kinds() == ["LIQUIDATION"]
    assert w.flows == [("ETH", pytest.approx(-200.0))]
    assert w.ex.liquidate().n_liquidations == 0  # healthy now
    w.check_invariants()


def test_liquidation_largest_notional_market_first():
    w = World(liquidation_fee_frac=0.0)
    a = w.account(usdc=170_000.0)
    assert w.ex.trade(a, "BTC", -10.0)[0] == TxStatus.OK  # 600k notional
    assert w.ex.trade(a, "ETH", 1_000.0)[0] == TxStatus.OK  # 3M notional: closed first
    w.oracles["ETH"].price_usd = 2_880.0  # equity 50,000 < MM 55,700 + 4,700
    assert w.ex.liquidate().n_liquidations == 1
    assert w.flows == [("ETH", pytest.approx(-200.0))]  # then MM 41,300 + 4,700 <= 50,000
    assert w.ex.position(a, "BTC")[0] == pytest.approx(-10.0)
    w.check_invariants()


def test_insurance_fund_covers_bankrupt_account():
    w = World(insurance=1_000_000.0)
    a = w.account(usdc=10_000.0)
    w.ex.trade(a, "ETH", 100.0)  # 300k notional
    vault0 = w.ex.vault_usd
    w.oracles["ETH"].price_usd = 2_850.0  # loss 15,000 on 10,000 of margin
    assert w.equity(a) == pytest.approx(-5_000.0)
    summary = w.ex.liquidate()
    assert summary.insurance_paid_usd == pytest.approx(5_000.0)
    assert summary.bad_debt_usd == 0.0 and summary.adl_volume_usd == 0.0
    assert w.ex.insurance_fund_usd == pytest.approx(1_000_000.0 - 5_000.0)  # no fee: equity < 0
    assert w.ex.position(a, "ETH")[0] == 0.0
    assert w.equity(a) == pytest.approx(0.0, abs=1e-6)
    assert w.ex.debt_of(a) == pytest.approx(0.0, abs=1e-9)
    assert w.ex.vault_usd - vault0 == pytest.approx(15_000.0)  # the vault is made whole
    assert sum(size for _, size in w.flows) == pytest.approx(-100.0)
    assert w.kinds().count("LIQUIDATION") == 5 and w.kinds()[-1] == "INSURANCE"
    w.check_invariants()


def _adl_book(insurance: float) -> tuple[World, int, dict[str, int]]:
    """A bankrupt long (deficit 5,000 at 2,850) and four shorts of different quality."""
    w = World(insurance=insurance)
    bankrupt = w.account(usdc=10_000.0)
    w.ex.trade(bankrupt, "ETH", 100.0)
    shorts = {
        "hi": w.account(usdc=1_000.0),
        "mid": w.account(usdc=20_000.0),
        "lo": w.account(usdc=100_000.0),
        "loser": w.account(usdc=10_000.0),
    }
    w.ex.trade(shorts["hi"], "ETH", -10.0)
    w.ex.trade(shorts["mid"], "ETH", -50.0)
    w.ex.trade(shorts["lo"], "ETH", -100.0)
    w.oracles["ETH"].price_usd = 2_800.0
    w.ex.trade(shorts["loser"], "ETH", -20.0)  # enters below the later mark
    w.oracles["ETH"].price_usd = 2_850.0
    return w, bankrupt, shorts


def test_adl_recovers_deficit_when_insurance_empty():
    w, bankrupt, shorts = _adl_book(insurance=0.0)
    vault0 = w.ex.vault_usd
    summary = w.ex.liquidate()
    # bankruptcy price 2,850 + 5,000 / 100 = 2,900; 100 ETH of shorts close there, best first
    adl_rows = [i for i, k in enumerate(w.kinds()) if k == "ADL"]
    hit = [w.events.columns["account"][i] for i in adl_rows]
    assert hit == [shorts["hi"], shorts["mid"], shorts["lo"]]
    assert [w.events.columns["amount"][i] for i in adl_rows] == pytest.approx([10.0, 50.0, 40.0])
    assert summary.adl_volume_usd == pytest.approx(100 * 2_900.0)
    assert summary.bad_debt_usd == 0.0 and summary.insurance_paid_usd == 0.0
    assert w.ex.position(shorts["lo"], "ETH")[0] == pytest.approx(-60.0)
    assert w.ex.position(shorts["loser"], "ETH")[0] == pytest.approx(-20.0)  # losers last
    assert w.ex.collateral_of(shorts["hi"], "USDC") == pytest.approx(1_000.0 + 10 * 100.0)
    assert w.equity(bankrupt) == pytest.approx(0.0, abs=1e-6)
    assert w.ex.debt_of(bankrupt) == pytest.approx(0.0, abs=1e-9)
    assert w.ex.bad_debt_total == 0.0 and w.ex.adl_volume_total == summary.adl_volume_usd
    # the vault gained the bankrupt's 10,000 and paid the ADL'd shorts 100 x (3,000 - 2,900)
    assert w.ex.vault_usd - vault0 == pytest.approx(10_000.0 - 10_000.0, abs=1e-3)
    closing = sum(size for _, size in w.flows)
    assert closing == pytest.approx(-100.0 + 100.0)  # the long's sale and the shorts' buy-back
    w.check_invariants()


def test_insurance_then_adl_split_the_deficit():
    w, bankrupt, _ = _adl_book(insurance=2_000.0)
    summary = w.ex.liquidate()
    assert summary.insurance_paid_usd == pytest.approx(2_000.0)
    assert w.ex.insurance_fund_usd == pytest.approx(0.0)
    adl_price = 2_850.0 + 3_000.0 / 100.0
    assert summary.adl_volume_usd == pytest.approx(100 * adl_price)
    assert w.kinds().index("INSURANCE") < w.kinds().index("ADL")
    assert w.equity(bankrupt) == pytest.approx(0.0, abs=1e-6)
    w.check_invariants()


def test_bad_debt_when_no_counterparty_to_deleverage():
    w = World(insurance=0.0)
    a = w.account(usdc=10_000.0)
    w.ex.trade(a, "ETH", 100.0)  # the vault is the only short
    w.oracles["ETH"].price_usd = 2_850.0
    summary = w.ex.liquidate()
    assert summary.bad_debt_usd == pytest.approx(5_000.0)
    assert w.ex.bad_debt_total == pytest.approx(5_000.0)
    assert w.kinds()[-1] == "BAD_DEBT" and w.events.count(EventKind.ADL) == 0
    assert w.ex.debt_of(a) == 0.0 and w.equity(a) == pytest.approx(0.0, abs=1e-6)
    w.check_invariants()


def test_liquidation_sells_eth_collateral_into_spot_venue():
    w = World(insurance=1_000_000.0)
    a = w.account(eth=5.0)  # 5 x 3,000 x 0.8 = 12,000 of margin, no USDC
    w.ex.trade(a, "ETH", 100.0)
    w.oracles["ETH"].price_usd = 2_890.0  # equity 5 x 2,890 x 0.8 - 11,000 = 560 < MM 1,590
    eth_pool0 = w.ledger.balance(w.amm.holder, 1)
    summary = w.ex.liquidate()
    assert summary.n_liquidations == 1
    assert w.ex.collateral_of(a, "ETH") < 5.0
    assert w.ledger.balance(w.amm.holder, 1) - eth_pool0 == pytest.approx(
        5.0 - w.ex.collateral_of(a, "ETH")
    )
    assert w.ex.debt_of(a) == pytest.approx(0.0, abs=1e-9)
    equity, maintenance, _ = w.ex.margin_state()
    assert equity[a] >= maintenance[a] - 1e-6
    w.check_invariants()


def test_flat_account_in_deficit_goes_straight_to_insurance():
    w = World(insurance=100.0)
    a = w.account(eth=1.0)
    w.ex._debt[a] = 3_000.0  # as if left by funding; equity 2,400 - 3,000 < 0
    summary = w.ex.liquidate()
    proceeds = 3e6 * 0.997 / (1_000.0 + 0.997)  # the fake pool buys the whole ETH
    assert summary.n_liquidations == 1 and summary.volume_usd == 0.0
    assert w.ex.collateral_of(a, "ETH") == 0.0
    assert summary.insurance_paid_usd == pytest.approx(3_000.0 - proceeds)
    assert summary.bad_debt_usd == 0.0
    assert w.ex.debt_of(a) == pytest.approx(0.0, abs=1e-9)
    w.check_invariants()
