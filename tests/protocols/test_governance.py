"""Governance: guardrails, time-lock, signatures, replays, staleness, the race, the emergency path.

Proposals are signed since issue 5, so the original tests sign theirs (``signed`` below) and use a
one-step race window where they test the minimum interval on its own.
"""

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
from protocols.signing import derive_private_key, public_key_bytes
from protocols.types import EventKind

GUARD = GuardedParam(
    name="perp.mm_scale",
    min_value=0.5,
    max_value=5.0,
    max_change_frac=0.5,
    min_interval_seconds=600.0,
)
KEYS = {name: derive_private_key(f"test/{name}") for name in ("k1", "k2", "mallory")}
_nonces: dict[str, int] = {}


def signed(keeper, param, value, step, *, emergency=False, key=None, domain="gov", nonce=None):
    if nonce is None:
        nonce = _nonces.get(keeper, 0)
        _nonces[keeper] = nonce + 1
    p = Proposal(keeper, param, value, step, nonce=nonce, emergency=emergency)
    return p.signed(key or KEYS[keeper], domain)


def make(timelock_seconds: float = 300.0, **params) -> tuple[Governance, EventLog]:
    _nonces.clear()
    events = EventLog()
    gov = Governance(
        "gov",
        events,
        params=GovernanceParams(
            timelock_seconds=timelock_seconds,
            guards=(GUARD,),
            **{"window_seconds": 60.0, "max_staleness_seconds": 300.0, **params},
        ),
        step_seconds=60,
        initial_values={"perp.mm_scale": 1.0},
    )
    gov.register_keeper("k1", public_key_bytes(KEYS["k1"]), emergency=True)
    gov.register_keeper("k2", public_key_bytes(KEYS["k2"]))
    return gov, events


def test_governance_queues_then_applies_after_timelock() -> None:
    gov, events = make()
    assert gov.propose(signed("k1", "perp.mm_scale", 1.4, 10)) is ProposalStatus.QUEUED
    for step in range(10, 15):
        assert gov.due(step) == [] and gov.value("perp.mm_scale") == 1.0
    assert gov.due(15) == [("perp.mm_scale", 1.4)]  # 300 s / 60 s = 5 steps
    assert gov.value("perp.mm_scale") == 1.4
    assert events.count(EventKind.PROPOSAL_ACCEPTED) == 1
    assert events.count(EventKind.PARAM_APPLIED) == 1


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
    assert gov.propose(signed(keeper, param, value, 1)) is expected
    assert events.columns["kind"] == ["PROPOSAL_REJECTED"]
    assert events.columns["detail"][0].startswith(expected.name)
    assert gov.n_rejected == 1 and gov.queue_length == 0


def test_governance_min_interval_debounces() -> None:
    gov, _ = make()
    assert gov.propose(signed("k1", "perp.mm_scale", 1.2, 0)) is ProposalStatus.QUEUED
    assert gov.propose(signed("k1", "perp.mm_scale", 1.4, 9)) is ProposalStatus.TOO_SOON
    assert gov.propose(signed("k1", "perp.mm_scale", 1.4, 10)) is ProposalStatus.QUEUED
    assert gov.next_allowed_step("perp.mm_scale") == 20


def test_governance_change_limit_is_relative_to_pending_value() -> None:
    gov, _ = make()
    gov.propose(signed("k1", "perp.mm_scale", 1.5, 0))
    # 2.25 = 1.5 * 1.5: allowed against the pending value even before it takes effect
    assert gov.propose(signed("k1", "perp.mm_scale", 2.25, 10)) is ProposalStatus.QUEUED
    assert gov.propose(signed("k1", "perp.mm_scale", 4.0, 20)) is ProposalStatus.CHANGE_TOO_LARGE


def test_governance_signatures_valid_forged_and_other_domain() -> None:
    gov, events = make()
    # mallory signs a proposal in k1's name with her own key
    forged = signed("k1", "perp.mm_scale", 1.2, 1, key=KEYS["mallory"])
    assert gov.propose(forged) is ProposalStatus.BAD_SIGNATURE
    # a valid signature for another governance instance is worthless here
    other = signed("k1", "perp.mm_scale", 1.2, 1, domain="other-gov")
    assert gov.propose(other) is ProposalStatus.BAD_SIGNATURE
    # tampering with any signed field breaks the signature
    good = signed("k1", "perp.mm_scale", 1.2, 1)
    for field, value in (("value", 1.3), ("step", 2), ("nonce", 99), ("emergency", True)):
        tampered = Proposal(**{**_fields(good), field: value})
        assert gov.propose(tampered, now_step=2) is ProposalStatus.BAD_SIGNATURE, field
    unsigned = Proposal("k1", "perp.mm_scale", 1.2, 1, nonce=50)
    assert gov.propose(unsigned) is ProposalStatus.BAD_SIGNATURE
    assert gov.n_rejected == 7 and gov.n_accepted == 0
    assert gov.propose(good) is ProposalStatus.QUEUED  # forgeries did not use up its nonce
    details = events.columns["detail"]
    assert all(d.startswith("BAD_SIGNATURE") for d in details[:7])


