"""Keepers: forecast volatility off-chain, run a recalibration policy, sign and race proposals."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agents.base import Participant
from protocols.governance import Proposal, ProposalStatus
from protocols.risk.forecaster import SECONDS_PER_YEAR, make_forecaster
from protocols.risk.policies import (
    POLICIES,
    PolicyInputs,
    PolicyMemory,
    PolicyOptions,
    StaticParams,
    plan_within_guard,
    recalibrate,
)
from protocols.risk.triggers import Trigger, TriggerParams, evaluate_triggers, oracle_move_frac
from protocols.signing import derive_private_key, public_key_bytes

if TYPE_CHECKING:
    from experiments.model import EcosystemModel

__all__ = ["PRIMARY_LEVER", "Keeper", "KeeperParams"]

PRIMARY_LEVER = "perp.mm_scale"
"""The governed margin scale ``m`` a policy reads and proposes; every other guarded lever gets
``m ** safer_direction`` (``lending.ltv_scale = 1/m``)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class KeeperParams:
    """How a keeper forecasts and decides.

    Parameters
    ----------
    policy, policy_params, options
        Recalibration policy by name (:data:`protocols.risk.policies.POLICIES`), its parameters
        and options.
    triggers
        Trigger thresholds (oracle move, insurance fund, open-interest skew).
    forecaster, forecaster_kwargs
        Volatility forecaster by name (:func:`protocols.risk.forecaster.make_forecaster`), and its
        keyword arguments besides ``initial_vol_annual``.
    horizon_seconds
        Margin horizon the forecast variance is taken over (a real-time margin period of risk).
    decision_period_seconds
        The keeper runs its policy every period (aligned to the clock) and whenever a trigger
        fires; it watches prices every step.
    vov_half_life_seconds
        Half-life of the EWMA of squared log changes of the forecast (its vol-of-vol).
    deadband_frac
        A lever is proposed only if the planned value differs from the current one by more.
    """

    policy: str = "static"
    policy_params: Any = field(default_factory=StaticParams)
    options: PolicyOptions = field(default_factory=PolicyOptions)
    triggers: TriggerParams = field(default_factory=TriggerParams)
    forecaster: str = "ewma"
    forecaster_kwargs: tuple[tuple[str, Any], ...] = (("half_life_seconds", 6 * 3600.0),)
    horizon_seconds: float = 3600.0
    decision_period_seconds: float = 600.0
    vov_half_life_seconds: float = 6 * 3600.0
    deadband_frac: float = 0.02

    def __post_init__(self) -> None:
        entry = POLICIES.get(self.policy)
        if entry is None:
            raise ValueError(
                f"KeeperParams.policy: must be one of {sorted(POLICIES)}, got {self.policy!r}"
            )
        if not isinstance(self.policy_params, entry.params_type):
            raise ValueError(
                f"KeeperParams.policy_params: must be {entry.params_type.__name__} "
                f"for policy {self.policy!r}, got {type(self.policy_params).__name__}"
            )
        for name in ("horizon_seconds", "decision_period_seconds", "vov_half_life_seconds"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"KeeperParams.{name}: must be finite and > 0, got {v}")
        if not self.deadband_frac >= 0:
            raise ValueError(f"KeeperParams.deadband_frac: must be >= 0, got {self.deadband_frac}")


