"""Outcome metrics of one run (a row of runs.parquet) and the tail statistics of many runs.

One run's outcomes come from the finished model and its per-step table: losses (bad debt,
socialised loss, ADL), liquidations, the insurance fund, capital efficiency and the
procyclicality of margins. :func:`expected_shortfall` summarises the tail of a loss over runs
(the governance report's ES95/ES99).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from protocols.governance import ProposalStatus

if TYPE_CHECKING:
    from experiments.model import EcosystemModel

__all__ = [
    "INSOLVENCY_TOL_USD",
    "capital_efficiency",
    "expected_shortfall",
    "margin_totals",
    "max_drawdown",
    "procyclicality",
    "run_outcomes",
]

# A loss below one cent is float noise from the ledger's arithmetic, not an insolvency.
INSOLVENCY_TOL_USD = 0.01
_SECONDS_PER_DAY = 86_400


_NOT_REJECTIONS = frozenset(
    {ProposalStatus.QUEUED, ProposalStatus.EMERGENCY_APPLIED, ProposalStatus.CANCELLED}
)


def max_drawdown(prices: np.ndarray) -> float:
    """Largest peak-to-trough fall of a price series, as a fraction of the peak (0 if empty)."""
    if prices.size == 0:
        return 0.0
    peak = np.maximum.accumulate(prices)
    return float(np.max(1.0 - prices / peak))


def margin_totals(model: EcosystemModel) -> tuple[float, float, float]:
    """``(maintenance_usd, initial_usd, notional_usd)`` summed over every perp account now.

    Notional is ``sum |size| * mark`` = long plus short open interest of every market.
    """
    perp = model.perp
    _, maintenance, initial = perp.margin_state()
    notional = sum(sum(perp.open_interest_usd(a)) for a in perp.params.market_assets)
    return float(maintenance.sum()), float(initial.sum()), float(notional)


def capital_efficiency(steps: pd.DataFrame) -> dict[str, float]:
    """Capital efficiency of the perp venue and the lending market over a run.

    Returns
    -------
    dict
        ``perp_margin_to_notional`` (maintenance margin per USD of notional), its inverse
        ``capital_efficiency`` (notional supported per USD of maintenance margin, higher is more
        efficient), and ``lending_debt_to_collateral`` (USD borrowed per USD of collateral).
        NaN where the denominator is zero over the whole run.

    Notes
    -----
    Ratios of time sums, ``sum_t MM_t / sum_t N_t``: a notional-weighted average of the per-step
    margin rate, so quiet steps with almost no open interest do not dominate.
    """
    mm = float(np.nansum(steps["perp_maintenance_margin_usd"]))
    notional = float(np.nansum(steps["perp_notional_usd"]))
    debt = float(np.nansum(steps["lending_total_debt_usd"]))
    collateral = float(np.nansum(steps["lending_total_collateral_usd"]))
    rate = mm / notional if notional > 0 else float("nan")
    return {
        "perp_margin_to_notional": rate,
        "capital_efficiency": 1.0 / rate if rate > 0 else float("nan"),
        "lending_debt_to_collateral": debt / collateral if collateral > 0 else float("nan"),
    }


def procyclicality(steps: pd.DataFrame, step_seconds: int) -> dict[str, float]:
    """Procyclicality of the perp margin rate ``r_t = MM_t / N_t`` (maintenance per notional).

    Returns
    -------
    dict
        ``margin_peak_to_trough`` = ``max r / min r`` over the run (1 = margins never moved) and
        ``margin_max_1d_increase_frac`` = the largest rise of ``r`` within any one-day window,
        ``max_t r_t / min_{t-w <= s <= t} r_s - 1`` with ``w`` one day of steps (the whole run if
        shorter). NaN if no step has open interest.

    Notes
    -----
    These are the CPMI-IOSCO procyclicality measures of initial margin (peak-to-trough ratio and
    largest n-day increase), taken per USD of notional so that a shrinking book after
    liquidations does not read as a margin cut.
    """
    mm = steps["perp_maintenance_margin_usd"].to_numpy(dtype=np.float64)
    notional = steps["perp_notional_usd"].to_numpy(dtype=np.float64)
    ok = np.isfinite(mm) & np.isfinite(notional) & (notional > 0) & (mm > 0)
    if not ok.any():
        return {"margin_peak_to_trough": float("nan"), "margin_max_1d_increase_frac": float("nan")}
    rate = pd.Series(np.where(ok, mm / np.where(ok, notional, 1.0), np.nan))
    window = max(1, _SECONDS_PER_DAY // int(step_seconds)) + 1
    trough = rate.rolling(window, min_periods=1).min()
    return {
        "margin_peak_to_trough": float(rate.max() / rate.min()),
        "margin_max_1d_increase_frac": float(np.nanmax(rate / trough) - 1.0),
    }


def expected_shortfall(losses: np.ndarray, level: float) -> float:
    """Expected shortfall (CVaR) of ``losses`` at confidence ``level``: mean of the worst tail.

    Parameters
    ----------
    losses : array
        One loss per run (larger is worse), e.g. bad debt in USD; NaNs are ignored.
    level : float
        Confidence in (0, 1), e.g. 0.99.

    Returns
    -------
    float
        NaN for no finite losses.

    Notes
    -----
    The empirical estimator of Acerbi and Tasche (2002): with the losses sorted worst first,
    ``L_(1) >= L_(2) >= ...`` and ``m = n (1 - level)``,
    ``ES = (sum_{i <= floor(m)} L_(i) + (m - floor(m)) L_(floor(m) + 1)) / m``; for ``m < 1``
    (fewer than 100 runs at 99%) that is the worst loss.
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"expected_shortfall.level: must be in (0, 1), got {level!r}")
    x = np.asarray(losses, dtype=np.float64)
    x = np.sort(x[np.isfinite(x)])[::-1]
    n = x.size
    if n == 0:
        return float("nan")
    m = n * (1.0 - level)
    if m <= 1.0:
        return float(x[0])
    k = int(np.floor(m))
    tail = x[:k].sum() + (m - k) * (x[k] if k < n else 0.0)
    return float(tail / m)


