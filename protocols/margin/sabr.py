"""SABR smile: Hagan et al. (2002) lognormal implied volatility, and its calibration to a smile.

The kernels give the Black (lognormal) implied volatility of the SABR model
``dF = alpha_t (F + shift)^beta dW``, ``d alpha_t = nu alpha_t dZ``, ``dW dZ = rho dt``
(DOMAIN.md B2). ``shift > 0`` is shifted SABR: the formula applied to ``F + shift`` and
``K + shift`` (rates that can go negative; crypto forwards need ``shift = 0``).
:func:`calibrate_sabr` fits ``alpha, rho, nu`` for a fixed ``beta`` by least squares in vol.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares, minimize

from protocols.margin._jit import kernel

__all__ = [
    "SabrFit",
    "SabrParams",
    "calibrate_sabr",
    "sabr_lognormal_vol",
    "sabr_lognormal_vols",
]

_NU_MAX = 100.0  # calibration bound on the vol of vol (1-day crypto smiles need ~20-50)
_Z_SERIES = 1e-7  # below this |z|, z / x(z) by its Taylor series (error O(z^3) ~ 1e-21)


@kernel
def sabr_lognormal_vol(strike, forward, t_years, alpha, beta, rho, nu, shift):
    """Hagan (2002) lognormal SABR implied volatility of one strike (annualised).

    Parameters
    ----------
    strike, forward
        Strike and forward, ``> -shift``.
    t_years
        Time to expiry in years.
    alpha, beta, rho, nu
        SABR parameters: initial vol ``alpha > 0`` (in units of ``F^(1-beta)``), CEV exponent
        ``0 <= beta <= 1``, correlation ``-1 < rho < 1``, vol of vol ``nu >= 0``.
    shift
        Shift added to forward and strike (0 for plain SABR).

    Notes
    -----
    With ``f = F + s``, ``k = K + s``, ``L = ln(f/k)``, ``b = 1 - beta``::

        sigma = alpha / [(fk)^{b/2} (1 + b^2 L^2/24 + b^4 L^4/1920)] * z / x(z)
                * {1 + [b^2 alpha^2 / (24 (fk)^b) + rho beta nu alpha / (4 (fk)^{b/2})
                        + (2 - 3 rho^2) nu^2 / 24] T}
        z = (nu / alpha) (fk)^{b/2} L,   x(z) = ln{[sqrt(1 - 2 rho z + z^2) + z - rho] / (1 - rho)}

    ``x(z)`` is evaluated through ``log1p`` in a cancellation-free form (``A = sqrt(1 - 2 rho z
    + z^2)``; ``A + z - rho = (1 - rho^2) / (A - z + rho)``), and for ``|z| < 1e-7`` the ratio is
    the series ``z/x(z) = 1 - rho z / 2 + (2 - 3 rho^2) z^2 / 12``: the ATM limit ``K = F`` and
    ``nu = 0`` are smooth, no 0/0.
    """
    f = forward + shift
    k = strike + shift
    one_b = 1.0 - beta
    log_fk = math.log(f / k)
    fk_half = (f * k) ** (0.5 * one_b)
    l2 = log_fk * log_fk
    b2 = one_b * one_b
    denom = fk_half * (1.0 + b2 * l2 / 24.0 + b2 * b2 * l2 * l2 / 1920.0)
    z = nu / alpha * fk_half * log_fk
    if abs(z) < _Z_SERIES:
        z_over_x = 1.0 - 0.5 * rho * z + (2.0 - 3.0 * rho * rho) * z * z / 12.0
    else:
        a = math.sqrt(1.0 - 2.0 * rho * z + z * z)
        if z > 0.0:
            x = math.log1p(z * (a + 1.0 + z - 2.0 * rho) / ((a + 1.0) * (1.0 - rho)))
        else:
            x = -math.log1p(-z * (a + 1.0 - z + 2.0 * rho) / ((a + 1.0) * (1.0 + rho)))
        z_over_x = z / x
    correction = (
        1.0
        + (
            b2 * alpha * alpha / (24.0 * fk_half * fk_half)
            + 0.25 * rho * beta * nu * alpha / fk_half
            + (2.0 - 3.0 * rho * rho) * nu * nu / 24.0
        )
        * t_years
    )
    return alpha / denom * z_over_x * correction


@kernel
def sabr_lognormal_vols(strike, forward, t_years, alpha, beta, rho, nu, shift):
    """:func:`sabr_lognormal_vol` over a ``(n,)`` array of strikes (one smile); ``(n,)`` vols."""
    n = strike.shape[0]
    out = np.empty(n)
    for i in range(n):
        out[i] = sabr_lognormal_vol(strike[i], forward, t_years, alpha, beta, rho, nu, shift)
    return out


@dataclass(frozen=True, kw_only=True)
class SabrParams:
    """SABR parameters of one expiry (see :func:`sabr_lognormal_vol` for the meaning)."""

    alpha: float
    beta: float
    rho: float
    nu: float
    shift: float = 0.0

    def __post_init__(self) -> None:
        for name, ok, rule in (
            ("alpha", self.alpha > 0.0, "must be > 0"),
            ("beta", 0.0 <= self.beta <= 1.0, "must be in [0, 1]"),
            ("rho", -1.0 < self.rho < 1.0, "must be in (-1, 1)"),
            ("nu", self.nu >= 0.0, "must be >= 0"),
            ("shift", self.shift >= 0.0, "must be >= 0"),
        ):
            value = getattr(self, name)
            if not (ok and math.isfinite(value)):
                raise ValueError(f"SabrParams.{name}: {rule}, got {value}")

    def vols(self, strike, *, forward: float, t_years: float) -> np.ndarray:
        """Lognormal implied vols at ``strike`` (array-like) for this forward and expiry."""
        k = np.atleast_1d(np.asarray(strike, dtype=float))
        return sabr_lognormal_vols(
            k,
            float(forward),
            float(t_years),
            self.alpha,
            self.beta,
            self.rho,
            self.nu,
            self.shift,
        )


@dataclass(frozen=True, kw_only=True)
class SabrFit:
    """Result of :func:`calibrate_sabr`.

    Attributes
    ----------
    params
        Fitted parameters (``beta`` and ``shift`` as given).
    rmse_vol, max_abs_error_vol
        Root-mean-square and largest absolute error of the fitted vols, in vol units (0.01 is one
        vol point), unweighted.
    n_quotes
        Number of quotes fitted.
    converged
        ``scipy.optimize.least_squares`` reported success.
    message
        Its message.
    """

    params: SabrParams
    rmse_vol: float
    max_abs_error_vol: float
    n_quotes: int
    converged: bool
    message: str


def calibrate_sabr(
    strike,
    vol,
    *,
    forward: float,
    t_years: float,
    beta: float,
    shift: float = 0.0,
    weights=None,
    floor_strike=None,
    floor_vol=None,
) -> SabrFit:
    """Fit ``alpha, rho, nu`` of a smile for a fixed ``beta`` (least squares in implied vol).

    Parameters
    ----------
    strike, vol
        Quoted strikes and lognormal implied vols (0.6 = 60%), equal lengths, at least 3 quotes.
    forward, t_years
        Forward of the expiry and time to it in years.
    beta, shift
        Fixed CEV exponent and shift.
    weights
        Optional non-negative weights per quote (e.g. vega); residuals are ``sqrt(w) (model -
        quote)``.
    floor_strike, floor_vol
        Optional lower bounds: the model vol at ``floor_strike`` should be at least
        ``floor_vol`` (used by :func:`~protocols.margin.surface.fit_surface` to keep total variance
        increasing in expiry); hard constraints of a second, SLSQP fit that starts from the free
        least-squares fit when that one breaks a floor.

    Notes
    -----
    Bounded trust-region least squares: ``alpha > 0``, ``|rho| <= 0.999``, ``0 <= nu <= 20``,
    started from ``alpha`` matching the vol nearest the money, and from ``rho`` in
    ``{-0.5, 0, 0.5}``; the best of the three starts is kept (the objective has shallow local
    minima in ``rho``).
    ``nu`` may be large for expiries of a few days, whose smiles are steep in ``ln(K/F)``.
    """
    k = np.asarray(strike, dtype=float)
    v = np.asarray(vol, dtype=float)
    if k.ndim != 1 or k.shape != v.shape:
        raise ValueError(f"calibrate_sabr.vol: must be 1-D like strike, got {v.shape} vs {k.shape}")
    if k.size < 3:
        raise ValueError(f"calibrate_sabr.strike: needs >= 3 quotes, got {k.size}")
    if not (np.all(np.isfinite(v)) and np.all(v > 0.0)):
        raise ValueError("calibrate_sabr.vol: must be finite and > 0")
    if not (np.all(np.isfinite(k)) and np.all(k + shift > 0.0)):
        raise ValueError("calibrate_sabr.strike: must be finite and > -shift")
    if not (forward + shift > 0.0 and t_years > 0.0):
        raise ValueError(
            f"calibrate_sabr.forward/t_years: must be > -shift and > 0, got {forward}, {t_years}"
        )
    sqrt_w = np.ones_like(v) if weights is None else np.sqrt(np.asarray(weights, dtype=float))
    atm_vol = float(v[np.argmin(np.abs(np.log((k + shift) / (forward + shift))))])
    alpha0 = atm_vol * (forward + shift) ** (1.0 - beta)

    if floor_strike is None:
        floor_k = np.empty(0)
        floor_v = np.empty(0)
    else:
        floor_k, floor_v = np.broadcast_arrays(
            np.asarray(floor_strike, dtype=float), np.asarray(floor_vol, dtype=float)
        )

    def quote_residuals(p: np.ndarray) -> np.ndarray:
        model = sabr_lognormal_vols(k, forward, t_years, p[0], beta, p[1], p[2], shift)
        return sqrt_w * (model - v)

    def floor_slack(p: np.ndarray) -> np.ndarray:
        model = sabr_lognormal_vols(floor_k, forward, t_years, p[0], beta, p[1], p[2], shift)
        return model - floor_v

    bounds = ([alpha0 * 1e-3, -0.999, 0.0], [alpha0 * 1e3, 0.999, _NU_MAX])
    best = None
    for rho0 in (-0.5, 0.0, 0.5):
        res = least_squares(quote_residuals, [alpha0, rho0, 1.0], bounds=bounds, x_scale="jac")
        if best is None or res.cost < best.cost:
            best = res
    x, converged, message = best.x, bool(best.success), str(best.message)
    if floor_k.size and np.any(floor_slack(x) < 0.0):
        x, converged, message = _floored_fit(quote_residuals, floor_slack, x, bounds)
    params = SabrParams(alpha=float(x[0]), beta=beta, rho=float(x[1]), nu=float(x[2]), shift=shift)
    error = params.vols(k, forward=forward, t_years=t_years) - v
    return SabrFit(
        params=params,
        rmse_vol=float(np.sqrt(np.mean(error**2))),
        max_abs_error_vol=float(np.max(np.abs(error))),
        n_quotes=int(k.size),
        converged=converged,
        message=message,
    )


def _floored_fit(quote_residuals, floor_slack, x_free, bounds):
    """Least squares in vol subject to ``floor_slack(x) >= 0`` (SLSQP), from the free fit."""
    scale = np.array([x_free[0], 1.0, max(x_free[2], 0.1)])  # O(1) variables for SLSQP
    res = minimize(
        lambda y: 0.5 * float(np.sum(quote_residuals(y * scale) ** 2)),
        x_free / scale,
        method="SLSQP",
        bounds=list(zip(np.array(bounds[0]) / scale, np.array(bounds[1]) / scale, strict=True)),
        constraints=[{"type": "ineq", "fun": lambda y: floor_slack(y * scale)}],
        options={"maxiter": 500, "ftol": 1e-12},
    )
    return res.x * scale, bool(res.success), str(res.message)
