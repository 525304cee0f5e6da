"""Guarded, time-locked governance of risk parameters, with signed proposals and keeper races.

Keepers propose new values for named parameters (``"perp.mm_scale"``, ``"lending.ltv_scale"``).
Every proposal is signed with the keeper's Ed25519 key over a canonical message
(:mod:`protocols.signing`). Governance accepts a proposal only from a registered keeper, only with a
valid signature and a fresh nonce (no replays), only if its data is recent (not stale), only inside
the parameter's hard bounds, only within its per-update change limit, only after its minimum
interval since the last accepted change, and only if no other proposal already won its window (the
race: keepers submit with their own latency, :meth:`Governance.submit`, and the first valid arrival
of a window wins). An accepted change waits in a queue behind the time-lock and takes effect when
:meth:`Governance.due` releases it. An emergency proposal from a keeper with emergency rights skips
the time-lock and the change limit but must stay inside the hard bounds and may only move the
parameter in its safer direction. Every decision is an event with its reason.

The guardrail shape follows Aave's risk stewards (DOMAIN.md F [S]: per-parameter
``maxPercentChange`` and ``minDelay``) and the Compound/Aave timelocks; the defaults of a run are
chosen for real-time recalibration (minutes, not days) and are parameters, because those are what
protocol designers vary.
"""

from __future__ import annotations

import dataclasses
import heapq
import math
from collections import deque
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING

from protocols.events import EventLog
from protocols.governance_params import GovernanceParams, GuardedParam
from protocols.signing import proposal_message, sign_message, verify_signature
from protocols.types import EventKind

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

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
    BAD_SIGNATURE = 8  # missing, malformed, forged, or signed for another domain
    REPLAYED = 9  # nonce not above the keeper's last used nonce
    STALE = 10  # computed from data older than max_staleness_seconds (or from the future)
    WINDOW_TAKEN = 11  # another proposal already won this parameter's window (lost the race)
    EMERGENCY_DENIED = 12  # no emergency rights, or the move is not in the safer direction
    EMERGENCY_APPLIED = 13  # accepted on the emergency path: takes effect at once
    CANCELLED = 14  # a queued change cancelled by an emergency change (event detail only)

    @property
    def accepted(self) -> bool:
        """Whether the proposal was accepted (queued or applied on the emergency path)."""
        return self in (ProposalStatus.QUEUED, ProposalStatus.EMERGENCY_APPLIED)


@dataclass(frozen=True, slots=True)
class Proposal:
    """A keeper's proposed value for one parameter, computed from the data of step ``step``.

    ``nonce`` must be strictly above the keeper's last nonce; ``emergency`` asks for the emergency
    path; ``signature`` is the Ed25519 signature of :meth:`message` (see :meth:`signed`).
    """

    keeper: str
    param: str
    value: float
    step: int
    nonce: int = 0
    emergency: bool = False
    signature: bytes = b""

    def message(self, domain: str) -> bytes:
        """The canonical bytes a keeper signs for governance ``domain``."""
        return proposal_message(
            domain=domain,
            keeper=self.keeper,
            param=self.param,
            value=self.value,
            step=self.step,
            nonce=self.nonce,
            emergency=self.emergency,
        )

    def signed(self, key: Ed25519PrivateKey, domain: str) -> Proposal:
        """This proposal with its signature under ``key`` for governance ``domain``."""
        return dataclasses.replace(self, signature=sign_message(key, self.message(domain)))


@dataclass(slots=True)
class _Queued:
    param: str
    value: float
    eta_step: int
    keeper: str
    accepted_step: int
    emergency: bool = False


@dataclass(frozen=True, slots=True)
class _Keeper:
    public_key: bytes
    emergency: bool


