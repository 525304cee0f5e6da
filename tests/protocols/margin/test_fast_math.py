"""The vectorisable ``exp``, ``ln`` and ``N(x)`` of ``fast_math`` against libm and SciPy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import ndtr

from protocols.margin.fast_math import exp_into, log_positive_into, norm_cdf_given_exp


def test_norm_cdf_given_exp_matches_erfc_in_both_tails():
    x = np.concatenate([np.linspace(-40.0, 40.0, 160_001), [0.0, -0.0, 0.46875 * 2**0.5]])
    got = np.array([norm_cdf_given_exp(v, math.exp(-0.5 * v * v)) for v in x[::7]])
    xs = x[::7]
    ref = np.array([0.5 * math.erfc(-v / math.sqrt(2.0)) for v in xs])
    body = np.abs(xs) <= 10.0
    np.testing.assert_allclose(got[body], ref[body], rtol=2e-14, atol=0.0)
    tail = (np.abs(xs) > 10.0) & (ref > 1e-300)
    np.testing.assert_allclose(got[tail], ref[tail], rtol=1e-12, atol=0.0)  # e's own rounding
    np.testing.assert_allclose(got, ndtr(xs), rtol=1e-12, atol=1e-300)
    assert norm_cdf_given_exp(math.inf, 0.0) == 1.0
    assert norm_cdf_given_exp(-math.inf, 0.0) == 0.0


@pytest.mark.parametrize("seed", [0, 1])
def test_exp_within_one_ulp_of_libm_and_zero_below_the_normal_range(seed):
    rng = np.random.default_rng(seed)
    arg = np.concatenate(
        [
            -rng.exponential(40.0, 5000),
            rng.uniform(-708.0, 709.0, 5000),
            rng.uniform(-1.0, 1.0, 5000),
            [0.0, -0.0, -708.0, 709.0, -745.0, -1e6],
        ]
    )
    got = exp_into(arg, np.full_like(arg, -1.0))
    normal = arg >= -708.0
    np.testing.assert_array_max_ulp(got[normal], np.exp(arg[normal]), maxulp=1)
    assert (got[~normal] == 0.0).all()
    assert got[np.flatnonzero(arg == 0.0)].tolist() == [1.0, 1.0]


def test_exp_clamps_above_709_instead_of_overflowing():
    got = exp_into(np.array([709.0, 710.0, 1e6]), np.empty(3))
    assert np.all(np.isfinite(got)) and np.all(got == math.exp(709.0))


def test_log_within_one_ulp_of_libm_over_the_whole_normal_range():
    rng = np.random.default_rng(3)
    x = np.concatenate(
        [
            np.exp(rng.uniform(-700.0, 700.0, 20_000)),
            rng.uniform(0.5, 2.0, 20_000),  # around 1, where log cancels
            1.0 + rng.normal(0.0, 1e-9, 2000),
            [
                1.0,
                2.0,
                0.5,
                math.sqrt(2.0),
                np.nextafter(math.sqrt(2.0), 2.0),
                2.2250738585072014e-308,
            ],
            [np.finfo(float).max],
        ]
    )
    got = log_positive_into(x, np.empty_like(x))
    np.testing.assert_array_max_ulp(got, np.log(x), maxulp=1)
    assert got[np.flatnonzero(x == 1.0)[0]] == 0.0  # exactly: neutral rows of the kernel


@settings(max_examples=300, deadline=None)
@given(st.floats(min_value=2.2250738585072014e-308, max_value=1e308))
def test_log_property_within_one_ulp(x):
    got = log_positive_into(np.array([x]), np.empty(1))[0]
    np.testing.assert_array_max_ulp(np.array([got]), np.array([math.log(x)]), maxulp=1)


@settings(max_examples=300, deadline=None)
@given(st.floats(min_value=-708.0, max_value=709.0))
def test_exp_property_within_one_ulp(a):
    got = exp_into(np.array([a]), np.empty(1))[0]
    np.testing.assert_array_max_ulp(np.array([got]), np.array([math.exp(a)]), maxulp=1)
