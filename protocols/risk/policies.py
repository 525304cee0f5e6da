"""Recalibration policies: pure functions from (forecast, protocol state, current params) to a
proposed margin scale.

A policy sees :class:`PolicyInputs` (the keeper's volatility forecast as a ratio to the volatility
the venue's static margins were calibrated at, its vol-of-vol, the triggers that fired, position
concentration, the current governed margin scale) and its own :class:`PolicyMemory`, and returns a
:class:`Decision`: the proposed margin scale ``m`` (1 = the static calibration), whether it needs
the emergency path, and the new memory. Nothing is mutated; memory is returned, not kept.

A keeper turns ``m`` into every governed lever with the lever's safer direction:
``perp.mm_scale = m`` (maintenance and initial margin rates times ``m``) and
``lending.ltv_scale = 1/m`` (borrowing power divided by ``m``), then plans within the guardrails
(:func:`plan_within_guard`). Any venue with a margin engine joins by declaring a guarded scale.

Policies (DOMAIN.md G):

- ``static``: hold.
- ``scheduled``: once per ``interval_seconds``, move toward the vol target ``k sigma_hat/sigma_ref``
  by at most ``max_change_frac`` (Aave stewards: a discrete update every period with a clamp, G4).
- ``circuit_breaker``: hold at the base scale; when a trigger fires, jump to ``jump_scale`` (mode
  ``"jump"``) or to the safest bound (mode ``"halt"``) on the emergency path; hold for
  ``hold_seconds`` after the last trigger, then reset through ordinary governance (G3).
- ``damping``: ``m <- m + kappa (m* - m)`` with ``kappa = 1 - 0.5^(dt/half_life)`` and a per-update
  clamp (G5; RiskMetrics' daily kappa = 0.06 is a half-life of 11 days, too slow intraday).
- ``predictive``: ``m* = k sigma_hat/sigma_ref (1 + w vov)``: the (ML) forecast plus a vol-of-vol
  add-on, applied directly (G1).

Options (:class:`PolicyOptions`, every policy but ``static`` and ``circuit_breaker`` targets the
shaped forecast): anti-procyclicality (EMIR RTS 153/2013 Art. 28, G2 [S]) as a 25% buffer that is
exhausted when the forecast rises and rebuilt over a day, or as a floor that puts 25% weight on a
stressed period; a concentration add-on; and liquidation-free deleveraging, a linear margin ramp
over a grace period instead of a jump (applies to every tightening, breaker included).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from protocols.risk.policy_options import APC_MODES, PolicyOptions, ramp_tightening, shape_vol_ratio
from protocols.risk.policy_records import Decision, PolicyInputs, PolicyMemory

__all__ = [
    "APC_MODES",
    "BREAKER_MODES",
    "POLICIES",
    "BreakerParams",
    "DampingParams",
    "Decision",
    "PolicyEntry",
    "PolicyInputs",
    "PolicyMemory",
    "PolicyOptions",
    "PredictiveParams",
    "ScheduledParams",
    "StaticParams",
    "circuit_breaker_policy",
    "damping_policy",
    "plan_within_guard",
    "predictive_policy",
    "recalibrate",
    "scheduled_policy",
    "shape_vol_ratio",
    "static_policy",
]

BREAKER_MODES = ("jump", "halt")


def _check(cls: str, name: str, ok: bool, rule: str, value: object) -> None:
    if not ok:
        raise ValueError(f"{cls}.{name}: must be {rule}, got {value!r}")


def _check_target(cls: str, multiplier: float, floor: float, cap: float) -> None:
    _check(cls, "multiplier", math.isfinite(multiplier) and multiplier > 0, "> 0", multiplier)
    _check(cls, "floor_scale", math.isfinite(floor) and floor > 0, "> 0", floor)
    _check(cls, "cap_scale", cap >= floor, ">= floor_scale", cap)


@dataclass(frozen=True, slots=True, kw_only=True)
class StaticParams:
    """The static policy has no parameters."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduledParams:
    """Discrete updates toward the vol target, at most ``max_change_frac`` per period [R]."""

    interval_seconds: float = 4 * 3600.0
    multiplier: float = 1.0
    floor_scale: float = 0.5
    cap_scale: float = 5.0
    max_change_frac: float = 0.5

    def __post_init__(self) -> None:
        c = "ScheduledParams"
        _check(c, "interval_seconds", self.interval_seconds > 0, "> 0", self.interval_seconds)
        _check_target(c, self.multiplier, self.floor_scale, self.cap_scale)
        _check(c, "max_change_frac", self.max_change_frac > 0, "> 0", self.max_change_frac)


