"""Build the hourly files the volatility forecasters are fitted and evaluated on.

Run by developers, never at run time and never by the tests: with ``build_data.py`` it is the only
code that reads the shared data folder. Usage::

    python experiments/scenarios/build_forecast_data.py [--shared /work/shared/data]

Writes to ``experiments/scenarios/data``:

- ``{btc,eth}_usdt_1h_2017-2021.csv.gz``: Binance spot hourly ``open,high,low,close`` from the
  CryptoDataDownload export (2017-08-17 05:00 to 2021-06-10 00:00 UTC), quirks fixed as in
  ``build_data.py``, outage hours filled (see below).
- ``{btc,eth}_usd_1h_2021-2023_coingecko.csv.gz``: CoinGecko hourly point prices of WBTC and WETH
  (the only BTC/ETH series with 2022 hourly data here), ``close`` only, 2021-01-01 to 2023-02-25.

Every file is on a contiguous hourly grid (``time_utc`` = bar start for Binance, the hour the point
price was sampled in for CoinGecko); hours with no data repeat the previous close and carry
``filled = 1``. The script checks known event values and prints each file's rows, size and md5.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
from pathlib import Path

import numpy as np
import pandas as pd

OUT = Path(__file__).resolve().parent / "data"
DEFAULT_SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
COINGECKO_TOKEN = {"btc": "WBTC", "eth": "WETH"}


def _check(ok: bool, what: str) -> None:
    if not ok:
        raise SystemExit(f"check failed: {what}")


def binance_hourly(shared: Path, symbol: str) -> pd.DataFrame:
    """All Binance hourly bars of ``symbol``, oldest first, on a contiguous grid."""
    raw = pd.read_csv(shared / "binance_1h_2017_2021" / f"Binance_{symbol}USDT_1h.csv")
    unix = raw["unix"].astype("int64")
    seconds = np.where(unix > 10**11, unix // 1000, unix)  # mixed s / ms (folder SOURCES.md)
    df = pd.DataFrame(
        {
            "time_utc": pd.to_datetime(seconds, unit="s", utc=True),
            "open": raw["open"],
            "high": raw["high"],
            "low": raw["low"],
            "close": raw["close"],
            "is_ms": unix > 10**11,
        }
    )
    df = df.sort_values(["time_utc", "is_ms"]).drop_duplicates("time_utc", keep="last")
    df = df.drop(columns="is_ms").set_index("time_utc")
    # The listing bar (2017-08-17 04:00) opens at a placeholder price (BTC 16199.91, ETH 652.74)
    # far from its close: drop it so it does not enter the range estimators.
    df = df.iloc[1:]
    grid = pd.date_range(df.index[0], df.index[-1], freq="1h")
    df = df.reindex(grid)
    filled = df["close"].isna()
    # An outage hour has no trade: the price stays at the last close (O = H = L = C).
    df["close"] = df["close"].ffill()
    for col in ("open", "high", "low"):
        df[col] = df[col].fillna(df["close"])
    df["filled"] = filled.astype(int)
    return df.rename_axis("time_utc").reset_index()


def coingecko_hourly(shared: Path, token: str) -> pd.DataFrame:
    """CoinGecko point prices snapped to the hour they were sampled in, last one per hour."""
    raw = pd.read_csv(shared / "coingecko_hourly_2021_2023" / f"{token}_usd.csv")
    t = pd.to_datetime(raw["timestamp"], unit="ms", utc=True).dt.floor("1h")
    s = pd.Series(raw["USD_price"].to_numpy(), index=t).groupby(level=0).last()
    grid = pd.date_range(s.index[0], s.index[-1], freq="1h")
    s = s.reindex(grid)
    df = pd.DataFrame({"close": s.ffill().round(4), "filled": s.isna().astype(int)})
    return df.rename_axis("time_utc").reset_index()


def check_known_values(files: dict[str, pd.DataFrame]) -> None:
    """Event values quoted in the shared SOURCES.md files."""
    btc = files["btc_usdt_1h_2017-2021.csv.gz"].set_index("time_utc")
    _check(btc.loc[pd.Timestamp("2020-03-12", tz="UTC"), "open"] == 7934.52, "BTC 03-12 open")
    _check(btc.loc["2020-03", "low"].min() == 3782.13, "BTC 2020-03 low 3782.13")
    _check(btc.loc["2021-05-19", "low"].min() == 30000.0, "BTC 05-19 low 30000")
    eth = files["eth_usdt_1h_2017-2021.csv.gz"].set_index("time_utc")
    _check(eth.loc[pd.Timestamp("2020-03-13 02:00", tz="UTC"), "low"] == 86.0, "ETH low 86")
    _check(eth.loc["2021-05-19", "low"].min() == 1888.0, "ETH 05-19 low 1888")
    weth = files["eth_usd_1h_2021-2023_coingecko.csv.gz"].set_index("time_utc")["close"]
    _check(1050.0 < weth.loc["2022-11-10"].min() < 1130.0, "WETH FTX low about 1090")
    _check(1550.0 < weth.loc["2022-11-06"].max() < 1700.0, "WETH 2022-11-06 about 1600")
    for name, df in files.items():
        _check(bool((df["time_utc"].diff().iloc[1:] == pd.Timedelta("1h")).all()), f"{name} grid")
        _check(not df.isna().any().any(), f"{name}: no missing values")
        _check(bool((df["close"] > 0).all()), f"{name}: positive prices")


def build(shared: Path) -> dict[str, pd.DataFrame]:
    files: dict[str, pd.DataFrame] = {}
    for asset in ("btc", "eth"):
        files[f"{asset}_usdt_1h_2017-2021.csv.gz"] = binance_hourly(shared, asset.upper())
        files[f"{asset}_usd_1h_2021-2023_coingecko.csv.gz"] = coingecko_hourly(
            shared, COINGECKO_TOKEN[asset]
        )
    return files


def _gzip_csv(df: pd.DataFrame) -> bytes:
    out = df.copy()
    out["time_utc"] = out["time_utc"].dt.strftime(TIME_FORMAT)
    text = out.to_csv(index=False, lineterminator="\n")
    buf = io.BytesIO()
    # mtime=0 and no file name: rebuilding gives byte-identical files.
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
        gz.write(text.encode())
    return buf.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED)
    args = parser.parse_args()
    files = build(args.shared)
    check_known_values(files)
    OUT.mkdir(exist_ok=True)
    total = 0
    for name, df in files.items():
        data = _gzip_csv(df)
        (OUT / name).write_bytes(data)
        total += len(data)
        first, last = df["time_utc"].iloc[0], df["time_utc"].iloc[-1]
        print(
            f"{name:40s} {len(df):6d} rows ({int(df['filled'].sum())} filled) "
            f"{first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} {len(data):8d} B "
            f"md5 {hashlib.md5(data).hexdigest()}"
        )
    print(f"total {total} B")


if __name__ == "__main__":
    main()
