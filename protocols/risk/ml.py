"""Forecasters driven by a model of log realised variance: HAR-RV, Ridge, gradient boosting.

:class:`FeatureForecaster` keeps the last ``WARMUP_HOURS`` hourly bars, recomputes the feature row
of :mod:`protocols.risk.features` when an hour closes (the same function the models were trained
with, so online and offline features agree) and asks its model for the variance of the next
``horizon_hours``.
"""

from __future__ import annotations

import math

import numpy as np

from protocols.risk.features import FEATURE_NAMES, WARMUP_HOURS, feature_matrix
from protocols.risk.hourly import SECONDS_PER_HOUR, HourlyForecaster
from protocols.risk.log_models import LinearLogModel, TreeEnsembleModel

__all__ = ["FeatureForecaster", "hgb_forecaster", "ridge_forecaster"]


class FeatureForecaster(HourlyForecaster):
    """Online forecaster around a fitted :class:`LinearLogModel` or :class:`TreeEnsembleModel`.

    Parameters
    ----------
    initial_vol_annual
        Before data arrives the history is ``WARMUP_HOURS`` synthetic hours at this volatility
        (``r = +-sigma_h`` alternating, ``pk = gk = sigma_h^2``): flat features, no vol-of-vol.
    model
        The fitted model; its ``feature_names`` must be columns of ``FEATURE_NAMES``.

    Notes
    -----
    The model forecasts the variance over its ``horizon_hours``; other horizons scale it linearly,
    ``F(h) = F(H) h / H`` (a flat term structure inside the model's horizon).
    """

    def __init__(
        self,
        *,
        initial_vol_annual: float,
        model: LinearLogModel | TreeEnsembleModel,
        min_returns_for_range: int = 30,
    ) -> None:
        super().__init__(
            initial_vol_annual=initial_vol_annual, min_returns_for_range=min_returns_for_range
        )
        unknown = [f for f in model.feature_names if f not in FEATURE_NAMES]
        if unknown:
            raise ValueError(f"FeatureForecaster.model.feature_names: unknown features {unknown}")
        self.model = model
        self._columns = np.array([FEATURE_NAMES.index(f) for f in model.feature_names])
        v = self.initial_variance_per_hour
        sign = np.where(np.arange(WARMUP_HOURS) % 2 == 0, 1.0, -1.0)
        self._r = sign * math.sqrt(v)
        self._pk = np.full(WARMUP_HOURS, v)
        self._gk = np.full(WARMUP_HOURS, v)
        self._predict()

    def _predict(self) -> None:
        row = feature_matrix(self._r, self._pk, self._gk)[-1:, self._columns]
        self.horizon_variance = float(self.model.predict_variance(row)[0])

    def _on_hour(self, r: float, pk: float, gk: float) -> None:
        for buf, x in ((self._r, r), (self._pk, pk), (self._gk, gk)):
            buf[:-1] = buf[1:]
            buf[-1] = x
        self._predict()

    def forecast_variance(self, horizon_seconds: float) -> float:
        """The model's horizon forecast scaled to ``horizon_seconds``."""
        self._check_horizon(horizon_seconds)
        horizon_model = self.model.horizon_hours * SECONDS_PER_HOUR
        return self.horizon_variance * horizon_seconds / horizon_model


def ridge_forecaster(*, initial_vol_annual: float, **kwargs: object) -> FeatureForecaster:
    """Ridge regression on all features (shipped ``models/ridge.json``)."""
    from protocols.risk.model_files import load_model

    return FeatureForecaster(
        initial_vol_annual=initial_vol_annual, model=load_model("ridge"), **kwargs
    )


def hgb_forecaster(*, initial_vol_annual: float, **kwargs: object) -> FeatureForecaster:
    """Histogram gradient boosting on all features (shipped ``models/hgb.json``)."""
    from protocols.risk.model_files import load_model

    return FeatureForecaster(
        initial_vol_annual=initial_vol_annual, model=load_model("hgb"), **kwargs
    )
