"""Fitting and walk-forward evaluation of the volatility forecasters on the shipped hourly data.

Data (``experiments/scenarios/data``, provenance in its SOURCES.md): Binance BTC/ETH hourly OHLC
2017-08 to 2021-06, and CoinGecko WBTC/WETH hourly point prices 2021-01 to 2023-02 (close only).

Target: the realised variance of the next ``horizon_hours`` (sum of squared hourly close-to-close
log returns), forecast at every hour. Two held-out periods:

1. **Binance walk-forward**, ``test_start`` to ``test_end``: every ``refit_days`` the models are
   refitted on an expanding window holding only hours whose target ended before the block's first
   forecast time, then forecast the block.
2. **CoinGecko**, from ``coingecko_start``: the models fitted on all Binance data (the shipped ones)
   forecast data that begins after their training ended, LUNA (2022-05) and FTX (2022-11) included.

A forecast origin is *stressed* when its calendar month is in ``STRESS_MONTHS`` and *calm*
otherwise. Losses: QLIKE ``RV/F - ln(RV/F) - 1`` (Patton 2011, robust to noise in the RV proxy) and
the MSE of the variance in percent squared.
"""

from __future__ import annotations

import datetime as dt
import platform
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from experiments.forecast_fit import FittedModels, fit_models
from protocols.risk.ewma import RISKMETRICS_HALF_LIFE_SECONDS
from protocols.risk.features import (
    FEATURE_NAMES,
    bar_variances,
    close_only_variances,
    feature_matrix,
    forward_realised_variance,
)
from protocols.risk.garch import garch_backcast, garch_forecast_sum, garch_variance
from protocols.risk.har import HAR_FEATURES
from protocols.risk.model_files import MODELS_DIR, write_model

__all__ = [
    "ASSETS",
    "MODEL_NAMES",
    "STRESS_MONTHS",
    "EvaluationSpec",
    "HourlySeries",
    "Split",
    "evaluate",
    "forecast_series",
    "format_table",
    "load_series",
    "refit",
    "walk_forward_splits",
]

DATA_DIR = Path(__file__).resolve().parent / "scenarios" / "data"
ASSETS = ("BTC", "ETH")
FILES = {
    "binance": "{asset}_usdt_1h_2017-2021.csv.gz",
    "coingecko": "{asset}_usd_1h_2021-2023_coingecko.csv.gz",
}
STRESS_MONTHS = ("2020-03", "2021-05", "2022-05", "2022-06", "2022-11")
"""Black Thursday, the May 2021 crash, LUNA/UST, the Celsius/3AC/stETH month, FTX."""
MODEL_NAMES = ("ewma", "ewma_1d", "garch", "har", "ridge", "hgb")


@dataclass(frozen=True, kw_only=True, eq=False)
class HourlySeries:
    """One asset's hourly bars with their features and forward realised variance."""

    asset: str
    source: str
    horizon_hours: int
    time: np.ndarray  # datetime64[s], bar start
    r: np.ndarray
    features: np.ndarray  # (n, len(FEATURE_NAMES))
    target_rv: np.ndarray  # realised variance of the next horizon_hours, NaN at the end


def load_series(
    asset: str, source: str, *, data_dir: Path = DATA_DIR, horizon_hours: int = 24
) -> HourlySeries:
    """Read one shipped hourly file (``source`` is ``binance`` or ``coingecko``)."""
    if source not in FILES:
        raise ValueError(f"load_series.source: must be one of {sorted(FILES)}, got {source!r}")
    df = pd.read_csv(Path(data_dir) / FILES[source].format(asset=asset.lower()))
    time = pd.to_datetime(df["time_utc"], utc=True).dt.tz_localize(None).to_numpy("datetime64[s]")
    if source == "binance":
        r, _, pk, gk = bar_variances(df["open"], df["high"], df["low"], df["close"])
    else:
        r, _, pk, gk = close_only_variances(df["close"])
    return HourlySeries(
        asset=asset,
        source=source,
        horizon_hours=horizon_hours,
        time=time,
        r=r,
        features=feature_matrix(r, pk, gk),
        target_rv=forward_realised_variance(r, horizon_hours),
    )


