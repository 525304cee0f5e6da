"""Recalibration policies: each one's behaviour at its triggers, the options, purity."""

import dataclasses
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.risk.policies import (
    POLICIES,
    BreakerParams,
    DampingParams,
    PolicyInputs,
    PolicyMemory,
    PolicyOptions,
    PredictiveParams,
    ScheduledParams,
    StaticParams,
    plan_within_guard,
    recalibrate,
)
from protocols.risk.triggers import Trigger

HOUR = 3600.0


def x(t=0.0, m=1.0, r=1.0, **kw) -> PolicyInputs:
    return PolicyInputs(time_seconds=t, current_scale=m, vol_ratio=r, **kw)


def run(name, params, inputs, memory=None, options=None):
    return recalibrate(name, params, inputs, memory or PolicyMemory(), options)


def test_policies_registry_names() -> None:
    assert set(POLICIES) == {"static", "scheduled", "circuit_breaker", "damping", "predictive"}


def test_static_policy_never_moves_whatever_it_sees() -> None:
    d = run("static", StaticParams(), x(r=5.0, vol_of_vol=2.0, triggers=Trigger.ORACLE_MOVE))
    assert d.scale == 1.0 and d.reason == "hold" and not d.emergency


def test_scheduled_policy_updates_once_per_period_within_its_clamp() -> None:
    p = ScheduledParams(interval_seconds=4 * HOUR, max_change_frac=0.5)
    d = run("scheduled", p, x(t=600.0, r=3.0))
    assert d.scale == 1.5 and d.reason == "schedule"  # target 3.0, clamped to +50%
    held = run("scheduled", p, x(t=3 * HOUR, m=1.5, r=3.0), d.memory)
    assert held.reason == "hold" and held.scale == 1.5  # same period: nothing
    nxt = run("scheduled", p, x(t=4 * HOUR, m=1.5, r=2.0), d.memory)
    assert nxt.scale == 2.0  # next period: the target (within the clamp)


def test_circuit_breaker_jumps_on_a_trigger_holds_then_resets() -> None:
    p = BreakerParams(jump_scale=2.0, hold_seconds=2 * HOUR)
    calm = run("circuit_breaker", p, x(t=0.0, r=3.0))
    assert calm.reason == "hold"  # high forecast volatility alone does not trip it
    trip = run("circuit_breaker", p, x(t=HOUR, triggers=Trigger.ORACLE_MOVE), calm.memory)
    assert trip.scale == 2.0 and trip.emergency and trip.reason == "trip"
    again = run("circuit_breaker", p, x(t=HOUR + 60, m=2.0, triggers=Trigger.OI_SKEW), trip.memory)
    assert again.reason == "hold"  # already tripped: the trigger only extends the hold
    hold = run("circuit_breaker", p, x(t=3 * HOUR, m=2.0), again.memory)
    assert hold.reason == "hold"  # 2 h after the last trigger is 3 h + 60 s
    reset = run("circuit_breaker", p, x(t=3 * HOUR + 120, m=2.0), again.memory)
    assert reset.scale == 1.0 and reset.reason == "reset" and not reset.emergency


def test_circuit_breaker_halt_mode_asks_for_the_safest_bound() -> None:
    d = run("circuit_breaker", BreakerParams(mode="halt"), x(triggers=Trigger.INSURANCE_LOW))
    assert math.isinf(d.scale) and d.emergency
    assert (
        plan_within_guard(
            d.scale, 1.0, min_value=0.5, max_value=5.0, max_change_frac=0.5, emergency=True
        )
        == 5.0
    )
    assert (
        plan_within_guard(
            1.0 / d.scale, 1.0, min_value=0.5, max_value=1.0, max_change_frac=0.1, emergency=True
        )
        == 0.5
    )


def test_deleveraging_ramp_replaces_the_jump_with_a_linear_ramp() -> None:
    opts = PolicyOptions(deleverage_ramp_seconds=2 * HOUR)
    p = BreakerParams(jump_scale=3.0, hold_seconds=10 * HOUR)
    start = run("circuit_breaker", p, x(t=0.0, triggers=Trigger.ORACLE_MOVE), options=opts)
    assert not start.emergency and start.scale == 1.0  # the grace period starts: no jump
    half = run("circuit_breaker", p, x(t=HOUR, m=1.0), start.memory, opts)
    assert half.scale == pytest.approx(2.0) and not half.emergency
    full = run("circuit_breaker", p, x(t=3 * HOUR, m=2.0), half.memory, opts)
    assert full.scale == pytest.approx(3.0)
    assert math.isnan(full.memory.ramp_start_seconds)  # the ramp is over


def test_damping_policy_moves_a_half_life_share_of_the_gap_within_its_clamp() -> None:
    p = DampingParams(half_life_seconds=HOUR, max_step_frac=0.25)
    d = run("damping", p, x(t=HOUR, m=1.0, r=1.4, last_change_seconds=0.0))
    assert d.scale == pytest.approx(1.2)  # half of the gap after one half-life
    big = run("damping", p, x(t=10 * HOUR, m=1.0, r=4.0, last_change_seconds=0.0))
    assert big.scale == pytest.approx(1.25)  # clamped per update
    none = run("damping", p, x(t=HOUR, m=1.0, r=4.0, last_change_seconds=HOUR))
    assert none.scale == 1.0  # no time since the last change: no move


