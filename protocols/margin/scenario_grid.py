"""Scenario grids of portfolio margin: Deribit's 27 scenarios, its extended table, CME SPAN's 16.

A :class:`ScenarioGrid` is a parameter bundle like any other: recalibration replaces it (wider
spot range, bigger vol shocks, other weights) with :func:`dataclasses.replace`, and the kernels of
``portfolio_kernels`` read it through :meth:`ScenarioGrid.kernel_arrays`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

__all__ = [
    "EXTENDED_SPOT_SHOCKS",
    "EXTENDED_WEIGHTS",
    "MarginLevel",
    "ScenarioGrid",
    "deribit_extended_grid",
    "deribit_grid",
    "paradex_grid",
    "span_grid",
]

EXTENDED_SPOT_SHOCKS = (-0.66, -0.33, 0.50, 1.00, 2.00, 3.00, 4.00, 5.00)
"""Deribit's extended-table moves (DOMAIN.md A2 [S], support.deribit.com article 25944756247837)."""
EXTENDED_WEIGHTS = (0.24, 0.48, 0.32, 0.16, 0.08, 0.0533, 0.04, 0.032)
"""Their dampening weights as Paradex publishes them (DOMAIN.md A2 [S], docs.paradex.trade)."""


class MarginLevel(IntEnum):
    """Which requirement the scan defines; the other is derived with ``im_over_mm``."""

    INITIAL = 0
    MAINTENANCE = 1


def _fail(field: str, rule: str, value: object) -> ValueError:
    return ValueError(f"ScenarioGrid.{field}: must be {rule}, got {value!r}")


