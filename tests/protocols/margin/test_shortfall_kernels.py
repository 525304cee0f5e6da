"""Expected-shortfall margin: estimator by hand, kernel vs reference, historical scenarios."""

from __future__ import annotations

import numpy as np
import pytest

from protocols.margin.book import InstrumentKind, PositionBook
from protocols.margin.margin_references import expected_shortfall_ref, random_book
from protocols.margin.shortfall_kernels import (
    expected_shortfall,
    expected_shortfall_margin,
    overlapping_log_returns,
)

F = 60_000.0


def test_expected_shortfall_estimator_by_hand():
    losses = np.arange(100.0, 0.0, -1.0)  # 100, 99, ..., 1
    # m = 2.5: (100 + 99 + 0.5 x 98) / 2.5
    assert expected_shortfall(losses, 0.975) == pytest.approx(99.2)
    assert expected_shortfall(losses, 0.99) == pytest.approx(100.0)
    assert expected_shortfall(losses, 0.995) == pytest.approx(100.0)  # m < 1: the worst loss
    assert expected_shortfall(losses, 0.9) == pytest.approx(np.mean(np.arange(100.0, 90.0, -1)))


def test_single_future_es_is_tail_mean_of_its_losses():
    book = PositionBook(
        account=np.array([0]),
        kind=np.array([int(InstrumentKind.FUTURE)]),
        size_base=np.array([-2.0]),
        strike_usd=np.array([0.0]),
        t_years=np.array([0.0]),
        iv=np.array([0.0]),
        n_accounts=1,
    )
    r = np.linspace(-0.2, 0.2, 400)
    res = expected_shortfall_margin(book, F, r)
    loss = np.sort(2.0 * F * (np.exp(r) - 1.0))[::-1]
    assert res.es_usd[0] == pytest.approx(loss[:10].mean(), rel=1e-12)
    assert res.worst_loss_usd[0] == pytest.approx(loss[0], rel=1e-12)
    assert res.margin_usd[0] == res.es_usd[0] and res.level == 0.975


@pytest.mark.parametrize(("seed", "n", "n_accounts"), [(1, 0, 2), (2, 1, 1), (3, 1500, 200)])
@pytest.mark.parametrize(
    ("with_vol", "horizon_days", "level"), [(False, 0.0, 0.975), (True, 1.0, 0.99)]
)
def test_shortfall_kernel_matches_numpy_reference(
    seed, n, n_accounts, with_vol, horizon_days, level
):
    rng = np.random.default_rng(seed)
    book = random_book(rng, n, n_accounts, F)
    r = rng.standard_t(4, 300) * 0.03
    v = -2.0 * r + rng.normal(0, 0.05, 300) if with_vol else np.zeros(300)
    res = expected_shortfall_margin(
        book, F, r, vol_log_changes=v if with_vol else None, level=level, horizon_days=horizon_days
    )
    ref = expected_shortfall_ref(book, F, r, v, level, horizon_days)
    np.testing.assert_allclose(res.es_usd, ref, rtol=1e-10, atol=1e-6)
    assert (res.margin_usd >= 0.0).all()
    np.testing.assert_allclose(res.margin_usd, np.maximum(res.es_usd, 0.0))
    assert (res.worst_loss_usd >= res.es_usd - 1e-9).all()


def test_overlapping_log_returns():
    p = np.array([100.0, 110.0, 99.0, 120.0])
    np.testing.assert_allclose(overlapping_log_returns(p, 1), np.diff(np.log(p)))
    np.testing.assert_allclose(overlapping_log_returns(p, 2), np.log([99 / 100, 120 / 110]))
    with pytest.raises(ValueError, match=r"overlapping_log_returns\.horizon_steps: must be in"):
        overlapping_log_returns(p, 4)
    with pytest.raises(ValueError, match=r"overlapping_log_returns\.prices_usd"):
        overlapping_log_returns(np.array([1.0, -1.0]), 1)


def test_expected_shortfall_margin_rejects_bad_input():
    book = random_book(np.random.default_rng(0), 3, 1, F)
    r = np.zeros(10)
    with pytest.raises(ValueError, match=r"expected_shortfall_margin\.level: must be in"):
        expected_shortfall_margin(book, F, r, level=1.0)
    with pytest.raises(ValueError, match=r"expected_shortfall_margin\.spot_log_returns"):
        expected_shortfall_margin(book, F, np.array([]))
    with pytest.raises(ValueError, match=r"expected_shortfall_margin\.vol_log_changes"):
        expected_shortfall_margin(book, F, r, vol_log_changes=np.zeros(3))
    with pytest.raises(ValueError, match=r"expected_shortfall_margin\.forward_usd"):
        expected_shortfall_margin(book, -1.0, r)
