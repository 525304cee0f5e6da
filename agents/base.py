"""Participant: a Mesa agent with a wallet on the ledger and its own activation clock."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import mesa

if TYPE_CHECKING:
    from experiments.model import EcosystemModel

__all__ = ["Participant"]


class Participant(mesa.Agent):
    """An agent that owns a ledger wallet and wakes on its own clock.

    Parameters
    ----------
    model
        The world.
    period_seconds
        Mean time between activations. Activation is a Poisson clock (exponential gaps, rounded up
        to whole steps), so agents do not all act every step; ``0`` means every step.
    kind
        Prefix of the wallet name on the ledger (``"trader:17"``).
    """

    model: EcosystemModel

    def __init__(self, model: EcosystemModel, *, period_seconds: float, kind: str) -> None:
        super().__init__(model)
        self.period_steps = period_seconds / model.step_seconds
        self.wallet = model.ledger.open_holder(f"{kind}:{self.unique_id}")
        self.n_actions = 0

    def next_delay_steps(self) -> int:
        """Steps until the next activation: 1 + a geometric gap with the configured mean."""
        if self.period_steps <= 1.0:
            return 1
        # exponential gap, then whole steps; mean ~= period_steps
        return max(1, math.ceil(self.model.rng.exponential(self.period_steps)))

    def act(self) -> None:  # pragma: no cover - overridden
        """One activation: observe, decide, call protocol methods."""
        raise NotImplementedError

    def step(self) -> None:
        """Mesa entry point; the model calls :meth:`act` on due agents instead of every step."""
        self.act()
        self.n_actions += 1