@dataclass(frozen=True, kw_only=True)
class EvaluationSpec:
    """Settings of the walk-forward evaluation and of the model fits (fixed in advance)."""

    horizon_hours: int = 24
    test_start: str = "2019-01-01"
    test_end: str = "2021-06-09"
    refit_days: int = 90
    coingecko_start: str = "2021-08-01"
    ewma_1d_half_life_seconds: float = 86_400.0
    ridge_alpha: float = 1.0
    hgb_max_iter: int = 300
    hgb_learning_rate: float = 0.05
    hgb_max_leaf_nodes: int = 15
    hgb_min_samples_leaf: int = 200

    def __post_init__(self) -> None:
        for name in (
            "horizon_hours",
            "refit_days",
            "hgb_max_iter",
            "hgb_max_leaf_nodes",
            "hgb_min_samples_leaf",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"EvaluationSpec.{name}: must be >= 1, got {getattr(self, name)}")
        if not np.datetime64(self.test_start) < np.datetime64(self.test_end):
            raise ValueError(
                f"EvaluationSpec.test_end: must be after test_start, got {self.test_end}"
            )


@dataclass(frozen=True, kw_only=True)
class Split:
    """Train on origins ``[0, train_stop)``; forecast origins ``[test_start, test_stop)``."""

    train_stop: int
    test_start: int
    test_stop: int


def walk_forward_splits(
    time: np.ndarray, *, test_start: str, test_end: str, refit_days: int, horizon_hours: int
) -> list[Split]:
    """Expanding-window splits over hourly ``time`` (bar starts, strictly increasing).

    A training origin ``i`` uses bars up to ``i + horizon_hours`` (its target), so it is admitted
    only when that bar comes before the block's first forecast origin: nothing at or after the
    first test timestamp is ever trained on (counted in bars, so a gap in the grid cannot let a
    target reach into the test block).
    """
    t = np.asarray(time, dtype="datetime64[s]")
    start, end = np.datetime64(test_start, "s"), np.datetime64(test_end, "s")
    step = np.timedelta64(refit_days * 86_400, "s")
    splits = []
    block = start
    while block < end:
        stop = min(block + step, end)
        i0, i1 = np.searchsorted(t, [block, stop])
        if i1 > i0:
            train_stop = max(0, int(i0) - horizon_hours)  # last origin + horizon = i0 - 1
            splits.append(Split(train_stop=train_stop, test_start=int(i0), test_stop=int(i1)))
        block = stop
    return splits


def _ewma_variance_per_hour(r: np.ndarray, half_life_seconds: float) -> np.ndarray:
    """EwmaForecaster's recursion on hourly returns, state after each hour (seeded at 30 days)."""
    lam = 0.5 ** (3600.0 / half_life_seconds)
    x = np.nan_to_num(r * r)
    v0 = float(np.mean(x[1:721]))
    out, _ = lfilter([1.0 - lam], [1.0, -lam], x, zi=[lam * v0])
    return out


