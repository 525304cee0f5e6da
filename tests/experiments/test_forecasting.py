import dataclasses
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from experiments.forecast_fit import export_hgb, fit_models
from experiments.forecasting import (
    MODEL_NAMES,
    EvaluationSpec,
    HourlySeries,
    evaluate,
    forecast_series,
    format_table,
    load_series,
    walk_forward_splits,
)
from protocols.risk.features import FEATURE_NAMES, forward_realised_variance

pytest.importorskip("arch")
pytest.importorskip("sklearn")
K = len(FEATURE_NAMES)

HOUR = np.timedelta64(3600, "s")
SMALL = {"hgb_max_iter": 15, "refit_days": 30}


@pytest.fixture(scope="module")
def binance() -> dict[str, HourlySeries]:
    return {a: load_series(a, "binance") for a in ("BTC", "ETH")}


def window(s: HourlySeries, start: str, stop: str) -> HourlySeries:
    """Bars in [start, stop): trailing features are kept, targets end inside the window."""
    i0, i1 = np.searchsorted(s.time, [np.datetime64(start, "s"), np.datetime64(stop, "s")])
    r = s.r[i0:i1]
    return dataclasses.replace(
        s,
        time=s.time[i0:i1],
        r=r,
        features=s.features[i0:i1],
        target_rv=forward_realised_variance(r, s.horizon_hours),
    )


def scramble_after(s: HourlySeries, i: int, seed: int) -> HourlySeries:
    """Same series with every bar after index ``i`` replaced by noise (features, returns, RV)."""
    rng = np.random.default_rng(seed)
    r, feats = s.r.copy(), s.features.copy()
    r[i + 1 :] = rng.normal(0, 0.05, len(r) - i - 1)
    feats[i + 1 :] = rng.normal(-8, 3, feats[i + 1 :].shape)
    return dataclasses.replace(
        s, r=r, features=feats, target_rv=forward_realised_variance(r, s.horizon_hours)
    )


@settings(max_examples=60, deadline=None)
@given(
    start_hour=st.integers(800, 6000),
    refit_days=st.integers(1, 60),
    horizon=st.integers(1, 72),
    gap=st.integers(0, 3),
)
def test_walk_forward_never_trains_on_data_at_or_after_the_first_test_time(
    start_hour: int, refit_days: int, horizon: int, gap: int
) -> None:
    t0 = np.datetime64("2018-01-01T00:00:00")
    time = t0 + np.arange(8000) * HOUR
    if gap:  # an outage: the grid may skip hours
        time[4000:] += gap * HOUR
    start = time[start_hour]
    splits = walk_forward_splits(
        time,
        test_start=str(start),
        test_end=str(time[7000]),
        refit_days=refit_days,
        horizon_hours=horizon,
    )
    assert splits and splits[0].test_start == start_hour
    for sp, nxt in itertools.pairwise(splits):
        assert sp.test_stop == nxt.test_start  # blocks tile the test period
    for sp in splits:
        first_test = time[sp.test_start]
        last_origin = sp.train_stop - 1
        # the last training target ends with bar last_origin + horizon, strictly before the test
        assert time[last_origin + horizon] < first_test
        assert time[last_origin] + horizon * HOUR < first_test
        # and the split is not needlessly conservative: one more origin would break the rule
        assert last_origin + 1 + horizon >= sp.test_start


def test_fit_models_ignores_everything_after_its_training_origins(binance) -> None:
    spec = EvaluationSpec(**SMALL)
    series = {a: window(s, "2017-09-01", "2018-04-01") for a, s in binance.items()}
    stop = 3000
    last_seen = stop - 1 + spec.horizon_hours
    a = fit_models([(s, stop) for s in series.values()], spec)
    b = fit_models([(scramble_after(s, last_seen, 7), stop) for s in series.values()], spec)
    assert a.har == b.har and a.ridge == b.ridge and a.garch == b.garch
    for k, v in a.hgb.arrays.items():
        np.testing.assert_array_equal(v, b.hgb.arrays[k])


def test_forecasts_at_t_use_no_later_data(binance) -> None:
    spec = EvaluationSpec(**SMALL)
    s = window(binance["ETH"], "2019-01-01", "2019-05-01")
    models = fit_models([(s, 1500)], spec)
    t = 2200
    base = forecast_series(s, models, spec)
    changed = forecast_series(scramble_after(s, t, 3), models, spec)
    for name in MODEL_NAMES:
        np.testing.assert_array_equal(changed[name][: t + 1], base[name][: t + 1], err_msg=name)
        assert not np.allclose(changed[name][t + 1 :], base[name][t + 1 :]), name


def test_evaluate_small_window_gives_calm_and_stressed_rows(binance) -> None:
    spec = EvaluationSpec(test_start="2020-02-15", test_end="2020-04-01", **SMALL)
    series = {a: window(s, "2019-06-01", "2020-04-03") for a, s in binance.items()}
    table, models = evaluate(spec, binance=series, coingecko={})
    assert set(table["regime"]) == {"calm", "stressed"} and set(table["asset"]) == {"BTC", "ETH"}
    stressed = table[table["regime"] == "stressed"]
    assert (stressed["n"] == 31 * 24).all()  # every hour of March 2020 is a forecast origin
    for name in MODEL_NAMES:
        assert (table[f"qlike_{name}"] >= 0).all() and np.isfinite(table[f"mse_{name}"]).all()
    assert set(models.garch) == {"BTC", "ETH"}
    text = format_table(table)
    assert all(name in text for name in MODEL_NAMES) and "stressed" in text


def test_evaluation_spec_validation() -> None:
    with pytest.raises(ValueError, match=r"EvaluationSpec.refit_days: must be >= 1"):
        EvaluationSpec(refit_days=0)
    with pytest.raises(ValueError, match=r"EvaluationSpec.test_end: must be after test_start"):
        EvaluationSpec(test_start="2020-01-01", test_end="2019-01-01")


def test_export_hgb_matches_scikit_learn() -> None:
    from sklearn.ensemble import HistGradientBoostingRegressor

    rng = np.random.default_rng(1)
    x = rng.normal(size=(3000, K))
    y = x[:, 0] + np.sin(2 * x[:, 1]) + 0.1 * rng.normal(size=3000)
    x[::7, 2] = np.nan  # missing values follow the learned direction
    est = HistGradientBoostingRegressor(
        max_iter=40, max_leaf_nodes=15, early_stopping=False, random_state=0
    ).fit(x, y)
    model = export_hgb(est, smearing=1.0, horizon_hours=24)
    test = rng.normal(size=(500, K))
    test[::5, 2] = np.nan
    test[::11, 0] = np.nan
    np.testing.assert_allclose(model.predict_log(test), est.predict(test), rtol=1e-12, atol=1e-12)
