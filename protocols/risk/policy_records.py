"""Records a recalibration policy exchanges: its inputs, its memory and its decision."""

from __future__ import annotations

import math
from dataclasses import dataclass

from protocols.risk.triggers import Trigger

__all__ = ["Decision", "PolicyInputs", "PolicyMemory"]


@dataclass(frozen=True, slots=True, kw_only=True)
class PolicyInputs:
    """What a policy sees at one decision.

    Parameters
    ----------
    time_seconds
        Wall-clock time of the decision.
    current_scale
        Current governed margin scale (the last accepted value, maybe still time-locked).
    vol_ratio
        Forecast volatility over the margin horizon / the volatility the static margins assume
        (worst watched asset).
    vol_of_vol
        Relative uncertainty of the forecast over the horizon (sd of log forecast changes).
    triggers
        Triggers that fired (:mod:`protocols.risk.triggers`).
    concentration
        Largest account's share of the venue's maintenance margin, in [0, 1].
    last_change_seconds
        Time of the last accepted change of the margin scale (0 if none).
    """

    time_seconds: float
    current_scale: float
    vol_ratio: float
    vol_of_vol: float = 0.0
    triggers: Trigger = Trigger.NONE
    concentration: float = 0.0
    last_change_seconds: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class PolicyMemory:
    """State a policy carries from one decision to the next (NaN: not started)."""

    last_update_seconds: float = math.nan
    breaker_until_seconds: float = -math.inf
    peak_vol_ratio: float = 0.0
    last_vol_ratio: float = math.nan
    buffer_frac: float = math.nan
    buffer_seconds: float = math.nan
    ramp_start_seconds: float = math.nan
    ramp_from_scale: float = math.nan
    ramp_target_scale: float = math.nan


@dataclass(frozen=True, slots=True)
class Decision:
    """A policy's output: the proposed margin scale (``inf`` = the safest bound)."""

    scale: float
    memory: PolicyMemory
    emergency: bool = False
    reason: str = "hold"
