"""Keepers: forecast volatility off-chain and propose risk parameters to governance."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from agents.base import Participant
from protocols.governance import Proposal, ProposalStatus
from protocols.risk.ewma import EwmaForecaster, vol_scaled_margin

if TYPE_CHECKING:
    from experiments.model import EcosystemModel

__all__ = ["Keeper"]


class Keeper(Participant):
    """Watches oracle prices, forecasts volatility with EWMA, proposes volatility-scaled margins.

    Parameters
    ----------
    half_life_seconds
        Half-life of the EWMA (wall-clock).
    reference_vol_annual
        Per asset: the volatility at which the protocols' static margins are calibrated; the
        proposed scale is ``sigma_hat / sigma_ref`` (DOMAIN.md G1), the worst asset's ratio.
    propose
        ``False`` for a keeper that only forecasts (the static-margin variant keeps the same
        agents, so both variants see the same world up to the parameter changes).
    deadband_frac
        A new scale is proposed only if it differs from the effective value by more than this.

    Notes
    -----
    Proposals: ``perp.mm_scale = clamp(max_a sigma_hat_a/sigma_ref_a)`` within the guard's bounds
    and per-update change limit, and ``lending.ltv_scale = clamp(1/that ratio)`` so that new
    borrowing tightens when volatility rises. Governance may still reject (too soon after the last
    change, or a competing keeper was first); a rejection is an event, never an error.
    """

    def __init__(
        self,
        model: EcosystemModel,
        *,
        period_seconds: float,
        half_life_seconds: float,
        reference_vol_annual: dict[str, float],
        propose: bool,
        deadband_frac: float = 0.05,
    ) -> None:
        super().__init__(model, period_seconds=period_seconds, kind="keeper")
        self.name = f"keeper:{self.unique_id}"
        self.reference_vol_annual = reference_vol_annual
        self.propose = propose
        self.deadband_frac = deadband_frac
        self.forecasters = {
            a: EwmaForecaster(half_life_seconds=half_life_seconds, initial_vol_annual=v)
            for a, v in reference_vol_annual.items()
        }
        self._last_price = {a: model.oracle_price(a) for a in reference_vol_annual}
        self._last_step = model.steps
        model.governance.register_keeper(self.name)
        self.statuses: dict[ProposalStatus, int] = {}

    def vol_ratio(self) -> float:
        """Largest ratio of forecast to reference volatility over the watched assets."""
        return max(f.vol_annual / self.reference_vol_annual[a] for a, f in self.forecasters.items())

    def act(self) -> None:
        """Update forecasts from oracle prices; propose if the target moved past the deadband."""
        model = self.model
        dt = (model.steps - self._last_step) * model.step_seconds
        if dt <= 0:
            return
        for asset, forecaster in self.forecasters.items():
            price = model.oracle_price(asset)
            forecaster.update(math.log(price / self._last_price[asset]), dt)
            self._last_price[asset] = price
        self._last_step = model.steps
        if not self.propose:
            return
        gov = model.governance
        ratio = self.vol_ratio()
        for param, target in (("perp.mm_scale", ratio), ("lending.ltv_scale", 1.0 / ratio)):
            guard = gov.params.guard(param)
            if guard is None or model.steps < gov.next_allowed_step(param):
                continue
            current = gov.latest(param)
            # Step toward the target inside the change limit: a rate-limited guardrail is a
            # constraint the keeper plans around, not one it crashes into.
            lo = current * (1.0 - guard.max_change_frac)
            hi = current * (1.0 + guard.max_change_frac)
            value = vol_scaled_margin(
                target, 1.0, floor=max(lo, guard.min_value), cap=min(hi, guard.max_value)
            )
            if abs(value / current - 1.0) <= self.deadband_frac:
                continue
            status = gov.propose(Proposal(self.name, param, value, model.steps))
            self.statuses[status] = self.statuses.get(status, 0) + 1
