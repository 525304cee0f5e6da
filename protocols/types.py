"""Statuses and small records shared by protocols, kernels and the layers above.

Statuses are IntEnums (numba-compatible), never strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Protocol

__all__ = ["EventKind", "FixedPrice", "PriceFeed", "TxStatus"]


class TxStatus(IntEnum):
    """Outcome of a protocol call made by an agent. Calls return a status; they do not raise."""

    OK = 0
    INSUFFICIENT_BALANCE = 1  # the wallet lacks the tokens
    INSUFFICIENT_LIQUIDITY = 2  # the pool lacks the tokens
    HEALTH_TOO_LOW = 3  # the action would leave the account below its limit
    NOT_LIQUIDATABLE = 4
    INVALID_AMOUNT = 5
    PAUSED = 6
    SLIPPAGE = 7
    UNKNOWN_ACCOUNT = 8
    TRADING_CLOSED = 9  # series expired, inside the trading cutoff, or not listed
    LIMIT_EXCEEDED = 10  # a venue trade limit (delta, vol or skew bounds) would be broken
    QUEUED = 11  # accepted into a queue (an LP deposit or withdrawal), not yet executed


class EventKind(IntEnum):
    """Kinds of rows in the event log (events.parquet)."""

    LIQUIDATION = 0  # lending liquidation call, or a perp partial/full liquidation
    BAD_DEBT = 1  # a deficit written off (reserve or insurance fund)
    SOCIALISED_LOSS = 2  # a deficit passed to suppliers / LPs (index cut)
    ADL = 3  # auto-deleveraging of a profitable counterparty
    INSURANCE = 4  # insurance fund paid out to cover a bankrupt account
    PROPOSAL_ACCEPTED = 5
    PROPOSAL_REJECTED = 6
    PARAM_APPLIED = 7  # a queued governance change took effect
    RUN = 8  # LP/supplier withdrawal run
    BREAKER_TRIP = 9  # a venue circuit breaker tripped (detail: which one, and until when)
    SETTLEMENT = 10  # an option series expired and settled at the oracle price
    LP_DEPOSIT = 11  # an LP deposit executed (from a queue or at once)
    LP_WITHDRAWAL = 12  # an LP withdrawal executed
    HEDGE = 13  # a venue or market maker rebalanced its delta hedge


class PriceFeed(Protocol):
    """Anything a protocol can read a USD price from (an oracle, or a fixed price in tests)."""

    @property
    def price_usd(self) -> float:  # pragma: no cover - protocol
        """Latest published price in USD."""
        ...


@dataclass(slots=True)
class FixedPrice:
    """A price feed that returns what it is set to (tests, and pegged assets such as USDC)."""

    price_usd: float = 1.0
