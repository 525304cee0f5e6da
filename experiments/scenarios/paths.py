"""Synthetic price paths: correlated log-returns from GBM, GARCH(1,1)-t and Merton jump-diffusion.

Every generator has the same shape, ``f(rng, *, n_steps, step_seconds, params) -> ndarray`` of
log-returns with shape ``(n_steps, n_assets)``, draws only from the ``numpy.random.Generator`` it is
given (no global randomness), and annualises over 365 days (crypto trades 24/7, DOMAIN.md C).
Cross-asset dependence comes from a Cholesky factor ``L`` of the correlation matrix applied to
standardised shocks, ``z = L @ eps``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from protocols.margin._jit import kernel

__all__ = [
    "SECONDS_PER_YEAR",
    "GarchParams",
    "GbmParams",
    "MertonParams",
    "PathParams",
    "garch_recursion",
    "garch_t_log_returns",
    "gbm_log_returns",
    "generate_log_returns",
    "merton_log_returns",
]

SECONDS_PER_YEAR = 365 * 86_400

PerAsset = float | tuple[float, ...]
Correlation = Sequence[Sequence[float]] | None

# DOMAIN.md C, "Synthetic price generators" table [C/R]: (alpha, beta, nu) by bar length in seconds.
GARCH_T_TABLE: dict[int, tuple[float, float, float]] = {
    60: (0.03, 0.965, 3.5),
    3_600: (0.05, 0.94, 4.0),
    86_400: (0.10, 0.85, 4.0),
}


# -- validation helpers ---------------------------------------------------------------------------


def _n_assets(cls: str, per_asset: dict[str, object], correlation: Correlation) -> int:
    """Number of assets implied by the tuple-valued fields and the correlation matrix."""
    sizes = {name: len(v) for name, v in per_asset.items() if _is_seq(v)}
    if correlation is not None:
        sizes["correlation"] = len(correlation)
    if len(set(sizes.values())) > 1:
        raise ValueError(f"{cls}: per-asset fields must have one length, got {sizes}")
    n = next(iter(sizes.values()), 1)
    if n < 1:
        raise ValueError(f"{cls}: must describe at least one asset, got {sizes}")
    return n


def _is_seq(value: object) -> bool:
    return isinstance(value, Sequence | np.ndarray) and not isinstance(value, str)


def _broadcast(obj: object, name: str, n: int) -> tuple[float, ...]:
    """Normalise a scalar-or-tuple field to a tuple of ``n`` floats, written back on ``obj``."""
    value = getattr(obj, name)
    out = tuple(float(v) for v in value) if _is_seq(value) else (float(value),) * n
    object.__setattr__(obj, name, out)
    return out


def _require(ok: bool, cls: str, name: str, rule: str, value: object) -> None:
    if not ok:
        raise ValueError(f"{cls}.{name}: must be {rule}, got {value}")


def _correlation(obj: object, n: int) -> tuple[tuple[float, ...], ...]:
    """Validate ``obj.correlation`` (identity if None) and write it back as a tuple of tuples."""
    cls = type(obj).__name__
    raw = obj.correlation
    rule = "a square matrix with one row per asset"
    try:
        c = np.eye(n) if raw is None else np.asarray(raw, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{cls}.correlation: must be {rule}, got {raw!r}") from None
    _require(c.shape == (n, n), cls, "correlation", rule, c.tolist())
    rule = "symmetric positive definite with unit diagonal"
    _require(bool(np.all(np.isfinite(c))), cls, "correlation", rule, c.tolist())
    _require(bool(np.allclose(c, c.T, rtol=0.0, atol=1e-12)), cls, "correlation", rule, c.tolist())
    _require(
        bool(np.allclose(np.diag(c), 1.0, rtol=0.0, atol=1e-12)),
        cls,
        "correlation",
        rule,
        c.tolist(),
    )
    _require(bool(np.linalg.eigvalsh(c).min() > 1e-10), cls, "correlation", rule, c.tolist())
    out = tuple(tuple(float(x) for x in row) for row in c)
    object.__setattr__(obj, "correlation", out)
    return out


def _cholesky(correlation: tuple[tuple[float, ...], ...]) -> np.ndarray:
    return np.linalg.cholesky(np.asarray(correlation, dtype=float))


def _check_call(fn: str, n_steps: int, step_seconds: int) -> None:
    if not (isinstance(n_steps, int | np.integer) and n_steps >= 0):
        raise ValueError(f"{fn}.n_steps: must be an integer >= 0, got {n_steps!r}")
    if not (isinstance(step_seconds, int | np.integer) and step_seconds > 0):
        raise ValueError(f"{fn}.step_seconds: must be an integer > 0, got {step_seconds!r}")


# -- parameters -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class GbmParams:
    """Correlated geometric Brownian motion.

    Per-asset fields take a scalar (same for every asset) or a tuple with one value per asset; they
    are stored as tuples. ``correlation`` defaults to the identity.

    Parameters
    ----------
    vol_per_year
        Annualised volatility sigma (365-day year), >= 0.
    drift_per_year
        Expected-return rate mu: ``E[S_T] = S_0 exp(mu T)``.
    correlation
        Correlation of the Brownian increments.
    """

    vol_per_year: PerAsset
    drift_per_year: PerAsset = 0.0
    correlation: Correlation = None

    def __post_init__(self) -> None:
        n = _n_assets(
            "GbmParams",
            {"vol_per_year": self.vol_per_year, "drift_per_year": self.drift_per_year},
            self.correlation,
        )
        for v in _broadcast(self, "vol_per_year", n):
            _require(math.isfinite(v) and v >= 0.0, "GbmParams", "vol_per_year", ">= 0", v)
        for v in _broadcast(self, "drift_per_year", n):
            _require(math.isfinite(v), "GbmParams", "drift_per_year", "finite", v)
        _correlation(self, n)

    @property
    def n_assets(self) -> int:
        return len(self.vol_per_year)


@dataclass(frozen=True, slots=True, kw_only=True)
class GarchParams:
    """GARCH(1,1) with standardised Student-t(nu) shocks, per asset, correlated through the shocks.

    Give exactly one of ``vol_per_year`` (target unconditional annual vol; omega derived for the
    step length at generation time) or ``omega`` (per-step variance intercept, already in the units
    of the step you will generate at). Defaults are the 1-minute row of the DOMAIN.md C table
    (alpha 0.03, beta 0.965, nu 3.5 [C]); use :meth:`for_step` for the hourly and daily rows.

    Parameters
    ----------
    vol_per_year
        Target unconditional annualised volatility, > 0.
    omega
        Variance intercept per step, > 0.
    alpha, beta
        ARCH and GARCH coefficients, >= 0 with ``alpha + beta < 1`` (covariance stationary).
    nu
        Student-t degrees of freedom, finite and > 2 (the variance must exist).
    drift_per_year
        Drift of the log price per year (a Student-t return has no moment generating function, so
        there is no ``E[S_T]`` to compensate for).
    correlation
        Correlation of the standardised shocks.

    Notes
    -----
    ``sigma2_t = omega + alpha eps2_{t-1} + beta sigma2_{t-1}``, ``eps_t = sqrt(sigma2_t) z_t``,
    ``z_t = L u_t`` with ``u_t`` iid standardised t(nu) per asset (unit variance) and ``L L' = C``.
    The long-run per-step variance is ``omega / (1 - alpha - beta)``, hence
    ``omega = sigma_ann^2 / periods_per_year * (1 - alpha - beta)`` (DOMAIN.md C).
    """

    vol_per_year: PerAsset | None = None
    omega: PerAsset | None = None
    alpha: PerAsset = 0.03  # DOMAIN.md C table, 1-minute row [C]
    beta: PerAsset = 0.965  # DOMAIN.md C table, 1-minute row [C]
    nu: PerAsset = 3.5  # DOMAIN.md C table, 1-minute row [C]
    drift_per_year: PerAsset = 0.0
    correlation: Correlation = None

    def __post_init__(self) -> None:
        cls = "GarchParams"
        if (self.vol_per_year is None) == (self.omega is None):
            raise ValueError(
                f"{cls}.vol_per_year: must be given exactly when omega is not (one of the two), "
                f"got vol_per_year={self.vol_per_year}, omega={self.omega}"
            )
        fields = ("vol_per_year", "omega", "alpha", "beta", "nu", "drift_per_year")
        given = {f: getattr(self, f) for f in fields if getattr(self, f) is not None}
        n = _n_assets(cls, given, self.correlation)
        for name in given:
            _broadcast(self, name, n)
        for name in ("vol_per_year", "omega"):
            for v in getattr(self, name) or ():
                _require(math.isfinite(v) and v > 0.0, cls, name, "> 0", v)
        for name in ("alpha", "beta"):
            for v in getattr(self, name):
                _require(math.isfinite(v) and v >= 0.0, cls, name, ">= 0", v)
        for a, b in zip(self.alpha, self.beta, strict=True):
            _require(
                a + b < 1.0,
                cls,
                "beta",
                "such that alpha + beta < 1 (stationary variance)",
                f"alpha={a}, beta={b}",
            )
        for v in self.nu:
            _require(math.isfinite(v) and v > 2.0, cls, "nu", "finite and > 2", v)
        for v in self.drift_per_year:
            _require(math.isfinite(v), cls, "drift_per_year", "finite", v)
        _correlation(self, n)

    @property
    def n_assets(self) -> int:
        return len(self.alpha)

    @classmethod
    def for_step(
        cls, step_seconds: int, *, vol_per_year: PerAsset, correlation: Correlation = None
    ) -> GarchParams:
        """Params from the DOMAIN.md C table row whose bar is nearest ``step_seconds`` (in log)."""
        _check_call("GarchParams.for_step", 0, step_seconds)
        bar = min(GARCH_T_TABLE, key=lambda s: abs(math.log(s / step_seconds)))
        alpha, beta, nu = GARCH_T_TABLE[bar]
        return cls(
            vol_per_year=vol_per_year, alpha=alpha, beta=beta, nu=nu, correlation=correlation
        )

    def omega_per_step(self, step_seconds: int) -> np.ndarray:
        """Variance intercept per step: given ``omega``, or derived from ``vol_per_year``."""
        if self.omega is not None:
            return np.asarray(self.omega, dtype=float)
        periods_per_year = SECONDS_PER_YEAR / step_seconds
        persistence = np.asarray(self.alpha) + np.asarray(self.beta)
        return np.asarray(self.vol_per_year) ** 2 / periods_per_year * (1.0 - persistence)

    def unconditional_variance_per_step(self, step_seconds: int) -> np.ndarray:
        """``omega / (1 - alpha - beta)``, the long-run variance of one step's return."""
        persistence = np.asarray(self.alpha) + np.asarray(self.beta)
        return self.omega_per_step(step_seconds) / (1.0 - persistence)


