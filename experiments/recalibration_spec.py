"""Declaration of a scenario's recalibration: the policy, its options and triggers, the forecaster,
and the keepers that race to propose (honest latencies, faulty kinds).

``ScenarioSpec.recalibration`` holds one :class:`RecalibrationSpec`; its fields are addressed by
dotted path like every other spec field (``recalibration.policy=damping``,
``recalibration.damping.half_life_seconds=1800``, ``recalibration.options.apc=buffer``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from agents.faulty_keeper import Fault
from experiments.overrides import require as _require
from protocols.risk.forecaster import FORECASTERS
from protocols.risk.policies import (
    POLICIES,
    BreakerParams,
    DampingParams,
    PolicyOptions,
    PredictiveParams,
    ScheduledParams,
    StaticParams,
)
from protocols.risk.triggers import TriggerParams

__all__ = ["FAULT_NAMES", "RecalibrationSpec"]

FAULT_NAMES: dict[str, Fault] = {f.name.lower(): f for f in Fault}
"""Faulty keeper kinds by spec name: ``stale``, ``out_of_bounds``, ``forged``, ``replay``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RecalibrationSpec:
    """How a scenario's risk parameters are recalibrated.

    Parameters
    ----------
    policy
        One of :data:`protocols.risk.policies.POLICIES`; the matching field below holds its
        parameters (``static`` has none). Keepers submit only if ``agents.recalibrate``; the
        default ``predictive`` is the volatility-scaled margin of DOMAIN.md G1.
    scheduled, circuit_breaker, damping, predictive
        Parameters of each policy (only the selected one is used).
    options, triggers
        Anti-procyclicality, concentration and deleveraging options; trigger thresholds.
    forecaster
        Volatility forecaster of the keepers, by name (``protocols.risk.forecaster.FORECASTERS``);
        the ``ewma`` half-life is ``agents.keeper_half_life_seconds``.
    horizon_seconds
        Margin horizon the forecast is taken over.
    keeper_latencies_seconds
        Latency of honest keeper ``i`` is entry ``i mod len`` (the race: the fastest valid
        proposal of a window wins). The number of honest keepers is ``agents.n_keepers``.
    emergency_rights
        Whether honest keepers may use the emergency path (the circuit breaker needs it).
    faulty
        Faulty keepers to add: ``stale``, ``out_of_bounds``, ``forged``, ``replay`` (repeats
        allowed).
    faulty_latency_seconds
        Latency of the faulty keepers (0: they always arrive first, and must still lose).
    deadband_frac
        Keepers skip changes smaller than this.
    """

    policy: str = "predictive"
    scheduled: ScheduledParams = field(default_factory=ScheduledParams)
    circuit_breaker: BreakerParams = field(default_factory=BreakerParams)
    damping: DampingParams = field(default_factory=DampingParams)
    predictive: PredictiveParams = field(default_factory=PredictiveParams)
    options: PolicyOptions = field(default_factory=PolicyOptions)
    triggers: TriggerParams = field(default_factory=TriggerParams)
    forecaster: str = "ewma"
    horizon_seconds: float = 3600.0
    keeper_latencies_seconds: tuple[float, ...] = (60.0, 120.0, 180.0)
    emergency_rights: bool = True
    faulty: tuple[str, ...] = ()
    faulty_latency_seconds: float = 0.0
    deadband_frac: float = 0.02

    def __post_init__(self) -> None:
        c = "RecalibrationSpec"
        _require(
            self.policy in POLICIES,
            f"{c}.policy",
            f"must be one of {', '.join(sorted(POLICIES))}",
            self.policy,
        )
        _require(
            self.forecaster in FORECASTERS,
            f"{c}.forecaster",
            f"must be one of {', '.join(sorted(FORECASTERS))}",
            self.forecaster,
        )
        h = self.horizon_seconds
        _require(
            math.isfinite(h) and h > 0, f"{c}.horizon_seconds", "must be a finite number > 0", h
        )
        lat = self.keeper_latencies_seconds
        _require(
            len(lat) >= 1 and all(math.isfinite(x) and x >= 0 for x in lat),
            f"{c}.keeper_latencies_seconds",
            "must be one or more finite numbers >= 0",
            lat,
        )
        for i, kind in enumerate(self.faulty):
            _require(
                kind in FAULT_NAMES,
                f"{c}.faulty[{i}]",
                f"must be one of {', '.join(FAULT_NAMES)}",
                kind,
            )
        _require(
            math.isfinite(self.faulty_latency_seconds) and self.faulty_latency_seconds >= 0,
            f"{c}.faulty_latency_seconds",
            "must be a finite number >= 0",
            self.faulty_latency_seconds,
        )
        _require(self.deadband_frac >= 0, f"{c}.deadband_frac", "must be >= 0", self.deadband_frac)

    @property
    def policy_params(self) -> Any:
        """Parameters of the selected policy."""
        return StaticParams() if self.policy == "static" else getattr(self, self.policy)
