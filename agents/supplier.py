"""Stablecoin suppliers of the lending market, who run when utilisation or losses rise."""

from __future__ import annotations

from typing import TYPE_CHECKING

from agents.base import Participant
from protocols.types import EventKind, TxStatus

if TYPE_CHECKING:
    from experiments.model import EcosystemModel

__all__ = ["Supplier"]


class Supplier(Participant):
    """Supplies the stablecoin to the lending market for its receipt token.

    Parameters
    ----------
    amount
        Endowment in the stablecoin, supplied at the first activation.
    run_utilisation
        Utilisation above which the supplier withdraws all it can (fear of being locked in).
    run_loss_frac
        A fall of the receipt token's value by more than this fraction from its peak (socialised
        bad debt) also triggers a run.
    return_utilisation
        A supplier that ran comes back when utilisation is below this and no loss is recent.
    """

    def __init__(
        self,
        model: EcosystemModel,
        *,
        period_seconds: float,
        amount: float,
        run_utilisation: float,
        run_loss_frac: float,
        return_utilisation: float,
    ) -> None:
        super().__init__(model, period_seconds=period_seconds, kind="supplier")
        self.lending = model.lending
        self.run_utilisation = run_utilisation
        self.run_loss_frac = run_loss_frac
        self.return_utilisation = return_utilisation
        model.endow(self.wallet, model.stable_asset, amount)
        self.peak_share_price = 0.0
        self.has_run = False

    def _shares(self) -> float:
        ledger = self.model.ledger
        return ledger.balance(self.wallet, ledger.asset_id(self.lending.receipt_asset))

    def act(self) -> None:
        """Supply, run, or come back."""
        lending = self.lending
        price = lending.share_price_usd
        self.peak_share_price = max(self.peak_share_price, price)
        loss = 1.0 - price / self.peak_share_price
        shares = self._shares()
        if shares > 0.0 and (
            lending.utilisation > self.run_utilisation or loss > self.run_loss_frac
        ):
            status, amount = lending.withdraw_supply(self.wallet, shares)
            if amount > 0.0:
                self.has_run = True
                self.model.events.record(
                    EventKind.RUN,
                    lending.name,
                    asset=self.model.stable_asset,
                    amount=amount,
                    value_usd=amount,
                    detail=f"supplier={self.unique_id} status={status.name}",
                )
            return
        if self.has_run and (lending.utilisation > self.return_utilisation or loss > 0.0):
            return
        ledger = self.model.ledger
        cash = ledger.balance(self.wallet, ledger.asset_id(self.model.stable_asset))
        if cash > 1.0:
            status, _ = lending.supply(self.wallet, cash)
            if status is TxStatus.OK:
                self.has_run = False
