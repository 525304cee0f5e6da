"""GARCH(1,1) volatility: parameters, the numba recursion, maximum-likelihood fits, the forecaster.

``sigma2_t = omega + alpha r_{t-1}^2 + beta sigma2_{t-1}`` on zero-mean hourly log returns with
Gaussian quasi-likelihood (Bollerslev 1986; DOMAIN.md C). Two fits give the same estimator: our own
(SciPy's SLSQP on the numba recursion) and the ``arch`` package's, which is an optional dependency
imported inside :func:`fit_garch_arch` only. The tests check that they agree and that the recursion
reproduces ``arch``'s conditional volatility.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from protocols.margin._jit import kernel
from protocols.risk.hourly import SECONDS_PER_HOUR, HourlyForecaster

__all__ = [
    "GarchForecaster",
    "GarchParams",
    "fit_garch_arch",
    "fit_garch_mle",
    "garch_backcast",
    "garch_forecast_sum",
    "garch_nll",
    "garch_variance",
]

_PCT = 100.0  # fits run on percent returns, as arch does, for a well-scaled optimisation
_MAX_PERSISTENCE = 1.0 - 1e-6


@dataclass(frozen=True, kw_only=True)
class GarchParams:
    """GARCH(1,1) parameters on bars of ``bar_seconds``.

    Parameters
    ----------
    omega
        Constant, in squared log return per bar (> 0).
    alpha, beta
        ARCH and GARCH coefficients (>= 0), with ``alpha + beta < 1`` (covariance stationary).
    bar_seconds
        Length of the bar the parameters belong to (hourly: 3600).

    Notes
    -----
    Long-run variance per bar ``V_L = omega / (1 - alpha - beta)``; persistence ``alpha + beta``.
    DOMAIN.md C quotes daily BTC ``omega = 8e-5, alpha = 0.144, beta = 0.817`` [S]; the shipped
    hourly fits are in ``protocols/risk/models/garch_*.json``.
    """

    omega: float
    alpha: float
    beta: float
    bar_seconds: float = SECONDS_PER_HOUR

    def __post_init__(self) -> None:
        for name in ("omega", "alpha", "beta", "bar_seconds"):
            v = getattr(self, name)
            if not math.isfinite(v):
                raise ValueError(f"GarchParams.{name}: must be finite, got {v}")
        if not self.omega > 0.0:
            raise ValueError(f"GarchParams.omega: must be > 0, got {self.omega}")
        if self.alpha < 0.0:
            raise ValueError(f"GarchParams.alpha: must be >= 0, got {self.alpha}")
        if self.beta < 0.0:
            raise ValueError(f"GarchParams.beta: must be >= 0, got {self.beta}")
        if not self.alpha + self.beta < 1.0:
            raise ValueError(f"GarchParams.alpha + beta: must be < 1, got {self.alpha + self.beta}")
        if not self.bar_seconds > 0.0:
            raise ValueError(f"GarchParams.bar_seconds: must be > 0, got {self.bar_seconds}")

    @property
    def persistence(self) -> float:
        return self.alpha + self.beta

    @property
    def long_run_variance(self) -> float:
        """``omega / (1 - alpha - beta)`` per bar."""
        return self.omega / (1.0 - self.persistence)

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GarchParams:
        return cls(**{k: float(d[k]) for k in ("omega", "alpha", "beta", "bar_seconds")})


@kernel
def garch_variance(returns, omega, alpha, beta, backcast):  # pragma: no cover - twin in tests
    """Conditional variances ``sigma2[t]`` of ``returns[t]`` given returns before ``t``.

    ``sigma2[0] = omega + (alpha + beta) backcast`` (arch's initialisation), then
    ``sigma2[t] = omega + alpha returns[t-1]^2 + beta sigma2[t-1]``.
    """
    n = returns.shape[0]
    sigma2 = np.empty(n)
    h = omega + (alpha + beta) * backcast
    for t in range(n):
        sigma2[t] = h
        h = omega + alpha * returns[t] * returns[t] + beta * h
    return sigma2


@kernel
def garch_nll(returns, omega, alpha, beta, backcast):  # pragma: no cover - twin in tests
    """Mean Gaussian negative log-likelihood per observation of zero-mean ``returns``.

    ``0.5 mean(ln 2 pi + ln sigma2_t + r_t^2 / sigma2_t)``; the recursion as in
    :func:`garch_variance`, inlined so an optimiser's evaluation allocates nothing.
    """
    n = returns.shape[0]
    h = omega + (alpha + beta) * backcast
    total = 0.0
    for t in range(n):
        r2 = returns[t] * returns[t]
        total += math.log(h) + r2 / h
        h = omega + alpha * r2 + beta * h
    return 0.5 * (math.log(2.0 * math.pi) + total / n)


def garch_backcast(returns: np.ndarray) -> float:
    """arch's starting variance: weights ``0.94^k`` (normalised) on the first 75 squared returns."""
    r = np.asarray(returns, dtype=float)
    tau = min(75, r.size)
    w = 0.94 ** np.arange(tau)
    return float(np.dot(w / w.sum(), r[:tau] ** 2))


def _check_returns(returns: np.ndarray, fn: str) -> np.ndarray:
    r = np.ascontiguousarray(returns, dtype=float)
    if r.ndim != 1 or r.size < 100:
        raise ValueError(f"{fn}.returns: must be 1-d with >= 100 values, got shape {r.shape}")
    if not np.isfinite(r).all():
        raise ValueError(f"{fn}.returns: must all be finite")
    return r


def fit_garch_mle(returns: np.ndarray, *, bar_seconds: float = SECONDS_PER_HOUR) -> GarchParams:
    """Gaussian quasi-maximum-likelihood GARCH(1,1) of zero-mean ``returns`` (our own fit).

    Notes
    -----
    Same estimator as :func:`fit_garch_arch`: percent returns, arch's backcast, a small grid of
    starting values, then SciPy's SLSQP under ``alpha + beta <= 1 - 1e-6`` on the numba likelihood.
    """
    from scipy.optimize import minimize

    x = _check_returns(returns, "fit_garch_mle") * _PCT
    backcast = garch_backcast(x)
    var = float(np.mean(x * x))
    starts = [
        ((1.0 - p) * var, a, p - a) for a in (0.02, 0.05, 0.1, 0.2) for p in (0.9, 0.97, 0.99)
    ]
    start = min(starts, key=lambda s: garch_nll(x, s[0], s[1], s[2], backcast))
    res = minimize(
        lambda th: garch_nll(x, th[0], th[1], th[2], backcast),
        np.array(start),
        method="SLSQP",
        bounds=[(1e-8 * var, 10.0 * var), (0.0, 1.0), (0.0, 1.0)],
        constraints=[{"type": "ineq", "fun": lambda th: _MAX_PERSISTENCE - th[1] - th[2]}],
        options={"ftol": 1e-12, "maxiter": 500},
    )
    omega, alpha, beta = (float(v) for v in res.x)
    return GarchParams(
        omega=omega / _PCT**2,
        alpha=alpha,
        beta=min(beta, _MAX_PERSISTENCE - alpha),
        bar_seconds=bar_seconds,
    )


def fit_garch_arch(returns: np.ndarray, *, bar_seconds: float = SECONDS_PER_HOUR) -> GarchParams:
    """GARCH(1,1) of zero-mean ``returns`` fitted by ``arch`` (an optional dependency: ``fit``)."""
    from arch import arch_model

    x = _check_returns(returns, "fit_garch_arch") * _PCT
    res = arch_model(x, mean="Zero", vol="GARCH", p=1, q=1, dist="normal", rescale=False).fit(
        disp="off"
    )
    p = res.params
    alpha, beta = float(p["alpha[1]"]), float(p["beta[1]"])
    # arch's SLSQP may end a hair past alpha + beta = 1 (integrated GARCH, common on hourly crypto
    # returns); pull beta back to the stationarity bound our own fit uses.
    return GarchParams(
        omega=float(p["omega"]) / _PCT**2,
        alpha=alpha,
        beta=min(beta, _MAX_PERSISTENCE - alpha),
        bar_seconds=bar_seconds,
    )


def garch_forecast_sum(
    sigma2_next: float | np.ndarray, params: GarchParams, n_bars: float
) -> float | np.ndarray:
    """Variance of the sum of the next ``n_bars`` returns (a fractional last bar pro rata).

    Notes
    -----
    ``E[sigma2_{t+k}] = V_L + phi^{k-1} (sigma2_{t+1} - V_L)`` with ``phi = alpha + beta``, so
    ``sum_{k=1..m} = m V_L + (sigma2_{t+1} - V_L)(1 - phi^m)/(1 - phi)`` (DOMAIN.md C).
    """
    m = math.floor(n_bars)
    frac = n_bars - m
    phi = params.persistence
    v_l = params.long_run_variance
    gap = sigma2_next - v_l
    total = m * v_l + gap * (1.0 - phi**m) / (1.0 - phi)
    return total + frac * (v_l + phi**m * gap)


class GarchForecaster(HourlyForecaster):
    """Online GARCH(1,1) on the hourly clock of :class:`~protocols.risk.hourly.HourlyForecaster`.

    Parameters
    ----------
    initial_vol_annual
        Starting volatility: the first hour's conditional variance.
    params
        Hourly GARCH parameters; default: the shipped fit for ``asset``.
    asset
        ``"BTC"`` or ``"ETH"``: which shipped fit to load when ``params`` is not given.
    """

    def __init__(
        self,
        *,
        initial_vol_annual: float,
        params: GarchParams | None = None,
        asset: str = "BTC",
        min_returns_for_range: int = 30,
    ) -> None:
        super().__init__(
            initial_vol_annual=initial_vol_annual, min_returns_for_range=min_returns_for_range
        )
        if params is None:
            from protocols.risk.model_files import load_garch

            params = load_garch(asset)
        if params.bar_seconds != SECONDS_PER_HOUR:
            raise ValueError(
                f"GarchForecaster.params.bar_seconds: must be {SECONDS_PER_HOUR}, "
                f"got {params.bar_seconds}"
            )
        self.params = params
        self.sigma2_next = self.initial_variance_per_hour

    def _on_hour(self, r: float, pk: float, gk: float) -> None:
        p = self.params
        self.sigma2_next = p.omega + p.alpha * r * r + p.beta * self.sigma2_next

    def forecast_variance(self, horizon_seconds: float) -> float:
        """Sum of the GARCH term structure over the next ``horizon_seconds``."""
        self._check_horizon(horizon_seconds)
        return float(
            garch_forecast_sum(self.sigma2_next, self.params, horizon_seconds / SECONDS_PER_HOUR)
        )