@dataclass(frozen=True, kw_only=True)
class ScenarioGrid:
    """Spot and vol shocks, loss weights and the charges added to the scan.

    Parameters
    ----------
    spot_shocks
        Relative moves of the forward, ``F_k = F (1 + spot_shocks[k])``; each > -1.
    vol_shocks
        Relative vol shocks at the reference tenor, ``sigma_k = sigma (1 + vol_shocks[k] g)``.
    weights
        Fraction of each scenario's loss that counts, in (0, 1].
    vega_power_short, vega_power_long
        ``p`` of the term factor ``g = (vega_ref_days / max(dte_floor_days, DTE))^p``, the first
        for ``DTE < vega_cutoff_days``. Both 0 means no term scaling (SPAN).
    vega_ref_days, vega_cutoff_days, dte_floor_days
        Reference tenor (30), cutoff between the two powers (30) and DTE floor (1), in days.
    min_vol_mult
        Floor of ``1 + vol_shocks[k] g`` so a shocked vol stays positive; kernels report
        ``VOL_FLOORED`` for accounts where it bites.
    lookahead_days
        Time that passes in every scenario (SPAN: one trading day); options reprice at
        ``max(T - lookahead, 0)``.
    net_delta_frac, hedged_delta_frac
        Minimum-delta charge ``(net |sum delta| + hedged (sum |delta| - |sum delta|)/2) F``.
    short_option_contingency_frac
        Charge per coin of short option row, as a fraction of ``F``.
    offsetting_futures_frac
        Charge on the offsetting part ``min(long, short)`` of an account's futures, times ``F``.
    short_option_minimum_frac
        SPAN's short option minimum, a floor ``frac F sum|short option sizes|``.
    im_over_mm
        Ratio of initial to maintenance requirement, >= 1.
    scan_level
        Whether the scan gives the initial requirement (Paradex) or the maintenance one (SPAN).

    Notes
    -----
    ``requirement = max(SCAN, MinDelta, SOM) + contingencies`` with
    ``SCAN = max(0, max_k -w_k PnL_k)`` (DOMAIN.md A2, A3).
    """

    spot_shocks: tuple[float, ...]
    vol_shocks: tuple[float, ...]
    weights: tuple[float, ...]
    vega_power_short: float = 0.30
    vega_power_long: float = 0.13
    vega_ref_days: float = 30.0
    vega_cutoff_days: float = 30.0
    dte_floor_days: float = 1.0
    min_vol_mult: float = 0.05
    lookahead_days: float = 0.0
    net_delta_frac: float = 0.0
    hedged_delta_frac: float = 0.0
    short_option_contingency_frac: float = 0.0
    offsetting_futures_frac: float = 0.0
    short_option_minimum_frac: float = 0.0
    im_over_mm: float = 1.0
    scan_level: MarginLevel = MarginLevel.INITIAL

    def __post_init__(self) -> None:
        for f in ("spot_shocks", "vol_shocks", "weights"):
            value = tuple(float(x) for x in np.asarray(getattr(self, f), dtype=float).ravel())
            if not all(math.isfinite(x) for x in value):
                raise _fail(f, "finite", value)
            object.__setattr__(self, f, value)
        n = len(self.spot_shocks)
        if n == 0:
            raise _fail("spot_shocks", "non-empty", self.spot_shocks)
        for f in ("vol_shocks", "weights"):
            if len(getattr(self, f)) != n:
                raise _fail(f, f"of length len(spot_shocks)={n}", getattr(self, f))
        if min(self.spot_shocks) <= -1.0:
            raise _fail("spot_shocks", "> -1 (a forward stays positive)", min(self.spot_shocks))
        if min(self.weights) <= 0.0 or max(self.weights) > 1.0:
            raise _fail("weights", "in (0, 1]", self.weights)
        for f in (
            "vega_power_short",
            "vega_power_long",
            "lookahead_days",
            "net_delta_frac",
            "hedged_delta_frac",
            "short_option_contingency_frac",
            "offsetting_futures_frac",
            "short_option_minimum_frac",
        ):
            v = getattr(self, f)
            if not (math.isfinite(v) and v >= 0.0):
                raise _fail(f, ">= 0 and finite", v)
        for f in ("vega_ref_days", "vega_cutoff_days", "dte_floor_days"):
            v = getattr(self, f)
            if not (math.isfinite(v) and v > 0.0):
                raise _fail(f, "> 0 and finite", v)
        if not 0.0 < self.min_vol_mult <= 1.0:
            raise _fail("min_vol_mult", "in (0, 1]", self.min_vol_mult)
        if not (math.isfinite(self.im_over_mm) and self.im_over_mm >= 1.0):
            raise _fail("im_over_mm", ">= 1", self.im_over_mm)
        object.__setattr__(self, "scan_level", MarginLevel(self.scan_level))

    @property
    def n_scenarios(self) -> int:
        """Number of scenarios."""
        return len(self.spot_shocks)

    def kernel_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(spot_shocks, vol_shocks, weights, term, charges)`` as float64 arrays for kernels.

        ``term = [vega_ref_days, dte_floor_days, vega_cutoff_days, vega_power_short,
        vega_power_long, min_vol_mult, lookahead_years]`` and ``charges = [net_delta_frac,
        hedged_delta_frac, short_option_contingency_frac, offsetting_futures_frac,
        short_option_minimum_frac]``.
        """
        term = np.array(
            [
                self.vega_ref_days,
                self.dte_floor_days,
                self.vega_cutoff_days,
                self.vega_power_short,
                self.vega_power_long,
                self.min_vol_mult,
                self.lookahead_days / 365.0,
            ]
        )
        charges = np.array(
            [
                self.net_delta_frac,
                self.hedged_delta_frac,
                self.short_option_contingency_frac,
                self.offsetting_futures_frac,
                self.short_option_minimum_frac,
            ]
        )
        return (
            np.array(self.spot_shocks),
            np.array(self.vol_shocks),
            np.array(self.weights),
            term,
            charges,
        )

    def initial_and_maintenance(self, requirement: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(IM, MM)`` from the scanned requirement according to ``scan_level``."""
        if self.scan_level is MarginLevel.INITIAL:
            return requirement, requirement / self.im_over_mm
        return requirement * self.im_over_mm, requirement


