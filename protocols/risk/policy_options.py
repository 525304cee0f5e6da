"""Options that shape any recalibration policy: anti-procyclicality (EMIR RTS 153/2013 Art. 28,
DOMAIN.md G2 [S]), a concentration add-on, and liquidation-free deleveraging (a margin ramp)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from protocols.risk.policy_records import Decision, PolicyInputs, PolicyMemory

__all__ = ["APC_MODES", "PolicyOptions", "ramp_tightening", "shape_vol_ratio"]

APC_MODES = ("none", "buffer", "floor")


def _check(cls: str, name: str, ok: bool, rule: str, value: object) -> None:
    if not ok:
        raise ValueError(f"{cls}.{name}: must be {rule}, got {value!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class PolicyOptions:
    """Options that shape any policy.

    Parameters
    ----------
    apc
        ``"none"``; ``"buffer"``: EMIR (a), the target carries a buffer of ``apc_buffer_frac``
        that a rising forecast uses up first and that rebuilds linearly over
        ``apc_rebuild_seconds``; ``"floor"``: EMIR (b)/(c), the vol ratio never falls below
        ``sqrt((1 - w) + w r_stress^2)`` with ``w = apc_stress_weight`` and ``r_stress`` the larger
        of ``apc_stressed_vol_ratio`` and the highest ratio seen.
    concentration_threshold, concentration_weight
        Add-on ``1 + weight * max(0, concentration - threshold)`` on the vol ratio (0 = off).
    deleverage_ramp_seconds
        If > 0, every tightening ramps linearly from the current scale to the target over this
        grace period (never on the emergency path), so traders can reduce before they are
        liquidated.
    """

    apc: str = "none"
    apc_buffer_frac: float = 0.25
    apc_rebuild_seconds: float = 86_400.0
    apc_stress_weight: float = 0.25
    apc_stressed_vol_ratio: float = 2.0
    concentration_threshold: float = 0.05
    concentration_weight: float = 0.0
    deleverage_ramp_seconds: float = 0.0

    def __post_init__(self) -> None:
        c = "PolicyOptions"
        _check(c, "apc", self.apc in APC_MODES, f"one of {APC_MODES}", self.apc)
        for name, lo, hi in (
            ("apc_buffer_frac", 0.0, math.inf),
            ("apc_stress_weight", 0.0, 1.0),
            ("concentration_threshold", 0.0, 1.0),
            ("concentration_weight", 0.0, math.inf),
            ("deleverage_ramp_seconds", 0.0, math.inf),
        ):
            v = getattr(self, name)
            _check(c, name, lo <= v <= hi, f"in [{lo}, {hi}]", v)
        for name in ("apc_rebuild_seconds", "apc_stressed_vol_ratio"):
            _check(c, name, getattr(self, name) > 0, "> 0", getattr(self, name))


def shape_vol_ratio(
    options: PolicyOptions, x: PolicyInputs, memory: PolicyMemory
) -> tuple[float, PolicyMemory]:
    """The vol ratio a vol-targeting policy aims at, after anti-procyclicality and concentration.

    Notes
    -----
    Buffer (EMIR a): with ``b`` the buffer left, ``r' = (1 + b) r``. When ``r`` rises from
    ``r_prev``, the charged ratio stays at ``max(r, (1 + b_prev) r_prev)`` while the buffer lasts,
    so ``b = r'/r - 1`` (the buffer is used up before margins rise); otherwise ``b`` grows back by
    ``b_max dt / rebuild``. Floor (EMIR b/c): ``r' = max(r, sqrt((1 - w) + w r_s^2))``.
    Concentration: ``r' *= 1 + weight max(0, c - threshold)``.
    """
    r = x.vol_ratio
    prev = memory.last_vol_ratio
    peak = max(memory.peak_vol_ratio, r)
    memory = dataclasses.replace(memory, peak_vol_ratio=peak, last_vol_ratio=r)
    if options.apc == "floor":
        r_s = max(options.apc_stressed_vol_ratio, peak)
        w = options.apc_stress_weight
        r = max(r, math.sqrt((1.0 - w) + w * r_s * r_s))
    elif options.apc == "buffer":
        b_max = options.apc_buffer_frac
        if math.isnan(memory.buffer_frac):
            b = b_max
        elif r > prev:
            charged = min((1.0 + memory.buffer_frac) * r, max(r, (1.0 + memory.buffer_frac) * prev))
            b = charged / r - 1.0
        else:
            dt = max(0.0, x.time_seconds - memory.buffer_seconds)
            b = min(b_max, memory.buffer_frac + b_max * dt / options.apc_rebuild_seconds)
        memory = dataclasses.replace(memory, buffer_frac=b, buffer_seconds=x.time_seconds)
        r *= 1.0 + b
    excess = max(0.0, x.concentration - options.concentration_threshold)
    return r * (1.0 + options.concentration_weight * excess), memory


def ramp_tightening(options: PolicyOptions, x: PolicyInputs, d: Decision) -> Decision:
    """Liquidation-free deleveraging: a tightening moves linearly over the grace period.

    Notes
    -----
    A tightening to ``m*`` starting at ``t0`` from ``m0`` proposes
    ``m0 + min(1, (t - t0)/grace) (m* - m0)``; a holding policy keeps the ramp going, a loosening
    ends it. An infinite target (the safest bound) is left to the guardrails' change limit.
    """
    grace = options.deleverage_ramp_seconds
    m = d.memory
    if grace <= 0.0:
        return d
    ramping = not math.isnan(m.ramp_start_seconds)
    if d.reason == "hold":
        if not ramping:
            return d
        target = m.ramp_target_scale
    elif d.scale <= x.current_scale:
        stop = dataclasses.replace(m, ramp_start_seconds=math.nan, ramp_target_scale=math.nan)
        return dataclasses.replace(d, memory=stop) if ramping else d
    else:
        target = d.scale
        if not ramping:
            m = dataclasses.replace(
                m, ramp_start_seconds=x.time_seconds, ramp_from_scale=x.current_scale
            )
        m = dataclasses.replace(m, ramp_target_scale=target)
    reason = d.reason if d.reason.endswith("-ramp") else f"{d.reason}-ramp"
    if math.isinf(target):
        return Decision(target, m, emergency=False, reason=reason)
    frac = min(1.0, (x.time_seconds - m.ramp_start_seconds) / grace)
    scale = max(x.current_scale, m.ramp_from_scale + frac * (target - m.ramp_from_scale))
    if frac >= 1.0:
        m = dataclasses.replace(m, ramp_start_seconds=math.nan, ramp_target_scale=math.nan)
    return Decision(scale, m, emergency=False, reason=reason)
