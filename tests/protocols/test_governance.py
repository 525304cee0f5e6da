import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.events import EventLog
from protocols.governance import (
    Governance,
    GovernanceParams,
    GuardedParam,
    Proposal,
    ProposalStatus,
)

GUARD = GuardedParam(
    name="perp.mm_scale",
    min_value=0.5,
    max_value=5.0,
    max_change_frac=0.5,
    min_interval_seconds=600.0,
)


def make(timelock_seconds: float = 300.0) -> tuple[Governance, EventLog]:
    events = EventLog()
    gov = Governance(
        "gov",
        events,
        params=GovernanceParams(timelock_seconds=timelock_seconds, guards=(GUARD,)),
        step_seconds=60,
        initial_values={"perp.mm_scale": 1.0},
    )
    gov.register_keeper("k1")
    return gov, events


def test_governance_queues_then_applies_after_timelock() -> None:
    gov, events = make()
    assert gov.propose(Proposal("k1", "perp.mm_scale", 1.4, 10)) is ProposalStatus.QUEUED
    for step in range(10, 15):
        assert gov.due(step) == [] and gov.value("perp.mm_scale") == 1.0
    assert gov.due(15) == [("perp.mm_scale", 1.4)]  # 300 s / 60 s = 5 steps
    assert gov.value("perp.mm_scale") == 1.4
    assert events.count(events_kind("PROPOSAL_ACCEPTED")) == 1
    assert events.count(events_kind("PARAM_APPLIED")) == 1


def events_kind(name: str):
    from protocols.types import EventKind

    return EventKind[name]


@pytest.mark.parametrize(
    ("keeper", "param", "value", "expected"),
    [
        ("mallory", "perp.mm_scale", 1.2, ProposalStatus.UNKNOWN_KEEPER),
        ("k1", "perp.tiers", 1.2, ProposalStatus.UNKNOWN_PARAM),
        ("k1", "perp.mm_scale", math.nan, ProposalStatus.NOT_FINITE),
        ("k1", "perp.mm_scale", 0.4, ProposalStatus.OUT_OF_BOUNDS),
        ("k1", "perp.mm_scale", 1.6, ProposalStatus.CHANGE_TOO_LARGE),
        ("k1", "perp.mm_scale", 1.0, ProposalStatus.UNCHANGED),
    ],
)
def test_governance_rejects_with_reason(keeper, param, value, expected) -> None:
    gov, events = make()
    assert gov.propose(Proposal(keeper, param, value, 1)) is expected
    assert events.columns["kind"] == ["PROPOSAL_REJECTED"]
    assert events.columns["detail"][0].startswith(expected.name)
    assert gov.n_rejected == 1 and gov.queue_length == 0


def test_governance_min_interval_debounces() -> None:
    gov, _ = make()
    assert gov.propose(Proposal("k1", "perp.mm_scale", 1.2, 0)) is ProposalStatus.QUEUED
    assert gov.propose(Proposal("k1", "perp.mm_scale", 1.4, 9)) is ProposalStatus.TOO_SOON
    assert gov.propose(Proposal("k1", "perp.mm_scale", 1.4, 10)) is ProposalStatus.QUEUED


def test_governance_change_limit_is_relative_to_pending_value() -> None:
    gov, _ = make()
    gov.propose(Proposal("k1", "perp.mm_scale", 1.5, 0))
    # 2.25 = 1.5 * 1.5: allowed against the pending value even before it takes effect
    assert gov.propose(Proposal("k1", "perp.mm_scale", 2.25, 10)) is ProposalStatus.QUEUED
    assert gov.propose(Proposal("k1", "perp.mm_scale", 4.0, 20)) is ProposalStatus.CHANGE_TOO_LARGE


def test_guarded_param_validation_names_field() -> None:
    with pytest.raises(ValueError, match=r"min_value: must be <= max_value"):
        GuardedParam(name="perp.x", min_value=2.0, max_value=1.0)
    with pytest.raises(ValueError, match=r"GuardedParam.name"):
        GuardedParam(name="nodot", min_value=0.0, max_value=1.0)
    with pytest.raises(ValueError, match=r"timelock_seconds: must be >= 0"):
        GovernanceParams(timelock_seconds=-1.0)


proposals = st.lists(
    st.tuples(
        st.integers(0, 5),
        st.one_of(st.floats(-1.0, 10.0), st.just(math.nan), st.just(math.inf)),
        st.sampled_from(["k1", "k1", "k2"]),
    ),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(proposals)
def test_governance_accepted_values_never_leave_bounds_or_skip_timelock(stream) -> None:
    gov, _ = make(timelock_seconds=240.0)  # 4 steps
    step = 0
    accepted_at: dict[float, int] = {}
    history = []
    for gap, value, keeper in stream:
        step += gap
        for _, v in gov.due(step):
            history.append((step, v))
        if gov.propose(Proposal(keeper, "perp.mm_scale", value, step)) is ProposalStatus.QUEUED:
            accepted_at.setdefault(value, step)
        assert GUARD.min_value <= gov.value("perp.mm_scale") <= GUARD.max_value
    previous = 1.0
    for applied_step, v in history:
        assert GUARD.min_value <= v <= GUARD.max_value
        assert applied_step - accepted_at[v] >= 4  # the time-lock was respected
        assert abs(v / previous - 1.0) <= GUARD.max_change_frac + 1e-12
        previous = v
