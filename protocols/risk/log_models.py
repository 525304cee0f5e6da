"""Fitted models of log realised variance: linear (HAR, Ridge) and tree ensembles (boosting).

Both predict ``y = ln(RV_{t, t+h} + h * VARIANCE_FLOOR)`` from the features of
:mod:`protocols.risk.features` and turn it into a variance forecast with Duan's (1983) smearing
factor, ``E[RV] = exp(y_hat) * mean(exp(residual))`` over the training sample: the exponential of
a mean log is a median, which QLIKE punishes as a systematic under-forecast.

Prediction needs only NumPy and numba: the tree ensemble is a portable export of scikit-learn's
``HistGradientBoostingRegressor`` (node arrays; export in ``experiments/forecasting.py``), so the
shipped models load without scikit-learn or pickles.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from protocols.margin._jit import kernel

__all__ = ["LinearLogModel", "TreeEnsembleModel", "tree_ensemble_predict"]


def _check_common(cls: str, feature_names: tuple[str, ...], smearing: float, horizon: int) -> None:
    if not feature_names:
        raise ValueError(f"{cls}.feature_names: must not be empty")
    if not (smearing > 0.0 and math.isfinite(smearing)):
        raise ValueError(f"{cls}.smearing: must be finite and > 0, got {smearing}")
    if horizon < 1:
        raise ValueError(f"{cls}.horizon_hours: must be >= 1, got {horizon}")


@dataclass(frozen=True, kw_only=True)
class LinearLogModel:
    """``y_hat = intercept + sum_j coef_j (x_j - center_j) / scale_j``.

    HAR-RV (OLS on the daily/weekly/monthly components) has ``center = 0``, ``scale = 1``; Ridge
    keeps the standardisation it was fitted with.
    """

    feature_names: tuple[str, ...]
    coef: tuple[float, ...]
    intercept: float
    center: tuple[float, ...]
    scale: tuple[float, ...]
    smearing: float
    horizon_hours: int = 24

    def __post_init__(self) -> None:
        _check_common("LinearLogModel", self.feature_names, self.smearing, self.horizon_hours)
        k = len(self.feature_names)
        for name in ("coef", "center", "scale"):
            v = getattr(self, name)
            if len(v) != k or not all(math.isfinite(x) for x in v):
                raise ValueError(
                    f"LinearLogModel.{name}: must be {k} finite values (one per feature), got {v}"
                )
        if not all(s > 0.0 for s in self.scale):
            raise ValueError(f"LinearLogModel.scale: must all be > 0, got {self.scale}")
        if not math.isfinite(self.intercept):
            raise ValueError(f"LinearLogModel.intercept: must be finite, got {self.intercept}")

    def predict_log(self, x: np.ndarray) -> np.ndarray:
        """``y_hat`` for feature rows ``x`` of shape ``(n, len(feature_names))``."""
        z = (np.asarray(x, dtype=float) - np.asarray(self.center)) / np.asarray(self.scale)
        return self.intercept + z @ np.asarray(self.coef)

    def predict_variance(self, x: np.ndarray) -> np.ndarray:
        """Forecast variance of the log return over the next ``horizon_hours``."""
        return np.exp(self.predict_log(x)) * self.smearing

    def to_dict(self) -> dict[str, Any]:
        return {
            "feature_names": list(self.feature_names),
            "coef": list(self.coef),
            "intercept": self.intercept,
            "center": list(self.center),
            "scale": list(self.scale),
            "smearing": self.smearing,
            "horizon_hours": self.horizon_hours,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LinearLogModel:
        return cls(
            feature_names=tuple(d["feature_names"]),
            coef=tuple(map(float, d["coef"])),
            intercept=float(d["intercept"]),
            center=tuple(map(float, d["center"])),
            scale=tuple(map(float, d["scale"])),
            smearing=float(d["smearing"]),
            horizon_hours=int(d["horizon_hours"]),
        )


TREE_ARRAYS = ("feature", "threshold", "missing_left", "left", "right", "is_leaf", "value", "roots")


@dataclass(frozen=True, kw_only=True, eq=False)
class TreeEnsembleModel:
    """A sum of regression trees plus a baseline, stored as flat node arrays.

    ``roots[i]`` is the node index of tree ``i``'s root; ``left``/``right`` are absolute node
    indices; a leaf's ``value`` already includes the learning rate.
    """

    feature_names: tuple[str, ...]
    baseline: float
    smearing: float
    horizon_hours: int = 24
    arrays: dict[str, np.ndarray] = field(repr=False)

    def __post_init__(self) -> None:
        _check_common("TreeEnsembleModel", self.feature_names, self.smearing, self.horizon_hours)
        missing = [k for k in TREE_ARRAYS if k not in self.arrays]
        if missing:
            raise ValueError(f"TreeEnsembleModel.arrays: missing {missing}")
        a = self.arrays
        n = a["value"].shape[0]
        if any(a[k].shape != (n,) for k in TREE_ARRAYS if k != "roots"):
            raise ValueError("TreeEnsembleModel.arrays: node arrays must all have one length")
        inner = a["is_leaf"] == 0
        for k in ("left", "right"):
            if inner.any() and not (a[k][inner].min() >= 0 and a[k][inner].max() < n):
                raise ValueError(f"TreeEnsembleModel.arrays.{k}: child index out of range")
        if (a["feature"][inner] >= len(self.feature_names)).any():
            raise ValueError("TreeEnsembleModel.arrays.feature: index beyond feature_names")

    def predict_log(self, x: np.ndarray) -> np.ndarray:
        a = self.arrays
        return tree_ensemble_predict(
            np.ascontiguousarray(x, dtype=np.float64),
            a["feature"],
            a["threshold"],
            a["missing_left"],
            a["left"],
            a["right"],
            a["is_leaf"],
            a["value"],
            a["roots"],
            self.baseline,
        )

    def predict_variance(self, x: np.ndarray) -> np.ndarray:
        return np.exp(self.predict_log(x)) * self.smearing


@kernel
def tree_ensemble_predict(
    x, feature, threshold, missing_left, left, right, is_leaf, value, roots, baseline
):  # pragma: no cover - compared with scikit-learn's predict in the tests
    """Sum of the leaf values every row of ``x`` reaches, plus ``baseline``.

    At an inner node a row goes left when ``x[feature] <= threshold``, and when it is NaN and
    ``missing_left`` is set (scikit-learn's rule).
    """
    n = x.shape[0]
    out = np.full(n, baseline)
    for i in range(n):
        total = 0.0
        for root in roots:
            node = root
            while is_leaf[node] == 0:
                v = x[i, feature[node]]
                if math.isnan(v):
                    node = left[node] if missing_left[node] != 0 else right[node]
                elif v <= threshold[node]:
                    node = left[node]
                else:
                    node = right[node]
            total += value[node]
        out[i] += total
    return out
