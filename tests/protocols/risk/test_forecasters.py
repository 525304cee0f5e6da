import math

import numpy as np
import pytest

from protocols.risk.features import WARMUP_HOURS, close_only_variances, feature_matrix
from protocols.risk.forecaster import (
    FORECASTERS,
    SECONDS_PER_YEAR,
    VolatilityForecaster,
    make_forecaster,
)
from protocols.risk.log_models import LinearLogModel
from protocols.risk.ml import FeatureForecaster
from protocols.risk.model_files import load_model


@pytest.mark.parametrize("name", ["ewma", "garch", "har", "hgb", "ridge"])
def test_every_registered_forecaster_builds_with_defaults_and_reacts_to_a_crash(name) -> None:
    assert name in FORECASTERS
    f = make_forecaster(name, initial_vol_annual=0.8)
    assert isinstance(f, VolatilityForecaster)
    assert 0.2 < f.vol_annual < 3.0
    rng = np.random.default_rng(0)
    sigma_min = 0.8 * math.sqrt(60 / SECONDS_PER_YEAR)
    for x in rng.normal(0, sigma_min, 3 * 1440):  # three calm days of minute returns
        f.update(float(x), 60.0)
    calm = f.forecast_variance(86_400.0)
    for x in rng.normal(0, 8 * sigma_min, 360):  # six hours at 8x the volatility
        f.update(float(x), 60.0)
    assert f.forecast_variance(86_400.0) > 1.5 * calm
    assert f.forecast_variance(3_600.0) > 0.0
    assert f.forecast_variance(0.0) == 0.0


def test_feature_forecaster_online_matches_batch_features_on_hourly_returns() -> None:
    """Fed hourly returns, the online forecaster sees exactly the batch close-only features."""
    model = load_model("ridge")
    rng = np.random.default_rng(2)
    n = WARMUP_HOURS + 50
    close = 100 * np.exp(np.cumsum(rng.standard_t(4, n) * 0.008))
    r, _, pk, gk = close_only_variances(close)
    f = FeatureForecaster(initial_vol_annual=0.7, model=model)
    for x in r[1:]:
        f.update(float(x), 3600.0)
    x = feature_matrix(r, pk, gk)[-1:]
    expected = float(model.predict_variance(x)[0])
    assert f.horizon_variance == pytest.approx(expected, rel=1e-10)
    assert f.forecast_variance(12 * 3600.0) == pytest.approx(expected / 2)
    assert f.vol_annual == pytest.approx(math.sqrt(expected / 24 / 3600 * SECONDS_PER_YEAR))


def test_feature_forecaster_and_registry_reject_bad_input() -> None:
    bad = LinearLogModel(
        feature_names=("log_rv_3h",),
        coef=(1.0,),
        intercept=0.0,
        center=(0.0,),
        scale=(1.0,),
        smearing=1.0,
    )
    with pytest.raises(ValueError, match="unknown features"):
        FeatureForecaster(initial_vol_annual=0.5, model=bad)
    with pytest.raises(ValueError, match="forecaster: must be one of"):
        make_forecaster("lstm", initial_vol_annual=0.5)
    with pytest.raises(ValueError, match="initial_vol_annual: must be finite and > 0"):
        make_forecaster("hgb", initial_vol_annual=0.0)
    with pytest.raises(ValueError, match="horizon_seconds must be finite"):
        make_forecaster("har", initial_vol_annual=0.5).forecast_variance(math.inf)
