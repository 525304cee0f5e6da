"""Historical replays: shipped bar files turned into per-step prices, and gas-price paths.

The files live in ``experiments/scenarios/data`` (provenance and checks in its SOURCES.md); nothing
here reads outside the package. Replays available:

- ``eth-2020-03-12``: ETH 10-minute bars (StableSims/CoinAPI, a USD venue) and BTC Binance hourly
  bars over Black Thursday, 2020-03-12 00:00 to 2020-03-13 00:00 UTC.
- ``eth-2021-05-19``: the same sources for 2021-05-19.
- ``binance-2020-03``, ``binance-2021-05``: Binance BTC/USDT and ETH/USDT hourly bars for the month.

Gas paths: ``gas-2020-03-12`` (1-minute percentiles), ``gas-2020-03-12-10min`` and
``gas-2021-05-19`` (10-minute percentiles).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from protocols.margin._jit import kernel

__all__ = [
    "Replay",
    "SyntheticGasParams",
    "available_gas",
    "available_replays",
    "ewma_filter",
    "load_bars",
    "load_gas",
    "load_replay",
    "synthetic_gas",
]

DATA_DIR = Path(__file__).resolve().parent / "data"
SECONDS_PER_YEAR = 365 * 86_400
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


@dataclass(frozen=True, slots=True)
class _Series:
    file: str
    bar_seconds: int


@dataclass(frozen=True, slots=True)
class _ReplaySpec:
    start_utc: str
    end_utc: str
    series: dict[str, _Series]
    gas: str | None


_DAY_2020 = _ReplaySpec(
    "2020-03-12T00:00:00Z",
    "2020-03-13T00:00:00Z",
    {
        "ETH": _Series("eth_usd_10min_2020-03-12.csv", 600),
        "BTC": _Series("btc_usdt_1h_2020-03.csv", 3600),
    },
    gas="gas-2020-03-12",
)
_DAY_2021 = _ReplaySpec(
    "2021-05-19T00:00:00Z",
    "2021-05-20T00:00:00Z",
    {
        "ETH": _Series("eth_usd_10min_2021-05-19.csv", 600),
        "BTC": _Series("btc_usdt_1h_2021-05.csv", 3600),
    },
    gas="gas-2021-05-19",
)
_MONTH_2020 = _ReplaySpec(
    "2020-03-01T00:00:00Z",
    "2020-04-01T00:00:00Z",
    {
        "ETH": _Series("eth_usdt_1h_2020-03.csv", 3600),
        "BTC": _Series("btc_usdt_1h_2020-03.csv", 3600),
    },
    gas=None,
)
_MONTH_2021 = _ReplaySpec(
    "2021-05-01T00:00:00Z",
    "2021-06-01T00:00:00Z",
    {
        "ETH": _Series("eth_usdt_1h_2021-05.csv", 3600),
        "BTC": _Series("btc_usdt_1h_2021-05.csv", 3600),
    },
    gas=None,
)
_REPLAYS: dict[str, _ReplaySpec] = {
    "eth-2020-03-12": _DAY_2020,
    "eth-2021-05-19": _DAY_2021,
    "binance-2020-03": _MONTH_2020,
    "binance-2021-05": _MONTH_2021,
}
_GAS: dict[str, tuple[str, _Series]] = {
    "gas-2020-03-12": ("2020-03-12T00:00:00Z", _Series("gas_gwei_1min_2020-03-12.csv", 60)),
    "gas-2020-03-12-10min": ("2020-03-12T00:00:00Z", _Series("gas_gwei_10min_2020-03-12.csv", 600)),
    "gas-2021-05-19": ("2021-05-19T00:00:00Z", _Series("gas_gwei_10min_2021-05-19.csv", 600)),
}
_GAS_DAY_SECONDS = 86_400


def available_replays() -> tuple[str, ...]:
    """Names accepted by :func:`load_replay`."""
    return tuple(_REPLAYS)


def available_gas() -> tuple[str, ...]:
    """Names accepted by :func:`load_gas`."""
    return tuple(_GAS)


def _lookup(table: dict, name: str, fn: str) -> object:
    try:
        return table[name]
    except KeyError:
        raise ValueError(f"{fn}.name: must be one of {sorted(table)}, got {name!r}") from None


@functools.cache
def _read(file: str) -> pd.DataFrame:
    df = pd.read_csv(DATA_DIR / file)
    df["time_utc"] = pd.to_datetime(df["time_utc"], format=TIME_FORMAT, utc=True)
    return df


def _window(file: str, start_utc: str, end_utc: str, bar_seconds: int) -> pd.DataFrame:
    """Bars of ``file`` inside [start, end), checked to be contiguous and complete."""
    df = _read(file)
    start, end = pd.Timestamp(start_utc), pd.Timestamp(end_utc)
    out = df[(df["time_utc"] >= start) & (df["time_utc"] < end)].reset_index(drop=True)
    expected = pd.date_range(start, end, freq=pd.Timedelta(seconds=bar_seconds), inclusive="left")
    if len(out) != len(expected) or not bool((out["time_utc"].to_numpy() == expected).all()):
        raise ValueError(f"{file}: bars are not one every {bar_seconds} s over [{start}, {end})")
    return out


def load_bars(name: str, asset: str) -> pd.DataFrame:
    """The bars behind one asset of a replay: ``time_utc`` (bar start), open, high, low, close,
    volume_base. A fresh copy, restricted to the replay window."""
    spec = _lookup(_REPLAYS, name, "load_bars")
    series = _lookup(spec.series, asset, "load_bars")
    return _window(series.file, spec.start_utc, spec.end_utc, series.bar_seconds).copy()


@dataclass(frozen=True, slots=True)
class Replay:
    """Prices of a historical replay on a regular grid of ``step_seconds``.

    Attributes
    ----------
    times
        Seconds from ``start_utc``, ``(n_steps + 1,)``: ``0, step_seconds, ...``.
    prices_usd
        ``(n_steps + 1, n_assets)``, in ``assets`` order; row 0 is the first bar's open.
    log_returns
        ``(n_steps, n_assets)``: ``diff(log(prices_usd))``, what a path generator would return.
    gas
        Name of the matching gas replay for :func:`load_gas`, or None (use :func:`synthetic_gas`).
    """

    name: str
    assets: tuple[str, ...]
    step_seconds: int
    start_utc: str
    times: np.ndarray
    prices_usd: np.ndarray
    log_returns: np.ndarray
    gas: str | None

    @property
    def n_steps(self) -> int:
        return len(self.log_returns)

    @property
    def initial_prices_usd(self) -> tuple[float, ...]:
        return tuple(float(p) for p in self.prices_usd[0])


def _check_step(fn: str, step_seconds: int, duration: int) -> None:
    if not (isinstance(step_seconds, int | np.integer) and 0 < step_seconds <= duration):
        raise ValueError(
            f"{fn}.step_seconds: must be an integer in (0, {duration}], got {step_seconds!r}"
        )


def _readonly(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


def _knots(bars: pd.DataFrame, bar_seconds: int, through_high_low: bool) -> tuple[np.ndarray, ...]:
    """Knot times (seconds from the window start) and prices of one asset's path."""
    opens, closes = bars["open"].to_numpy(), bars["close"].to_numpy()
    starts = np.arange(len(bars), dtype=np.int64) * bar_seconds
    if not through_high_low:
        return np.append(0, starts + bar_seconds), np.append(opens[:1], closes)
    # Down bar: high first, then low; up bar: low first (the usual O-H-L-C / O-L-H-C convention).
    # Extremes sit at a third and two thirds of the bar, on whole minutes where the bar allows.
    up = closes >= opens
    high, low = bars["high"].to_numpy(), bars["low"].to_numpy()
    first, second = np.where(up, low, high), np.where(up, high, low)
    grid = 60 if bar_seconds >= 180 else 1
    a = round(bar_seconds / 3 / grid) * grid
    b = round(2 * bar_seconds / 3 / grid) * grid
    t = np.stack([starts + a, starts + b, starts + bar_seconds], axis=1).ravel()
    p = np.stack([first, second, closes], axis=1).ravel()
    return np.append(0, t), np.append(opens[:1], p)


