"""Guarded, time-locked governance of risk parameters.

Keepers propose new values for named parameters (``"perp.mm_scale"``, ``"lending.ltv_scale"``).
Governance accepts a proposal only from a registered keeper, only inside the parameter's hard
bounds, only within its per-update change limit and only after its minimum interval since the last
accepted change; an accepted change waits in a queue behind the time-lock and takes effect when
:meth:`Governance.due` releases it. Every decision is an event with its reason.

The guardrail shape follows Aave's risk stewards (DOMAIN.md F [S]: per-parameter
``maxPercentChange``
and ``minDelay``) and the Compound/Aave timelocks; the defaults of a run are chosen for real-time
recalibration (minutes, not days) and are parameters, because those are what protocol designers
vary.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import IntEnum

from protocols.events import EventLog
from protocols.types import EventKind

__all__ = ["Governance", "GovernanceParams", "GuardedParam", "Proposal", "ProposalStatus"]


class ProposalStatus(IntEnum):
    """Outcome of :meth:`Governance.propose`."""

    QUEUED = 0
    UNKNOWN_KEEPER = 1
    UNKNOWN_PARAM = 2
    NOT_FINITE = 3
    OUT_OF_BOUNDS = 4
    CHANGE_TOO_LARGE = 5
    TOO_SOON = 6
    UNCHANGED = 7


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
    """

    name: str
    min_value: float
    max_value: float
    max_change_frac: float = 0.5
    min_interval_seconds: float = 3600.0

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
    """

    timelock_seconds: float = 1800.0
    guards: tuple[GuardedParam, ...] = field(default_factory=_default_guards)

    def __post_init__(self) -> None:
        if self.timelock_seconds < 0.0:
            raise ValueError(
                f"GovernanceParams.timelock_seconds: must be >= 0, got {self.timelock_seconds}"
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


@dataclass(frozen=True, slots=True)
class Proposal:
    """A keeper's proposed value for one parameter at one step."""

    keeper: str
    param: str
    value: float
    step: int


@dataclass(slots=True)
class _Queued:
    param: str
    value: float
    eta_step: int
    keeper: str


class Governance:
    """Checks, queues and releases parameter changes.

    Parameters
    ----------
    name
        Name used in the event log.
    events
        The world's event log.
    params
        Time-lock and guards.
    step_seconds
        Length of a step in seconds.
    initial_values
        Current value of every governed parameter.
    """

    def __init__(
        self,
        name: str,
        events: EventLog,
        *,
        params: GovernanceParams,
        step_seconds: int,
        initial_values: dict[str, float],
    ) -> None:
        self.name = name
        self.events = events
        self.params = params
        self.step_seconds = step_seconds
        self._keepers: set[str] = set()
        self._values = dict(initial_values)  # effective values
        self._pending: dict[str, float] = {}  # latest accepted-but-not-effective value
        self._last_accepted_step: dict[str, int] = {}
        self._queue: list[_Queued] = []
        self.n_accepted = 0
        self.n_rejected = 0
        for g in params.guards:
            if g.name not in self._values:
                raise ValueError(f"Governance.initial_values: missing a value for {g.name!r}")

    def register_keeper(self, keeper: str) -> None:
        """Allow ``keeper`` to propose."""
        self._keepers.add(keeper)

    def value(self, param: str) -> float:
        """Effective value of ``param``."""
        return self._values[param]

    def latest(self, param: str) -> float:
        """The value the next proposal is measured against: the last accepted (maybe still
        time-locked) value, else the effective one."""
        return self._pending.get(param, self._values[param])

    def next_allowed_step(self, param: str) -> int:
        """First step at which a new proposal for ``param`` passes the minimum interval (public
        on-chain state: a keeper reads it before spending gas)."""
        guard = self.params.guard(param)
        last = self._last_accepted_step.get(param)
        if guard is None or last is None:
            return 0
        return last + math.ceil(guard.min_interval_seconds / self.step_seconds)

    def propose(self, proposal: Proposal) -> ProposalStatus:
        """Check a proposal against the guardrails; queue it behind the time-lock if it passes."""
        status = self._check(proposal)
        if status is ProposalStatus.QUEUED:
            delay_steps = math.ceil(self.params.timelock_seconds / self.step_seconds)
            self._queue.append(
                _Queued(
                    proposal.param, proposal.value, proposal.step + delay_steps, proposal.keeper
                )
            )
            self._pending[proposal.param] = proposal.value
            self._last_accepted_step[proposal.param] = proposal.step
            self.n_accepted += 1
            self.events.record(
                EventKind.PROPOSAL_ACCEPTED,
                self.name,
                asset=proposal.param,
                amount=proposal.value,
                detail=f"keeper={proposal.keeper}",
            )
        else:
            self.n_rejected += 1
            self.events.record(
                EventKind.PROPOSAL_REJECTED,
                self.name,
                asset=proposal.param,
                amount=proposal.value if math.isfinite(proposal.value) else 0.0,
                detail=f"{status.name} keeper={proposal.keeper}",
            )
        return status

    def _check(self, p: Proposal) -> ProposalStatus:
        if p.keeper not in self._keepers:
            return ProposalStatus.UNKNOWN_KEEPER
        guard = self.params.guard(p.param)
        if guard is None:
            return ProposalStatus.UNKNOWN_PARAM
        if not math.isfinite(p.value):
            return ProposalStatus.NOT_FINITE
        if not guard.min_value <= p.value <= guard.max_value:
            return ProposalStatus.OUT_OF_BOUNDS
        current = self._pending.get(p.param, self._values[p.param])
        if p.value == current:
            return ProposalStatus.UNCHANGED
        if abs(p.value / current - 1.0) > guard.max_change_frac + 1e-12:
            return ProposalStatus.CHANGE_TOO_LARGE
        last = self._last_accepted_step.get(p.param)
        if last is not None and (p.step - last) * self.step_seconds < guard.min_interval_seconds:
            return ProposalStatus.TOO_SOON
        return ProposalStatus.QUEUED

    def due(self, step: int) -> list[tuple[str, float]]:
        """Release the queued changes whose time-lock has elapsed, oldest first."""
        if not self._queue:
            return []
        ready = [q for q in self._queue if q.eta_step <= step]
        if not ready:
            return []
        self._queue = [q for q in self._queue if q.eta_step > step]
        out = []
        for q in ready:
            self._values[q.param] = q.value
            if self._pending.get(q.param) == q.value and not any(
                r.param == q.param for r in self._queue
            ):
                self._pending.pop(q.param, None)
            self.events.record(
                EventKind.PARAM_APPLIED,
                self.name,
                asset=q.param,
                amount=q.value,
                detail=f"keeper={q.keeper}",
            )
            out.append((q.param, q.value))
        return out

    @property
    def queue_length(self) -> int:
        """Number of accepted changes waiting for their time-lock."""
        return len(self._queue)
