"""Arbitrageurs: pull each AMM toward the reference price, offsetting on the reference market."""

from __future__ import annotations

from typing import TYPE_CHECKING

from agents.base import Participant
from protocols.types import TxStatus

if TYPE_CHECKING:
    from experiments.model import EcosystemModel

__all__ = ["Arbitrageur"]


class Arbitrageur(Participant):
    """Trades the AMM to the reference price when the gap pays for fees, slippage and gas.

    Parameters
    ----------
    capital_usd
        Inventory, half in the stablecoin and half in each base asset at the start.
    gas_units
        Gas of one swap (a Uniswap v2 swap is ~100-150k gas [R]).
    min_profit_usd
        Profit required after fees and gas.

    Notes
    -----
    The trade size maximises profit against ``p_ref * (1 -/+ f_ref)``, the price the offsetting
    trade on the reference market (fee ``f_ref``) gets; the AMM's own fee is in the closed form
    (``ConstantProductAMM.arbitrage_amount_in``). The offsetting trade is real order flow on
    the reference market, so a fire sale into the
    AMM reaches the reference price through the arbitrageurs (transient impact).
    """

    def __init__(
        self,
        model: EcosystemModel,
        *,
        capital_usd: float,
        gas_units: float,
        min_profit_usd: float,
    ) -> None:
        super().__init__(model, period_seconds=0.0, kind="arbitrageur")
        self.gas_units = gas_units
        self.min_profit_usd = min_profit_usd
        n = len(model.base_assets)
        model.endow(self.wallet, model.stable_asset, 0.5 * capital_usd)
        for asset in model.base_assets:
            model.endow(self.wallet, asset, 0.5 * capital_usd / n / model.market.price_usd(asset))
        self.profit_usd = 0.0

    def act(self) -> None:
        """One pass over the AMMs."""
        model = self.model
        ledger = model.ledger
        market = model.market
        fee_ref = market.params.fee_frac
        gas_usd = model.gas_cost_usd(self.gas_units)
        for asset in model.base_assets:
            amm = model.amm(asset)
            p_ref = market.price_usd(asset)
            p_amm = amm.price_usd
            # the price the offsetting trade on the reference market actually gets
            effective_ref = p_ref * (1.0 - fee_ref) if p_amm < p_ref else p_ref * (1.0 + fee_ref)
            asset_in, amount_in = amm.arbitrage_amount_in(effective_ref)
            if amount_in <= 0.0:
                continue
            amount_in = min(amount_in, ledger.balance(self.wallet, ledger.asset_id(asset_in)))
            if amount_in <= 0.0:
                continue
            out = amm.quote_amount_out(asset_in, amount_in)
            if asset_in == asset:  # sell base on the AMM, buy it back on the market
                profit = out - amount_in * p_ref * (1.0 + fee_ref)
            else:  # buy base on the AMM, sell it on the market
                profit = out * p_ref * (1.0 - fee_ref) - amount_in
            if profit - gas_usd < self.min_profit_usd:
                continue
            status, out = amm.swap(self.wallet, asset_in, amount_in)
            if status is not TxStatus.OK:
                continue
            if asset_in == asset:
                market.trade(self.wallet, asset, amount_in)
            else:
                market.trade(self.wallet, asset, -out)
            model.pay_gas(self.wallet, gas_usd)
            self.profit_usd += profit - gas_usd