def load_replay(
    name: str, assets: tuple[str, ...], step_seconds: int, *, through_high_low: bool = False
) -> Replay:
    """Per-step prices of ``assets`` over the replay window.

    Parameters
    ----------
    name
        One of :func:`available_replays`.
    assets
        Asset symbols (e.g. ``("ETH", "BTC")``); the columns of the result, in this order.
    step_seconds
        Grid spacing in seconds; ``n_steps = duration // step_seconds``.
    through_high_low
        False (default): knots at bar closes only. True: also pass through each bar's high and low
        (see Notes), so the path reaches the recorded extremes.

    Notes
    -----
    Knots are ``(0, open of the first bar)`` and ``(end of bar i, close of bar i)``; between knots
    the log price is linear in time (constant log-return per second within a bar), and grid points
    on a knot carry the knot's price exactly. Each asset uses its own bars (ETH 10-minute, BTC
    hourly in the day replays). Later opens are not used (CoinAPI opens are a bar's first trade and
    can sit several percent from the previous close). With closes only the path never reaches an
    intrabar extreme (ETH 2020-03-12 bottoms at 106.59, the 23:30 bar's close, not at the 101.01
    low of the 23:20 bar), and realised volatility measured at steps shorter than a bar is biased
    low by about ``sqrt(bar / step)``. With ``through_high_low`` each bar adds two knots, at one
    and two thirds of the bar (rounded to whole minutes): high then low for a down bar (close <
    open), low then high otherwise; the intrabar order is a convention, not data.
    """
    spec = _lookup(_REPLAYS, name, "load_replay")
    if not assets or len(set(assets)) != len(assets):
        raise ValueError(f"load_replay.assets: must be distinct and non-empty, got {assets!r}")
    start = pd.Timestamp(spec.start_utc)
    duration = int((pd.Timestamp(spec.end_utc) - start).total_seconds())
    _check_step("load_replay", step_seconds, duration)
    n_steps = duration // step_seconds
    times = np.arange(n_steps + 1, dtype=np.int64) * step_seconds
    prices = np.empty((n_steps + 1, len(assets)))
    for j, asset in enumerate(assets):
        series = _lookup(spec.series, asset, "load_replay")
        bars = _window(series.file, spec.start_utc, spec.end_utc, series.bar_seconds)
        knot_t, knot_p = _knots(bars, series.bar_seconds, through_high_low)
        prices[:, j] = np.exp(np.interp(times, knot_t, np.log(knot_p)))
        k = np.minimum(np.searchsorted(knot_t, times), len(knot_t) - 1)
        on_knot = knot_t[k] == times  # exact knot prices, no exp(log()) round-off
        prices[on_knot, j] = knot_p[k[on_knot]]
    return Replay(
        name=name,
        assets=tuple(assets),
        step_seconds=int(step_seconds),
        start_utc=spec.start_utc,
        times=_readonly(times),
        prices_usd=_readonly(prices),
        log_returns=_readonly(np.diff(np.log(prices), axis=0)),
        gas=spec.gas,
    )


