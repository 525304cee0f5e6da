import math
from pathlib import Path

import numpy as np
import pytest

from protocols.risk.garch import (
    GarchForecaster,
    GarchParams,
    fit_garch_arch,
    fit_garch_mle,
    garch_backcast,
    garch_forecast_sum,
    garch_nll,
    garch_variance,
)

pytest.importorskip("arch")


def reference_variance(r, omega, alpha, beta, backcast):
    """Pure-Python twin of the numba recursion."""
    out, h = [], omega + (alpha + beta) * backcast
    for x in r:
        out.append(h)
        h = omega + alpha * x * x + beta * h
    return np.array(out)


def simulate(rng, n, omega, alpha, beta):
    r, h = np.empty(n), omega / (1 - alpha - beta)
    for t in range(n):
        r[t] = math.sqrt(h) * rng.standard_normal()
        h = omega + alpha * r[t] ** 2 + beta * h
    return r


@pytest.fixture(scope="module")
def btc_returns() -> np.ndarray:
    """8,000 real Binance BTC hourly log returns (2017-08 to 2018-07)."""
    import pandas as pd

    data = Path(__file__).resolve().parents[3] / "experiments" / "scenarios" / "data"
    close = pd.read_csv(data / "btc_usdt_1h_2017-2021.csv.gz")["close"].to_numpy()
    return np.diff(np.log(close[:8001]))


def test_garch_kernel_matches_python_twin_and_likelihood() -> None:
    rng = np.random.default_rng(0)
    r = rng.normal(0, 0.01, 500)
    args = (2e-6, 0.07, 0.9, garch_backcast(r))
    s2 = garch_variance(r, *args)
    np.testing.assert_allclose(s2, reference_variance(r, *args), rtol=1e-14)
    nll = 0.5 * np.mean(np.log(2 * np.pi) + np.log(s2) + r**2 / s2)
    assert garch_nll(r, *args) == pytest.approx(nll, rel=1e-12)
    assert garch_nll.py_func(r, *args) == pytest.approx(nll, rel=1e-12)


def test_garch_recursion_matches_arch_conditional_volatility(btc_returns) -> None:
    from arch import arch_model

    x = btc_returns * 100.0
    am = arch_model(x, mean="Zero", vol="GARCH", p=1, q=1, rescale=False)
    params = np.array([0.02, 0.08, 0.9])
    res = am.fix(params)
    assert garch_backcast(x) == pytest.approx(am.volatility.backcast(x), rel=1e-12)
    ours = np.sqrt(garch_variance(x, *params, garch_backcast(x)))
    np.testing.assert_allclose(ours, res.conditional_volatility, rtol=1e-10)
    assert -garch_nll(x, *params, garch_backcast(x)) * len(x) == pytest.approx(
        res.loglikelihood, rel=1e-10
    )


@pytest.mark.parametrize("source", ["simulated", "btc"])
def test_garch_mle_agrees_with_arch(source, btc_returns) -> None:
    if source == "simulated":
        r = simulate(np.random.default_rng(3), 20_000, 4e-7, 0.06, 0.92)
    else:
        r = btc_returns
    ours, theirs = fit_garch_mle(r), fit_garch_arch(r)
    assert ours.alpha == pytest.approx(theirs.alpha, abs=2e-3)
    assert ours.beta == pytest.approx(theirs.beta, abs=2e-3)
    assert ours.long_run_variance == pytest.approx(theirs.long_run_variance, rel=0.05)
    x = r * 100
    nll_ours = garch_nll(x, ours.omega * 1e4, ours.alpha, ours.beta, garch_backcast(x))
    nll_arch = garch_nll(x, theirs.omega * 1e4, theirs.alpha, theirs.beta, garch_backcast(x))
    assert nll_ours <= nll_arch + 1e-7
    if source == "simulated":  # and both recover the truth
        assert ours.alpha == pytest.approx(0.06, abs=0.01)
        assert ours.beta == pytest.approx(0.92, abs=0.015)


def test_garch_forecast_sum_matches_iterated_forecasts() -> None:
    p = GarchParams(omega=1e-6, alpha=0.08, beta=0.9)
    s2, terms = 5e-5, []
    for _ in range(30):
        terms.append(s2)
        s2 = p.omega + p.persistence * s2  # E[r^2] = sigma2
    assert garch_forecast_sum(5e-5, p, 24.0) == pytest.approx(sum(terms[:24]), rel=1e-12)
    assert garch_forecast_sum(5e-5, p, 2.5) == pytest.approx(terms[0] + terms[1] + 0.5 * terms[2])
    total = garch_forecast_sum(p.long_run_variance, p, 7.0)
    assert total == pytest.approx(7 * p.long_run_variance)


def test_garch_forecaster_online_matches_kernel_on_hourly_returns() -> None:
    rng = np.random.default_rng(5)
    r = rng.normal(0, 0.01, 300)
    p = GarchParams(omega=2e-6, alpha=0.07, beta=0.9)
    f = GarchForecaster(initial_vol_annual=0.6, params=p)
    for x in r:
        f.update(float(x), 3600.0)
    v0 = 0.36 * 3600 / (365 * 86400)
    h = v0
    for x in r:
        h = p.omega + p.alpha * x * x + p.beta * h
    assert f.sigma2_next == pytest.approx(h, rel=1e-12)
    assert f.forecast_variance(86_400.0) == pytest.approx(garch_forecast_sum(h, p, 24.0))
    assert f.vol_annual == pytest.approx(math.sqrt(h * 24 * 365))
    with pytest.raises(ValueError, match="horizon_seconds must be finite and >= 0"):
        f.forecast_variance(-1.0)


def test_garch_params_validation() -> None:
    with pytest.raises(ValueError, match=r"GarchParams.omega: must be > 0"):
        GarchParams(omega=0.0, alpha=0.1, beta=0.8)
    with pytest.raises(ValueError, match=r"GarchParams.alpha \+ beta: must be < 1"):
        GarchParams(omega=1e-6, alpha=0.2, beta=0.8)
    with pytest.raises(ValueError, match=r"GarchParams.beta: must be >= 0"):
        GarchParams(omega=1e-6, alpha=0.2, beta=-0.1)
    with pytest.raises(ValueError, match=r"fit_garch_mle.returns: must be 1-d with >= 100"):
        fit_garch_mle(np.zeros(10))