def _fields(p: Proposal) -> dict:
    return {f: getattr(p, f) for f in p.__slots__}


def test_governance_rejects_replays_and_stale_data() -> None:
    gov, _ = make()
    p = signed("k1", "perp.mm_scale", 1.2, 0)
    assert gov.propose(p) is ProposalStatus.QUEUED
    assert gov.propose(p, now_step=30) is ProposalStatus.REPLAYED  # the same signed message
    older = signed("k1", "perp.mm_scale", 1.3, 30, nonce=0)
    assert gov.propose(older) is ProposalStatus.REPLAYED  # a reused nonce
    assert gov.next_nonce("k1") == 1
    stale = signed("k1", "perp.mm_scale", 1.3, 20, nonce=1)
    assert gov.propose(stale, now_step=26) is ProposalStatus.STALE  # 6 steps = 360 s > 300 s
    future = signed("k1", "perp.mm_scale", 1.3, 40, nonce=2)
    assert gov.propose(future, now_step=39) is ProposalStatus.STALE
    fresh = signed("k1", "perp.mm_scale", 1.3, 40, nonce=3)
    assert gov.propose(fresh, now_step=45) is ProposalStatus.QUEUED  # 300 s old: still fresh


def test_governance_race_first_valid_arrival_of_a_window_wins() -> None:
    gov, events = make(window_seconds=600.0)
    # three keepers compute at step 10 (window 1); the fastest arrives first
    slow = signed("k2", "perp.mm_scale", 1.3, 10)
    fast = signed("k1", "perp.mm_scale", 1.2, 10)
    junk = signed("mallory", "perp.mm_scale", 1.25, 10)
    gov.submit(slow, 13, sender="k2")
    gov.submit(junk, 10, sender="mallory")  # arrives first, but is invalid: it cannot win
    gov.submit(fast, 11, sender="k1")
    assert gov.deliver(10) == [("mallory", junk, ProposalStatus.UNKNOWN_KEEPER)]
    assert gov.deliver(12) == [("k1", fast, ProposalStatus.QUEUED)]
    assert gov.mempool_length == 1
    assert gov.deliver(13) == [("k2", slow, ProposalStatus.WINDOW_TAKEN)]
    assert gov.latest("perp.mm_scale") == 1.2
    # the next window is open again once the minimum interval has passed
    nxt = signed("k2", "perp.mm_scale", 1.3, 22)
    assert gov.propose(nxt, now_step=23) is ProposalStatus.QUEUED
    assert "WINDOW_TAKEN keeper=k2" in events.columns["detail"]


def test_governance_emergency_acts_at_once_within_bounds_and_only_safer() -> None:
    gov, events = make(timelock_seconds=1800.0)
    assert gov.propose(signed("k1", "perp.mm_scale", 1.4, 0)) is ProposalStatus.QUEUED
    # k2 has no emergency rights
    denied = signed("k2", "perp.mm_scale", 3.0, 1, emergency=True)
    assert gov.propose(denied) is ProposalStatus.EMERGENCY_DENIED
    # out of the hard bounds even on the emergency path
    too_far = signed("k1", "perp.mm_scale", 6.0, 1, emergency=True)
    assert gov.propose(too_far) is ProposalStatus.OUT_OF_BOUNDS
    # loosening is never an emergency
    looser = signed("k1", "perp.mm_scale", 0.8, 1, emergency=True)
    assert gov.propose(looser) is ProposalStatus.EMERGENCY_DENIED
    # a tripling (beyond the 50% change limit) applies at once and cancels the queued 1.4
    jump = signed("k1", "perp.mm_scale", 3.0, 2, emergency=True)
    assert gov.propose(jump) is ProposalStatus.EMERGENCY_APPLIED
    assert gov.due(2) == [("perp.mm_scale", 3.0)]
    assert gov.value("perp.mm_scale") == 3.0 and gov.queue_length == 0
    assert gov.n_cancelled == 1 and any(d.startswith("CANCELLED") for d in events.columns["detail"])
    for step in range(2, 40):
        assert gov.due(step) == []  # the cancelled 1.4 never applies
    # cooldown between emergencies (3600 s default)
    again = signed("k1", "perp.mm_scale", 4.0, 10, emergency=True)
    assert gov.propose(again) is ProposalStatus.TOO_SOON
    # the ordinary path waits its minimum interval after the emergency change
    assert gov.next_allowed_step("perp.mm_scale") == 12


