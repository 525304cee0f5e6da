"""Liquidity providers of the options AMM, who withdraw when pool risk or losses rise."""

from __future__ import annotations

import math
from enum import IntEnum
from typing import TYPE_CHECKING

from agents.base import Participant
from protocols.perp_params import SETTLEMENT_ASSET
from protocols.types import EventKind, TxStatus

if TYPE_CHECKING:
    from experiments.model import EcosystemModel

__all__ = ["ExitReason", "OptionsLP"]


class ExitReason(IntEnum):
    """Why an LP asked for its money back."""

    NONE = 0
    DRAWDOWN = 1  # share price fell too far from its peak since the deposit
    DELTA = 2  # the pool's unhedged delta is too large a share of its NAV
    BREAKER = 3  # a circuit breaker of the pool tripped


class OptionsLP(Participant):
    """Deposits USDC into ``model.options_amm`` and withdraws all of it when risk or losses rise.

    Parameters
    ----------
    capital_usd
        USDC endowment, deposited (a queued request, Lyra v1 style) at the first activation.
    max_drawdown_frac
        Withdraw when the share price has fallen more than this from its peak since the LP first
        held shares.
    max_delta_frac
        Withdraw when ``|net_delta_base * S| / NAV`` of the pool exceeds this (the pool's hedge
        has fallen behind, or the hedge venue refused it).
    exit_on_breaker
        Withdraw when a circuit breaker of the pool is active. Lyra queues withdrawals while a
        breaker is active, so this LP only joins the queue early: it is a stand-in for LPs who
        read a breaker as a warning.

    Notes
    -----
    The withdrawal is requested once (all shares held) and the LP does not come back: LP flows in
    a stress are one-way on the time scale of a run. :attr:`exit_reason` says why it left and
    :attr:`exit_step` when.
    """

    def __init__(
        self,
        model: EcosystemModel,
        *,
        period_seconds: float,
        capital_usd: float,
        max_drawdown_frac: float,
        max_delta_frac: float,
        exit_on_breaker: bool = True,
    ) -> None:
        name = type(self).__name__
        if not (math.isfinite(capital_usd) and capital_usd > 0.0):
            raise ValueError(f"{name}.capital_usd: must be > 0, got {capital_usd!r}")
        if not 0.0 < max_drawdown_frac < 1.0:
            raise ValueError(
                f"{name}.max_drawdown_frac: must be in (0, 1), got {max_drawdown_frac}"
            )
        if not (math.isfinite(max_delta_frac) and max_delta_frac > 0.0):
            raise ValueError(f"{name}.max_delta_frac: must be > 0, got {max_delta_frac!r}")
        super().__init__(model, period_seconds=period_seconds, kind="options_lp")
        self.amm = model.options_amm
        self.max_drawdown_frac = max_drawdown_frac
        self.max_delta_frac = max_delta_frac
        self.exit_on_breaker = exit_on_breaker
        model.endow(self.wallet, SETTLEMENT_ASSET, capital_usd)
        self.capital_usd = capital_usd
        self.deposit_status: TxStatus | None = None
        self.peak_share_price_usd = 0.0
        self.exit_reason = ExitReason.NONE
        self.exit_step = -1

    def shares(self) -> float:
        """LP shares held in the wallet."""
        ledger = self.model.ledger
        return ledger.balance(self.wallet, ledger.asset_id(self.amm.lp_asset))

    def drawdown_frac(self) -> float:
        """Fall of the share price from its peak since the LP held shares (0 before)."""
        if self.peak_share_price_usd <= 0.0:
            return 0.0
        return 1.0 - self.amm.share_price_usd / self.peak_share_price_usd

    def delta_frac(self) -> float:
        """``|net delta| * S / NAV`` of the pool (``inf`` at zero NAV)."""
        amm = self.amm
        nav = float(amm.nav_usd)
        exposure = abs(float(amm.net_delta_base)) * self.model.oracle_price(amm.asset)
        return exposure / nav if nav > 0.0 else math.inf

    def _reason(self) -> ExitReason:
        if self.drawdown_frac() > self.max_drawdown_frac:
            return ExitReason.DRAWDOWN
        if self.delta_frac() > self.max_delta_frac:
            return ExitReason.DELTA
        if self.exit_on_breaker and self.amm.breaker_active(self.model.steps):
            return ExitReason.BREAKER
        return ExitReason.NONE

    def act(self) -> None:
        """Deposit once; then watch the pool and withdraw everything when a limit breaks."""
        amm = self.amm
        if self.deposit_status is None:
            self.deposit_status = amm.request_deposit(self.wallet, self.capital_usd)
            return
        if self.exit_reason is not ExitReason.NONE:
            return
        shares = self.shares()
        if shares <= 0.0:
            return  # the deposit is still queued
        self.peak_share_price_usd = max(self.peak_share_price_usd, float(amm.share_price_usd))
        reason = self._reason()
        if reason is ExitReason.NONE:
            return
        status = amm.request_withdrawal(self.wallet, shares)
        self.exit_reason, self.exit_step = reason, self.model.steps
        self.model.events.record(
            EventKind.RUN,
            amm.name,
            asset=amm.lp_asset,
            amount=shares,
            value_usd=shares * float(amm.share_price_usd),
            detail=f"options_lp={self.unique_id} reason={reason.name} status={status.name}",
        )
