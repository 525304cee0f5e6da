"""Faulty and malicious keepers: every proposal they make must be rejected by governance.

- ``STALE``: a registered keeper whose node lags; it signs proposals stamped with old data.
- ``OUT_OF_BOUNDS``: a registered keeper with a broken model; it proposes values outside the hard
  bounds (validly signed).
- ``FORGED``: an outsider that impersonates an honest keeper, signing with its own key.
- ``REPLAY``: an outsider that re-sends proposals it saw delivered (authentic signatures, used
  nonces).

They watch the same prices as honest keepers and act at every decision step; they are the agents
the guardrails are tested against in a running world.
"""

from __future__ import annotations

import dataclasses
import math
from enum import IntEnum
from typing import TYPE_CHECKING

from agents.keeper import PRIMARY_LEVER, Keeper, KeeperParams
from protocols.governance import Proposal, ProposalStatus
from protocols.signing import derive_private_key

if TYPE_CHECKING:
    from experiments.model import EcosystemModel

__all__ = ["EXPECTED_REJECTION", "Fault", "FaultyKeeper"]


class Fault(IntEnum):
    """Kinds of faulty keeper."""

    STALE = 0
    OUT_OF_BOUNDS = 1
    FORGED = 2
    REPLAY = 3


EXPECTED_REJECTION: dict[Fault, ProposalStatus] = {
    Fault.STALE: ProposalStatus.STALE,
    Fault.OUT_OF_BOUNDS: ProposalStatus.OUT_OF_BOUNDS,
    Fault.FORGED: ProposalStatus.BAD_SIGNATURE,
    Fault.REPLAY: ProposalStatus.REPLAYED,
}
"""The status governance must answer each fault with."""


class FaultyKeeper(Keeper):
    """A keeper with a fault (see the module docstring).

    Parameters
    ----------
    fault
        What is wrong with it.
    stale_seconds
        ``STALE``: how old its data is (must exceed governance's ``max_staleness_seconds``).
    victim
        ``FORGED``: the name of the keeper it impersonates.
    **kwargs
        As for :class:`~agents.keeper.Keeper`.
    """

    def __init__(
        self,
        model: EcosystemModel,
        *,
        fault: Fault,
        params: KeeperParams,
        reference_vol_annual: dict[str, float],
        stale_seconds: float = 3600.0,
        victim: str = "",
        **kwargs,
    ) -> None:
        self.fault = Fault(fault)
        kwargs.setdefault("label", f"faulty-{self.fault.name.lower().replace('_', '-')}")
        super().__init__(model, params=params, reference_vol_annual=reference_vol_annual, **kwargs)
        self.stale_steps = math.ceil(stale_seconds / model.step_seconds)
        self.victim = victim
        self._replayed: set[bytes] = set()

    def register(self, emergency: bool) -> None:
        """Only the in-house faulty keepers are registered; outsiders are not."""
        if self.fault in (Fault.STALE, Fault.OUT_OF_BOUNDS):
            super().register(False)

    def act(self) -> None:
        """Watch prices like an honest keeper; at every decision step, misbehave."""
        self.observe()
        model = self.model
        if not self.propose or model.steps % self._decision_steps:
            return
        gov = model.governance
        guard = gov.params.guard(PRIMARY_LEVER)
        if guard is None:
            return
        step, current = model.steps, gov.latest(PRIMARY_LEVER)
        honest = min(guard.max_value, max(guard.min_value, current * self.vol_ratio()))
        if self.fault is Fault.STALE:
            self.send(Proposal(self.name, guard.name, honest, step - self.stale_steps))
        elif self.fault is Fault.OUT_OF_BOUNDS:
            self.send(Proposal(self.name, guard.name, 2.0 * guard.max_value, step))
        elif self.fault is Fault.FORGED and self.victim:
            forged = Proposal(
                self.victim, guard.name, honest, step, nonce=gov.next_nonce(self.victim)
            )
            # signed with a key that is not the victim's
            self.submit(forged.signed(derive_private_key(f"forger/{self.name}"), gov.domain))
        elif self.fault is Fault.REPLAY:
            fresh = [
                p
                for p, status in gov.recent
                if status.accepted and p.signature not in self._replayed
            ]
            if fresh:
                original = fresh[-1]
                self._replayed.add(original.signature)
                self.submit(dataclasses.replace(original))
