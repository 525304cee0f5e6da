"""Parameters of :class:`protocols.governance.Governance`: per-parameter guardrails (hard bounds,
change limit, minimum interval, safer direction) and the time-lock, race window, staleness limit and
emergency cooldown. Frozen, keyword-only, validated on construction."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

__all__ = ["GovernanceParams", "GuardedParam"]


@dataclass(frozen=True, slots=True, kw_only=True)
class GuardedParam:
    """Hard bounds and rate limits of one governed parameter.

    Parameters
    ----------
    name
        Dotted name, ``"<protocol>.<field>"``.
    min_value, max_value
        Hard bounds; a proposal outside them is rejected (never clamped silently).
    max_change_frac
        Largest relative change per accepted update, ``|new/current - 1|``.
    min_interval_seconds
        Shortest time between two accepted updates of this parameter (a debounce).
    safer_direction
        ``+1`` if raising the parameter makes the venue safer (a margin multiplier), ``-1`` if
        lowering it does (an LTV multiplier). The emergency path may only move it that way.
    """

    name: str
    min_value: float
    max_value: float
    max_change_frac: float = 0.5
    min_interval_seconds: float = 3600.0
    safer_direction: int = 1

    def __post_init__(self) -> None:
        if not self.name or "." not in self.name:
            raise ValueError(f"GuardedParam.name: must be '<protocol>.<field>', got {self.name!r}")
        if not (math.isfinite(self.min_value) and math.isfinite(self.max_value)):
            raise ValueError(f"GuardedParam({self.name}).min_value/max_value: must be finite")
        if self.min_value > self.max_value:
            raise ValueError(
                f"GuardedParam({self.name}).min_value: must be <= max_value, "
                f"got {self.min_value} > {self.max_value}"
            )
        if not self.max_change_frac > 0.0:
            raise ValueError(
                f"GuardedParam({self.name}).max_change_frac: must be > 0, "
                f"got {self.max_change_frac}"
            )
        if self.min_interval_seconds < 0.0:
            raise ValueError(
                f"GuardedParam({self.name}).min_interval_seconds: must be >= 0, "
                f"got {self.min_interval_seconds}"
            )
        if self.safer_direction not in (-1, 1):
            raise ValueError(
                f"GuardedParam({self.name}).safer_direction: must be -1 or +1, "
                f"got {self.safer_direction}"
            )


def _default_guards() -> tuple[GuardedParam, ...]:
    return (
        GuardedParam(
            name="perp.mm_scale",
            min_value=0.5,
            max_value=5.0,
            max_change_frac=0.5,
            min_interval_seconds=1800.0,
        ),
        GuardedParam(
            name="lending.ltv_scale",
            min_value=0.5,
            max_value=1.0,
            max_change_frac=0.1,
            min_interval_seconds=3600.0,
            safer_direction=-1,
        ),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class GovernanceParams:
    """Time-lock and guardrails.

    Parameters
    ----------
    timelock_seconds
        Delay between acceptance and effect (Aave's short executor waits 1 day [R], Compound's
        Timelock at least 2 days [S]; real-time recalibration studies minutes to hours).
    guards
        One :class:`GuardedParam` per governed parameter.
    window_seconds
        Length of a race window: of the proposals for one parameter computed from data of the same
        window, the first valid arrival wins and later ones are ``WINDOW_TAKEN``.
    max_staleness_seconds
        Oldest data a proposal may be computed from (arrival step minus the signed step); Chainlink
        consumers likewise reject rounds older than the heartbeat (DOMAIN.md F [S]).
    emergency_cooldown_seconds
        Shortest time between two emergency changes of one parameter.
    """

    timelock_seconds: float = 1800.0
    guards: tuple[GuardedParam, ...] = field(default_factory=_default_guards)
    window_seconds: float = 600.0
    max_staleness_seconds: float = 300.0
    emergency_cooldown_seconds: float = 3600.0

    def __post_init__(self) -> None:
        if self.timelock_seconds < 0.0:
            raise ValueError(
                f"GovernanceParams.timelock_seconds: must be >= 0, got {self.timelock_seconds}"
            )
        for name in ("window_seconds", "max_staleness_seconds"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0.0):
                raise ValueError(f"GovernanceParams.{name}: must be finite and > 0, got {v}")
        if self.emergency_cooldown_seconds < 0.0:
            raise ValueError(
                "GovernanceParams.emergency_cooldown_seconds: must be >= 0, "
                f"got {self.emergency_cooldown_seconds}"
            )
        names = [g.name for g in self.guards]
        if len(set(names)) != len(names):
            raise ValueError(f"GovernanceParams.guards: names must be unique, got {names}")

    def guard(self, name: str) -> GuardedParam | None:
        """The guard of ``name``, or None."""
        for g in self.guards:
            if g.name == name:
                return g
        return None