@dataclass(frozen=True, slots=True, kw_only=True)
class BreakerParams:
    """Circuit breaker: jump on a trigger, hold, then reset to ``base_scale`` [R].

    Lyra's breakers time out after 12 h to 3 days (DOMAIN.md G3 [S]); a real-time venue holds for
    hours.
    """

    jump_scale: float = 2.0
    hold_seconds: float = 4 * 3600.0
    mode: str = "jump"
    base_scale: float = 1.0

    def __post_init__(self) -> None:
        c = "BreakerParams"
        _check(c, "base_scale", self.base_scale > 0, "> 0", self.base_scale)
        _check(c, "jump_scale", self.jump_scale > self.base_scale, "> base_scale", self.jump_scale)
        _check(c, "hold_seconds", self.hold_seconds >= 0, ">= 0", self.hold_seconds)
        _check(c, "mode", self.mode in BREAKER_MODES, f"one of {BREAKER_MODES}", self.mode)


@dataclass(frozen=True, slots=True, kw_only=True)
class DampingParams:
    """EMA toward the vol target with a per-update clamp (DOMAIN.md G5) [R]."""

    half_life_seconds: float = 3600.0
    multiplier: float = 1.0
    floor_scale: float = 0.5
    cap_scale: float = 5.0
    max_step_frac: float = 0.25

    def __post_init__(self) -> None:
        c = "DampingParams"
        _check(c, "half_life_seconds", self.half_life_seconds > 0, "> 0", self.half_life_seconds)
        _check_target(c, self.multiplier, self.floor_scale, self.cap_scale)
        _check(c, "max_step_frac", self.max_step_frac > 0, "> 0", self.max_step_frac)


@dataclass(frozen=True, slots=True, kw_only=True)
class PredictiveParams:
    """Vol target from the forecast plus ``vov_weight`` times the vol-of-vol [R]."""

    multiplier: float = 1.0
    vov_weight: float = 1.0
    floor_scale: float = 0.5
    cap_scale: float = 5.0

    def __post_init__(self) -> None:
        c = "PredictiveParams"
        _check_target(c, self.multiplier, self.floor_scale, self.cap_scale)
        _check(c, "vov_weight", self.vov_weight >= 0, ">= 0", self.vov_weight)


def _clip(x: float, lo: float, hi: float) -> float:
    return min(hi, max(lo, x))


def _hold(x: PolicyInputs, memory: PolicyMemory) -> Decision:
    return Decision(x.current_scale, memory)


# ---------------------------------------------------------------------- policies
def static_policy(params: StaticParams, x: PolicyInputs, memory: PolicyMemory) -> Decision:
    """Hold the current scale."""
    return _hold(x, memory)


def scheduled_policy(params: ScheduledParams, x: PolicyInputs, memory: PolicyMemory) -> Decision:
    """At the first decision of every period ``floor(t / interval)``, step toward the target."""
    period = math.floor(x.time_seconds / params.interval_seconds)
    last = memory.last_update_seconds
    if not math.isnan(last) and math.floor(last / params.interval_seconds) >= period:
        return _hold(x, memory)
    target = _clip(params.multiplier * x.vol_ratio, params.floor_scale, params.cap_scale)
    c, m = params.max_change_frac, x.current_scale
    scale = _clip(target, m * (1.0 - min(c, 0.999)), m * (1.0 + c))
    new = dataclasses.replace(memory, last_update_seconds=x.time_seconds)
    return Decision(scale, new, reason="schedule")


