"""HAR-RV (Corsi 2009) on an hourly clock, in log form (DOMAIN.md C).

``ln RV_{t,t+24h} = b0 + b_d ln RV^(d)_t + b_w ln RV^(w)_t + b_m ln RV^(m)_t + e`` where ``RV^(d)``,
``RV^(w)``, ``RV^(m)`` are the mean hourly squared returns over the last 24, 168 and 720 hours (the
daily, weekly and 30-day monthly components; 7 and 30 days for a 24/7 market). Fitted by OLS
(``numpy.linalg.lstsq``) on log RV, which keeps forecasts positive and tames the crash outliers that
dominate an OLS in levels; the forecast applies Duan's smearing factor.
"""

from __future__ import annotations

import numpy as np

from protocols.risk.features import FEATURE_NAMES
from protocols.risk.log_models import LinearLogModel
from protocols.risk.ml import FeatureForecaster

__all__ = ["HAR_FEATURES", "fit_har", "har_forecaster", "smearing_factor"]

HAR_FEATURES: tuple[str, ...] = ("log_rv_24h", "log_rv_168h", "log_rv_720h")


def smearing_factor(residuals: np.ndarray) -> float:
    """Duan's smearing estimate ``mean(exp(residual))`` of ``E[exp(e)]``."""
    return float(np.mean(np.exp(np.asarray(residuals, dtype=float))))


def fit_har(
    features: np.ndarray, target_log: np.ndarray, *, horizon_hours: int = 24
) -> LinearLogModel:
    """OLS HAR-RV on rows of the full feature matrix (``FEATURE_NAMES`` columns).

    Rows with a NaN feature or target are dropped; at least 10 complete rows are needed.
    """
    cols = [FEATURE_NAMES.index(f) for f in HAR_FEATURES]
    x = np.asarray(features, dtype=float)[:, cols]
    y = np.asarray(target_log, dtype=float)
    ok = np.isfinite(x).all(axis=1) & np.isfinite(y)
    if ok.sum() < 10:
        raise ValueError(f"fit_har: needs >= 10 complete rows, got {int(ok.sum())}")
    design = np.column_stack([np.ones(ok.sum()), x[ok]])
    beta, *_ = np.linalg.lstsq(design, y[ok], rcond=None)
    resid = y[ok] - design @ beta
    k = len(HAR_FEATURES)
    return LinearLogModel(
        feature_names=HAR_FEATURES,
        coef=tuple(float(b) for b in beta[1:]),
        intercept=float(beta[0]),
        center=(0.0,) * k,
        scale=(1.0,) * k,
        smearing=smearing_factor(resid),
        horizon_hours=horizon_hours,
    )


def har_forecaster(*, initial_vol_annual: float, **kwargs: object) -> FeatureForecaster:
    """HAR-RV with the shipped coefficients (``models/har.json``)."""
    from protocols.risk.model_files import load_model

    return FeatureForecaster(
        initial_vol_annual=initial_vol_annual, model=load_model("har"), **kwargs
    )
