"""Implied-volatility surface that venues use to mark options: per-expiry SABR smiles in moneyness.

Parametrisation (one node per listed expiry ``T_i``): a lognormal SABR smile with ``beta = 1``
(Hagan 2002, DOMAIN.md B2), stored as

- ``atm_vol``: the at-the-money (``K = F``) implied vol, the level;
- ``rho``: the spot-vol correlation, which sets the skew (ATM slope ``d sigma / dk ~ -rho nu / 2``
  for short ``T``);
- ``nu``: the vol of vol, which sets the smile curvature;

and ``alpha`` is solved from ``atm_vol`` (see :func:`alpha_from_atm_vol`). With ``beta = 1`` the
smile depends on strike only through the log-moneyness ``k = ln(K/F)``, so the surface is sticky
in moneyness and needs no forward of its own.

Between expiries the total variance ``w(k, T) = sigma^2 T`` is linear in ``T`` at fixed ``k``;
before the first and after the last expiry the vol is flat in ``T`` (``sigma(k, T) =
sigma_first(k)`` / ``sigma_last(k)``). In ``k`` each smile is flat outside its node's
``[min_log_moneyness, max_log_moneyness]`` (when fitted: the quoted range, widened with
``sqrt(T)``), where Hagan's wings would otherwise grow without bound. Construction checks that
``w`` is non-decreasing in ``T`` at every ``k`` of a grid (no calendar arbitrage in the
interpolation). An optional clamp ``[vol_floor, vol_cap]`` applies last, as Deribit clamped mark
IV to [30%, 100%] (DOMAIN.md A1 [S]); the clamp is a marking rule and can itself reintroduce
calendar arbitrage.

:func:`fit_surface` (``VolSurface.from_quotes``) fits one to quotes;
:func:`protocols.margin.deribit_marks.default_surface` fits the shipped Deribit marks.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np

from protocols.margin._jit import kernel
from protocols.margin.sabr import SabrFit, calibrate_sabr, sabr_lognormal_vol

__all__ = [
    "SurfaceFit",
    "VolSurface",
    "alpha_from_atm_vol",
    "fit_surface",
    "surface_vols",
]

_CALENDAR_GRID = np.linspace(-3.0, 3.0, 241)  # log-moneyness grid of the calendar check
_CALENDAR_TOL = 1e-12
_CALENDAR_MARGIN_VOL = 1e-4  # fit_surface aims this far above the calendar floor (0.01 vol point)


def _calendar_grid(k_lo, k_hi) -> np.ndarray:
    """Log-moneyness points of the calendar check: a fixed grid and every finite smile edge."""
    edges = np.concatenate([np.asarray(k_lo, dtype=float), np.asarray(k_hi, dtype=float)])
    return np.concatenate([_CALENDAR_GRID, edges[np.isfinite(edges)]])


def alpha_from_atm_vol(atm_vol: float, t_years: float, rho: float, nu: float) -> float:
    """SABR ``alpha`` (``beta = 1``) whose Hagan ATM vol is ``atm_vol``.

    Notes
    -----
    ``sigma_ATM = alpha [1 + (rho nu alpha / 4 + (2 - 3 rho^2) nu^2 / 24) T]`` (DOMAIN.md B2 with
    ``beta = 1``) is quadratic in ``alpha``: ``a alpha^2 + b alpha - sigma_ATM = 0`` with
    ``a = rho nu T / 4``, ``b = 1 + (2 - 3 rho^2) nu^2 T / 24``; the root continuous at ``a = 0``
    is ``alpha = 2 sigma_ATM / (b + sqrt(b^2 + 4 a sigma_ATM))``. NaN if no positive root.
    """
    a = 0.25 * rho * nu * t_years
    b = 1.0 + (2.0 - 3.0 * rho * rho) * nu * nu * t_years / 24.0
    disc = b * b + 4.0 * a * atm_vol
    if disc < 0.0 or b + math.sqrt(disc) <= 0.0:
        return math.nan
    return 2.0 * atm_vol / (b + math.sqrt(disc))


@kernel
def _node_vol(k, j, node_t, alpha, rho, nu, k_lo, k_hi):
    """Vol of smile ``j`` at log-moneyness ``k`` (flat outside ``[k_lo, k_hi]``)."""
    kc = min(max(k, k_lo[j]), k_hi[j])
    return sabr_lognormal_vol(math.exp(kc), 1.0, node_t[j], alpha[j], 1.0, rho[j], nu[j], 0.0)


@kernel
def surface_vols(log_moneyness, t_years, node_t, alpha, rho, nu, k_lo, k_hi, vol_floor, vol_cap):
    """Surface vols at ``(n,)`` log-moneyness ``ln(K/F)`` and ``(n,)`` expiries (years).

    The node arrays describe the smiles (``beta = 1`` SABR; ``node_t`` increasing), as
    :attr:`VolSurface.node_arrays` gives them; see the module docstring for the interpolation. A NaN
    input gives a NaN vol. The twin is ``surface_vols.py_func``.
    """
    n = log_moneyness.shape[0]
    m = node_t.shape[0]
    out = np.empty(n)
    for i in range(n):
        k = log_moneyness[i]
        t = t_years[i]
        if math.isnan(t) or math.isnan(k):
            out[i] = math.nan
            continue
        if t <= node_t[0]:
            vol = _node_vol(k, 0, node_t, alpha, rho, nu, k_lo, k_hi)
        elif t >= node_t[m - 1]:
            vol = _node_vol(k, m - 1, node_t, alpha, rho, nu, k_lo, k_hi)
        else:
            j = np.searchsorted(node_t, t) - 1  # node_t[j] < t <= node_t[j + 1]
            v0 = _node_vol(k, j, node_t, alpha, rho, nu, k_lo, k_hi)
            v1 = _node_vol(k, j + 1, node_t, alpha, rho, nu, k_lo, k_hi)
            w0 = v0 * v0 * node_t[j]
            w1 = v1 * v1 * node_t[j + 1]
            weight = (t - node_t[j]) / (node_t[j + 1] - node_t[j])
            vol = math.sqrt((w0 + weight * (w1 - w0)) / t)
        out[i] = min(max(vol, vol_floor), vol_cap)
    return out


def _as_tuple(value, n: int | None, fill: float) -> tuple[float, ...]:
    if value is None:
        return (fill,) * (n or 0)
    return tuple(float(v) for v in np.atleast_1d(np.asarray(value, dtype=float)))


@dataclass(frozen=True, kw_only=True)
class VolSurface:
    """Per-expiry SABR (``beta = 1``) smiles, interpolated in total variance (module docstring).

    Parameters
    ----------
    expiry_years
        Node expiries in years, strictly increasing, > 0.
    atm_vol
        ATM implied vol per expiry (annualised, > 0).
    rho
        SABR correlation per expiry, in (-1, 1): the skew.
    nu
        SABR vol of vol per expiry, >= 0: the smile curvature.
    min_log_moneyness, max_log_moneyness
        Per expiry, the ``ln(K/F)`` range outside which the smile is flat; ``None`` for no bound.
    vol_floor, vol_cap
        Clamp applied to every vol, ``0 <= vol_floor < vol_cap`` (default: none).

    Sequences are stored as tuples; the surface is immutable and ``dataclasses.replace`` or the
    methods below give new ones.
    """

    expiry_years: tuple[float, ...]
    atm_vol: tuple[float, ...]
    rho: tuple[float, ...]
    nu: tuple[float, ...]
    min_log_moneyness: tuple[float, ...] | None = None
    max_log_moneyness: tuple[float, ...] | None = None
    vol_floor: float = 0.0
    vol_cap: float = math.inf
    _nodes: tuple[np.ndarray, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        name = type(self).__name__
        t = _as_tuple(self.expiry_years, None, 0.0)
        n = len(t)
        values = {
            "expiry_years": t,
            "atm_vol": _as_tuple(self.atm_vol, n, 0.0),
            "rho": _as_tuple(self.rho, n, 0.0),
            "nu": _as_tuple(self.nu, n, 0.0),
            "min_log_moneyness": _as_tuple(self.min_log_moneyness, n, -math.inf),
            "max_log_moneyness": _as_tuple(self.max_log_moneyness, n, math.inf),
        }
        for key, value in values.items():
            object.__setattr__(self, key, value)
        if n == 0:
            raise ValueError(f"{name}.expiry_years: needs at least one expiry")
        for key, value in values.items():
            if len(value) != n:
                raise ValueError(
                    f"{name}.{key}: needs {n} values (one per expiry), got {len(value)}"
                )
        arr = {key: np.array(value) for key, value in values.items()}
        checks = (
            (
                "expiry_years",
                np.all(np.isfinite(arr["expiry_years"]) & (arr["expiry_years"] > 0))
                and np.all(np.diff(arr["expiry_years"]) > 0),
                "must be finite, > 0 and increasing",
            ),
            (
                "atm_vol",
                np.all(np.isfinite(arr["atm_vol"]) & (arr["atm_vol"] > 0)),
                "must be finite and > 0",
            ),
            ("rho", np.all(np.abs(arr["rho"]) < 1.0), "must be in (-1, 1)"),
            ("nu", np.all(np.isfinite(arr["nu"]) & (arr["nu"] >= 0)), "must be finite and >= 0"),
            (
                "max_log_moneyness",
                np.all(arr["min_log_moneyness"] < arr["max_log_moneyness"]),
                "must be > min_log_moneyness",
            ),
            ("vol_floor", 0.0 <= self.vol_floor < self.vol_cap, "must be >= 0 and < vol_cap"),
        )
        for key, ok, rule in checks:
            if not ok:
                raise ValueError(f"{name}.{key}: {rule}, got {getattr(self, key)}")
        alpha = np.array(
            [
                alpha_from_atm_vol(a, ti, r, v)
                for a, ti, r, v in zip(
                    values["atm_vol"], t, values["rho"], values["nu"], strict=True
                )
            ]
        )
        if not np.all(alpha > 0.0):
            bad = int(np.flatnonzero(~(alpha > 0.0))[0])
            raise ValueError(
                f"{name}.nu: no SABR alpha gives atm_vol {values['atm_vol'][bad]} at expiry "
                f"{t[bad]} with rho {values['rho'][bad]}, nu {values['nu'][bad]} (nu too large)"
            )
        nodes = (
            arr["expiry_years"],
            alpha,
            arr["rho"],
            arr["nu"],
            arr["min_log_moneyness"],
            arr["max_log_moneyness"],
        )
        for a in nodes:
            a.setflags(write=False)
        object.__setattr__(self, "_nodes", nodes)
        self._check_calendar()

    def _check_calendar(self) -> None:
        """Total variance non-decreasing in expiry at every grid log-moneyness."""
        node_t = self._nodes[0]
        if node_t.size < 2:
            return
        k = _calendar_grid(self._nodes[4], self._nodes[5])
        w = np.array([self.total_variance(k, ti) for ti in node_t])  # (n_expiry, n_k), unclamped
        drop = w[:-1] - w[1:]
        if np.any(drop > _CALENDAR_TOL * np.maximum(w[1:], 1.0)):
            j, i = np.unravel_index(np.argmax(drop), drop.shape)
            raise ValueError(
                f"VolSurface.atm_vol: total variance must be non-decreasing in expiry (no calendar "
                f"arbitrage); at ln(K/F) = {k[i]:.3f} it drops from {w[j, i]:.6g} at T = "
                f"{node_t[j]:.6g} to {w[j + 1, i]:.6g} at T = {node_t[j + 1]:.6g}"
            )

    @property
    def node_arrays(self) -> tuple[np.ndarray, ...]:
        """Read-only ``(expiry_years, alpha, rho, nu, min_log_moneyness, max_log_moneyness)``
        arrays: the node arguments of :func:`surface_vols`, for callers that run the kernel in
        their own loop."""
        return self._nodes

    def total_variance(self, log_moneyness, t_years) -> np.ndarray:
        """Unclamped total variance ``sigma^2 T`` at ``ln(K/F)`` and ``t_years`` (broadcast)."""
        k, t = np.broadcast_arrays(
            np.asarray(log_moneyness, dtype=float), np.asarray(t_years, dtype=float)
        )
        vol = surface_vols(np.ravel(k), np.ravel(t), *self._nodes, 0.0, math.inf)
        return (vol * vol).reshape(k.shape) * t

    def implied_vol(self, forward, strike, t_years) -> np.ndarray:
        """Implied vol (annualised, clamped) for ``forward``, ``strike`` and ``t_years``.

        Arguments broadcast as NumPy arrays do; returns an array of their broadcast shape. A
        ``t_years <= 0`` gets the first expiry's vol (flat extrapolation).
        """
        f, k, t = np.broadcast_arrays(
            *(np.asarray(a, dtype=float) for a in (forward, strike, t_years))
        )
        log_m = np.log(k / f)
        vol = surface_vols(np.ravel(log_m), np.ravel(t), *self._nodes, self.vol_floor, self.vol_cap)
        return vol.reshape(f.shape)

    def bumped(self, *, atm_shift: float) -> VolSurface:
        """A surface with every expiry's ATM vol shifted by ``atm_shift`` (0.05 = +5 vol points).

        The skew and curvature parameters are kept, so the whole smile moves by about the shift.
        """
        return dataclasses.replace(self, atm_vol=tuple(v + atm_shift for v in self.atm_vol))

    def scaled(self, factor: float) -> VolSurface:
        """A surface with vols multiplied by about ``factor`` (> 0): ATM vol and ``nu`` scaled.

        Scaling ``alpha`` and ``nu`` together keeps ``z`` and so the smile's shape in ``k``; the
        Hagan time correction makes the scaling exact only as ``T -> 0``.
        """
        if not factor > 0.0:
            raise ValueError(f"VolSurface.scaled.factor: must be > 0, got {factor}")
        return dataclasses.replace(
            self,
            atm_vol=tuple(v * factor for v in self.atm_vol),
            nu=tuple(v * factor for v in self.nu),
        )

    @classmethod
    def from_quotes(cls, *, strike, expiry_years, implied_vol, forward, **kwargs) -> VolSurface:
        """Fit a surface to quotes; see :func:`fit_surface` (this returns only the surface)."""
        return fit_surface(
            strike=strike,
            expiry_years=expiry_years,
            implied_vol=implied_vol,
            forward=forward,
            **kwargs,
        ).surface


@dataclass(frozen=True, kw_only=True)
class SurfaceFit:
    """Result of :func:`fit_surface`: the surface and the SABR fit of each expiry."""

    surface: VolSurface
    fits: tuple[SabrFit, ...]


def fit_surface(
    *,
    strike,
    expiry_years,
    implied_vol,
    forward,
    vol_floor: float = 0.0,
    vol_cap: float = math.inf,
    min_quotes: int = 3,
    wing_stdevs: float = 4.0,
) -> SurfaceFit:
    """Fit one ``beta = 1`` SABR smile per expiry to ``(strike, expiry, iv)`` quotes.

    Parameters
    ----------
    strike, expiry_years, implied_vol, forward
        One value per quote (``forward`` is the forward of the quote's expiry, USD); ``implied_vol``
        annualised (0.6 = 60%). Quotes with equal ``expiry_years`` form one smile.
    vol_floor, vol_cap
        Clamp of the resulting surface.
    min_quotes
        Expiries with fewer quotes are skipped (SABR has three parameters).
    wing_stdevs
        Each smile follows SABR over the quoted log-moneyness range widened to at least
        ``+-wing_stdevs x sigma x sqrt(T)`` (``sigma`` the median quoted vol), and is flat beyond.

    Notes
    -----
    Expiries are fitted in order; a node's ATM vol is its fitted smile at ``K = F``. The ranges
    grow with ``sqrt(T)`` so that a sparsely quoted expiry does not go flat inside a neighbour's
    quoted range. From the second expiry on, the fit has
    lower bounds (:func:`~protocols.margin.sabr.calibrate_sabr` ``floor_*``): on the calendar grid
    the smile must reach ``sqrt(w_prev(k) / T) + 1e-4``, the previous expiry's total variance, so
    quotes that cross (real marks do, in the wings) give an arbitrage-free surface rather than an
    error; the quotes' own crossings show up as fit errors. The :class:`VolSurface` check then
    verifies the result.
    """
    k, t, iv, f = np.broadcast_arrays(
        *(np.asarray(a, dtype=float) for a in (strike, expiry_years, implied_vol, forward))
    )
    nodes: list[tuple[float, float, float, float, float, float]] = []
    fits = []
    for ti in np.unique(t):
        sel = t == ti
        if sel.sum() < min_quotes:
            continue
        fwd = float(np.median(f[sel]))
        log_m = np.log(k[sel] / f[sel])
        width = wing_stdevs * float(np.median(iv[sel])) * math.sqrt(ti)
        k_lo, k_hi = min(float(log_m.min()), -width), max(float(log_m.max()), width)
        floor_strike = floor_vol = None
        if nodes:
            # Calendar floor: this smile's variance at the grid must reach the previous one's.
            prev = _partial_surface(nodes)
            grid = _calendar_grid([*prev.min_log_moneyness, k_lo], [*prev.max_log_moneyness, k_hi])
            w_prev = prev.total_variance(grid, prev.expiry_years[-1])
            floor_strike = fwd * np.exp(np.clip(grid, k_lo, k_hi))
            floor_vol = np.sqrt(w_prev / ti) + _CALENDAR_MARGIN_VOL
        fit = calibrate_sabr(
            k[sel] * fwd / f[sel],
            iv[sel],
            forward=fwd,
            t_years=float(ti),
            beta=1.0,
            floor_strike=floor_strike,
            floor_vol=floor_vol,
        )
        p = fit.params
        atm = sabr_lognormal_vol(fwd, fwd, float(ti), p.alpha, 1.0, p.rho, p.nu, 0.0)
        nodes.append((float(ti), atm, p.rho, p.nu, k_lo, k_hi))
        fits.append(fit)
    if not nodes:
        raise ValueError(f"fit_surface.expiry_years: no expiry has >= {min_quotes} quotes")
    surface = dataclasses.replace(_partial_surface(nodes), vol_floor=vol_floor, vol_cap=vol_cap)
    return SurfaceFit(surface=surface, fits=tuple(fits))


def _partial_surface(nodes: list[tuple[float, float, float, float, float, float]]) -> VolSurface:
    cols = list(zip(*nodes, strict=True))
    return VolSurface(
        expiry_years=cols[0],
        atm_vol=cols[1],
        rho=cols[2],
        nu=cols[3],
        min_log_moneyness=cols[4],
        max_log_moneyness=cols[5],
    )
