import json

import numpy as np
import pytest

from protocols.risk.features import FEATURE_NAMES
from protocols.risk.garch import GarchParams
from protocols.risk.har import HAR_FEATURES, fit_har
from protocols.risk.log_models import LinearLogModel, TreeEnsembleModel
from protocols.risk.model_files import MODELS_DIR, load_garch, load_model, read_model, write_model

K = len(FEATURE_NAMES)


def test_fit_har_recovers_coefficients_and_smearing() -> None:
    rng = np.random.default_rng(0)
    n = 5000
    x = rng.normal(-9, 1, (n, K))
    cols = [FEATURE_NAMES.index(f) for f in HAR_FEATURES]
    noise = rng.normal(0, 0.5, n)
    y = 0.5 + x[:, cols] @ np.array([0.4, 0.35, 0.15]) + noise
    x[:3, 0] = np.nan  # incomplete rows are dropped
    m = fit_har(x, y)
    np.testing.assert_allclose(m.coef, [0.4, 0.35, 0.15], atol=0.03)
    assert m.smearing == pytest.approx(np.exp(0.5**2 / 2), rel=0.03)  # lognormal mean
    pred = m.predict_variance(x[10:12, cols])
    np.testing.assert_allclose(pred, np.exp(m.predict_log(x[10:12, cols])) * m.smearing)
    with pytest.raises(ValueError, match="needs >= 10 complete rows"):
        fit_har(x[:5], y[:5])


def test_model_files_round_trip(tmp_path) -> None:
    lin = LinearLogModel(
        feature_names=("log_rv_24h",),
        coef=(0.9,),
        intercept=0.1,
        center=(0.0,),
        scale=(1.0,),
        smearing=1.2,
    )
    write_model(tmp_path / "lin.json", lin, {"note": "x"})
    back, meta = read_model(tmp_path / "lin.json")
    assert back == lin and meta == {"note": "x"}
    g = GarchParams(omega=1e-6, alpha=0.05, beta=0.9)
    write_model(tmp_path / "garch_btc.json", g, {})
    assert load_garch("BTC", tmp_path) == g
    bad = json.loads((tmp_path / "lin.json").read_text())
    bad["format_version"] = 99
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    with pytest.raises(ValueError, match="format_version must be 1"):
        read_model(tmp_path / "bad.json")
    with pytest.raises(ValueError, match="not found"):
        read_model(tmp_path / "missing.json")


@pytest.mark.parametrize("name", ["har", "ridge", "hgb", "garch_btc", "garch_eth"])
def test_shipped_models_load_with_metadata(name) -> None:
    model, meta = read_model(MODELS_DIR / f"{name}.json")
    for key in (
        "data_range_utc",
        "features",
        "horizon_hours",
        "versions",
        "fitted_utc",
        "heldout_metrics",
    ):
        assert key in meta, key
    assert meta["versions"]["scikit-learn"] and meta["versions"]["arch"]
    assert meta["data_range_utc"][1] < "2021-06-11"  # trained before the held-out CoinGecko data
    if isinstance(model, (LinearLogModel, TreeEnsembleModel)):
        assert set(model.feature_names) <= set(FEATURE_NAMES)
        assert list(model.feature_names) == meta["features"]
        assert model.horizon_hours == meta["horizon_hours"] == 24
    assert load_model(name) is not None


def test_linear_log_model_validation() -> None:
    with pytest.raises(ValueError, match=r"LinearLogModel.coef: must be 2 finite values"):
        LinearLogModel(
            feature_names=("a", "b"),
            coef=(1.0,),
            intercept=0.0,
            center=(0.0, 0.0),
            scale=(1.0, 1.0),
            smearing=1.0,
        )
    with pytest.raises(ValueError, match=r"LinearLogModel.smearing: must be finite and > 0"):
        LinearLogModel(
            feature_names=("a",),
            coef=(1.0,),
            intercept=0.0,
            center=(0.0,),
            scale=(1.0,),
            smearing=0.0,
        )
    with pytest.raises(ValueError, match=r"TreeEnsembleModel.arrays: missing"):
        TreeEnsembleModel(feature_names=("a",), baseline=0.0, smearing=1.0, arrays={})
