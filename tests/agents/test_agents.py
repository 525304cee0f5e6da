"""Agent decision rules in a real (small) world."""

from __future__ import annotations

import numpy as np
import pytest

from agents import Borrower, Keeper
from experiments.model import EcosystemModel
from experiments.overrides import apply_overrides
from experiments.runner import expand
from protocols.governance import ProposalStatus


def _crash_model(small_spec, steps: int, variant: str = "static", **overrides) -> EcosystemModel:
    spec = small_spec("black-thursday-2020", steps, **overrides)
    run = next(r for r in expand(spec) if r.variant == variant)
    return EcosystemModel(run.scenario, rng=run.seed)


def test_arbitrageurs_pull_the_amm_back_to_the_reference_price(small_spec) -> None:
    model = _crash_model(small_spec, 5)
    amm = model.amm("ETH")
    # a fire sale into the pool: 3% of its ETH
    dumper = model.ledger.open_holder("test:dumper")
    eth = amm.reserves[0] * 0.03
    model.endow(dumper, "ETH", eth)
    amm.swap(dumper, "ETH", eth)
    gap_before = abs(amm.price_usd / model.market.price_usd("ETH") - 1.0)
    assert gap_before > 0.05
    model.step()
    gap_after = abs(amm.price_usd / model.market.price_usd("ETH") - 1.0)
    # within the fees (AMM 0.3% + reference 0.05%) plus the market's own move of one step
    assert gap_after < 0.01 < gap_before
    # the arbitrageurs bought the dumped ETH on the AMM and sold it on the reference market: the
    # fire sale reaches the reference price as transient impact at the next step
    assert model.market.pending_flow_usd("ETH") < 0.0
    model.step()
    assert model.market.impact("ETH") < 0.0


def test_gas_spike_stops_small_liquidations(small_spec) -> None:
    # the same crash (10:00-11:00 UTC on 2020-03-12) with real gas vs gas at 100,000 gwei
    normal = _crash_model(small_spec, 700)
    spiked = _crash_model(
        small_spec, 700, **{"scenario.gas.replay": "", "scenario.gas.synthetic.base_gwei": 1e5}
    )
    normal.run()
    spiked.run()
    n_normal = sum(liq.n_liquidations for liq in normal.liquidators)
    n_spiked = sum(liq.n_liquidations for liq in spiked.liquidators)
    assert n_normal > 0
    assert n_spiked < n_normal
    # what is not liquidated stays on the book below HF 1
    assert (
        spiked.lending.liquidatable_accounts().size >= normal.lending.liquidatable_accounts().size
    )


def test_liquidators_are_limited_by_their_capital(small_spec) -> None:
    poor = _crash_model(
        small_spec,
        660,
        **{
            "scenario.agents.liquidator_capital_median_usd": 2e3,
            "scenario.agents.liquidator_capital_sigma": 0.0,
        },
    )
    rich = _crash_model(small_spec, 660)
    poor.run()
    rich.run()
    stable = poor.ledger.asset_id("USDC")
    for liq in poor.liquidators:
        assert poor.ledger.balance(liq.wallet, stable) >= 0.0
    volume = {m: m.recorder.frame()["lending_liquidation_volume_usd"].sum() for m in (poor, rich)}
    assert 0.0 < volume[poor] < volume[rich]


@pytest.mark.parametrize("recalibrate", [False, True])
def test_keepers_recalibrate_only_when_enabled_and_within_guards(small_spec, recalibrate) -> None:
    model = _crash_model(small_spec, 900, "recalibrated" if recalibrate else "static")
    model.run()
    mm = model.recorder.frame()["perp_mm_scale"].to_numpy()
    guard = model.spec.governance.guard("perp.mm_scale")
    keepers = model.agents_by_type[Keeper]
    forecasts = [k.vol_ratio() for k in keepers]
    assert min(forecasts) > 1.5  # the crash is seen by every keeper's EWMA
    if not recalibrate:
        assert np.all(mm == 1.0) and model.governance.n_accepted == 0
        return
    assert mm.max() > 1.5  # margins rose with the forecast
    assert np.all((mm >= guard.min_value) & (mm <= guard.max_value))
    changes = mm[1:] / mm[:-1] - 1.0
    assert np.all(np.abs(changes) <= guard.max_change_frac + 1e-9)
    statuses = {s for k in keepers for s in k.statuses}
    assert ProposalStatus.QUEUED in statuses


def test_borrowers_loop_into_the_amm_and_suppliers_fund_them(small_spec) -> None:
    spec = apply_overrides(small_spec("baseline", 1), {"scenario.agents.borrower_loop_frac": 1.0})
    run = expand(spec)[0]
    model = EcosystemModel(run.scenario, rng=run.seed)
    lending = model.lending
    assert lending.total_supplied > lending.total_debt > 0
    endowed = {e.holder: e.amount for e in model.ledger.events if e.reason == "endowment"}
    ratios = []
    for b in model.agents_by_type[Borrower]:
        assert b.loops >= 1
        held = lending.collateral_of(b.account, b.collateral_asset)
        ratios.append(held / endowed[model.ledger.holder_name(b.wallet)])
    # borrowing >= 40% of the collateral and buying more with it: at least 1.3x the endowment
    assert np.median(ratios) > 1.3
    assert min(ratios) >= 1.0 - 1e-12