@dataclass(frozen=True, slots=True, kw_only=True)
class MertonParams:
    """Merton jump-diffusion: GBM plus compound-Poisson normal jumps in the log price.

    Defaults are the DOMAIN.md C BTC stress default [R/C]: sigma 50%, lambda 20 jumps a year,
    log-jump mean -1%, log-jump sd 4% (total vol 53.3%).

    Parameters
    ----------
    vol_per_year
        Diffusion volatility sigma, >= 0.
    jump_intensity_per_year
        Poisson rate lambda of jumps, >= 0 (one rate for every asset).
    jump_mean, jump_vol
        Mean muJ and sd sigmaJ (>= 0) of each log-jump.
    drift_per_year
        Expected-return rate mu: the drift is compensated so ``E[S_T] = S_0 exp(mu T)``.
    correlation
        Correlation of the diffusion shocks and of the jump sizes.
    common_jumps
        True: one jump clock for all assets (crypto crashes are market-wide); False: independent
        clocks with the same rate.

    Notes
    -----
    Per step of length dt (years), with ``N ~ Poisson(lambda dt)`` and ``kappa = exp(muJ +
    sigmaJ^2/2) - 1``: ``r = (mu - lambda kappa - sigma^2/2) dt + sigma sqrt(dt) z
    + N muJ + sqrt(N) sigmaJ z_J`` (the sum of N normal jumps).
    """

    vol_per_year: PerAsset = 0.50  # DOMAIN.md C, Merton BTC stress default [R/C]
    jump_intensity_per_year: float = 20.0  # DOMAIN.md C [R/C]
    jump_mean: PerAsset = -0.01  # DOMAIN.md C [R/C]
    jump_vol: PerAsset = 0.04  # DOMAIN.md C [R/C]
    drift_per_year: PerAsset = 0.0
    correlation: Correlation = None
    common_jumps: bool = True

    def __post_init__(self) -> None:
        cls = "MertonParams"
        fields = ("vol_per_year", "jump_mean", "jump_vol", "drift_per_year")
        n = _n_assets(cls, {f: getattr(self, f) for f in fields}, self.correlation)
        for name in fields:
            _broadcast(self, name, n)
        for name in ("vol_per_year", "jump_vol"):
            for v in getattr(self, name):
                _require(math.isfinite(v) and v >= 0.0, cls, name, ">= 0", v)
        for name in ("jump_mean", "drift_per_year"):
            for v in getattr(self, name):
                _require(math.isfinite(v), cls, name, "finite", v)
        lam = self.jump_intensity_per_year
        _require(math.isfinite(lam) and lam >= 0.0, cls, "jump_intensity_per_year", ">= 0", lam)
        _correlation(self, n)

    @property
    def n_assets(self) -> int:
        return len(self.vol_per_year)

    @property
    def jump_compensator(self) -> np.ndarray:
        """``kappa = E[e^J] - 1`` per asset."""
        return np.expm1(np.asarray(self.jump_mean) + 0.5 * np.asarray(self.jump_vol) ** 2)