def test_predictive_policy_adds_the_vol_of_vol_term() -> None:
    p = PredictiveParams(vov_weight=1.0)
    assert run("predictive", p, x(r=2.0)).scale == pytest.approx(2.0)
    assert run("predictive", p, x(r=2.0, vol_of_vol=0.25)).scale == pytest.approx(2.5)
    assert run("predictive", p, x(r=20.0)).scale == 5.0  # the cap


def test_apc_buffer_is_held_in_calm_and_used_up_when_volatility_rises() -> None:
    opts = PolicyOptions(apc="buffer", apc_buffer_frac=0.25, apc_rebuild_seconds=86_400.0)
    p = PredictiveParams(vov_weight=0.0)
    calm = run("predictive", p, x(t=0.0, r=1.0), options=opts)
    assert calm.scale == pytest.approx(1.25)  # 25% above the raw margin in calm
    spike = run("predictive", p, x(t=600.0, m=1.25, r=1.6), calm.memory, opts)
    assert spike.scale == pytest.approx(1.6)  # buffer used up: +28% instead of +60%
    assert spike.memory.buffer_frac == pytest.approx(0.0)
    later = run("predictive", p, x(t=600.0 + 43_200.0, m=1.6, r=1.0), spike.memory, opts)
    assert later.scale == pytest.approx(1.125)  # half a day rebuilds half the buffer


def test_apc_floor_puts_weight_on_the_stressed_period() -> None:
    opts = PolicyOptions(apc="floor", apc_stress_weight=0.25, apc_stressed_vol_ratio=2.0)
    p = PredictiveParams(vov_weight=0.0)
    d = run("predictive", p, x(r=0.6), options=opts)
    assert d.scale == pytest.approx(math.sqrt(0.75 + 0.25 * 4.0))
    seen = run("predictive", p, x(r=4.0), options=opts)
    after = run("predictive", p, x(r=0.6), seen.memory, opts)
    assert after.scale == pytest.approx(math.sqrt(0.75 + 0.25 * 16.0))  # the worst seen counts


def test_concentration_penalty_raises_the_target_for_large_positions() -> None:
    opts = PolicyOptions(concentration_threshold=0.05, concentration_weight=2.0)
    p = PredictiveParams(vov_weight=0.0)
    assert run("predictive", p, x(r=1.0, concentration=0.04), options=opts).scale == 1.0
    assert run("predictive", p, x(r=1.0, concentration=0.30), options=opts).scale == 1.5


def test_plan_within_guard_respects_change_limit_unless_emergency() -> None:
    kw = {"min_value": 0.5, "max_value": 5.0, "max_change_frac": 0.5}
    assert plan_within_guard(3.0, 1.0, **kw) == 1.5
    assert plan_within_guard(0.1, 1.0, **kw) == 0.5
    assert plan_within_guard(3.0, 1.0, **kw, emergency=True) == 3.0
    assert plan_within_guard(9.0, 1.0, **kw, emergency=True) == 5.0


def test_recalibrate_rejects_unknown_policy_and_wrong_params() -> None:
    with pytest.raises(ValueError, match=r"policy: must be one of"):
        run("yolo", StaticParams(), x())
    with pytest.raises(ValueError, match=r"params must be DampingParams"):
        run("damping", StaticParams(), x())
    with pytest.raises(ValueError, match=r"BreakerParams.jump_scale: must be > base_scale"):
        BreakerParams(jump_scale=0.5)
    with pytest.raises(ValueError, match=r"PolicyOptions.apc: must be one of"):
        PolicyOptions(apc="maybe")


_PARAMS = {
    "static": StaticParams(),
    "scheduled": ScheduledParams(),
    "circuit_breaker": BreakerParams(),
    "damping": DampingParams(),
    "predictive": PredictiveParams(),
}


@settings(max_examples=300, deadline=None)
@given(
    name=st.sampled_from(sorted(_PARAMS)),
    t=st.floats(0.0, 1e6),
    m=st.floats(0.5, 5.0),
    r=st.floats(0.05, 20.0),
    vov=st.floats(0.0, 2.0),
    trig=st.sampled_from(list(Trigger)),
    apc=st.sampled_from(["none", "buffer", "floor"]),
)
def test_policies_are_pure_and_bounded(name, t, m, r, vov, trig, apc) -> None:
    inputs = x(t=t, m=m, r=r, vol_of_vol=vov, triggers=trig)
    memory, options = PolicyMemory(), PolicyOptions(apc=apc)
    a = run(name, _PARAMS[name], inputs, memory, options)
    b = run(name, _PARAMS[name], inputs, memory, options)
    assert repr(a) == repr(b)
    assert memory == PolicyMemory()  # nothing mutated
    assert a.scale > 0.0
    if name == "damping":
        c = _PARAMS[name].max_step_frac
        assert m * (1 - c) - 1e-12 <= a.scale <= m * (1 + c) + 1e-12
    if a.emergency:
        assert a.scale > m  # the emergency path only ever tightens
    assert dataclasses.is_dataclass(a.memory)
