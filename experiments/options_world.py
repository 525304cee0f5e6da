"""The option venues inside one step of the world: accrual (expiries, breakers, LP queue, the
AMM's hedge), the exchange's liquidations, LP-share marks, per-step metrics and run outcomes.

:class:`OptionVenues` is created by :class:`~experiments.model.EcosystemModel` when the scenario
has an option venue (``ScenarioSpec.options``); the model calls its hooks from the matching phase
of ARCHITECTURE.md's step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from experiments.options_spec import hedger_label
from protocols.types import EventKind

if TYPE_CHECKING:
    from experiments.model import EcosystemModel

__all__ = ["OPTION_COLUMNS", "OptionVenues", "option_columns"]

_AMM_COLUMNS = (
    "options_amm_nav_usd",
    "options_amm_share_price_usd",
    "options_amm_free_liquidity_usd",
    "options_amm_net_delta_base",
    "options_amm_hedge_base",
    "options_amm_net_vega_usd",
    "options_amm_hedge_cost_usd",
    "options_amm_fees_usd",
    "options_amm_breaker_active",
)
_PM_COLUMNS = (
    "pm_insurance_fund_usd",
    "pm_bad_debt_usd",
    "pm_liquidation_volume_usd",
    "pm_maintenance_margin_usd",
    "pm_equity_usd",
    "pm_n_liquidatable",
    "mm_hedge_cost_usd",
)
OPTION_COLUMNS = _AMM_COLUMNS + _PM_COLUMNS
"""Per-step columns of the option venues (steps.parquet), present when the venue exists."""

_HOUR_S = 3600


def option_columns(amm: bool, pm_exchange: bool) -> tuple[str, ...]:
    """The per-step columns recorded for a scenario with these venues."""
    return (_AMM_COLUMNS if amm else ()) + (_PM_COLUMNS if pm_exchange else ())


def _drawdown(x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    if x.size == 0:
        return float("nan")
    peak = np.maximum.accumulate(x)
    return float(np.max(1.0 - x / peak))


class OptionVenues:
    """The hooks of the options AMM and the portfolio-margin exchange of one world."""

    def __init__(self, model: EcosystemModel) -> None:
        self.model = model
        self.amm = model.options_amm
        self.pm = model.pm_exchange
        self.columns = option_columns(self.amm is not None, self.pm is not None)
        self._pm_volume = 0.0
        self._pm_flagged = 0
        self.amm_share_price_start = self.amm.share_price_usd if self.amm is not None else 0.0

    # ------------------------------------------------------------------ phases
    def accrue(self, step: int) -> None:
        """Phase 4: expiries and settlement, breakers, LP queue, the AMM's delta hedge."""
        if self.pm is not None:
            self.pm.accrue(step)
        if self.amm is not None:
            self.amm.accrue(step)

    def liquidate(self) -> float:
        """Phase 6: the exchange's margin pass and incremental liquidations; returns the volume
        liquidated this step (USD)."""
        if self.pm is None:
            return 0.0
        # liquidate() runs the margin pass itself: its count is the accounts found below
        # maintenance (a second pass here would double the exchange's margin work per step)
        summary = self.pm.liquidate()
        self._pm_flagged = int(summary.n_accounts)
        self._pm_volume = float(summary.volume_usd)
        return self._pm_volume

    def marks(self) -> dict[str, float]:
        """Phase 7: the LP share price of the options AMM, from the pool's state."""
        if self.amm is None:
            return {}
        return {self.amm.lp_asset: self.amm.share_price_usd}

    def collect(self, i: int, data: dict[str, np.ndarray]) -> None:
        """Phase 8: write row ``i`` of the option columns."""
        amm, pm = self.amm, self.pm
        if amm is not None:
            data["options_amm_nav_usd"][i] = amm.nav_usd
            data["options_amm_share_price_usd"][i] = amm.share_price_usd
            data["options_amm_free_liquidity_usd"][i] = amm.free_liquidity_usd
            data["options_amm_net_delta_base"][i] = amm.net_delta_base
            data["options_amm_hedge_base"][i] = amm.hedge_size_base
            data["options_amm_net_vega_usd"][i] = amm.net_vega_usd
            data["options_amm_hedge_cost_usd"][i] = amm.hedge_cost_total_usd
            data["options_amm_fees_usd"][i] = amm.fees_total_usd
            data["options_amm_breaker_active"][i] = float(amm.breaker_active(self.model.steps))
        if pm is not None:
            equity, _, maintenance = pm.margin_state()
            data["pm_insurance_fund_usd"][i] = pm.insurance_fund_usd
            data["pm_bad_debt_usd"][i] = pm.bad_debt_total
            data["pm_liquidation_volume_usd"][i] = self._pm_volume
            data["pm_maintenance_margin_usd"][i] = float(maintenance.sum())
            data["pm_equity_usd"][i] = float(equity.sum())
            data["pm_n_liquidatable"][i] = self._pm_flagged
            data["mm_hedge_cost_usd"][i] = sum(m.hedge_cost_usd for m in self.model.option_makers)
            self._pm_volume = 0.0

    # ------------------------------------------------------------------ outcomes
    def losses_usd(self) -> float:
        """Losses borne by others than the loser: exchange bad debt and unpaid AMM settlement."""
        loss = 0.0
        if self.pm is not None:
            loss += self.pm.bad_debt_total
        if self.amm is not None:
            loss += self.amm.settlement_shortfall_total_usd
        return loss

    def outcomes(self, steps: pd.DataFrame, events: pd.DataFrame) -> dict:
        """Outcome columns of the option venues and market makers (a row of runs.parquet)."""
        out: dict = {}
        amm, pm = self.amm, self.pm
        if amm is not None:
            price = steps["options_amm_share_price_usd"].to_numpy(dtype=np.float64)
            start = self.amm_share_price_start
            active = steps["options_amm_breaker_active"].to_numpy(dtype=np.float64)
            trips = sum(amm.breaker_trips.values())
            out.update(
                {
                    "options_amm_lp_drawdown_frac": _drawdown(np.concatenate([[start], price])),
                    "options_amm_share_price_change_frac": (
                        float(price[-1] / start - 1.0) if price.size and start > 0 else np.nan
                    ),
                    "options_amm_nav_end_usd": amm.nav_usd,
                    "options_amm_breaker_trips": int(trips),
                    "options_amm_breaker_hours": float(
                        np.nansum(active) * self.model.step_seconds / _HOUR_S
                    ),
                    "options_amm_hedge_cost_usd": amm.hedge_cost_total_usd,
                    "options_amm_fees_usd": amm.fees_total_usd,
                    "options_amm_settlement_paid_usd": amm.settlement_paid_total_usd,
                    "options_amm_settlement_shortfall_usd": amm.settlement_shortfall_total_usd,
                    "options_amm_solvent": bool(
                        amm.nav_usd > 0.0 and amm.settlement_shortfall_total_usd <= 0.01
                    ),
                }
            )
            for kind, n in sorted(amm.breaker_trips.items()):
                out[f"options_amm_trips_{kind}"] = int(n)
        if pm is not None:
            out.update(
                {
                    "pm_bad_debt_usd": pm.bad_debt_total,
                    "pm_liquidation_volume_usd": float(steps["pm_liquidation_volume_usd"].sum()),
                    "pm_insurance_fund_end_usd": pm.insurance_fund_usd,
                    "pm_adl_volume_usd": pm.adl_volume_total,
                }
            )
        n_hedges = 0
        if len(events):
            n_hedges = int((events["kind"] == EventKind.HEDGE.name).sum())
        out["option_hedge_events"] = n_hedges
        for maker in self.model.option_makers:
            label = hedger_label(maker.label)
            pnl = np.asarray(maker.pnl_history, dtype=np.float64)
            out[f"hedger_{label}_hedge_cost_usd"] = float(maker.hedge_cost_usd)
            out[f"hedger_{label}_tracking_error_usd"] = _hourly_std(
                pnl, maker.period_steps, self.model.step_seconds
            )
            out[f"hedger_{label}_pnl_usd"] = float(pnl[-1] - pnl[0]) if pnl.size else np.nan
            out[f"hedger_{label}_rebalances"] = int(maker.n_rebalances)
        return out


def _hourly_std(values: np.ndarray, period_steps: float, step_seconds: int) -> float:
    """Standard deviation of hourly changes of a series sampled every ``period_steps`` steps."""
    every = max(1, round(_HOUR_S / (max(period_steps, 1.0) * step_seconds)))
    hourly = values[::every]
    if hourly.size < 3:
        return float("nan")
    return float(np.std(np.diff(hourly), ddof=1))