def load_gas(name: str, step_seconds: int, *, percentile: int = 60) -> np.ndarray:
    """Gas price in gwei for each step of a replay day, ``(n_steps,)``, ``n_steps = 86400 //
    step_seconds`` (the same grid as the day's price replay).

    Parameters
    ----------
    name
        One of :func:`available_gas`.
    step_seconds
        Step length in seconds.
    percentile
        30, 60 (default) or 90: which per-bucket percentile of paid gas prices to use.

    Notes
    -----
    The 60th percentile is the price a liquidator or keeper has to bid to be included within a block
    or two in congestion: above the median, so it is not the patient half of the mempool, but
    below the 90th and 100th, which are set by priority-gas auctions and outliers (the 100th reaches
    20,000 gwei). Among the shipped percentiles it is the closest to "what a timely transaction
    cost". Each step gets the time-weighted mean of the bucket values it overlaps (a bucket's value
    is constant over the bucket), so long steps do not miss spikes and short steps see their bucket.
    """
    start, series = _lookup(_GAS, name, "load_gas")
    _check_step("load_gas", step_seconds, _GAS_DAY_SECONDS)
    if percentile not in (30, 60, 90):
        raise ValueError(f"load_gas.percentile: must be one of (30, 60, 90), got {percentile!r}")
    end = (pd.Timestamp(start) + pd.Timedelta(seconds=_GAS_DAY_SECONDS)).strftime(TIME_FORMAT)
    gwei = _window(series.file, start, end, series.bar_seconds)[f"gwei_p{percentile}"].to_numpy()
    n_steps = _GAS_DAY_SECONDS // step_seconds
    if series.bar_seconds % step_seconds == 0:  # steps inside buckets: the bucket value, exactly
        return np.repeat(gwei, series.bar_seconds // step_seconds)[:n_steps]
    edges = np.arange(len(gwei) + 1) * float(series.bar_seconds)
    cumulative = np.concatenate([[0.0], np.cumsum(gwei * series.bar_seconds)])
    at = np.interp(np.arange(n_steps + 1) * float(step_seconds), edges, cumulative)
    return np.diff(at) / step_seconds


@dataclass(frozen=True, slots=True, kw_only=True)
class SyntheticGasParams:
    """Gas price that rises with realised volatility, for synthetic runs (and replays without gas).

    Parameters
    ----------
    base_gwei
        Gas price in calm markets (50 gwei, a 2021-like level; 2020 calm was about 10).
    calm_vol_per_year
        Realised annualised vol at or below which gas stays at ``base_gwei`` (ETH's ~80%).
    elasticity
        Exponent of the stress factor in the vol ratio.
    max_factor
        Cap of the stress factor.
    horizon_seconds
        Horizon of the returns whose absolute size is averaged (rolling log-return over this
        many seconds; an hour keeps the measure unbiased on replays interpolated from hourly bars).
    half_life_seconds
        Half-life of the exponential average, in wall-clock time.
    """

    base_gwei: float = 50.0
    calm_vol_per_year: float = 0.8
    elasticity: float = 1.2
    max_factor: float = 25.0
    horizon_seconds: int = 3_600
    half_life_seconds: float = 3_600.0

    def __post_init__(self) -> None:
        for name, rule, ok in (
            ("base_gwei", "> 0", self.base_gwei > 0.0),
            ("calm_vol_per_year", "> 0", self.calm_vol_per_year > 0.0),
            ("elasticity", ">= 0", self.elasticity >= 0.0),
            ("max_factor", ">= 1", self.max_factor >= 1.0),
            (
                "horizon_seconds",
                "an integer > 0",
                isinstance(self.horizon_seconds, int) and self.horizon_seconds > 0,
            ),
            ("half_life_seconds", "> 0", self.half_life_seconds > 0.0),
        ):
            value = getattr(self, name)
            if not (ok and math.isfinite(value)):
                raise ValueError(f"SyntheticGasParams.{name}: must be {rule}, got {value}")


@kernel
def ewma_filter(x: np.ndarray, decay: float, initial: float) -> np.ndarray:  # pragma: no cover
    """``y[t] = decay y[t-1] + (1 - decay) x[t]`` with ``y[-1] = initial``, along axis 0 of a 2-D
    array (column by column)."""
    n, k = x.shape
    y = np.empty((n, k))
    for j in range(k):
        acc = initial
        for t in range(n):
            acc = decay * acc + (1.0 - decay) * x[t, j]
            y[t, j] = acc
    return y


def synthetic_gas(
    log_returns: np.ndarray, *, step_seconds: int, params: SyntheticGasParams | None = None
) -> np.ndarray:
    """Gas price in gwei per step, ``(n_steps,)``, driven by realised absolute returns.

    Notes
    -----
    With ``w = max(1, round(horizon / step))`` steps and ``R_t`` the log-return over the last ``w``
    steps (all assets), the annualised realised vol is
    ``sigma_t = sqrt(pi/2) * EWMA(|R_t| / sqrt(w dt)) * sqrt(year)`` (``E|Z| = sqrt(2/pi)`` for a
    normal, so this is unbiased for Gaussian returns), the EWMA having decay
    ``0.5 ** (step / half_life)`` and starting at the calm vol. Then
    ``gas_t = base * clip((max_assets sigma_t / calm_vol) ** elasticity, 1, max_factor)``.
    Calibration (ETH replays, shipped gas files): regressing log 60th-percentile gas on log of this
    vol gives slopes 1.25 (2020-03-12) and 0.95 (2021-05-19); elasticity 1.2 makes Black Thursday's
    day-mean factor 5.9x, matching the ~6x of DOMAIN.md F. Gas peaked at 20-25x its morning level on
    both days, hence the cap of 25. Calm paths (GBM or GARCH-t at 80%, 1-minute steps) average about
    1.2x, since the floor clips the noise below 1. The return of step t counts at step t (gas reacts
    within the step), so the series is causal.
    """
    params = SyntheticGasParams() if params is None else params
    r = np.asarray(log_returns, dtype=float)
    if r.ndim != 2:
        raise ValueError(
            f"synthetic_gas.log_returns: must be 2-D (n_steps, n_assets), got shape {r.shape}"
        )
    if not (isinstance(step_seconds, int | np.integer) and step_seconds > 0):
        raise ValueError(
            f"synthetic_gas.step_seconds: must be an integer > 0, got {step_seconds!r}"
        )
    w = max(1, round(params.horizon_seconds / step_seconds))
    cum = np.vstack([np.zeros((1, r.shape[1])), np.cumsum(r, axis=0)])
    lag = np.maximum(np.arange(1, len(r) + 1) - w, 0)
    span_seconds = (np.arange(1, len(r) + 1) - lag)[:, None] * float(step_seconds)
    scaled = np.abs(cum[1:] - cum[lag]) / np.sqrt(span_seconds)
    calm = params.calm_vol_per_year / math.sqrt(SECONDS_PER_YEAR * math.pi / 2.0)
    decay = 0.5 ** (step_seconds / params.half_life_seconds)
    mean_abs = ewma_filter(np.ascontiguousarray(scaled), decay, calm)
    ratio = mean_abs.max(axis=1, initial=0.0) / calm
    return params.base_gwei * np.clip(ratio**params.elasticity, 1.0, params.max_factor)
