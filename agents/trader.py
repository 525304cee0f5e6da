"""Leveraged perp traders: trend followers, mean reverters and noise traders."""

from __future__ import annotations

from enum import IntEnum
from typing import TYPE_CHECKING

from agents.base import Participant
from protocols.types import TxStatus

if TYPE_CHECKING:
    from experiments.model import EcosystemModel

__all__ = ["PerpTrader", "Strategy"]


class Strategy(IntEnum):
    """How a trader turns the shared price signals into a direction."""

    TREND = 0
    MEAN_REVERSION = 1
    NOISE = 2


class PerpTrader(Participant):
    """Holds one cross-margined perp account and trades one market toward a target position.

    Parameters
    ----------
    market
        Asset of the perp market traded (``"ETH"``).
    strategy
        Decision rule (see :class:`Strategy`).
    leverage
        Target gross leverage, ``|size| * price / equity``.
    collateral_asset
        ``"USDC"``, or the base asset for multi-asset-mode traders (their collateral is sold into
        the AMM when they are liquidated).
    collateral_amount
        Endowment deposited at the first activation, in units of ``collateral_asset``.

    Notes
    -----
    Direction: trend followers go with the sign of the fast-minus-slow EMA gap of the oracle price;
    mean reverters fade gaps wider than ``band_frac``; noise traders flip a coin. The target size is
    ``direction * leverage * equity / mark``; the trader trades only when it differs from the
    current size by more than 10% of the target, so trading is lumpy as on real venues. A trader
    whose equity
    falls below ``stop_frac`` of its deposit closes out and stays flat (it has lost interest).
    """

    def __init__(
        self,
        model: EcosystemModel,
        *,
        period_seconds: float,
        market: str,
        strategy: Strategy,
        leverage: float,
        collateral_asset: str,
        collateral_amount: float,
        band_frac: float = 0.01,
        stop_frac: float = 0.3,
    ) -> None:
        super().__init__(model, period_seconds=period_seconds, kind="trader")
        self.market = market
        self.strategy = strategy
        self.leverage = leverage
        self.collateral_asset = collateral_asset
        self.band_frac = band_frac
        self.stop_frac = stop_frac
        self.perp = model.perp
        self.account = self.perp.open_account(self.wallet)
        model.endow(self.wallet, collateral_asset, collateral_amount)
        self.deposit_value_usd = 0.0
        self.stopped = False

    def _direction(self) -> float:
        fast, slow = self.model.signal(self.market)
        gap = fast / slow - 1.0
        if self.strategy is Strategy.TREND:
            return 1.0 if gap > 0.0 else -1.0
        if self.strategy is Strategy.MEAN_REVERSION:
            if gap > self.band_frac:
                return -1.0
            if gap < -self.band_frac:
                return 1.0
            return 0.0
        return 1.0 if self.model.random.random() < 0.5 else -1.0

    def act(self) -> None:
        """Deposit on the first activation, then trade toward the target position."""
        perp = self.perp
        if self.deposit_value_usd == 0.0:
            ledger = self.model.ledger
            amount = ledger.balance(self.wallet, ledger.asset_id(self.collateral_asset))
            if perp.deposit(self.account, self.collateral_asset, amount) is TxStatus.OK:
                self.deposit_value_usd = amount * self.model.oracle_price(self.collateral_asset)
            return
        if self.stopped:
            return
        equity = perp.account_equity_usd(self.account)
        size, _ = perp.position(self.account, self.market)
        if equity <= self.stop_frac * self.deposit_value_usd:
            if size != 0.0:
                perp.trade(self.account, self.market, -size)
            self.stopped = True
            return
        mark = perp.mark_price(self.market)
        target = self._direction() * self.leverage * equity / mark
        delta = target - size
        if abs(delta) * mark < 0.1 * max(abs(target) * mark, 0.1 * equity):
            return
        status, _ = perp.trade(self.account, self.market, delta)
        if status is TxStatus.HEALTH_TOO_LOW:
            # Too much for the margin left: halve the step once (traders resize, they do not spin).
            perp.trade(self.account, self.market, 0.5 * delta)
