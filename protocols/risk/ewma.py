"""EWMA (RiskMetrics) volatility forecaster, updated online from oracle returns."""

from __future__ import annotations

import math

__all__ = ["RISKMETRICS_HALF_LIFE_SECONDS", "EwmaForecaster", "vol_scaled_margin"]

SECONDS_PER_YEAR = 365.0 * 86_400.0
RISKMETRICS_HALF_LIFE_SECONDS = math.log(0.5) / math.log(0.94) * 86_400.0
"""RiskMetrics' daily lambda = 0.94 as a wall-clock half-life: 11.2 days (DOMAIN.md C [S])."""


class EwmaForecaster:
    """Exponentially weighted variance of log returns.

    Parameters
    ----------
    half_life_seconds
        Half-life of the weights in wall-clock time. The default is RiskMetrics' daily
        lambda = 0.94, a half-life of 11.2 days (DOMAIN.md C [S]); a real-time risk keeper uses
        hours so that a crash shows up within the crash.
    initial_vol_annual
        Annualised volatility the recursion starts from (RiskMetrics seeded it from history).

    Notes
    -----
    For a return ``r`` observed over ``dt`` seconds the per-second variance is updated as
    ``v <- lam(dt) v + (1 - lam(dt)) r^2 / dt`` with ``lam(dt) = 0.5 ** (dt / half_life)``, which
    keeps
    the half-life in wall-clock time whatever the sampling interval (DOMAIN.md C, intraday note).
    """

    def __init__(
        self,
        *,
        initial_vol_annual: float,
        half_life_seconds: float = RISKMETRICS_HALF_LIFE_SECONDS,
    ) -> None:
        if not half_life_seconds > 0.0:
            raise ValueError(
                f"EwmaForecaster.half_life_seconds: must be > 0, got {half_life_seconds}"
            )
        if not initial_vol_annual > 0.0:
            raise ValueError(
                f"EwmaForecaster.initial_vol_annual: must be > 0, got {initial_vol_annual}"
            )
        self.half_life_seconds = half_life_seconds
        self.variance_per_second = initial_vol_annual**2 / SECONDS_PER_YEAR
        self.n_updates = 0

    def update(self, log_return: float, dt_seconds: float) -> None:
        """Fold in one log return observed over ``dt_seconds``."""
        if dt_seconds <= 0.0:
            return
        lam = 0.5 ** (dt_seconds / self.half_life_seconds)
        self.variance_per_second = lam * self.variance_per_second + (1.0 - lam) * (
            log_return * log_return / dt_seconds
        )
        self.n_updates += 1

    def forecast_variance(self, horizon_seconds: float) -> float:
        """Variance of the log return over the next ``horizon_seconds`` (flat term structure)."""
        return self.variance_per_second * horizon_seconds

    @property
    def vol_annual(self) -> float:
        """Current forecast as an annualised volatility."""
        return math.sqrt(self.variance_per_second * SECONDS_PER_YEAR)


def vol_scaled_margin(
    forecast_vol_annual: float, reference_vol_annual: float, *, floor: float, cap: float
) -> float:
    """Scale of a margin calibrated at ``reference_vol_annual`` for today's forecast volatility.

    ``m_t = m_static * sigma_hat / sigma_ref`` (DOMAIN.md G1: margin proportional to the forecast),
    clamped to ``[floor, cap]``.
    """
    return min(cap, max(floor, forecast_vol_annual / reference_vol_annual))