class Keeper(Participant):
    """Watches oracle prices every step, forecasts volatility, runs its policy, and submits signed
    proposals that reach governance after its latency.

    Parameters
    ----------
    model
        The world (``governance``, ``oracle_price``, ``venue_snapshot``).
    params
        Forecaster, policy and decision rules.
    reference_vol_annual
        Per asset: the volatility the static margins are calibrated at; the policy sees the largest
        ``sigma_hat / sigma_ref`` (DOMAIN.md G1).
    latency_seconds
        Delay from computing a proposal to its arrival at governance (the race).
    propose
        ``False`` mutes the keeper (it forecasts and decides, submits nothing).
    emergency
        Register with emergency rights (the circuit breaker's path).
    label
        Name prefix; the keeper is ``"<label>:<id>"``. Its key is derived from that name.

    Notes
    -----
    For each guarded lever ``p`` with safer direction ``d`` the target is ``m ** d`` and the
    proposed value is planned inside the hard bounds and, off the emergency path, inside the change
    limit around ``governance.latest(p)``; a lever still inside its minimum interval, or whose plan
    is within the deadband, is skipped. Rejections come back as statuses (:attr:`statuses`).
    """

    def __init__(
        self,
        model: EcosystemModel,
        *,
        params: KeeperParams,
        reference_vol_annual: dict[str, float],
        latency_seconds: float = 60.0,
        propose: bool = True,
        emergency: bool = False,
        label: str = "keeper",
    ) -> None:
        super().__init__(model, period_seconds=0.0, kind=label)
        self.name = f"{label}:{self.unique_id}"
        self.params = params
        self.reference_vol_annual = dict(reference_vol_annual)
        self.latency_steps = max(0, math.ceil(latency_seconds / model.step_seconds - 1e-9))
        self.propose = propose
        self.key = derive_private_key(f"{model.governance.domain}/{self.name}")
        self.nonce = 0
        self.memory = PolicyMemory()
        self.statuses: dict[ProposalStatus, int] = {}
        self.n_submitted = 0
        self.forecasters = {
            a: make_forecaster(
                params.forecaster, initial_vol_annual=v, **dict(params.forecaster_kwargs)
            )
            for a, v in self.reference_vol_annual.items()
        }
        window_steps = max(1, math.ceil(params.triggers.oracle_window_seconds / model.step_seconds))
        self._prices = {
            a: deque([model.oracle_price(a)], maxlen=window_steps + 1)
            for a in self.reference_vol_annual
        }
        self._decision_steps = max(1, round(params.decision_period_seconds / model.step_seconds))
        self._last_step = model.steps
        self._log_vol = math.nan
        self._vov_var_per_s = 0.0
        self._vov_time_s = 0.0
        self.last_triggers = Trigger.NONE
        self.register(emergency)

    def register(self, emergency: bool) -> None:
        """Register this keeper's public key with governance."""
        self.model.governance.register_keeper(
            self.name, public_key_bytes(self.key), emergency=emergency
        )

    # ------------------------------------------------------------------ forecasting
    def vol_ratio(self) -> float:
        """Largest ratio of forecast (over the horizon, annualised) to reference volatility."""
        h = self.params.horizon_seconds
        return max(
            math.sqrt(max(f.forecast_variance(h), 0.0) / h * SECONDS_PER_YEAR)
            / self.reference_vol_annual[a]
            for a, f in self.forecasters.items()
        )

    def vol_of_vol(self) -> float:
        """Relative uncertainty of the forecast over the horizon: ``sqrt(v_dlogsigma * h)``."""
        return math.sqrt(self._vov_var_per_s * self.params.horizon_seconds)

    def observe(self) -> float:
        """Fold the oracle prices since the last step into the forecasters; return the largest
        oracle move within the trigger window."""
        model = self.model
        dt = (model.steps - self._last_step) * model.step_seconds
        move = 0.0
        if dt > 0:
            for asset, f in self.forecasters.items():
                price = model.oracle_price(asset)
                window = self._prices[asset]
                f.update(math.log(price / window[-1]), dt)
                window.append(price)
                move = max(move, oracle_move_frac(window))
            self._last_step = model.steps
        return move

    @property
    def warmed_up(self) -> bool:
        """Whether the keeper has watched a full trigger window."""
        return all(len(w) == w.maxlen for w in self._prices.values())

    def _update_vov(self, ratio: float) -> None:
        t = self.model.steps * self.model.step_seconds
        log_vol = math.log(max(ratio, 1e-12))
        if not math.isnan(self._log_vol) and t > self._vov_time_s:
            dt = t - self._vov_time_s
            lam = 0.5 ** (dt / self.params.vov_half_life_seconds)
            d = log_vol - self._log_vol
            self._vov_var_per_s = lam * self._vov_var_per_s + (1.0 - lam) * d * d / dt
        self._log_vol, self._vov_time_s = log_vol, t

    # ------------------------------------------------------------------ deciding
    def act(self) -> None:
        """Watch prices; at decision steps (or on a trigger) run the policy and submit."""
        model = self.model
        move = self.observe()
        snap = model.venue_snapshot()
        insurance = (
            snap.insurance_fund_usd / snap.collateral_usd if snap.collateral_usd > 0 else math.inf
        )
        fired = Trigger.NONE
        if self.warmed_up:  # a trigger needs a full window of observations
            fired = evaluate_triggers(
                self.params.triggers, oracle_move=move, insurance=insurance, skew=snap.oi_skew
            )
        self.last_triggers = fired
        if model.steps % self._decision_steps and not fired:
            return
        ratio = self.vol_ratio()
        self._update_vov(ratio)
        gov = model.governance
        last = gov.last_accepted_step(PRIMARY_LEVER)
        inputs = PolicyInputs(
            time_seconds=model.steps * model.step_seconds,
            current_scale=gov.latest(PRIMARY_LEVER),
            vol_ratio=ratio,
            vol_of_vol=self.vol_of_vol(),
            triggers=fired,
            concentration=snap.concentration,
            last_change_seconds=0.0 if last is None else last * model.step_seconds,
        )
        p = self.params
        decision = recalibrate(p.policy, p.policy_params, inputs, self.memory, p.options)
        self.memory = decision.memory
        if not self.propose or decision.reason == "hold":
            return
        for guard in gov.params.guards:
            self._propose_lever(guard, decision.scale, decision.emergency)

    def _propose_lever(self, guard, scale: float, emergency: bool) -> None:
        gov, step = self.model.governance, self.model.steps
        if not emergency and step < gov.next_allowed_step(guard.name):
            return
        direction = guard.safer_direction
        target = scale**direction
        current = gov.value(guard.name) if emergency else gov.latest(guard.name)
        value = plan_within_guard(
            target,
            current,
            min_value=guard.min_value,
            max_value=guard.max_value,
            max_change_frac=guard.max_change_frac,
            emergency=emergency,
        )
        if emergency and (value - current) * direction <= 0.0:
            return  # already at least as safe: nothing for the emergency path to do
        if abs(value / current - 1.0) <= self.params.deadband_frac:
            return
        self.send(Proposal(self.name, guard.name, value, step, emergency=emergency))

    def send(self, proposal: Proposal) -> None:
        """Sign ``proposal`` with the next nonce and submit it; it arrives after the latency."""
        gov = self.model.governance
        p = Proposal(
            proposal.keeper,
            proposal.param,
            proposal.value,
            proposal.step,
            nonce=self.nonce,
            emergency=proposal.emergency,
        ).signed(self.key, gov.domain)
        self.nonce += 1
        self.submit(p)

    def submit(self, proposal: Proposal) -> None:
        """Put a (signed) proposal in governance's mempool, arriving after the latency."""
        arrival = self.model.steps + self.latency_steps
        self.model.governance.submit(proposal, arrival, sender=self.name)
        self.n_submitted += 1

    def on_result(self, proposal: Proposal, status: ProposalStatus) -> None:
        """Governance's answer to one of this keeper's submissions."""
        self.statuses[status] = self.statuses.get(status, 0) + 1