PathParams = GbmParams | GarchParams | MertonParams


# -- generators -----------------------------------------------------------------------------------


def gbm_log_returns(
    rng: np.random.Generator, *, n_steps: int, step_seconds: int, params: GbmParams
) -> np.ndarray:
    """Log-returns ``(n_steps, n_assets)`` of correlated GBM.

    Notes
    -----
    ``r = (mu - sigma^2/2) dt + sigma sqrt(dt) (L eps)``, ``eps ~ N(0, I)``, dt in years.
    """
    _check_call("gbm_log_returns", n_steps, step_seconds)
    dt = step_seconds / SECONDS_PER_YEAR
    vol = np.asarray(params.vol_per_year)
    drift = (np.asarray(params.drift_per_year) - 0.5 * vol**2) * dt
    z = rng.standard_normal((n_steps, params.n_assets)) @ _cholesky(params.correlation).T
    return drift + vol * math.sqrt(dt) * z


@kernel
def garch_recursion(
    shocks: np.ndarray,
    omega: np.ndarray,
    alpha: np.ndarray,
    beta: np.ndarray,
    sigma2_0: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled; twin in the tests
    """GARCH(1,1) filter: returns ``(eps, sigma2)``, both ``(n_steps, n_assets)``.

    ``sigma2[0] = sigma2_0``; ``eps[t] = sqrt(sigma2[t]) shocks[t]``;
    ``sigma2[t+1] = omega + alpha eps[t]^2 + beta sigma2[t]``.
    """
    n, k = shocks.shape
    eps = np.empty((n, k))
    sigma2 = np.empty((n, k))
    h = sigma2_0.copy()
    for t in range(n):
        for j in range(k):
            sigma2[t, j] = h[j]
            e = math.sqrt(h[j]) * shocks[t, j]
            eps[t, j] = e
            h[j] = omega[j] + alpha[j] * e * e + beta[j] * h[j]
    return eps, sigma2


def _standardised_t(rng: np.random.Generator, nu: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Student-t(nu) draws scaled to unit variance, ``t sqrt((nu - 2)/nu)``; nu per column."""
    nu = np.asarray(nu, dtype=float)
    return rng.standard_t(nu, size=shape) * np.sqrt((nu - 2.0) / nu)


def garch_t_log_returns(
    rng: np.random.Generator, *, n_steps: int, step_seconds: int, params: GarchParams
) -> np.ndarray:
    """Log-returns ``(n_steps, n_assets)`` of correlated GARCH(1,1) with Student-t shocks.

    The recursion starts at the unconditional variance. See :class:`GarchParams` for the maths.
    """
    _check_call("garch_t_log_returns", n_steps, step_seconds)
    u = _standardised_t(rng, np.asarray(params.nu), (n_steps, params.n_assets))
    z = u @ _cholesky(params.correlation).T
    omega = params.omega_per_step(step_seconds)
    alpha = np.asarray(params.alpha, dtype=float)
    beta = np.asarray(params.beta, dtype=float)
    eps, _ = garch_recursion(z, omega, alpha, beta, omega / (1.0 - alpha - beta))
    return eps + np.asarray(params.drift_per_year) * (step_seconds / SECONDS_PER_YEAR)


def merton_log_returns(
    rng: np.random.Generator, *, n_steps: int, step_seconds: int, params: MertonParams
) -> np.ndarray:
    """Log-returns ``(n_steps, n_assets)`` of correlated Merton jump-diffusion.

    Draw order (fixed, for reproducibility): diffusion shocks, jump counts, jump-size shocks.
    See :class:`MertonParams` for the maths.
    """
    _check_call("merton_log_returns", n_steps, step_seconds)
    k = params.n_assets
    dt = step_seconds / SECONDS_PER_YEAR
    chol = _cholesky(params.correlation)
    vol = np.asarray(params.vol_per_year)
    lam = params.jump_intensity_per_year
    drift = (np.asarray(params.drift_per_year) - lam * params.jump_compensator - 0.5 * vol**2) * dt
    diffusion = vol * math.sqrt(dt) * (rng.standard_normal((n_steps, k)) @ chol.T)
    count_shape = (n_steps, 1) if params.common_jumps else (n_steps, k)
    counts = rng.poisson(lam * dt, size=count_shape).astype(float)
    jump_z = rng.standard_normal((n_steps, k)) @ chol.T
    jumps = (
        counts * np.asarray(params.jump_mean)
        + np.sqrt(counts) * np.asarray(params.jump_vol) * jump_z
    )
    return drift + diffusion + jumps


_GENERATORS: dict[type, Callable[..., np.ndarray]] = {
    GbmParams: gbm_log_returns,
    GarchParams: garch_t_log_returns,
    MertonParams: merton_log_returns,
}


def generate_log_returns(
    rng: np.random.Generator, *, n_steps: int, step_seconds: int, params: PathParams
) -> np.ndarray:
    """Dispatch on the params type to the matching generator."""
    try:
        generator = _GENERATORS[type(params)]
    except KeyError:
        raise ValueError(
            f"generate_log_returns.params: must be one of "
            f"{sorted(t.__name__ for t in _GENERATORS)}, got {type(params).__name__}"
        ) from None
    return generator(rng, n_steps=n_steps, step_seconds=step_seconds, params=params)
