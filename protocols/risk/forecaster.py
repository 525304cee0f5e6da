"""The interface every volatility forecaster follows, and the registry keepers pick them from."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

from protocols.risk.ewma import SECONDS_PER_YEAR, EwmaForecaster
from protocols.risk.garch import GarchForecaster
from protocols.risk.har import har_forecaster
from protocols.risk.ml import hgb_forecaster, ridge_forecaster

__all__ = ["FORECASTERS", "SECONDS_PER_YEAR", "VolatilityForecaster", "make_forecaster"]


@runtime_checkable
class VolatilityForecaster(Protocol):
    """Online forecaster of the variance of log returns.

    A keeper feeds it the oracle's log returns as they arrive (any sampling interval) and asks for
    the variance of the log return over a coming horizon. Implementations keep their own state;
    they never see a price that has not happened yet.
    """

    def update(self, log_return: float, dt_seconds: float) -> None:
        """Fold in one log return observed over ``dt_seconds`` (> 0; other values are ignored)."""
        ...

    def forecast_variance(self, horizon_seconds: float) -> float:
        """Forecast variance of the log return over the next ``horizon_seconds``."""
        ...

    @property
    def vol_annual(self) -> float:
        """Current one-step-ahead forecast as an annualised volatility."""
        ...


FORECASTERS: dict[str, Callable[..., VolatilityForecaster]] = {
    "ewma": EwmaForecaster,
    "garch": GarchForecaster,
    "har": har_forecaster,
    "hgb": hgb_forecaster,
    "ridge": ridge_forecaster,
}
"""Forecaster factories by name. Each takes keyword arguments only; every factory accepts
``initial_vol_annual`` (the volatility it starts from before it has seen data) and works with its
other arguments left at their defaults:

- ``ewma``: RiskMetrics EWMA updated on every return (``half_life_seconds``, default 11.2 days);
- ``garch``: hourly GARCH(1,1) (``asset="BTC"`` or ``"ETH"`` picks the shipped fit, or ``params``);
- ``har``, ``ridge``, ``hgb``: models of the next 24 hours' log realised variance on hourly
  features (shipped in ``protocols/risk/models``; fitted on BTC and ETH pooled).

All but ``ewma`` update on an hourly clock built from the returns they are fed
(:class:`protocols.risk.hourly.HourlyForecaster`)."""


def make_forecaster(name: str, **kwargs: object) -> VolatilityForecaster:
    """Build the forecaster registered as ``name`` with keyword arguments ``kwargs``."""
    try:
        factory = FORECASTERS[name]
    except KeyError:
        raise ValueError(
            f"forecaster: must be one of {sorted(FORECASTERS)}, got {name!r}"
        ) from None
    return factory(**kwargs)