def _deribit_moves(spot_range: float, n_moves: int) -> np.ndarray:
    if n_moves < 2 or n_moves % 2 == 0:
        raise ValueError(f"deribit_grid.n_moves: must be odd and >= 3, got {n_moves}")
    return np.linspace(-spot_range, spot_range, n_moves)


def deribit_grid(
    *,
    spot_range: float = 0.16,
    n_moves: int = 9,
    vol_up: float = 0.40,
    vol_down: float = -0.22,
    im_over_mm: float = 1.25,
) -> ScenarioGrid:
    """Deribit S:PM's base grid: ``n_moves`` even moves over ``+/-spot_range`` x vol up/same/down.

    Notes
    -----
    ``+/-16%`` in 9 buckets with vol Up/Same/Down (27 scenarios), term factor
    ``(30/max(1, DTE))^{0.30 | 0.13}`` (DOMAIN.md A2 [S], support.deribit.com 25944756247837).
    The vol shock sizes are Paradex's published ``+40% / -22%`` [S for Paradex, R for Deribit].
    The minimum-delta charge (2% net, 1% hedged) is Paradex's [S]; the contingencies (1% of F per
    short option row, 1% on offsetting futures) are the older Deribit PM spec's [S, older];
    ``im_over_mm = 1.25`` with the scan as maintenance margin is [R] (DOMAIN.md A2).
    """
    moves = _deribit_moves(spot_range, n_moves)
    vols = (vol_up, 0.0, vol_down)
    spot = np.repeat(moves, 3)
    vol = np.tile(vols, moves.size)
    return ScenarioGrid(
        spot_shocks=tuple(spot),
        vol_shocks=tuple(vol),
        weights=(1.0,) * spot.size,
        net_delta_frac=0.02,
        hedged_delta_frac=0.01,
        short_option_contingency_frac=0.01,
        offsetting_futures_frac=0.01,
        im_over_mm=im_over_mm,
        scan_level=MarginLevel.MAINTENANCE,
    )


def deribit_extended_grid(*, vol_up: float = 0.40, **kwargs: float) -> ScenarioGrid:
    """:func:`deribit_grid` plus the extended table (8 large moves, vol up only, damped).

    Notes
    -----
    Moves ``-66, -33, +50, +100, +200, +300, +400, +500%`` run only with vol up and count a
    fraction of their loss (DOMAIN.md A2 [S]); the weights are Paradex's [S], which make
    ``weight x |move| ~ 16%`` so only convexity adds margin.
    """
    base = deribit_grid(vol_up=vol_up, **kwargs)
    n_ext = len(EXTENDED_SPOT_SHOCKS)
    return ScenarioGrid(
        **{
            **_charges(base),
            "spot_shocks": base.spot_shocks + EXTENDED_SPOT_SHOCKS,
            "vol_shocks": base.vol_shocks + (vol_up,) * n_ext,
            "weights": base.weights + EXTENDED_WEIGHTS,
        }
    )


def paradex_grid(*, vol_up: float = 0.40, vol_down: float = -0.22) -> ScenarioGrid:
    """Paradex's 24 published scenarios (DOMAIN.md A2 [S], docs.paradex.trade/risk).

    Notes
    -----
    ``+/-16%`` only with vol up; ``+/-12, 8, 4, 0%`` with vol up and down (16 base scenarios at
    weight 1), then the 8 extended moves with vol up and their weights. ``IM = max(SCAN,
    MinDelta)``, ``MM = 50% IM`` [S].
    """
    inner = (-0.12, -0.08, -0.04, 0.0, 0.04, 0.08, 0.12)
    spot = [-0.16, 0.16]
    vol = [vol_up, vol_up]
    for s in inner:
        spot += [s, s]
        vol += [vol_up, vol_down]
    n_base = len(spot)
    return ScenarioGrid(
        spot_shocks=(*spot, *EXTENDED_SPOT_SHOCKS),
        vol_shocks=(*vol, *(vol_up,) * len(EXTENDED_SPOT_SHOCKS)),
        weights=(1.0,) * n_base + EXTENDED_WEIGHTS,
        net_delta_frac=0.02,
        hedged_delta_frac=0.01,
        im_over_mm=2.0,
        scan_level=MarginLevel.INITIAL,
    )