def run_outcomes(model: EcosystemModel, steps: pd.DataFrame, events: pd.DataFrame) -> dict:
    """The outcome columns of one run's row in runs.parquet (all USD amounts are cumulative).

    ``insolvent`` is true if the run ended with any bad debt, socialised loss, vault shortfall or
    auto-deleveraging: some participant other than the liquidated account bore a loss.
    """
    lending, perp, gov = model.lending, model.perp, model.governance
    start = model.insurance_start_usd
    out = {
        "bad_debt_usd": lending.bad_debt_total + perp.bad_debt_total,
        "lending_bad_debt_usd": lending.bad_debt_total,
        "perp_bad_debt_usd": perp.bad_debt_total,
        "socialised_loss_usd": lending.deficit_socialised_total,
        "perp_vault_shortfall_usd": perp.vault_shortfall_total,
        "liquidation_volume_usd": float(steps["liquidation_volume_usd"].sum()),
        "lending_liquidation_volume_usd": float(steps["lending_liquidation_volume_usd"].sum()),
        "perp_liquidation_volume_usd": float(steps["perp_liquidation_volume_usd"].sum()),
        "n_liquidations": int((events["kind"] == "LIQUIDATION").sum()) if len(events) else 0,
        "adl_volume_usd": perp.adl_volume_total,
        "insurance_fund_start_usd": start,
        "insurance_fund_min_usd": model.insurance_min_usd,
        "insurance_drawdown_frac": (start - model.insurance_min_usd) / start if start > 0 else 0.0,
    }
    options = model.option_venues
    out["option_venue_losses_usd"] = options.losses_usd() if options is not None else 0.0
    out["insolvent"] = bool(
        max(
            out["bad_debt_usd"],
            out["socialised_loss_usd"],
            out["perp_vault_shortfall_usd"],
            out["adl_volume_usd"],
            out["option_venue_losses_usd"],
        )
        > INSOLVENCY_TOL_USD
    )
    for a in model.base_assets:
        out[f"max_price_drawdown_frac_{a}"] = max_drawdown(steps[f"ref_price_usd_{a}"].to_numpy())
    out["worst_step"] = int(model.recorder.worst_step)
    out["proposals_accepted"] = gov.n_accepted
    out["proposals_rejected"] = gov.n_rejected
    mm = steps["perp_mm_scale"].to_numpy()
    out["mean_mm_scale"] = float(mm.mean()) if mm.size else float("nan")
    out["max_mm_scale"] = float(mm.max()) if mm.size else float("nan")
    # the governed lever itself, apart from the book's mix: 1 = never moved
    out["mm_scale_peak_to_trough"] = float(mm.max() / mm.min()) if mm.size else float("nan")
    out["proposals_emergency"] = gov.n_emergency
    out["proposals_cancelled"] = gov.n_cancelled
    # one column per rejection reason (a fixed set, so every run's row has the same schema)
    for status in ProposalStatus:
        if status not in _NOT_REJECTIONS:
            out[f"rejected_{status.name.lower()}"] = gov.rejections.get(status, 0)
    out.update(capital_efficiency(steps))
    out.update(procyclicality(steps, model.step_seconds))
    out["agent_actions"] = int(model.n_actions)
    out["n_agents"] = len(model.agents)
    out["min_lending_hf"] = float(np.nanmin(steps["lending_min_hf"])) if len(steps) else np.nan
    if options is not None:
        out.update(options.outcomes(steps, events))
    return out
