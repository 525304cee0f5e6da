"""Fitting the volatility models for ``experiments/forecasting.py`` (scikit-learn and ``arch``).

GARCH(1,1) is fitted per asset with ``arch``; HAR-RV (OLS), Ridge and histogram gradient boosting
are fitted on BTC and ETH pooled (their log-variance features are scale-free), predicting the log of
the next ``horizon_hours``' realised variance. The gradient-boosting model is exported to portable
node arrays (:class:`protocols.risk.log_models.TreeEnsembleModel`) so that nothing shipped needs a
pickle or scikit-learn at run time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from protocols.risk.features import FEATURE_NAMES, VARIANCE_FLOOR
from protocols.risk.garch import GarchParams, fit_garch_arch
from protocols.risk.har import fit_har, smearing_factor
from protocols.risk.log_models import LinearLogModel, TreeEnsembleModel
from protocols.risk.model_files import Model

if TYPE_CHECKING:
    from experiments.forecasting import EvaluationSpec, HourlySeries

__all__ = ["FittedModels", "export_hgb", "fit_models", "log_target", "training_rows"]


@dataclass(frozen=True, kw_only=True)
class FittedModels:
    garch: dict[str, GarchParams]
    har: LinearLogModel
    ridge: LinearLogModel
    hgb: TreeEnsembleModel

    def by_name(self) -> dict[str, Model]:
        return {
            **{f"garch_{a.lower()}": p for a, p in self.garch.items()},
            "har": self.har,
            "ridge": self.ridge,
            "hgb": self.hgb,
        }


def log_target(target_rv: np.ndarray, horizon_hours: int) -> np.ndarray:
    return np.log(target_rv + horizon_hours * VARIANCE_FLOOR)


def training_rows(
    train: list[tuple[HourlySeries, int]], horizon_hours: int, lo: float = 0.0, hi: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Complete rows among the origins ``[lo * stop, hi * stop)`` of each series, pooled."""
    xs, ys = [], []
    for s, stop in train:
        sl = slice(int(lo * stop), int(hi * stop))
        x, y = s.features[sl], log_target(s.target_rv[sl], horizon_hours)
        ok = np.isfinite(x).all(axis=1) & np.isfinite(y)
        xs.append(x[ok])
        ys.append(y[ok])
    return np.concatenate(xs), np.concatenate(ys)


def export_hgb(est: object, *, smearing: float, horizon_hours: int) -> TreeEnsembleModel:
    """Portable node arrays of a fitted ``HistGradientBoostingRegressor`` (numeric features)."""
    parts: dict[str, list[np.ndarray]] = {
        k: [] for k in ("feature", "threshold", "missing_left", "left", "right", "is_leaf", "value")
    }
    roots, offset = [], 0
    for (pred,) in est._predictors:  # one tree per iteration for a regressor
        nodes = pred.nodes
        roots.append(offset)
        parts["feature"].append(nodes["feature_idx"].astype(np.int64))
        parts["threshold"].append(nodes["num_threshold"].astype(np.float64))
        parts["missing_left"].append(nodes["missing_go_to_left"].astype(np.uint8))
        parts["left"].append(nodes["left"].astype(np.int64) + offset)
        parts["right"].append(nodes["right"].astype(np.int64) + offset)
        parts["is_leaf"].append(nodes["is_leaf"].astype(np.uint8))
        parts["value"].append(nodes["value"].astype(np.float64))
        offset += len(nodes)
    arrays = {k: np.concatenate(v) for k, v in parts.items()}
    arrays["roots"] = np.array(roots, dtype=np.int64)
    return TreeEnsembleModel(
        feature_names=FEATURE_NAMES,
        baseline=float(np.ravel(est._baseline_prediction)[0]),
        smearing=smearing,
        horizon_hours=horizon_hours,
        arrays=arrays,
    )


def fit_models(train: list[tuple[HourlySeries, int]], spec: EvaluationSpec) -> FittedModels:
    """Fit every model on the origins ``[0, stop)`` of each series (HAR/Ridge/HGB pooled over
    assets, GARCH per asset with ``arch`` on the returns those origins have seen)."""
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.linear_model import Ridge

    h = spec.horizon_hours
    x, y = training_rows(train, h)
    har = fit_har(x, y, horizon_hours=h)
    center, scale = x.mean(axis=0), x.std(axis=0)
    scale = np.where(scale > 0.0, scale, 1.0)
    ridge_est = Ridge(alpha=spec.ridge_alpha).fit((x - center) / scale, y)
    resid = y - ridge_est.predict((x - center) / scale)
    ridge = LinearLogModel(
        feature_names=FEATURE_NAMES,
        coef=tuple(map(float, ridge_est.coef_)),
        intercept=float(ridge_est.intercept_),
        center=tuple(map(float, center)),
        scale=tuple(map(float, scale)),
        smearing=smearing_factor(resid),
        horizon_hours=h,
    )

    def hgb() -> HistGradientBoostingRegressor:
        return HistGradientBoostingRegressor(
            max_iter=spec.hgb_max_iter,
            learning_rate=spec.hgb_learning_rate,
            max_leaf_nodes=spec.hgb_max_leaf_nodes,
            min_samples_leaf=spec.hgb_min_samples_leaf,
            l2_regularization=1.0,
            early_stopping=False,
            random_state=0,
        )

    # A flexible model's in-sample residuals are too small for the smearing factor: take it from
    # the last 20 % of each series' training origins, predicted by a fit on the first 80 %.
    x80, y80 = training_rows(train, h, 0.0, 0.8)
    x20, y20 = training_rows(train, h, 0.8, 1.0)
    smear = smearing_factor(y20 - hgb().fit(x80, y80).predict(x20))
    hgb_model = export_hgb(hgb().fit(x, y), smearing=smear, horizon_hours=h)
    garch = {}
    for s, stop in train:
        seen = s.r[1 : stop + h]  # returns up to the last target bar of the last origin
        garch[s.asset] = fit_garch_arch(seen[np.isfinite(seen)])
    return FittedModels(garch=garch, har=har, ridge=ridge, hgb=hgb_model)
