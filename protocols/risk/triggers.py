"""Recalibration triggers: pure functions of public venue state that say when to act now.

Three triggers (the issue's defaults; thresholds are levers, not venue facts):

- **oracle move**: the oracle moved more than ``x`` (1%) within a window (5 minutes);
- **insurance fund low**: the perp insurance fund is below ``y`` (5%) of the collateral it backs;
- **open-interest skew**: ``|long - short| / (long + short)`` of a market above ``z``.

They are the inputs of the circuit-breaker policy (DOMAIN.md G3: Lyra's breakers watch liquidity
and volatility, Binance changes tiers "in extreme price movements" [S]) and are reported to every
policy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntFlag

__all__ = [
    "Trigger",
    "TriggerParams",
    "VenueSnapshot",
    "evaluate_triggers",
    "insurance_frac",
    "oi_skew",
    "oracle_move_frac",
]


class Trigger(IntFlag):
    """Which triggers fired (a bit set; ``Trigger.NONE`` when none did)."""

    NONE = 0
    ORACLE_MOVE = 1
    INSURANCE_LOW = 2
    OI_SKEW = 4


@dataclass(frozen=True, slots=True, kw_only=True)
class TriggerParams:
    """Thresholds of the triggers (``inf`` disables one; ``insurance_floor_frac = 0`` too).

    Parameters
    ----------
    oracle_move_frac
        Largest tolerated relative move of an oracle price within ``oracle_window_seconds``.
    oracle_window_seconds
        Look-back of the oracle-move trigger.
    insurance_floor_frac
        The trigger fires when the insurance fund is below this fraction of the collateral.
    oi_skew_max
        The trigger fires when a market's open-interest skew magnitude exceeds this (in [0, 1];
        the default 0.9 is a calibration [R]: agent books in a crash are often 0.5-0.9 one-sided).
    """

    oracle_move_frac: float = 0.01
    oracle_window_seconds: float = 300.0
    insurance_floor_frac: float = 0.05
    oi_skew_max: float = 0.9

    def __post_init__(self) -> None:
        if not self.oracle_move_frac > 0.0:
            raise ValueError(
                f"TriggerParams.oracle_move_frac: must be > 0, got {self.oracle_move_frac}"
            )
        if not (math.isfinite(self.oracle_window_seconds) and self.oracle_window_seconds > 0.0):
            raise ValueError(
                "TriggerParams.oracle_window_seconds: must be finite and > 0, "
                f"got {self.oracle_window_seconds}"
            )
        if not 0.0 <= self.insurance_floor_frac < 1.0:
            raise ValueError(
                "TriggerParams.insurance_floor_frac: must be in [0, 1), "
                f"got {self.insurance_floor_frac}"
            )
        if not self.oi_skew_max >= 0.0:
            raise ValueError(f"TriggerParams.oi_skew_max: must be >= 0, got {self.oi_skew_max}")


@dataclass(frozen=True, slots=True, kw_only=True)
class VenueSnapshot:
    """Public state of a margin venue that triggers and policies read (one step).

    Parameters
    ----------
    insurance_fund_usd, collateral_usd
        The insurance fund and the collateral (positive account equity) it backs.
    oi_skew
        Signed open-interest skew of the most skewed market, in [-1, 1].
    concentration
        Largest account's share of the venue's total maintenance margin, in [0, 1].
    """

    insurance_fund_usd: float
    collateral_usd: float
    oi_skew: float = 0.0
    concentration: float = 0.0


def oracle_move_frac(prices_usd: Sequence[float]) -> float:
    """Largest relative move of the last price against any earlier price of the window.

    ``max_i |p_last / p_i - 1|`` over the prices of the window, oldest first; 0 for fewer than
    two prices.
    """
    n = len(prices_usd)
    if n < 2:
        return 0.0
    last = prices_usd[-1]
    return max(abs(last / prices_usd[i] - 1.0) for i in range(n - 1))


def oi_skew(long_usd: float, short_usd: float) -> float:
    """Signed open-interest skew ``(long - short) / (long + short)`` in [-1, 1]; 0 with no OI."""
    total = long_usd + short_usd
    return 0.0 if total <= 0.0 else (long_usd - short_usd) / total


def insurance_frac(fund_usd: float, collateral_usd: float) -> float:
    """Insurance fund as a fraction of the collateral it backs (``inf`` with no collateral)."""
    return math.inf if collateral_usd <= 0.0 else fund_usd / collateral_usd


def evaluate_triggers(
    params: TriggerParams,
    *,
    oracle_move: float,
    insurance: float,
    skew: float,
) -> Trigger:
    """The triggers that fire for the observed oracle move (fraction), insurance fraction and
    open-interest skew (signed or magnitude; the largest over markets)."""
    fired = Trigger.NONE
    if oracle_move > params.oracle_move_frac:
        fired |= Trigger.ORACLE_MOVE
    if insurance < params.insurance_floor_frac:
        fired |= Trigger.INSURANCE_LOW
    if abs(skew) > params.oi_skew_max:
        fired |= Trigger.OI_SKEW
    return fired