def test_guarded_param_validation_names_field() -> None:
    with pytest.raises(ValueError, match=r"min_value: must be <= max_value"):
        GuardedParam(name="perp.x", min_value=2.0, max_value=1.0)
    with pytest.raises(ValueError, match=r"GuardedParam.name"):
        GuardedParam(name="nodot", min_value=0.0, max_value=1.0)
    with pytest.raises(ValueError, match=r"safer_direction: must be -1 or \+1"):
        GuardedParam(name="perp.x", min_value=0.0, max_value=1.0, safer_direction=0)
    with pytest.raises(ValueError, match=r"timelock_seconds: must be >= 0"):
        GovernanceParams(timelock_seconds=-1.0)
    with pytest.raises(ValueError, match=r"window_seconds: must be finite and > 0"):
        GovernanceParams(window_seconds=0.0)
    gov, _ = make()
    with pytest.raises(ValueError, match=r"public_key must be 32 bytes"):
        gov.register_keeper("k3", b"short")


_KINDS = ("honest", "honest", "honest", "emergency", "forged", "replay", "unknown", "stale")
proposals = st.lists(
    st.tuples(
        st.integers(0, 5),  # steps since the previous proposal
        st.one_of(st.floats(-1.0, 10.0), st.just(math.nan), st.just(math.inf)),
        st.sampled_from(_KINDS),
        st.sampled_from(["k1", "k2"]),
        st.integers(0, 4),  # age of the data in steps (5 = stale)
    ),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(proposals)
def test_governance_accepted_values_never_leave_bounds_or_skip_timelock(stream) -> None:
    """Random proposal streams (honest, emergency, forged, replayed, unknown, stale; any value):
    every applied value is inside the bounds; an ordinary change applies no earlier than its
    time-lock and within the change limit of the value it was measured against; an emergency
    change applies at its acceptance step and only upward (safer); forged, replayed, unknown and
    stale proposals are always rejected, and a rejection never changes a value."""
    gov, events = make(timelock_seconds=240.0)  # 4 steps
    records: list[tuple[float, int, bool, float]] = []  # value, step, emergency, measured against
    delivered: list[Proposal] = []
    step = 0

    def release(s: int) -> None:
        for _, v in gov.due(s):
            value, at, emergency, against = records.pop(0)
            assert v == value and GUARD.min_value <= v <= GUARD.max_value
            if emergency:
                assert s == at and v > against
            else:
                assert s - at >= 4
                assert abs(v / against - 1.0) <= GUARD.max_change_frac + 1e-12

    for gap, value, kind, keeper, age in stream:
        for s in range(step + 1, step + gap + 1):
            release(s)
        step += gap
        if kind == "replay":
            if not delivered:
                continue
            p = delivered[-1]
        else:
            name = "intruder" if kind == "unknown" else keeper
            key = KEYS["mallory"] if kind in ("forged", "unknown") else KEYS[name]
            p_step = step - (10 if kind == "stale" else age)
            p = signed(name, "perp.mm_scale", value, p_step, emergency=kind == "emergency", key=key)
        latest, effective = gov.latest("perp.mm_scale"), gov.value("perp.mm_scale")
        status = gov.propose(p, now_step=step)
        delivered.append(p)
        if kind in ("forged", "replay", "unknown", "stale"):
            assert not status.accepted, (kind, status)
        if status.accepted:
            if p.emergency:
                records[:] = [r for r in records if r[2]]  # it cancels the queued changes
            records.append((p.value, step, p.emergency, effective if p.emergency else latest))
        else:
            assert (gov.latest("perp.mm_scale"), gov.value("perp.mm_scale")) == (latest, effective)
        release(step)
    for s in range(step + 1, step + 6):
        release(s)
    assert records == []  # every accepted change took effect (or was cancelled)
    n_events = events.count(EventKind.PROPOSAL_ACCEPTED) + events.count(EventKind.PROPOSAL_REJECTED)
    assert n_events == len(delivered) + gov.n_cancelled  # every decision is an event
