"""Historical replays and gas paths: shipped files, interpolation, known values, gas models."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from experiments.scenarios.paths import GbmParams, gbm_log_returns
from experiments.scenarios.replay import (
    DATA_DIR,
    SyntheticGasParams,
    available_gas,
    available_replays,
    ewma_filter,
    load_bars,
    load_gas,
    load_replay,
    synthetic_gas,
)

DAY = 86_400
MONTH = 31 * DAY
DURATION = {
    "eth-2020-03-12": DAY,
    "eth-2021-05-19": DAY,
    "binance-2020-03": MONTH,
    "binance-2021-05": MONTH,
}
BAR_SECONDS = {("eth-2020-03-12", "ETH"): 600, ("eth-2021-05-19", "ETH"): 600}


def bar_seconds(name: str, asset: str) -> int:
    return BAR_SECONDS.get((name, asset), 3_600)


def ewma_filter_twin(x, decay, initial):
    y = np.empty_like(x, dtype=float)
    for j in range(x.shape[1]):
        acc = initial
        for t in range(x.shape[0]):
            acc = decay * acc + (1.0 - decay) * x[t, j]
            y[t, j] = acc
    return y


def test_available_names():
    assert available_replays() == (
        "eth-2020-03-12",
        "eth-2021-05-19",
        "binance-2020-03",
        "binance-2021-05",
    )
    assert available_gas() == ("gas-2020-03-12", "gas-2020-03-12-10min", "gas-2021-05-19")


def test_shipped_files_are_tidy_without_gaps_or_duplicates():
    files = sorted(DATA_DIR.glob("*.csv"))
    assert len(files) == 9
    assert sum(f.stat().st_size for f in files) < 400_000  # well under the 1 MB budget
    for path in files:
        df = pd.read_csv(path)
        gas = path.name.startswith("gas_")
        expected = (
            ["time_utc", "gwei_p30", "gwei_p60", "gwei_p90"]
            if gas
            else ["time_utc", "open", "high", "low", "close", "volume_base"]
        )
        assert list(df.columns) == expected, path.name
        assert not df.isna().any().any(), path.name
        times = pd.to_datetime(df["time_utc"], format="%Y-%m-%dT%H:%M:%SZ", utc=True)
        spacing = times.diff().dropna().unique()
        assert len(spacing) == 1 and spacing[0] > pd.Timedelta(0), path.name  # sorted, no gaps
        assert not times.duplicated().any(), path.name
        if gas:
            assert np.all(df.drop(columns="time_utc").to_numpy() > 0.0), path.name
        else:
            assert np.all(df[["open", "high", "low", "close"]].to_numpy() > 0.0), path.name
            # >= 0: Binance's 2020-03-04 10:00 maintenance hour is a flat zero-volume bar.
            assert np.all(df["volume_base"] >= 0.0), path.name
            assert np.all(df["low"] <= df[["open", "close"]].min(axis=1)), path.name
            assert np.all(df["high"] >= df[["open", "close"]].max(axis=1)), path.name


@pytest.mark.parametrize("name", available_replays())
def test_replay_prices_at_bar_ends_equal_the_closes(name):
    replay = load_replay(name, ("ETH", "BTC"), 60)
    assert replay.n_steps == DURATION[name] // 60
    np.testing.assert_array_equal(replay.times, np.arange(replay.n_steps + 1) * 60)
    for j, asset in enumerate(replay.assets):
        bars = load_bars(name, asset)
        bar = bar_seconds(name, asset)
        assert len(bars) == DURATION[name] // bar
        assert replay.prices_usd[0, j] == bars["open"].iloc[0]
        at_bar_ends = replay.prices_usd[bar // 60 :: bar // 60, j]
        np.testing.assert_array_equal(at_bar_ends, bars["close"].to_numpy())


@pytest.mark.parametrize("name", available_replays())
def test_replay_log_returns_are_the_price_increments(name):
    replay = load_replay(name, ("BTC", "ETH"), 300)
    assert replay.log_returns.shape == (replay.n_steps, 2)
    np.testing.assert_allclose(
        np.cumsum(replay.log_returns, axis=0),
        np.log(replay.prices_usd[1:] / replay.prices_usd[0]),
        atol=1e-12,
    )
    assert replay.initial_prices_usd == tuple(replay.prices_usd[0])
    assert not replay.prices_usd.flags.writeable and not replay.log_returns.flags.writeable


def test_replay_is_log_linear_between_closes():
    replay = load_replay("eth-2020-03-12", ("ETH",), 60)
    closes = load_bars("eth-2020-03-12", "ETH")["close"].to_numpy()
    # 5 minutes into the 10-minute bar i+1: the geometric mean of close i and close i+1.
    mid = replay.prices_usd[15::10, 0][: len(closes) - 1]
    np.testing.assert_allclose(mid, np.sqrt(closes[:-1] * closes[1:]), rtol=1e-12)
    # Constant log-return within a bar.
    r = replay.log_returns[10:20, 0]
    np.testing.assert_allclose(r, np.full(10, np.log(closes[1] / closes[0]) / 10), rtol=1e-9)


def test_black_thursday_eth_replay_opens_195_and_reaches_the_low_region():
    bars = load_bars("eth-2020-03-12", "ETH")
    assert bars["open"].iloc[0] == 195.21 and bars["close"].iloc[-1] == 107.52
    assert bars["low"].min() == 101.01
    assert bars["time_utc"][bars["low"].idxmin()] == pd.Timestamp("2020-03-12 23:20", tz="UTC")
    eth = load_replay("eth-2020-03-12", ("ETH",), 60).prices_usd[:, 0]
    assert eth[0] == 195.21 and eth[-1] == 107.52
    assert 101.01 < eth.min() < 107.0  # closes only: 106.59, the 23:30 bar's close
    # The first leg: from 167 at 10:10 UTC to 124-134 by 11:00 (stablesims SOURCES.md).
    assert eth[610] > 160.0 and eth[660] == 133.75
    extremes = load_replay("eth-2020-03-12", ("ETH", "BTC"), 60, through_high_low=True)
    assert extremes.prices_usd[:, 0].min() == 101.01
    assert extremes.prices_usd[:, 1].min() == 4410.0  # BTC's low inside 2020-03-12 (hourly)
    closes = load_bars("eth-2020-03-12", "BTC")["close"].to_numpy()
    np.testing.assert_array_equal(extremes.prices_usd[60::60, 1], closes)


def test_may_2021_and_month_replays_match_known_values():
    bars = load_bars("eth-2021-05-19", "ETH")
    assert bars["open"].iloc[0] == 3375.69 and bars["low"].min() == 1862.04
    eth = load_replay("eth-2021-05-19", ("ETH",), 60, through_high_low=True).prices_usd[:, 0]
    assert eth[0] == 3375.69 and eth.min() == 1862.04
    btc = load_bars("binance-2020-03", "BTC")
    assert len(btc) == 744
    low = btc.loc[btc["low"].idxmin()]
    assert low["low"] == 3782.13 and low["time_utc"] == pd.Timestamp("2020-03-13 02:00", tz="UTC")
    assert load_bars("eth-2020-03-12", "BTC")["low"].min() == 4410.0  # 3782.13 is on 03-13
    btc_may = load_bars("binance-2021-05", "BTC").set_index("time_utc").loc["2021-05-19"]
    assert btc_may["low"].min() == 30000.0
    month = load_replay("binance-2020-03", ("BTC",), 3_600, through_high_low=True)
    closes = load_bars("binance-2020-03", "BTC")["close"]
    assert month.n_steps == 744 and month.prices_usd.min() == closes.min()  # lows off the grid
    assert (
        load_replay("binance-2020-03", ("BTC",), 60, through_high_low=True).prices_usd.min()
        == 3782.13
    )


def test_replay_with_steps_longer_than_a_bar_samples_the_closes():
    replay = load_replay("eth-2020-03-12", ("ETH",), 3_600)
    closes = load_bars("eth-2020-03-12", "ETH")["close"].to_numpy()
    assert replay.n_steps == 24
    np.testing.assert_array_equal(replay.prices_usd[1:, 0], closes[5::6])


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: load_replay("eth-2022-05-09", ("ETH",), 60), "load_replay.name: must be one of"),
        (lambda: load_replay("eth-2020-03-12", ("SOL",), 60), "load_replay.name: must be one of"),
        (
            lambda: load_replay("eth-2020-03-12", ("ETH", "ETH"), 60),
            "load_replay.assets: must be distinct and non-empty",
        ),
        (
            lambda: load_replay("eth-2020-03-12", ("ETH",), 0),
            "load_replay.step_seconds: must be an integer in (0, 86400]",
        ),
        (lambda: load_gas("gas-2020-03-13", 60), "load_gas.name: must be one of"),
        (
            lambda: load_gas("gas-2020-03-12", 60, percentile=50),
            "load_gas.percentile: must be one of (30, 60, 90)",
        ),
        (lambda: load_bars("binance-2020-03", "DOGE"), "load_bars.name: must be one of"),
    ],
)
def test_replay_errors_name_the_argument_and_rule(call, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        call()


def test_gas_replay_shows_the_black_thursday_spike():
    gas = load_gas("gas-2020-03-12", 60)
    assert gas.shape == (1_440,)
    morning = gas[:120].mean()
    assert morning < 15.0  # about 9 gwei at 00:00-02:00 UTC
    assert gas[14 * 60 : 17 * 60].mean() > 10 * morning  # 15:00-16:00 UTC hourly median ~190
    assert gas.max() >= 200.0
    may = load_gas("gas-2021-05-19", 60)
    assert may[13 * 60 : 14 * 60].max() > 10 * may[:60].mean()  # ~1,950 vs ~85 gwei
    assert np.all(load_gas("gas-2021-05-19", 60, percentile=90) >= may)


def test_gas_step_means_preserve_the_day_average_and_bucket_values():
    bucket = pd.read_csv(DATA_DIR / "gas_gwei_10min_2020-03-12.csv")["gwei_p60"].to_numpy()
    np.testing.assert_array_equal(load_gas("gas-2020-03-12-10min", 600), bucket)
    np.testing.assert_array_equal(load_gas("gas-2020-03-12-10min", 60), np.repeat(bucket, 10))
    for step in (60, 600, 3_600, 86_400):
        assert load_gas("gas-2020-03-12-10min", step).mean() == pytest.approx(bucket.mean())
    assert load_gas("gas-2020-03-12", 7).shape == (86_400 // 7,)


def test_gas_one_minute_and_ten_minute_sources_agree_hourly():
    one = load_gas("gas-2020-03-12", 3_600)
    ten = load_gas("gas-2020-03-12-10min", 3_600)
    assert np.all(np.abs(np.log(one / ten)) < 0.3)


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(0, 30),
    k=st.integers(1, 3),
    decay=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**32 - 1),
)
def test_ewma_filter_matches_python_twin(n, k, decay, seed):
    x = np.random.default_rng(seed).exponential(size=(n, k))
    np.testing.assert_allclose(
        ewma_filter(x, decay, 0.3), ewma_filter_twin(x, decay, 0.3), rtol=1e-12, atol=1e-15
    )


def test_synthetic_gas_is_calm_in_calm_markets_and_spikes_in_black_thursday():
    params = SyntheticGasParams()
    calm = gbm_log_returns(
        np.random.default_rng(0),
        n_steps=10_080,
        step_seconds=60,
        params=GbmParams(vol_per_year=(0.8, 0.6)),
    )
    gas = synthetic_gas(calm, step_seconds=60)
    assert gas.shape == (10_080,)
    assert np.all(gas >= params.base_gwei) and np.all(gas <= params.base_gwei * params.max_factor)
    assert gas.mean() < 1.5 * params.base_gwei
    crash = load_replay("eth-2020-03-12", ("ETH", "BTC"), 60).log_returns
    factor = synthetic_gas(crash, step_seconds=60) / params.base_gwei
    assert 4.0 < factor.mean() < 8.0  # Black Thursday ~6x (DOMAIN.md F)
    assert factor[:120].mean() < 2.5 and factor.max() > 15.0


@settings(max_examples=25, deadline=None)
@given(scale=st.floats(1.0, 20.0), seed=st.integers(0, 1_000), cut=st.integers(1, 399))
def test_synthetic_gas_rises_with_absolute_returns_and_is_causal(scale, seed, cut):
    r = gbm_log_returns(
        np.random.default_rng(seed),
        n_steps=400,
        step_seconds=60,
        params=GbmParams(vol_per_year=(1.0, 0.5)),
    )
    gas = synthetic_gas(r, step_seconds=60)
    assert np.all(synthetic_gas(r * scale, step_seconds=60) >= gas - 1e-9)
    future_changed = r.copy()
    future_changed[cut:] *= 5.0
    np.testing.assert_array_equal(synthetic_gas(future_changed, step_seconds=60)[:cut], gas[:cut])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"base_gwei": 0.0}, "SyntheticGasParams.base_gwei: must be > 0, got 0.0"),
        ({"max_factor": 0.5}, "SyntheticGasParams.max_factor: must be >= 1, got 0.5"),
        ({"horizon_seconds": 0}, "SyntheticGasParams.horizon_seconds: must be an integer > 0"),
        ({"elasticity": float("nan")}, "SyntheticGasParams.elasticity: must be >= 0"),
    ],
)
def test_synthetic_gas_params_validation_names_field_and_rule(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        SyntheticGasParams(**kwargs)
    with pytest.raises(ValueError, match=re.escape("synthetic_gas.log_returns: must be 2-D")):
        synthetic_gas(np.zeros(5), step_seconds=60)