def forecast_series(
    s: HourlySeries, models: FittedModels, spec: EvaluationSpec
) -> dict[str, np.ndarray]:
    """Forecast of the next ``horizon_hours``' variance at every hour of ``s``, per model.

    Every forecast at ``t`` uses bars ``<= t`` and the fitted parameters only.
    """
    h = spec.horizon_hours
    out = {
        "ewma": _ewma_variance_per_hour(s.r, RISKMETRICS_HALF_LIFE_SECONDS) * h,
        "ewma_1d": _ewma_variance_per_hour(s.r, spec.ewma_1d_half_life_seconds) * h,
    }
    p = models.garch[s.asset]
    r = np.nan_to_num(s.r)
    sigma2 = garch_variance(r, p.omega, p.alpha, p.beta, garch_backcast(r[1:76]))
    sigma2_next = p.omega + p.alpha * r * r + p.beta * sigma2
    out["garch"] = np.asarray(garch_forecast_sum(sigma2_next, p, float(h)))
    for name, model in (("har", models.har), ("ridge", models.ridge), ("hgb", models.hgb)):
        cols = [FEATURE_NAMES.index(f) for f in model.feature_names]
        x = s.features[:, cols]
        f = np.full(len(x), np.nan)
        ok = np.isfinite(x).all(axis=1)
        f[ok] = model.predict_variance(x[ok])
        out[name] = f
    return out


def _losses(rv: np.ndarray, f: np.ndarray) -> tuple[float, float]:
    ratio = rv / f
    qlike = float(np.mean(ratio - np.log(ratio) - 1.0))
    mse = float(np.mean(((rv - f) * 1e4) ** 2))  # variance in percent^2
    return qlike, mse


def _score(
    rows: list[dict], s: HourlySeries, fc: dict[str, np.ndarray], sl: slice, period: str
) -> None:
    month = s.time[sl].astype("datetime64[M]").astype(str)
    stressed = np.isin(month, STRESS_MONTHS)
    rv = s.target_rv[sl]
    for regime, mask in (("calm", ~stressed), ("stressed", stressed)):
        ok = mask & np.isfinite(rv) & (rv > 0.0)
        for name in MODEL_NAMES:
            ok &= np.isfinite(fc[name][sl])
        if not ok.any():
            continue
        row = {"asset": s.asset, "period": period, "regime": regime, "n": int(ok.sum())}
        for name in MODEL_NAMES:
            row[f"qlike_{name}"], row[f"mse_{name}"] = _losses(rv[ok], fc[name][sl][ok])
        rows.append(row)


def evaluate(
    spec: EvaluationSpec | None = None,
    *,
    binance: dict[str, HourlySeries] | None = None,
    coingecko: dict[str, HourlySeries] | None = None,
    data_dir: Path = DATA_DIR,
) -> tuple[pd.DataFrame, FittedModels]:
    """Losses per asset, period and regime (one row each), and the models fitted on all Binance
    data (those scored on the CoinGecko period). Pass ``coingecko={}`` to skip that period."""
    spec = spec or EvaluationSpec()
    h = spec.horizon_hours
    if binance is None:
        binance = {a: load_series(a, "binance", data_dir=data_dir, horizon_hours=h) for a in ASSETS}
    if coingecko is None:
        coingecko = {
            a: load_series(a, "coingecko", data_dir=data_dir, horizon_hours=h) for a in ASSETS
        }
    rows: list[dict] = []
    first = next(iter(binance.values()))
    splits = walk_forward_splits(
        first.time,
        test_start=spec.test_start,
        test_end=spec.test_end,
        refit_days=spec.refit_days,
        horizon_hours=h,
    )
    if any(not np.array_equal(s.time, first.time) for s in binance.values()):
        raise ValueError("evaluate.binance: every asset must share one hourly grid")
    fcs: dict[str, dict[str, np.ndarray]] = {
        a: {m: np.full(len(first.time), np.nan) for m in MODEL_NAMES} for a in binance
    }
    for sp in splits:
        models = fit_models([(s, sp.train_stop) for s in binance.values()], spec)
        block = slice(sp.test_start, sp.test_stop)
        for a, s in binance.items():
            for m, f in forecast_series(s, models, spec).items():
                fcs[a][m][block] = f[block]
    period = f"{spec.test_start[:7]}..{spec.test_end[:7]} binance walk-forward"
    if splits:
        sl = slice(splits[0].test_start, splits[-1].test_stop)
        for a, s in binance.items():
            _score(rows, s, fcs[a], sl, period)
    final = fit_models([(s, len(s.time)) for s in binance.values()], spec)
    for s in coingecko.values():
        i0 = int(np.searchsorted(s.time, np.datetime64(spec.coingecko_start, "s")))
        last = str(s.time[-1].astype("datetime64[M]"))
        _score(
            rows,
            s,
            forecast_series(s, final, spec),
            slice(i0, None),
            f"{spec.coingecko_start[:7]}..{last} coingecko, trained to 2021-06",
        )
    return pd.DataFrame(rows), final


