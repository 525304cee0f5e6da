"""Liquidators of the lending market: capital-limited, gas-paying, profit-seeking."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from agents.base import Participant
from protocols.types import TxStatus

if TYPE_CHECKING:
    from experiments.model import EcosystemModel

__all__ = ["Liquidator"]


class Liquidator(Participant):
    """Repays flagged debt, takes collateral at a bonus, sells it into the AMM.

    Parameters
    ----------
    capital
        Stablecoin endowment: the most debt it can repay before it has sold seized collateral.
    gas_units
        Gas one liquidation costs (Aave v3 ``liquidationCall`` plus the swap; ~75k gas more per debt
        asset, DOMAIN.md A5 [S]; the total is a parameter).
    min_profit_usd
        Profit it requires after gas and the AMM's slippage.
    max_per_step
        Liquidations it can land per step (block space and bot latency).

    Notes
    -----
    Profit of repaying ``d`` against collateral ``c`` at oracle price ``p`` is estimated as
    ``amm_out(seized) - d - gas_usd``: the AMM's real output for the seized collateral (so slippage
    and a stale oracle are priced in), minus the stablecoin repaid and gas at the current gas price
    (DOMAIN.md F: keepers act only if reward - gas - slippage > 0). A gas spike therefore makes
    small
    positions unprofitable to liquidate at exactly the moment they need it.
    """

    def __init__(
        self,
        model: EcosystemModel,
        *,
        capital: float,
        gas_units: float,
        min_profit_usd: float,
        max_per_step: int,
    ) -> None:
        super().__init__(model, period_seconds=0.0, kind="liquidator")
        self.lending = model.lending
        self.gas_units = gas_units
        self.min_profit_usd = min_profit_usd
        self.max_per_step = max_per_step
        model.endow(self.wallet, model.stable_asset, capital)
        self.profit_usd = 0.0
        self.n_liquidations = 0

    def liquidate(self, flagged: np.ndarray) -> None:
        """Try the flagged accounts, largest debt first (the most profitable), up to
        ``max_per_step`` successes in at most ``4 * max_per_step`` attempts (a bot's budget)."""
        if flagged.size == 0:
            return
        model = self.model
        ledger = model.ledger
        stable = ledger.asset_id(model.stable_asset)
        gas_usd = model.gas_cost_usd(self.gas_units)
        done = 0
        candidates = flagged[np.argsort(-self.lending.debts()[flagged], kind="stable")]
        for account in candidates[: 4 * self.max_per_step]:
            if done >= self.max_per_step:
                break
            cash = ledger.balance(self.wallet, stable)
            if cash < 1.0:
                break
            account = int(account)
            asset = self.lending.largest_collateral(account)
            if asset is None:
                continue
            debt = min(self.lending.max_liquidatable_debt(account), cash)
            if debt <= 0.0:
                continue
            seized = self.lending.preview_liquidation(account, asset, debt)
            if seized <= 0.0:
                continue
            out = model.amm(asset).quote_amount_out(asset, seized)
            if out - debt - gas_usd < self.min_profit_usd:
                continue
            result = self.lending.liquidation_call(self.wallet, account, asset, debt)
            if result.status is not TxStatus.OK:
                continue
            done += 1
            self.n_liquidations += 1
            model.pay_gas(self.wallet, gas_usd)
            status, got = model.amm(asset).swap(self.wallet, asset, result.collateral_seized)
            if status is TxStatus.OK:
                self.profit_usd += got - result.debt_repaid - gas_usd
