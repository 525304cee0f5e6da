"""Hagan (2002) lognormal SABR: pysabr test vectors (DOMAIN.md B2), ATM limit, calibration."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.margin.sabr import (
    SabrFit,
    SabrParams,
    calibrate_sabr,
    sabr_lognormal_vol,
    sabr_lognormal_vols,
)

# pysabr tests/hagan_2002_lognormal_sabr/test_interpolation.py (DOMAIN.md B2 [S])
SMILE_STRIKES_PCT = np.array(
    [
        -0.4729,
        0.5271,
        1.0271,
        1.5271,
        1.7771,
        2.0271,
        2.2771,
        2.4021,
        2.5271,
        2.6521,
        2.7771,
        3.0271,
        3.2771,
        3.5271,
        4.0271,
        4.5271,
        5.5271,
    ]
)
SMILE_VOLS_PCT = np.array(
    [
        19.641923,
        15.785344,
        14.305103,
        13.073869,
        12.550007,
        12.088721,
        11.691661,
        11.517660,
        11.360133,
        11.219058,
        11.094293,
        10.892464,
        10.750834,
        10.663653,
        10.623862,
        10.714479,
        11.103755,
    ]
)


def _textbook_vol(k, f, t, alpha, beta, rho, nu):
    """DOMAIN.md B2 written out literally (fine away from K = F and |rho| = 1)."""
    b = 1.0 - beta
    lfk = math.log(f / k)
    fk = f * k
    z = nu / alpha * fk ** (b / 2) * lfk
    x = math.log((math.sqrt(1 - 2 * rho * z + z * z) + z - rho) / (1 - rho))
    denom = fk ** (b / 2) * (1 + b**2 / 24 * lfk**2 + b**4 / 1920 * lfk**4)
    corr = (
        1
        + (
            b**2 * alpha**2 / (24 * fk**b)
            + rho * beta * nu * alpha / (4 * fk ** (b / 2))
            + (2 - 3 * rho**2) * nu**2 / 24
        )
        * t
    )
    return alpha / denom * (z / x) * corr


def test_sabr_pysabr_shifted_vector():
    vol = sabr_lognormal_vol(
        0.0302715567337258,
        0.0252715567337258,
        10.0,
        0.0252982247897366,
        0.5,
        -0.246333975445481,
        0.290846563252973,
        0.03,
    )
    assert vol * 100 == pytest.approx(10.8917434151064, rel=1e-12)


def test_sabr_pysabr_degenerate_vector():
    assert sabr_lognormal_vol(0.01, 0.03, 10.0, 0.02, 1.0, 0.0, 0.0, 0.0) == pytest.approx(
        0.02, rel=1e-15
    )


def test_sabr_pysabr_17_strike_smile():
    vols = sabr_lognormal_vols(
        SMILE_STRIKES_PCT / 100, 0.025271, 10.0, 0.0253, 0.5, -0.2463, 0.2908, 0.03
    )
    # the table has 6 decimals; DOMAIN.md B2 reports a 4.7e-7 (vol %) max error
    assert np.max(np.abs(vols * 100 - SMILE_VOLS_PCT)) < 1e-6


def test_sabr_atm_limit_is_smooth_and_matches_closed_form():
    f, t, alpha, beta, rho, nu = 0.05, 2.0, 0.03, 0.6, -0.3, 0.5
    b = 1 - beta
    atm = (
        alpha
        / f**b
        * (
            1
            + (
                b**2 * alpha**2 / (24 * f ** (2 * b))
                + rho * beta * nu * alpha / (4 * f**b)
                + (2 - 3 * rho**2) * nu**2 / 24
            )
            * t
        )
    )
    assert sabr_lognormal_vol(f, f, t, alpha, beta, rho, nu, 0.0) == pytest.approx(atm, rel=1e-14)
    slope = (
        sabr_lognormal_vol(f * 1.001, f, t, alpha, beta, rho, nu, 0.0)
        - sabr_lognormal_vol(f * 0.999, f, t, alpha, beta, rho, nu, 0.0)
    ) / (0.002 * f)
    for eps in (1e-14, 1e-11, 1e-9, 1e-7, 1e-6, 1e-5):  # across the series / log1p switch
        for sign in (1.0, -1.0):
            k = f * (1 + sign * eps)
            vol = sabr_lognormal_vol(k, f, t, alpha, beta, rho, nu, 0.0)
            assert vol == pytest.approx(atm + slope * (k - f), rel=1e-9)


@settings(max_examples=200, deadline=None)
@given(
    st.floats(-1.5, 1.5).filter(lambda m: abs(m) > 1e-3),
    st.floats(0.01, 5.0),
    st.floats(0.05, 2.0),
    st.floats(0.0, 1.0),
    st.floats(-0.95, 0.95),
    st.floats(0.01, 5.0),
)
def test_sabr_matches_textbook_formula_away_from_the_money(mny, t, alpha, beta, rho, nu):
    f = 100.0
    k = f * math.exp(mny)
    a = alpha * f ** (1 - beta)  # keep the vol level O(alpha) whatever beta
    ours = sabr_lognormal_vol(k, f, t, a, beta, rho, nu, 0.0)
    assert ours == pytest.approx(_textbook_vol(k, f, t, a, beta, rho, nu), rel=1e-9)


def test_sabr_flat_smile_when_nu_is_zero_and_beta_one():
    k = np.linspace(50.0, 200.0, 31)
    np.testing.assert_allclose(
        sabr_lognormal_vols(k, 100.0, 1.0, 0.6, 1.0, -0.5, 0.0, 0.0), 0.6, rtol=1e-15
    )


def test_sabr_vectorized_matches_scalar_and_python_twin():
    k = np.linspace(60.0, 160.0, 41)
    args = (100.0, 0.5, 0.7, 1.0, -0.2, 1.5, 0.0)
    vec = sabr_lognormal_vols(k, *args)
    np.testing.assert_array_equal(vec, [sabr_lognormal_vol(x, *args) for x in k])
    np.testing.assert_allclose(vec, [sabr_lognormal_vol.py_func(x, *args) for x in k], rtol=1e-14)


def test_calibrate_sabr_recovers_known_parameters():
    truth = SabrParams(alpha=0.65, beta=1.0, rho=-0.25, nu=1.8)
    k = 60_000.0 * np.exp(np.linspace(-0.6, 0.5, 25))
    vols = truth.vols(k, forward=60_000.0, t_years=0.1)
    fit = calibrate_sabr(k, vols, forward=60_000.0, t_years=0.1, beta=1.0)
    assert isinstance(fit, SabrFit) and fit.converged and fit.n_quotes == 25
    assert fit.params.alpha == pytest.approx(truth.alpha, rel=1e-6)
    assert fit.params.rho == pytest.approx(truth.rho, abs=1e-6)
    assert fit.params.nu == pytest.approx(truth.nu, rel=1e-6)
    assert fit.rmse_vol < 1e-8 and fit.max_abs_error_vol < 1e-8


def test_calibrate_sabr_pysabr_smile_with_shift():
    fit = calibrate_sabr(
        SMILE_STRIKES_PCT / 100,
        SMILE_VOLS_PCT / 100,
        forward=0.025271,
        t_years=10.0,
        beta=0.5,
        shift=0.03,
    )
    assert fit.params.alpha == pytest.approx(0.0253, rel=1e-5)
    assert fit.params.rho == pytest.approx(-0.2463, abs=1e-4)
    assert fit.params.nu == pytest.approx(0.2908, rel=1e-4)
    assert fit.max_abs_error_vol < 1e-7


def test_calibrate_sabr_respects_floors():
    truth = SabrParams(alpha=0.6, beta=1.0, rho=0.0, nu=1.0)
    k = 100.0 * np.exp(np.linspace(-0.4, 0.4, 15))
    vols = truth.vols(k, forward=100.0, t_years=0.25)
    floor_k = np.array([70.0, 140.0])
    floor_vol = truth.vols(floor_k, forward=100.0, t_years=0.25) + 0.05  # above the quotes' smile
    fit = calibrate_sabr(
        k, vols, forward=100.0, t_years=0.25, beta=1.0, floor_strike=floor_k, floor_vol=floor_vol
    )
    assert np.all(fit.params.vols(floor_k, forward=100.0, t_years=0.25) >= floor_vol - 1e-9)
    assert fit.rmse_vol > 1e-4  # the floors cost fit quality: they did bind


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"alpha": 0.0}, "SabrParams.alpha: must be > 0"),
        ({"beta": 1.5}, "SabrParams.beta: must be in [0, 1]"),
        ({"rho": 1.0}, "SabrParams.rho: must be in (-1, 1)"),
        ({"nu": -0.1}, "SabrParams.nu: must be >= 0"),
        ({"shift": -0.01}, "SabrParams.shift: must be >= 0"),
    ],
)
def test_sabr_params_validation_names_field_and_rule(kwargs, message):
    base = {"alpha": 0.5, "beta": 1.0, "rho": 0.0, "nu": 1.0}
    with pytest.raises(ValueError, match=re.escape(message)):
        SabrParams(**(base | kwargs))


def test_calibrate_sabr_rejects_bad_quotes():
    k = np.array([90.0, 100.0, 110.0])
    with pytest.raises(ValueError, match=r"calibrate_sabr\.strike: needs >= 3 quotes"):
        calibrate_sabr(k[:2], np.array([0.5, 0.5]), forward=100.0, t_years=1.0, beta=1.0)
    with pytest.raises(ValueError, match=r"calibrate_sabr\.vol: must be finite and > 0"):
        calibrate_sabr(k, np.array([0.5, -0.5, 0.5]), forward=100.0, t_years=1.0, beta=1.0)
    with pytest.raises(ValueError, match=r"calibrate_sabr\.vol: must be 1-D like strike"):
        calibrate_sabr(k, np.array([0.5, 0.5]), forward=100.0, t_years=1.0, beta=1.0)