class Governance:
    """Verifies, checks, queues and releases parameter changes.

    Parameters
    ----------
    name
        Name used in the event log; also the signing domain unless ``domain`` is given.
    events
        The world's event log.
    params
        Time-lock, guards, race window, staleness and emergency cooldown.
    step_seconds
        Length of a step in seconds.
    initial_values
        Current value of every governed parameter.
    domain
        Signing domain of this instance (default: ``name``).
    """

    def __init__(
        self,
        name: str,
        events: EventLog,
        *,
        params: GovernanceParams,
        step_seconds: int,
        initial_values: dict[str, float],
        domain: str | None = None,
    ) -> None:
        self.name = name
        self.domain = domain or name
        self.events = events
        self.params = params
        self.step_seconds = step_seconds
        self._keepers: dict[str, _Keeper] = {}
        self._nonces: dict[str, int] = {}
        self._values = dict(initial_values)  # effective values
        self._pending: dict[str, float] = {}  # latest accepted-but-not-effective value
        self._last_accepted_step: dict[str, int] = {}
        self._last_emergency_step: dict[str, int] = {}
        self._won: dict[tuple[str, bool], int] = {}  # (param, emergency lane) -> last won window
        self._queue: list[_Queued] = []
        self._mempool: list[tuple[int, int, str, Proposal]] = []
        self._seq = 0
        # public chain history: the last delivered proposals and their outcomes
        self.recent: deque[tuple[Proposal, ProposalStatus]] = deque(maxlen=64)
        self.n_accepted = 0
        self.n_rejected = 0
        self.n_emergency = 0
        self.n_cancelled = 0
        self.rejections: dict[ProposalStatus, int] = {}
        for g in params.guards:
            if g.name not in self._values:
                raise ValueError(f"Governance.initial_values: missing a value for {g.name!r}")

    def _steps(self, seconds: float) -> int:
        return math.ceil(seconds / self.step_seconds - 1e-9)

    def register_keeper(self, keeper: str, public_key: bytes, *, emergency: bool = False) -> None:
        """Allow ``keeper`` to propose, signing with ``public_key`` (32 raw bytes); ``emergency``
        grants the emergency path."""
        if len(public_key) != 32:
            raise ValueError(
                f"Governance.register_keeper: public_key must be 32 bytes, got {len(public_key)}"
            )
        self._keepers[keeper] = _Keeper(bytes(public_key), emergency)

    def value(self, param: str) -> float:
        """Effective value of ``param``."""
        return self._values[param]

    def latest(self, param: str) -> float:
        """The value the next proposal is measured against: the last accepted (maybe still
        time-locked) value, else the effective one."""
        return self._pending.get(param, self._values[param])

    def window(self, step: int) -> int:
        """Race window of data from ``step``."""
        return step // max(1, self._steps(self.params.window_seconds))

    def next_nonce(self, keeper: str) -> int:
        """The smallest nonce ``keeper`` may use next (public on-chain state)."""
        return self._nonces.get(keeper, -1) + 1

    def last_accepted_step(self, param: str) -> int | None:
        """Step of the last accepted change of ``param`` (None if none)."""
        return self._last_accepted_step.get(param)

    def next_allowed_step(self, param: str) -> int:
        """First step at which a new proposal for ``param`` passes the minimum interval (public
        on-chain state: a keeper reads it before spending gas)."""
        guard = self.params.guard(param)
        last = self._last_accepted_step.get(param)
        if guard is None or last is None:
            return 0
        return last + self._steps(guard.min_interval_seconds)

    # ------------------------------------------------------------------ the race
    def submit(self, proposal: Proposal, arrival_step: int, *, sender: str = "") -> None:
        """Put ``proposal`` in the mempool; it is checked when :meth:`deliver` reaches
        ``arrival_step`` (submission step plus the keeper's latency). ``sender`` is who sent the
        transaction (it need not be the keeper who signed the proposal)."""
        heapq.heappush(self._mempool, (arrival_step, self._seq, sender, proposal))
        self._seq += 1

    def deliver(self, step: int) -> list[tuple[str, Proposal, ProposalStatus]]:
        """Check every proposal that has arrived by ``step``, in arrival order (then submission
        order); the first valid one of a window wins. Returns ``(sender, proposal, status)``."""
        out = []
        while self._mempool and self._mempool[0][0] <= step:
            _, _, sender, proposal = heapq.heappop(self._mempool)
            out.append((sender, proposal, self.propose(proposal, now_step=step)))
        return out

    @property
    def mempool_length(self) -> int:
        """Submitted proposals not yet delivered."""
        return len(self._mempool)

    # ------------------------------------------------------------------ decisions
    def propose(self, proposal: Proposal, *, now_step: int | None = None) -> ProposalStatus:
        """Check a proposal arriving at ``now_step`` (default: its own step); queue it behind the
        time-lock, or on the emergency path apply it at the next :meth:`due`."""
        now = proposal.step if now_step is None else now_step
        status = self._check(proposal, now)
        self.recent.append((proposal, status))
        p = proposal
        if status.accepted:
            self._accept(p, now)
            self.n_accepted += 1
            self.events.record(
                EventKind.PROPOSAL_ACCEPTED,
                self.name,
                asset=p.param,
                amount=p.value,
                detail=f"{status.name} keeper={p.keeper} window={self.window(p.step)}",
            )
        else:
            self.n_rejected += 1
            self.rejections[status] = self.rejections.get(status, 0) + 1
            self.events.record(
                EventKind.PROPOSAL_REJECTED,
                self.name,
                asset=p.param,
                amount=p.value if math.isfinite(p.value) else 0.0,
                detail=f"{status.name} keeper={p.keeper}",
            )
        return status

    def _accept(self, p: Proposal, now: int) -> None:
        self._won[(p.param, p.emergency)] = self.window(p.step)
        self._pending[p.param] = p.value
        self._last_accepted_step[p.param] = now
        if not p.emergency:
            eta = now + self._steps(self.params.timelock_seconds)
            self._queue.append(_Queued(p.param, p.value, eta, p.keeper, now))
            return
        # the emergency change supersedes every queued change of the parameter
        for q in [q for q in self._queue if q.param == p.param]:
            self.n_cancelled += 1
            self.events.record(
                EventKind.PROPOSAL_REJECTED,
                self.name,
                asset=q.param,
                amount=q.value,
                detail=f"{ProposalStatus.CANCELLED.name} keeper={q.keeper} by={p.keeper}",
            )
        self._queue = [q for q in self._queue if q.param != p.param]
        self._queue.append(_Queued(p.param, p.value, now, p.keeper, now, emergency=True))
        self._last_emergency_step[p.param] = now
        self.n_emergency += 1

    def _check(self, p: Proposal, now: int) -> ProposalStatus:
        keeper = self._keepers.get(p.keeper)
        if keeper is None:
            return ProposalStatus.UNKNOWN_KEEPER
        if not verify_signature(keeper.public_key, p.message(self.domain), p.signature):
            return ProposalStatus.BAD_SIGNATURE
        if p.nonce < self.next_nonce(p.keeper):
            return ProposalStatus.REPLAYED
        self._nonces[p.keeper] = p.nonce  # an authentic message uses its nonce up
        if p.step > now or (now - p.step) * self.step_seconds > self.params.max_staleness_seconds:
            return ProposalStatus.STALE
        guard = self.params.guard(p.param)
        if guard is None:
            return ProposalStatus.UNKNOWN_PARAM
        if not math.isfinite(p.value):
            return ProposalStatus.NOT_FINITE
        if not guard.min_value <= p.value <= guard.max_value:
            return ProposalStatus.OUT_OF_BOUNDS
        if self._won.get((p.param, p.emergency)) == self.window(p.step):
            return ProposalStatus.WINDOW_TAKEN
        if p.emergency:
            return self._check_emergency(p, now, guard, keeper)
        current = self.latest(p.param)
        if p.value == current:
            return ProposalStatus.UNCHANGED
        if abs(p.value / current - 1.0) > guard.max_change_frac + 1e-12:
            return ProposalStatus.CHANGE_TOO_LARGE
        if now < self.next_allowed_step(p.param):
            return ProposalStatus.TOO_SOON
        return ProposalStatus.QUEUED

    def _check_emergency(
        self, p: Proposal, now: int, guard: GuardedParam, keeper: _Keeper
    ) -> ProposalStatus:
        if not keeper.emergency:
            return ProposalStatus.EMERGENCY_DENIED
        current = self._values[p.param]
        if p.value == current:
            return ProposalStatus.UNCHANGED
        if (p.value - current) * guard.safer_direction < 0.0:
            return ProposalStatus.EMERGENCY_DENIED
        last = self._last_emergency_step.get(p.param)
        if last is not None and now - last < self._steps(self.params.emergency_cooldown_seconds):
            return ProposalStatus.TOO_SOON
        return ProposalStatus.EMERGENCY_APPLIED

    def due(self, step: int) -> list[tuple[str, float]]:
        """Release the queued changes whose time-lock has elapsed, oldest first (emergency changes
        are due at their acceptance step)."""
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
                detail=f"keeper={q.keeper}" + (" emergency" if q.emergency else ""),
            )
            out.append((q.param, q.value))
        return out

    @property
    def queue_length(self) -> int:
        """Number of accepted changes waiting for their time-lock."""
        return len(self._queue)