def span_grid(
    price_scan_range: float,
    vol_scan_range: float,
    *,
    extreme_mult: float = 2.0,
    extreme_weight: float = 0.35,
    lookahead_days: float = 1.0,
    short_option_minimum_frac: float = 0.0,
    im_over_mm: float = 1.1,
) -> ScenarioGrid:
    """CME SPAN's 16 risk-array scenarios (DOMAIN.md A3 [S]).

    Parameters
    ----------
    price_scan_range
        PSR as a fraction of the forward (e.g. 0.12).
    vol_scan_range
        Vol scan range as a *relative* change of each option's vol (e.g. 0.35 for +/-35%); CME
        also quotes it in vol points, which this grid does not model [R].
    extreme_mult, extreme_weight
        Extreme moves at ``+/-extreme_mult x PSR`` with vol unchanged count ``extreme_weight``
        of their loss (2x at 35% [S]; 3x on some products [R]).
    lookahead_days
        One trading day [S].
    short_option_minimum_frac
        SOM rate per coin of short option, as a fraction of the forward [S definition, R rate].
    im_over_mm
        The scan is the maintenance requirement; ``IM = 1.1 MM`` for hedgers/members [R].

    Notes
    -----
    Order as the table: 0, +1/3, -1/3, +2/3, -2/3, +1, -1 of PSR, each with vol +1 and -1 of
    the range, then +extreme and -extreme with vol 0. No term scaling of the vol shock.
    """
    if not (math.isfinite(price_scan_range) and price_scan_range > 0.0):
        raise ValueError(f"span_grid.price_scan_range: must be > 0, got {price_scan_range}")
    if not (math.isfinite(vol_scan_range) and vol_scan_range >= 0.0):
        raise ValueError(f"span_grid.vol_scan_range: must be >= 0, got {vol_scan_range}")
    if not extreme_mult > 0.0:
        raise ValueError(f"span_grid.extreme_mult: must be > 0, got {extreme_mult}")
    if extreme_mult * price_scan_range >= 1.0:
        raise ValueError(
            "span_grid.extreme_mult: extreme_mult x price_scan_range must be < 1, "
            f"got {extreme_mult * price_scan_range}"
        )
    spot: list[float] = []
    vol: list[float] = []
    for frac in (0.0, 1 / 3, -1 / 3, 2 / 3, -2 / 3, 1.0, -1.0):
        spot += [frac * price_scan_range] * 2
        vol += [vol_scan_range, -vol_scan_range]
    spot += [extreme_mult * price_scan_range, -extreme_mult * price_scan_range]
    vol += [0.0, 0.0]
    return ScenarioGrid(
        spot_shocks=tuple(spot),
        vol_shocks=tuple(vol),
        weights=(1.0,) * 14 + (extreme_weight, extreme_weight),
        vega_power_short=0.0,
        vega_power_long=0.0,
        lookahead_days=lookahead_days,
        short_option_minimum_frac=short_option_minimum_frac,
        im_over_mm=im_over_mm,
        scan_level=MarginLevel.MAINTENANCE,
    )


def _charges(grid: ScenarioGrid) -> dict:
    """Every field of ``grid`` except the three scenario tuples."""
    skip = {"spot_shocks", "vol_shocks", "weights"}
    return {k: getattr(grid, k) for k in grid.__dataclass_fields__ if k not in skip}
