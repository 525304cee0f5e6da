"""Parameters of the lending market (Aave v3 rules, DOMAIN.md A5): frozen, validated."""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = [
    "CollateralParams",
    "LendingParams",
    "RateCurve",
    "default_lending_params",
]


def _finite(cls: str, name: str, value: float) -> None:
    if not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{cls}.{name}: must be a finite number, got {value!r}")


def _in_range(cls: str, name: str, value: float, lo: float, hi: float, rule: str) -> None:
    _finite(cls, name, value)
    ok = {
        "[]": lo <= value <= hi,
        "(]": lo < value <= hi,
        "[)": lo <= value < hi,
        "()": lo < value < hi,
    }[rule]
    if not ok:
        raise ValueError(
            f"{cls}.{name}: must be in {rule[0]}{lo:g}, {hi:g}{rule[1]}, got {value!r}"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class RateCurve:
    """Kinked borrow-rate curve of the debt asset, in the Compound v3 (Comet) form.

    Parameters
    ----------
    base_rate_per_year
        Borrow rate at zero utilisation.
    slope1_per_year
        Rate added per unit of utilisation below the kink (Comet ``...SlopeLow``).
    slope2_per_year
        Rate added per unit of utilisation above the kink (Comet ``...SlopeHigh``).
    optimal_utilisation
        The kink, in (0, 1).

    Notes
    -----
    Comet ``getBorrowRate``: ``r(U) = base + s1 * min(U, kink) + s2 * max(U - kink, 0)``. Aave's
    ``DefaultReserveInterestRateStrategy`` uses slopes reached *at* the kink and at ``U = 1``; the
    same curve in Aave's terms has ``slope1_aave = s1 * kink``, ``slope2_aave = s2 * (1 - kink)``.
    """

    base_rate_per_year: float
    slope1_per_year: float
    slope2_per_year: float
    optimal_utilisation: float

    def __post_init__(self) -> None:
        for name in ("base_rate_per_year", "slope1_per_year", "slope2_per_year"):
            _in_range("RateCurve", name, getattr(self, name), 0.0, math.inf, "[)")
        _in_range("RateCurve", "optimal_utilisation", self.optimal_utilisation, 0.0, 1.0, "()")

    def borrow_rate_per_year(self, utilisation: float) -> float:
        """Borrow rate (per year, simple) at ``utilisation`` in [0, 1]."""
        kink = self.optimal_utilisation
        rate = self.base_rate_per_year + self.slope1_per_year * min(utilisation, kink)
        if utilisation > kink:
            rate += self.slope2_per_year * (utilisation - kink)
        return rate


@dataclass(frozen=True, slots=True, kw_only=True)
class CollateralParams:
    """Risk parameters of one collateral asset.

    Parameters
    ----------
    asset
        Ledger symbol (``"ETH"``, ``"BTC"``).
    ltv
        Loan-to-value: borrowing limit as a fraction of collateral value.
    liquidation_threshold
        ``LT``: collateral weight in the health factor. Aave requires ``ltv <= LT``.
    liquidation_bonus
        Collateral paid per unit of debt repaid, e.g. ``1.05`` (+5%). Aave requires ``LB > 1`` and
        ``LT * LB <= 1`` (PoolConfigurator.configureReserveAsCollateral).
    liquidation_protocol_fee_frac
        Share of the bonus that goes to the treasury.
    """

    asset: str
    ltv: float
    liquidation_threshold: float
    liquidation_bonus: float
    liquidation_protocol_fee_frac: float = 0.10

    def __post_init__(self) -> None:
        if not isinstance(self.asset, str) or not self.asset:
            raise ValueError(f"CollateralParams.asset: must be a non-empty str, got {self.asset!r}")
        _in_range(
            "CollateralParams", "liquidation_threshold", self.liquidation_threshold, 0.0, 1.0, "(]"
        )
        _in_range("CollateralParams", "ltv", self.ltv, 0.0, self.liquidation_threshold, "[]")
        _in_range(
            "CollateralParams", "liquidation_bonus", self.liquidation_bonus, 1.0, math.inf, "()"
        )
        _in_range(
            "CollateralParams",
            "liquidation_protocol_fee_frac",
            self.liquidation_protocol_fee_frac,
            0.0,
            1.0,
            "[]",
        )
        if self.liquidation_threshold * self.liquidation_bonus > 1.0 + 1e-12:
            raise ValueError(
                "CollateralParams.liquidation_bonus: must satisfy liquidation_threshold * "
                f"liquidation_bonus <= 1, got {self.liquidation_threshold!r} * "
                f"{self.liquidation_bonus!r}"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class LendingParams:
    """All parameters of a :class:`~protocols.lending.LendingMarket`.

    Parameters
    ----------
    debt_asset
        The one borrowable asset (also the supplied asset).
    collateral
        Risk parameters per collateral asset (order = column order of the collateral arrays).
    rate
        Borrow-rate curve of the debt asset.
    reserve_factor
        Share of borrow interest minted to the treasury (as receipt shares).
    close_factor
        Share of the debt one liquidation may repay while ``HF > close_factor_hf_threshold``.
    close_factor_hf_threshold
        At or below this HF the whole debt may be repaid.
    min_base_max_close_factor_usd
        If the collateral or the debt position is below this (USD), the whole debt may be repaid.
    min_leftover_usd
        A partial liquidation must leave at least this much of both debt and collateral (USD).
    ltv_scale
        Governed multiplier on every LTV (``ltv * ltv_scale`` must stay ``<= LT``).
    """

    debt_asset: str = "USDC"
    collateral: tuple[CollateralParams, ...]
    rate: RateCurve
    reserve_factor: float = 0.10
    close_factor: float = 0.5  # DEFAULT_LIQUIDATION_CLOSE_FACTOR, Aave v3.3, DOMAIN.md A5 [S]
    close_factor_hf_threshold: float = 0.95  # CLOSE_FACTOR_HF_THRESHOLD = 0.95e18, A5 [S]
    min_base_max_close_factor_usd: float = 2000.0  # MIN_BASE_MAX_CLOSE_FACTOR_THRESHOLD, A5 [S]
    min_leftover_usd: float = 1000.0  # MIN_LEFTOVER_BASE, A5 [S]
    ltv_scale: float = 1.0

    def __post_init__(self) -> None:
        if not isinstance(self.debt_asset, str) or not self.debt_asset:
            raise ValueError(
                f"LendingParams.debt_asset: must be a non-empty str, got {self.debt_asset!r}"
            )
        if (
            not isinstance(self.collateral, tuple)
            or not self.collateral
            or not all(isinstance(c, CollateralParams) for c in self.collateral)
        ):
            raise ValueError(
                "LendingParams.collateral: must be a non-empty tuple of CollateralParams, "
                f"got {self.collateral!r}"
            )
        assets = [c.asset for c in self.collateral]
        if len(set(assets)) != len(assets) or self.debt_asset in assets:
            raise ValueError(
                "LendingParams.collateral: assets must be unique and differ from debt_asset "
                f"{self.debt_asset!r}, got {assets}"
            )
        if not isinstance(self.rate, RateCurve):
            raise ValueError(f"LendingParams.rate: must be a RateCurve, got {self.rate!r}")
        _in_range("LendingParams", "reserve_factor", self.reserve_factor, 0.0, 1.0, "[)")
        _in_range("LendingParams", "close_factor", self.close_factor, 0.0, 1.0, "(]")
        _in_range(
            "LendingParams",
            "close_factor_hf_threshold",
            self.close_factor_hf_threshold,
            0.0,
            1.0,
            "(]",
        )
        _in_range(
            "LendingParams",
            "min_base_max_close_factor_usd",
            self.min_base_max_close_factor_usd,
            0.0,
            math.inf,
            "[)",
        )
        _in_range("LendingParams", "min_leftover_usd", self.min_leftover_usd, 0.0, math.inf, "[)")
        _in_range("LendingParams", "ltv_scale", self.ltv_scale, 0.0, math.inf, "()")
        for c in self.collateral:
            if c.ltv * self.ltv_scale > c.liquidation_threshold + 1e-12:
                raise ValueError(
                    f"LendingParams.ltv_scale: must keep ltv * ltv_scale <= liquidation_threshold "
                    f"for {c.asset} ({c.ltv!r} * {self.ltv_scale!r} > {c.liquidation_threshold!r})"
                )

    @property
    def collateral_assets(self) -> tuple[str, ...]:
        """Collateral symbols, in column order."""
        return tuple(c.asset for c in self.collateral)


def default_lending_params() -> LendingParams:
    """Aave-v3-style USDC market with ETH and BTC collateral, from DOMAIN.md A5 sources."""
    eth = CollateralParams(
        asset="ETH",
        ltv=0.80,  # Chaos Labs WETH target LTV 80% (ARFC 18997), DOMAIN.md A5 [S]
        liquidation_threshold=0.83,  # Chaos Labs WETH target LT 83% (ARFC 18997), A5 [S]
        liquidation_bonus=1.05,  # live WETH LB ~5% [R]; the A5 worked example uses 1.05 [C]
        liquidation_protocol_fee_frac=0.10,  # 10% of the bonus (Gauntlet v3 recs), A5 [S]
    )
    btc = CollateralParams(
        asset="BTC",
        ltv=0.72,  # Gauntlet initial v3 Ethereum recs, WBTC 72/82/5.2% (t/10238/22), A5 [S]
        liquidation_threshold=0.82,
        liquidation_bonus=1.052,
        liquidation_protocol_fee_frac=0.10,
    )
    # Borrow curve of Compound v3 cUSDCv3 mainnet (kink 0.8, base 1.5%, slope low 3.5%, slope high
    # 25%), DOMAIN.md A5 [S] (compound-finance/comet deployments/mainnet/usdc/configuration.json).
    rate = RateCurve(
        base_rate_per_year=0.015,
        slope1_per_year=0.035,
        slope2_per_year=0.25,
        optimal_utilisation=0.80,
    )
    # Reserve factor 10%: Gauntlet initial v3 recs (RF 10% for WETH), DOMAIN.md A5 [S].
    return LendingParams(debt_asset="USDC", collateral=(eth, btc), rate=rate, reserve_factor=0.10)