def circuit_breaker_policy(
    params: BreakerParams, x: PolicyInputs, memory: PolicyMemory
) -> Decision:
    """Jump on a trigger (emergency path), hold ``hold_seconds``, then reset to the base."""
    if x.triggers:
        memory = dataclasses.replace(
            memory, breaker_until_seconds=x.time_seconds + params.hold_seconds
        )
        target = params.jump_scale if params.mode == "jump" else math.inf
        if x.current_scale >= target:
            return _hold(x, memory)
        return Decision(target, memory, emergency=True, reason="trip")
    if x.time_seconds < memory.breaker_until_seconds or x.current_scale == params.base_scale:
        return _hold(x, memory)
    return Decision(params.base_scale, memory, reason="reset")


def damping_policy(params: DampingParams, x: PolicyInputs, memory: PolicyMemory) -> Decision:
    """EMA of the target sampled at governance updates, with a per-update clamp."""
    dt = max(0.0, x.time_seconds - x.last_change_seconds)
    kappa = 1.0 - 0.5 ** (dt / params.half_life_seconds)
    target = _clip(params.multiplier * x.vol_ratio, params.floor_scale, params.cap_scale)
    m, c = x.current_scale, params.max_step_frac
    scale = _clip(m + kappa * (target - m), m * (1.0 - min(c, 0.999)), m * (1.0 + c))
    return Decision(scale, memory, reason="damp")


def predictive_policy(params: PredictiveParams, x: PolicyInputs, memory: PolicyMemory) -> Decision:
    """The forecast's vol target plus a vol-of-vol add-on, proposed directly."""
    raw = params.multiplier * x.vol_ratio * (1.0 + params.vov_weight * x.vol_of_vol)
    return Decision(_clip(raw, params.floor_scale, params.cap_scale), memory, reason="predict")


@dataclass(frozen=True, slots=True)
class PolicyEntry:
    """A registered policy: its parameter type, its function, whether options shape its input."""

    params_type: type
    decide: Callable[[Any, PolicyInputs, PolicyMemory], Decision]
    vol_targeting: bool = True


POLICIES: dict[str, PolicyEntry] = {
    "static": PolicyEntry(StaticParams, static_policy, vol_targeting=False),
    "scheduled": PolicyEntry(ScheduledParams, scheduled_policy),
    "circuit_breaker": PolicyEntry(BreakerParams, circuit_breaker_policy, vol_targeting=False),
    "damping": PolicyEntry(DampingParams, damping_policy),
    "predictive": PolicyEntry(PredictiveParams, predictive_policy),
}
"""Policies by name."""


def recalibrate(
    name: str,
    params: Any,
    x: PolicyInputs,
    memory: PolicyMemory,
    options: PolicyOptions | None = None,
) -> Decision:
    """Run policy ``name`` with ``params`` and ``options`` on inputs ``x`` (pure).

    The options shape the vol ratio of vol-targeting policies, the policy decides, then a
    tightening is ramped if ``options.deleverage_ramp_seconds > 0``.
    """
    try:
        entry = POLICIES[name]
    except KeyError:
        raise ValueError(f"policy: must be one of {sorted(POLICIES)}, got {name!r}") from None
    if not isinstance(params, entry.params_type):
        raise ValueError(
            f"policy {name!r}: params must be {entry.params_type.__name__}, "
            f"got {type(params).__name__}"
        )
    options = options or PolicyOptions()
    if entry.vol_targeting:
        ratio, memory = shape_vol_ratio(options, x, memory)
        x = dataclasses.replace(x, vol_ratio=ratio)
    else:
        memory = dataclasses.replace(memory, peak_vol_ratio=max(memory.peak_vol_ratio, x.vol_ratio))
    return ramp_tightening(options, x, entry.decide(params, x, memory))


def plan_within_guard(
    target: float,
    current: float,
    *,
    min_value: float,
    max_value: float,
    max_change_frac: float,
    emergency: bool = False,
) -> float:
    """The value to propose for ``target``: inside the hard bounds and, unless on the emergency
    path, inside the per-update change limit around ``current`` (a keeper plans around the
    guardrails instead of crashing into them)."""
    lo, hi = min_value, max_value
    if not emergency:
        lo = max(lo, current * (1.0 - min(max_change_frac, 1.0)))
        hi = min(hi, current * (1.0 + max_change_frac))
    return _clip(target, lo, hi)