def format_table(table: pd.DataFrame) -> str:
    """Two blocks (QLIKE, MSE in %^2 squared), one row per asset/period/regime; * marks the best."""
    lines = []
    for metric, fmt in (("qlike", "{:8.3f}"), ("mse", "{:8.2f}")):
        head = f"{'asset':5} {'regime':8} {'n':>6}  " + " ".join(f"{m:>8}" for m in MODEL_NAMES)
        lines += [f"{metric.upper()} (lower is better; * = best in row)", head]
        for period, grp in table.groupby("period", sort=False):
            lines.append(f"  {period}")
            for _, row in grp.iterrows():
                vals = [row[f"{metric}_{m}"] for m in MODEL_NAMES]
                best = int(np.argmin(vals))
                cells = " ".join(
                    (fmt.format(v) + ("*" if i == best else " "))[-9:] for i, v in enumerate(vals)
                )
                lines.append(f"{row['asset']:5} {row['regime']:8} {row['n']:6d}  {cells}")
        lines.append("")
    return "\n".join(lines)


def refit(
    *, data_dir: Path = DATA_DIR, out_dir: Path = MODELS_DIR, spec: EvaluationSpec | None = None
) -> pd.DataFrame:
    """Fit every model on all Binance data and write ``out_dir/<name>.json`` with metadata (data
    range, features, horizon, versions, date, held-out CoinGecko metrics); returns those metrics."""
    import importlib.metadata

    import arch
    import scipy
    import sklearn

    spec = spec or EvaluationSpec()
    h = spec.horizon_hours
    binance = {a: load_series(a, "binance", data_dir=data_dir, horizon_hours=h) for a in ASSETS}
    coingecko = {a: load_series(a, "coingecko", data_dir=data_dir, horizon_hours=h) for a in ASSETS}
    # no walk-forward block: the test window lies after all the data, only the final fit is scored
    heldout_spec = EvaluationSpec(
        **{**asdict(spec), "test_start": "2100-01-01", "test_end": "2100-01-02"}
    )
    table, models = evaluate(heldout_spec, binance=binance, coingecko=coingecko)
    first = next(iter(binance.values()))
    common = {
        "fitted_utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "data_files": [FILES["binance"].format(asset=a.lower()) for a in ASSETS],
        "data_range_utc": [str(first.time[0]), str(first.time[-1])],
        "horizon_hours": h,
        "spec": asdict(spec),
        "versions": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "scikit-learn": sklearn.__version__,
            "arch": arch.__version__,
            "cascadelab": importlib.metadata.version("cascadelab"),
            "model_format": 1,
        },
    }
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = {
        "har": ("har", HAR_FEATURES),
        "ridge": ("ridge", FEATURE_NAMES),
        "hgb": ("hgb", FEATURE_NAMES),
    }
    for file, model in models.by_name().items():
        key, features = names.get(file, ("garch", ("r_1h",)))
        metrics = table[["asset", "period", "regime", "n", f"qlike_{key}", f"mse_{key}"]]
        meta = {
            **common,
            "model": key,
            "features": list(features),
            "heldout_metrics": metrics.to_dict(orient="records"),
        }
        if key == "garch":
            meta["asset"] = file.split("_")[1].upper()
            meta["data_files"] = [FILES["binance"].format(asset=meta["asset"].lower())]
        write_model(out_dir / f"{file}.json", model, meta)
    return table
