"""Build the small replay files in ``experiments/scenarios/data`` from ``../shared/data``.

Run by developers, never at run time and never by the tests: it is the only code that reads the
shared data folder. Usage::

    python experiments/scenarios/build_data.py [--shared /work/shared/data]

It writes tidy CSVs (header, UTC ISO timestamps, only the needed columns), checks them against known
event values (see data/SOURCES.md) and prints each file's size and md5.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

OUT = Path(__file__).resolve().parent / "data"
DEFAULT_SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
PRICE_COLUMNS = ["time_utc", "open", "high", "low", "close", "volume_base"]
GAS_COLUMNS = ["time_utc", "gwei_p30", "gwei_p60", "gwei_p90"]
STRESS_DAYS = {"2020-03-12": "03-12-2020", "2021-05-19": "05-19-2021"}
MONTHS = ("2020-03", "2021-05")


def _check(ok: bool, what: str) -> None:
    if not ok:
        raise SystemExit(f"check failed: {what}")


def _check_grid(times: pd.Series, bar: str, start: str, end: str, name: str) -> None:
    """Bars are strictly increasing, evenly spaced by ``bar`` and cover [start, end) exactly."""
    expected = pd.date_range(start, end, freq=bar, inclusive="left", tz="UTC")
    _check(
        len(times) == len(expected) and bool((times.to_numpy() == expected).all()),
        f"{name}: bars must be one every {bar} from {start} to {end}",
    )


def _write(df: pd.DataFrame, name: str) -> None:
    out = df.copy()
    out["time_utc"] = out["time_utc"].dt.strftime(TIME_FORMAT)
    out.to_csv(OUT / name, index=False, lineterminator="\n")


def stress_day_eth(shared: Path, day: str) -> pd.DataFrame:
    """StableSims CoinAPI 10-minute ETH bars for one UTC day."""
    raw = pd.DataFrame(
        json.loads(
            (
                shared / "stablesims_stress_days" / "eth_10min" / f"{STRESS_DAYS[day]}.json"
            ).read_text()
        )
    )
    df = pd.DataFrame(
        {
            "time_utc": pd.to_datetime(raw["time_period_start"], utc=True),
            "open": raw["price_open"],
            "high": raw["price_high"],
            "low": raw["price_low"],
            "close": raw["price_close"],
            "volume_base": raw["volume_traded"].round(8),
        }
    )
    _check_grid(df["time_utc"], "10min", day, pd.Timestamp(day) + pd.Timedelta("1D"), day)
    _check(not df.isna().any().any(), f"ETH {day}: no missing values")
    return df


def binance_month(shared: Path, symbol: str, month: str) -> pd.DataFrame:
    """One calendar month of Binance hourly bars, with the CDD export's quirks fixed."""
    raw = pd.read_csv(shared / "binance_1h_2017_2021" / f"Binance_{symbol}USDT_1h.csv")
    unix = raw["unix"].astype("int64")
    # Mixed units: older rows are seconds, newer milliseconds (SOURCES.md of the folder).
    seconds = np.where(unix > 10**11, unix // 1000, unix)
    df = pd.DataFrame(
        {
            "time_utc": pd.to_datetime(seconds, unit="s", utc=True),
            "open": raw["open"],
            "high": raw["high"],
            "low": raw["low"],
            "close": raw["close"],
            "volume_base": raw[f"Volume {symbol}"].round(8),
            "is_ms": unix > 10**11,
        }
    )
    # Newest first, and 2020-08..11 duplicated in both formats: sort, keep the ms row.
    df = df.sort_values(["time_utc", "is_ms"]).drop_duplicates("time_utc", keep="last")
    start = pd.Timestamp(month + "-01", tz="UTC")
    end = start + pd.offsets.MonthBegin(1)
    df = df[(df["time_utc"] >= start) & (df["time_utc"] < end)].drop(columns="is_ms")
    _check_grid(df["time_utc"], "1h", start, end, f"{symbol} {month}")
    _check(not df.isna().any().any(), f"{symbol} {month}: no missing values")
    return df.reset_index(drop=True)


def gas_table(path: Path, bar: str, day: str) -> pd.DataFrame:
    """Anyblock gas percentiles (wei) to gwei; minutes without a transaction carry forward."""
    raw = pd.DataFrame(json.loads(path.read_text())["data"])
    df = pd.DataFrame({"time_utc": pd.to_datetime(raw["timestamp"], utc=True)})
    for p in (30, 60, 90):
        # ffill: a minute with no transaction (doc_count 0) has no percentile; a keeper bidding in
        # it would use the last observed price.
        df[f"gwei_p{p}"] = (raw[f"{p}.0 Perc"] / 1e9).ffill().round(6)
    _check_grid(df["time_utc"], bar, day, pd.Timestamp(day) + pd.Timedelta("1D"), f"gas {day}")
    _check(not df.isna().any().any(), f"gas {day}: no missing values after ffill")
    return df


def build(shared: Path) -> dict[str, pd.DataFrame]:
    files: dict[str, pd.DataFrame] = {}
    for day in STRESS_DAYS:
        files[f"eth_usd_10min_{day}.csv"] = stress_day_eth(shared, day)
    for month in MONTHS:
        for symbol in ("BTC", "ETH"):
            files[f"{symbol.lower()}_usdt_1h_{month}.csv"] = binance_month(shared, symbol, month)
    gas = shared / "stablesims_stress_days"
    files["gas_gwei_1min_2020-03-12.csv"] = gas_table(
        gas / "gas_black_thursday_1min.json", "1min", "2020-03-12"
    )
    for day, stem in STRESS_DAYS.items():
        files[f"gas_gwei_10min_{day}.csv"] = gas_table(
            gas / "gas_10min" / f"{stem}.json", "10min", day
        )
    return files


def check_known_values(files: dict[str, pd.DataFrame]) -> None:
    """The event values quoted in the shared SOURCES.md files, and in data/SOURCES.md."""
    eth = files["eth_usd_10min_2020-03-12.csv"]
    _check(
        eth["open"].iloc[0] == 195.21 and eth["close"].iloc[-1] == 107.52,
        "ETH 03-12 opens 195.21, closes 107.52",
    )
    low = eth.loc[eth["low"].idxmin()]
    _check(
        low["low"] == 101.01 and low["time_utc"] == pd.Timestamp("2020-03-12 23:20", tz="UTC"),
        "ETH 03-12 low 101.01 at 23:20",
    )
    eth = files["eth_usd_10min_2021-05-19.csv"]
    _check(
        eth["open"].iloc[0] == 3375.69 and eth["low"].min() == 1862.04,
        "ETH 05-19 opens 3375.69, low 1862.04",
    )
    btc = files["btc_usdt_1h_2020-03.csv"]
    by_time = btc.set_index("time_utc")
    _check(by_time.loc[pd.Timestamp("2020-03-12", tz="UTC"), "open"] == 7934.52, "BTC 03-12 open")
    _check(
        by_time["low"].min() == 3782.13
        and by_time["low"].idxmin() == pd.Timestamp("2020-03-13 02:00", tz="UTC"),
        "BTC low 3782.13 at 03-13 02:00",
    )
    day = by_time.loc["2020-03-12"]
    _check(day["low"].min() == 4410.0, "BTC low inside 2020-03-12 is 4410.00")
    eth_h = files["eth_usdt_1h_2020-03.csv"].set_index("time_utc")
    _check(eth_h.loc[pd.Timestamp("2020-03-12", tz="UTC"), "open"] == 194.61, "ETH 1h 03-12 open")
    _check(eth_h.loc[pd.Timestamp("2020-03-13 02:00", tz="UTC"), "low"] == 86.0, "ETH 1h low 86")
    btc = files["btc_usdt_1h_2021-05.csv"].set_index("time_utc").loc["2021-05-19"]
    _check(
        btc["low"].min() == 30000.0
        and btc["low"].idxmin() == pd.Timestamp("2021-05-19 13:00", tz="UTC"),
        "BTC 05-19 low 30000 at 13:00",
    )
    eth_h = files["eth_usdt_1h_2021-05.csv"].set_index("time_utc").loc["2021-05-19"]
    _check(eth_h["low"].min() == 1888.0, "ETH 1h 05-19 low 1888")
    g1 = files["gas_gwei_1min_2020-03-12.csv"].set_index("time_utc")["gwei_p60"]
    g10 = files["gas_gwei_10min_2020-03-12.csv"].set_index("time_utc")["gwei_p60"]
    hourly_1 = g1.resample("1h").median()
    hourly_10 = g10.resample("1h").median()
    _check(
        bool(np.all(np.abs(np.log(hourly_1 / hourly_10)) < 0.2)),
        "gas 03-12: hourly medians of the 1-min and 10-min p60 agree within 20%",
    )
    _check(g10.iloc[:6].median() < 12.0 and g10.max() == 200.0, "gas 03-12 p60: ~7-10 to 200 gwei")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED)
    args = parser.parse_args()
    files = build(args.shared)
    check_known_values(files)
    OUT.mkdir(exist_ok=True)
    total = 0
    for name, df in files.items():
        cols = PRICE_COLUMNS if name.startswith(("eth_", "btc_")) else GAS_COLUMNS
        _write(df[cols], name)
        data = (OUT / name).read_bytes()
        total += len(data)
        print(f"{name:34s} {len(df):5d} rows {len(data):8d} B  md5 {hashlib.md5(data).hexdigest()}")
    print(f"total {total} B")


if __name__ == "__main__":
    main()
