"""Wiring of governance and keepers into the world: build them from the scenario, deliver the
keepers' racing proposals each step, step the keepers, and publish the venue state they read."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from agents import FaultyKeeper, Keeper, KeeperParams
from experiments.recalibration_spec import FAULT_NAMES
from experiments.spec import ScenarioSpec
from protocols.governance import Governance
from protocols.risk.triggers import VenueSnapshot, oi_skew

if TYPE_CHECKING:
    from experiments.model import EcosystemModel

__all__ = ["Recalibration", "build_governance", "keeper_params"]


def build_governance(model: EcosystemModel) -> Governance:
    """Governance of the scenario's guarded parameters, starting from the venues' values."""
    spec = model.spec.governance
    return Governance(
        "governance",
        model.events,
        params=spec,
        step_seconds=model.step_seconds,
        initial_values={g.name: model._param_value(g.name) for g in spec.guards},
    )


def keeper_params(spec: ScenarioSpec) -> KeeperParams:
    """The keepers' decision rules declared by ``spec.recalibration`` and ``spec.agents``."""
    rec, agents = spec.recalibration, spec.agents
    kwargs = (("half_life_seconds", agents.keeper_half_life_seconds),)
    return KeeperParams(
        policy=rec.policy,
        policy_params=rec.policy_params,
        options=rec.options,
        triggers=rec.triggers,
        forecaster=rec.forecaster,
        forecaster_kwargs=kwargs if rec.forecaster == "ewma" else (),
        horizon_seconds=rec.horizon_seconds,
        decision_period_seconds=agents.keeper_period_seconds,
        deadband_frac=rec.deadband_frac,
    )


class Recalibration:
    """The keepers of a world and the plumbing between them and governance.

    Keepers watch every step and are stepped after the other agents, in an order shuffled by their
    own generator (``rng``), so that adding or removing keepers never changes what the other agents
    draw (variants differing only in their policy share common random numbers). They are created
    without drawing from the model's generator for the same reason.

    Parameters
    ----------
    model
        The world; ``model.governance`` must exist and the other agents must be populated.
    rng
        Generator for the keepers' order within a step (the tie-break of equal latencies).
    """

    def __init__(self, model: EcosystemModel, rng: np.random.Generator) -> None:
        self.model = model
        self.rng = rng
        spec = model.spec
        rec = spec.recalibration
        params = keeper_params(spec)
        reference = dict(zip(spec.market.assets, spec.market.vol_annual, strict=True))
        propose = spec.agents.recalibrate
        self.keepers: list[Keeper] = []
        for i in range(spec.agents.n_keepers):
            lat = rec.keeper_latencies_seconds[i % len(rec.keeper_latencies_seconds)]
            self.keepers.append(
                Keeper(
                    model,
                    params=params,
                    reference_vol_annual=reference,
                    latency_seconds=lat,
                    propose=propose,
                    emergency=rec.emergency_rights,
                )
            )
        victim = self.keepers[0].name if self.keepers else "keeper:unknown"
        for kind in rec.faulty:
            self.keepers.append(
                FaultyKeeper(
                    model,
                    fault=FAULT_NAMES[kind],
                    params=params,
                    reference_vol_annual=reference,
                    latency_seconds=rec.faulty_latency_seconds,
                    stale_seconds=max(3600.0, 4.0 * spec.governance.max_staleness_seconds),
                    victim=victim,
                    propose=propose,
                )
            )
        self._by_name = {k.name: k for k in self.keepers}
        self._snapshot_step = -1
        self._snapshot = VenueSnapshot(insurance_fund_usd=0.0, collateral_usd=0.0)

    def deliver(self, step: int) -> list[tuple[str, float]]:
        """Deliver the proposals that arrived by ``step`` (answers go back to their senders), then
        release the changes whose time-lock elapsed: the ``(param, value)`` pairs to apply."""
        gov = self.model.governance
        for sender, proposal, status in gov.deliver(step):
            keeper = self._by_name.get(sender)
            if keeper is not None:
                keeper.on_result(proposal, status)
        return gov.due(step)

    def step_keepers(self) -> None:
        """Every keeper watches (and maybe proposes) once, in a shuffled order."""
        for i in self.rng.permutation(len(self.keepers)):
            self.keepers[i].step()

    def snapshot(self) -> VenueSnapshot:
        """Public state of the perp venue this step (computed once per step)."""
        model = self.model
        if self._snapshot_step == model.steps:
            return self._snapshot
        perp = model.perp
        equity, maintenance, _ = perp.margin_state()
        total_mm = float(maintenance.sum())
        skews = [oi_skew(*perp.open_interest_usd(a)) for a in perp.params.market_assets]
        self._snapshot = VenueSnapshot(
            insurance_fund_usd=perp.insurance_fund_usd,
            collateral_usd=float(np.maximum(equity, 0.0).sum()),
            oi_skew=max(skews, key=abs) if skews else 0.0,
            concentration=float(maintenance.max()) / total_mm if total_mm > 0 else 0.0,
        )
        self._snapshot_step = model.steps
        return self._snapshot

    def statuses(self) -> dict[str, dict[str, int]]:
        """Per keeper, the count of each answer it received (by status name)."""
        return {k.name: {s.name: n for s, n in k.statuses.items()} for k in self.keepers}
