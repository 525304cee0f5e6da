import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.ledger import ConservationError, Ledger, LedgerError


def make() -> tuple[Ledger, list[int]]:
    ledger = Ledger(("USDC", "ETH"))
    holders = [ledger.open_holder(f"h{i}") for i in range(4)]
    return ledger, holders


def test_ledger_transfer_moves_and_counts() -> None:
    ledger, (a, b, *_) = make()
    usdc = ledger.asset_id("USDC")
    ledger.mint(a, usdc, 100.0, "test")
    assert ledger.transfer(a, b, usdc, 40.0) == 40.0
    assert ledger.balance(a, usdc) == 60.0 and ledger.balance(b, usdc) == 40.0
    assert ledger.transfer_count == 1
    assert ledger.supply(usdc) == 100.0


def test_ledger_overdraft_raises_and_changes_nothing() -> None:
    ledger, (a, b, *_) = make()
    usdc = ledger.asset_id("USDC")
    ledger.mint(a, usdc, 10.0, "test")
    with pytest.raises(LedgerError, match="h0 holds 10"):
        ledger.transfer(a, b, usdc, 11.0)
    assert ledger.balance(a, usdc) == 10.0 and ledger.balance(b, usdc) == 0.0


def test_ledger_dust_overdraft_moves_whole_balance() -> None:
    ledger, (a, b, *_) = make()
    usdc = ledger.asset_id("USDC")
    ledger.mint(a, usdc, 0.1 + 0.2, "test")
    moved = ledger.transfer(a, b, usdc, 0.30000000000000004 * (1 + 1e-12))
    assert moved == pytest.approx(0.3) and ledger.balance(a, usdc) == 0.0


def test_ledger_rejects_negative_and_nan_amounts() -> None:
    ledger, (a, b, *_) = make()
    usdc = ledger.asset_id("USDC")
    for bad in (-1.0, math.nan, math.inf):
        with pytest.raises(LedgerError, match="amount must be finite and >= 0"):
            ledger.transfer(a, b, usdc, bad)
        with pytest.raises(LedgerError, match="amount must be finite and >= 0"):
            ledger.mint(a, usdc, bad, "x")


def test_ledger_unknown_names_are_clear_errors() -> None:
    ledger, _ = make()
    with pytest.raises(LedgerError, match="unknown asset 'BTC'"):
        ledger.asset_id("BTC")
    with pytest.raises(LedgerError, match="unknown holder 'nobody'"):
        ledger.holder_id("nobody")
    with pytest.raises(LedgerError, match="already exists"):
        ledger.open_holder("h0")


def test_ledger_mints_and_burns_are_recorded_events() -> None:
    ledger, (a, *_) = make()
    eth = ledger.asset_id("ETH")
    ledger.step = 7
    ledger.mint(a, eth, 5.0, "endowment")
    ledger.burn(a, eth, 2.0, "repay")
    assert [(e.step, e.holder, e.asset, e.amount, e.reason) for e in ledger.events] == [
        (7, "h0", "ETH", 5.0, "endowment"),
        (7, "h0", "ETH", -2.0, "repay"),
    ]
    assert ledger.supply(eth) == 3.0
    ledger.check_conservation()


def test_ledger_check_conservation_detects_tampering() -> None:
    ledger, (a, *_) = make()
    usdc = ledger.asset_id("USDC")
    ledger.mint(a, usdc, 5.0, "x")
    ledger._balances[usdc][a] += 1.0  # money from nowhere
    with pytest.raises(ConservationError, match="USDC"):
        ledger.check_conservation()


ops = st.lists(
    st.tuples(
        st.sampled_from(["mint", "burn", "transfer"]),
        st.integers(0, 3),
        st.integers(0, 3),
        st.integers(0, 1),
        st.floats(0.0, 1e9, allow_nan=False),
    ),
    max_size=200,
)


@settings(max_examples=200, deadline=None)
@given(ops)
def test_ledger_conserves_under_any_sequence(sequence) -> None:
    ledger, holders = make()
    for op, i, j, asset, amount in sequence:
        try:
            if op == "mint":
                ledger.mint(holders[i], asset, amount, "p")
            elif op == "burn":
                ledger.burn(holders[i], asset, amount, "p")
            else:
                ledger.transfer(holders[i], holders[j], asset, amount)
        except LedgerError:
            pass  # an overdraft is refused and changes nothing
        ledger.check_conservation()
    for asset in (0, 1):
        assert min(ledger.balances_of_asset(asset)) >= 0.0
