"""Validation of the perp parameter bundles: errors name the field and the rule."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from protocols.perp_params import (
    BINANCE_BTCUSDT_2021_TIERS,
    MarginTier,
    PerpCollateralParams,
    PerpMarketParams,
    PerpParams,
)


def _tier(**kw):
    base = {"notional_floor_usd": 0.0, "maintenance_margin_frac": 0.01, "max_leverage": 50.0}
    return MarginTier(**{**base, **kw})


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: _tier(notional_floor_usd=-1.0), r"MarginTier\.notional_floor_usd: must be finite"),
        (
            lambda: _tier(maintenance_margin_frac=0.0),
            r"MarginTier\.maintenance_margin_frac: must be in \(0, 1\]",
        ),
        (lambda: _tier(max_leverage=0.5), r"MarginTier\.max_leverage: must be finite and >= 1"),
        (lambda: _tier(max_leverage=200.0), r"MarginTier\.max_leverage: must be <= 1 / maint"),
        (
            lambda: PerpMarketParams(asset="ETH", tiers=()),
            r"PerpMarketParams\.tiers: must be a non-empty tuple",
        ),
        (
            lambda: PerpMarketParams(asset="ETH", tiers=(_tier(notional_floor_usd=10.0),)),
            r"PerpMarketParams\.tiers: must be starting at notional_floor_usd 0",
        ),
        (
            lambda: PerpMarketParams(asset="ETH", tiers=(_tier(), _tier())),
            r"PerpMarketParams\.tiers: must be strictly increasing",
        ),
        (
            lambda: PerpMarketParams(
                asset="ETH",
                tiers=(_tier(), _tier(notional_floor_usd=1.0, maintenance_margin_frac=0.005)),
            ),
            r"PerpMarketParams\.tiers: must be non-decreasing in maintenance_margin_frac",
        ),
        (
            lambda: PerpMarketParams(
                asset="ETH", tiers=(_tier(max_leverage=20.0), _tier(notional_floor_usd=1.0))
            ),
            r"PerpMarketParams\.tiers: must be non-increasing in max_leverage",
        ),
        (
            lambda: PerpMarketParams(asset="ETH", taker_fee_frac=-0.1),
            r"PerpMarketParams\.taker_fee_frac: must be in \[0, 0\.1\)",
        ),
        (
            lambda: PerpMarketParams(asset="ETH", skew_scale_usd=0.0),
            r"PerpMarketParams\.skew_scale_usd: must be finite and > 0",
        ),
        (
            lambda: PerpMarketParams(asset="ETH", max_premium_frac=1.0),
            r"PerpMarketParams\.max_premium_frac: must be in \[0, 1\)",
        ),
        (
            lambda: PerpCollateralParams(asset="ETH", haircut=1.2),
            r"PerpCollateralParams\.haircut: must be in \(0, 1\]",
        ),
        (lambda: PerpParams(markets=()), r"PerpParams\.markets: must be a non-empty tuple"),
        (
            lambda: PerpParams(markets=(PerpMarketParams(asset="ETH"),) * 2),
            r"PerpParams\.markets: must be unique by asset",
        ),
        (
            lambda: PerpParams(collateral=(PerpCollateralParams(asset="ETH", haircut=0.8),)),
            r"PerpParams\.collateral: must be including 'USDC'",
        ),
        (lambda: PerpParams(mm_scale=0.0), r"PerpParams\.mm_scale: must be finite and > 0"),
        (
            lambda: PerpParams(liquidation_fee_frac=0.6),
            r"PerpParams\.liquidation_fee_frac: must be in \[0, 0\.5\)",
        ),
        (
            lambda: PerpParams(liquidation_chunk_frac=0.0),
            r"PerpParams\.liquidation_chunk_frac: must be in \(0, 1\]",
        ),
        (
            lambda: PerpParams(funding_interval_seconds=0.0),
            r"PerpParams\.funding_interval_seconds: must be finite and > 0",
        ),
        (
            lambda: PerpParams(interest_rate_per_interval=0.5),
            r"PerpParams\.interest_rate_per_interval: must be in",
        ),
        (lambda: PerpParams(funding_clamp=-1.0), r"PerpParams\.funding_clamp: must be in"),
    ],
)
def test_params_validation_names_field_and_rule(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_params_defaults_binance_tiers_for_both_markets():
    params = PerpParams()
    assert params.market_assets == ("ETH", "BTC")
    assert all(m.tiers == BINANCE_BTCUSDT_2021_TIERS for m in params.markets)
    assert {c.asset: c.haircut for c in params.collateral} == {"USDC": 1.0, "ETH": 0.8, "BTC": 0.75}


def test_params_replace_revalidates_and_scales_tables():
    params = PerpParams()
    with pytest.raises(ValueError, match="mm_scale"):
        dataclasses.replace(params, mm_scale=-1.0)
    floors, mmr, cum, imr, n_tiers = dataclasses.replace(params, mm_scale=2.0).tier_arrays()
    base = params.tier_arrays()
    np.testing.assert_allclose(mmr[:, :10], 2.0 * base[1][:, :10])
    np.testing.assert_allclose(cum, 2.0 * base[2])
    np.testing.assert_allclose(imr, 2.0 * base[3])
    assert np.all(imr[:, :10] >= mmr[:, :10]) and n_tiers.tolist() == [10, 10]
    assert np.isinf(floors).sum() == 0
