"""Lending borrowers: plain collateralised borrowers and leverage loopers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from agents.base import Participant
from protocols.types import TxStatus

if TYPE_CHECKING:
    from experiments.model import EcosystemModel

__all__ = ["Borrower"]


class Borrower(Participant):
    """Deposits a volatile collateral asset and borrows the stablecoin against it.

    Parameters
    ----------
    collateral_asset
        ``"ETH"`` or ``"BTC"``.
    collateral_amount
        Endowment, in units of the collateral asset.
    target_ltv_frac
        Fraction of the maximum LTV the borrower aims for (``0.8`` = borrow 80% of the limit).
    loops
        Number of leverage loops: borrow, swap the stablecoin for collateral on the AMM, deposit
        again. ``0`` for a plain borrower, whose borrowed stablecoin stays in its wallet.
    attentive
        An attentive borrower repays from its wallet when its health factor falls below
        ``defend_hf``; an inattentive one does nothing and is liquidated.

    Notes
    -----
    Borrowers re-lever when a rally lifts their health factor above ``relever_hf`` (procyclical
    leverage, the fuel of cascades) and defend below ``defend_hf`` if attentive and liquid.
    """

    def __init__(
        self,
        model: EcosystemModel,
        *,
        period_seconds: float,
        collateral_asset: str,
        collateral_amount: float,
        target_ltv_frac: float,
        loops: int,
        attentive: bool,
        defend_hf: float = 1.08,
        relever_hf: float = 1.6,
    ) -> None:
        super().__init__(model, period_seconds=period_seconds, kind="borrower")
        self.collateral_asset = collateral_asset
        self.target_ltv_frac = target_ltv_frac
        self.loops = loops
        self.attentive = attentive
        self.defend_hf = defend_hf
        self.relever_hf = relever_hf
        self.lending = model.lending
        self.account = self.lending.open_account(self.wallet)
        model.endow(self.wallet, collateral_asset, collateral_amount)
        self.opened = False

    def _borrow_to_target(self) -> float:
        """Borrow up to the target fraction of the current limit; returns the amount borrowed."""
        available = float(self.lending.available_borrows_usd()[self.account])
        debt = self.lending.debt_of(self.account)
        room = self.target_ltv_frac * (available + debt) - debt
        if room <= 1.0:
            return 0.0
        room = min(room, 0.98 * self.lending.available_liquidity)
        if room <= 1.0:
            return 0.0
        return room if self.lending.borrow(self.account, room) is TxStatus.OK else 0.0

    def _deposit_all(self) -> None:
        ledger = self.model.ledger
        amount = ledger.balance(self.wallet, ledger.asset_id(self.collateral_asset))
        if amount > 0.0:
            self.lending.deposit(self.account, self.collateral_asset, amount)

    def _lever_up(self) -> None:
        borrowed = self._borrow_to_target()
        for _ in range(self.loops):
            if borrowed <= 1.0:
                break
            status, _ = self.model.amm(self.collateral_asset).swap(
                self.wallet, self.model.stable_asset, borrowed
            )
            if status is not TxStatus.OK:
                break
            self._deposit_all()
            borrowed = self._borrow_to_target()

    def act(self) -> None:
        """Open the position on the first activation; later defend or re-lever."""
        if not self.opened:
            self._deposit_all()
            self._lever_up()
            self.opened = True
            return
        hf = self.lending.health_factor(self.account)
        if hf < self.defend_hf and self.attentive:
            ledger = self.model.ledger
            cash = ledger.balance(self.wallet, ledger.asset_id(self.model.stable_asset))
            if cash > 0.0:
                self.lending.repay(self.account, min(cash, self.lending.debt_of(self.account)))
        elif hf > self.relever_hf:
            self._lever_up()
