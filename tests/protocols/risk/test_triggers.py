"""Triggers fire exactly past their thresholds (issue defaults: 1% in 5 min, 5% fund, skew z)."""

import math

import pytest

from protocols.risk.triggers import (
    Trigger,
    TriggerParams,
    evaluate_triggers,
    insurance_frac,
    oi_skew,
    oracle_move_frac,
)


def test_triggers_defaults_are_the_issue_defaults() -> None:
    p = TriggerParams()
    assert (p.oracle_move_frac, p.oracle_window_seconds, p.insurance_floor_frac) == (
        0.01,
        300.0,
        0.05,
    )


def test_triggers_oracle_move_measures_last_price_against_the_window() -> None:
    assert oracle_move_frac([100.0]) == 0.0
    assert oracle_move_frac([100.0, 100.5, 99.2]) == pytest.approx(abs(99.2 / 100.5 - 1.0))
    assert oracle_move_frac([100.0, 98.0, 100.0]) == pytest.approx(100.0 / 98.0 - 1.0)


@pytest.mark.parametrize(
    ("move", "insurance", "skew", "expected"),
    [
        (0.0099, 0.06, 0.0, Trigger.NONE),
        (0.0101, 0.06, 0.0, Trigger.ORACLE_MOVE),
        (0.0, 0.0499, 0.0, Trigger.INSURANCE_LOW),
        (0.0, 0.05, 0.0, Trigger.NONE),  # at the floor is not below it
        (0.0, 0.06, -0.95, Trigger.OI_SKEW),  # either side
        (0.0, 0.06, 0.9, Trigger.NONE),
        (0.02, 0.01, 0.99, Trigger.ORACLE_MOVE | Trigger.INSURANCE_LOW | Trigger.OI_SKEW),
    ],
)
def test_triggers_fire_only_past_their_thresholds(move, insurance, skew, expected) -> None:
    fired = evaluate_triggers(TriggerParams(), oracle_move=move, insurance=insurance, skew=skew)
    assert fired == expected
    assert bool(fired) is (expected != Trigger.NONE)


def test_triggers_state_helpers_and_disabling() -> None:
    assert oi_skew(0.0, 0.0) == 0.0 and oi_skew(3.0, 1.0) == 0.5 and oi_skew(0.0, 2.0) == -1.0
    assert insurance_frac(5.0, 100.0) == 0.05 and insurance_frac(5.0, 0.0) == math.inf
    off = TriggerParams(oracle_move_frac=math.inf, insurance_floor_frac=0.0, oi_skew_max=math.inf)
    assert evaluate_triggers(off, oracle_move=0.5, insurance=0.0, skew=1.0) == Trigger.NONE


def test_trigger_params_errors_name_the_field() -> None:
    with pytest.raises(ValueError, match=r"TriggerParams.oracle_move_frac: must be > 0"):
        TriggerParams(oracle_move_frac=0.0)
    with pytest.raises(ValueError, match=r"insurance_floor_frac: must be in \[0, 1\)"):
        TriggerParams(insurance_floor_frac=1.0)
    with pytest.raises(ValueError, match=r"TriggerParams.oracle_window_seconds"):
        TriggerParams(oracle_window_seconds=-5.0)
