"""Tests of the push oracle: deviation threshold, heartbeat, latency, geometric TWAP, params."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from protocols.oracle import (
    CHAINLINK_BTC_USD,
    CHAINLINK_ETH_USD,
    CHAINLINK_USDC_USD,
    OracleParams,
    PriceOracle,
)

P0 = 2000.0
STEP_S = 60


class Source:
    """A settable price source (stands in for the reference market or an AMM)."""

    def __init__(self, price_usd: float = P0) -> None:
        self.price_usd = price_usd

    def __call__(self) -> float:
        return self.price_usd


def make_oracle(source: Source, **params) -> PriceOracle:
    return PriceOracle(
        "chainlink-eth",
        asset="ETH",
        source=source,
        params=OracleParams(**params),
        step_seconds=STEP_S,
        initial_price_usd=P0,
    )


def test_oracle_default_params_are_chainlink_eth_usd():
    assert OracleParams() == CHAINLINK_ETH_USD
    assert (CHAINLINK_ETH_USD.deviation_frac, CHAINLINK_ETH_USD.heartbeat_seconds) == (0.005, 3600)
    assert CHAINLINK_ETH_USD.latency_steps == 1 and CHAINLINK_ETH_USD.twap_window_steps == 0
    assert CHAINLINK_BTC_USD.heartbeat_seconds == 3600
    assert (CHAINLINK_USDC_USD.deviation_frac, CHAINLINK_USDC_USD.heartbeat_seconds) == (
        0.0025,
        86400,
    )


def test_oracle_move_below_deviation_does_not_publish():
    src = Source()
    oracle = make_oracle(src)
    src.price_usd = P0 * 1.004
    for step in range(1, 30):
        assert oracle.update(step) is False
    assert oracle.price_usd == P0 and oracle.n_updates == 0 and oracle.n_pending == 0
    src.price_usd = P0 * 0.996
    assert oracle.update(30) is False
    assert oracle.price_usd == P0


def test_oracle_move_above_deviation_publishes_after_latency():
    src = Source()
    oracle = make_oracle(src)
    src.price_usd = P0 * 1.006
    assert oracle.update(1) is False  # round started, in flight
    assert oracle.price_usd == P0 and oracle.n_pending == 1
    assert oracle.update(2) is True
    assert oracle.price_usd == P0 * 1.006
    assert oracle.last_update_step == 2 and oracle.n_updates == 1
    src.price_usd = P0 * 0.994  # -1.19% from the new published value
    oracle.update(3)
    assert oracle.update(4) is True and oracle.price_usd == P0 * 0.994


def test_oracle_heartbeat_publishes_unchanged_price_after_3600_s():
    src = Source()
    oracle = make_oracle(src)
    landed = [step for step in range(1, 200) if oracle.update(step)]
    # Rounds start every 3600 s = 60 steps and land one step later.
    assert landed == [61, 121, 181]
    assert oracle.price_usd == P0 and oracle.n_updates == 3
    assert oracle.staleness_seconds(199) == (199 - 181) * STEP_S


def test_oracle_deviation_round_resets_the_heartbeat():
    src = Source()
    oracle = make_oracle(src, latency_steps=0)
    landed = []
    for step in range(1, 130):
        if step == 30:
            src.price_usd = P0 * 1.01
        if oracle.update(step):
            landed.append(step)
    assert landed == [30, 90]


@pytest.mark.parametrize("latency", [0, 1, 3, 7])
def test_oracle_latency_delays_by_exactly_latency_steps(latency):
    src = Source()
    oracle = make_oracle(src, latency_steps=latency)
    for step in range(1, 10):
        oracle.update(step)
    src.price_usd = P0 * 1.02
    trigger = 10
    published = []
    for step in range(trigger, trigger + 10):
        oracle.update(step)
        published.append(oracle.price_usd)
        src.price_usd = P0 * 1.0201  # later observations differ but stay within the threshold
    expected = [P0] * latency + [P0 * 1.02] * (10 - latency)  # the value observed at trigger time
    assert published == expected
    assert oracle.last_update_step == trigger + latency
    assert oracle.n_updates == 1  # one move starts one round even while it is in flight


def test_oracle_rounds_in_flight_land_in_order():
    src = Source()
    oracle = make_oracle(src, latency_steps=3, deviation_frac=0.005)
    prices = [P0 * 1.01, P0 * 1.02, P0 * 1.03]
    for step, price in enumerate(prices, start=1):
        src.price_usd = price
        oracle.update(step)
    assert oracle.n_pending == 3 and oracle.price_usd == P0
    seen = []
    for step in range(4, 7):
        assert oracle.update(step) is True
        seen.append(oracle.price_usd)
    assert seen == prices


def test_oracle_twap_lags_a_step_change_geometrically():
    window = 10
    src = Source()
    oracle = make_oracle(src, deviation_frac=0.0, latency_steps=0, twap_window_steps=window)
    oracle.update(1)
    assert oracle.price_usd == pytest.approx(P0, rel=1e-15)  # window starts full of P0
    p1 = P0 * 1.5
    src.price_usd = p1
    for j in range(1, window + 3):
        oracle.update(1 + j)
        n_new = min(j, window)
        expected = math.exp(((window - n_new) * math.log(P0) + n_new * math.log(p1)) / window)
        assert oracle.price_usd == pytest.approx(expected, rel=1e-12)
        if j < window:
            arithmetic = ((window - j) * P0 + j * p1) / window
            assert P0 < oracle.price_usd < arithmetic  # geometric mean lags the arithmetic one
    assert oracle.price_usd == pytest.approx(p1, rel=1e-12)


def test_oracle_twap_matches_direct_geometric_mean_over_a_long_run():
    window = 30
    rng = np.random.default_rng(3)
    path = P0 * np.exp(np.cumsum(rng.normal(0.0, 0.003, size=10_080)))
    src = Source()
    oracle = make_oracle(src, deviation_frac=0.0, latency_steps=0, twap_window_steps=window)
    for step, price in enumerate(path, start=1):
        src.price_usd = float(price)
        oracle.update(step)
    expected = math.exp(np.mean(np.log(path[-window:])))
    assert oracle.price_usd == pytest.approx(expected, rel=1e-12)


def test_oracle_missed_observation_starts_no_round():
    src = Source(math.nan)
    oracle = make_oracle(src, latency_steps=0)
    assert oracle.update(1) is False
    src.price_usd = 0.0
    assert oracle.update(2) is False
    assert oracle.n_missed_observations == 2 and oracle.price_usd == P0
    src.price_usd = P0 * 0.9
    assert oracle.update(3) is True and oracle.price_usd == P0 * 0.9


def test_oracle_step_must_increase():
    oracle = make_oracle(Source())
    oracle.update(5)
    with pytest.raises(ValueError, match="step must increase"):
        oracle.update(5)


def test_oracle_params_setter_recalibrates():
    src = Source()
    oracle = make_oracle(src, latency_steps=0)
    src.price_usd = P0 * 1.004
    assert oracle.update(1) is False
    oracle.params = dataclasses.replace(oracle.params, deviation_frac=0.003)
    assert oracle.update(2) is True and oracle.price_usd == P0 * 1.004
    oracle.params = dataclasses.replace(oracle.params, twap_window_steps=4)  # restarts at last obs
    src.price_usd = P0 * 2.0
    oracle.params = dataclasses.replace(oracle.params, deviation_frac=0.0)
    oracle.update(3)
    expected = math.exp((3 * math.log(P0 * 1.004) + math.log(P0 * 2.0)) / 4)
    assert oracle.price_usd == pytest.approx(expected, rel=1e-12)
    with pytest.raises(ValueError, match=r"PriceOracle\.params"):
        oracle.params = {"deviation_frac": 0.01}


@pytest.mark.parametrize(
    ("field", "value", "rule"),
    [
        ("deviation_frac", -0.001, "must be finite and >= 0"),
        ("deviation_frac", math.nan, "must be finite and >= 0"),
        ("heartbeat_seconds", 0, "must be > 0"),
        ("heartbeat_seconds", math.nan, "must be > 0"),
        ("latency_steps", -1, "must be an int >= 0"),
        ("latency_steps", 1.5, "must be an int >= 0"),
        ("latency_steps", True, "must be an int >= 0"),
        ("twap_window_steps", -3, "must be an int >= 0"),
    ],
)
def test_oracle_params_validation(field, value, rule):
    with pytest.raises(ValueError, match=rf"OracleParams\.{field}: {rule}"):
        OracleParams(**{field: value})


def make_oracle_with(step_seconds: int = STEP_S, initial_price_usd: float = P0) -> PriceOracle:
    return PriceOracle(
        "o",
        asset="ETH",
        source=Source(),
        params=OracleParams(),
        step_seconds=step_seconds,
        initial_price_usd=initial_price_usd,
    )


def test_oracle_constructor_validation_and_disabled_heartbeat():
    with pytest.raises(ValueError, match="initial_price_usd"):
        make_oracle_with(initial_price_usd=0.0)
    with pytest.raises(ValueError, match="step_seconds"):
        make_oracle_with(step_seconds=0)
    oracle = make_oracle(Source(), heartbeat_seconds=math.inf)
    assert not any(oracle.update(step) for step in range(1, 1000))
