"""Experiment declarations: frozen, keyword-only dataclasses validated on construction.

An :class:`ExperimentSpec` names a :class:`ScenarioSpec` (the world), its variants (named sets of
dotted-path overrides, e.g. static vs recalibrated margin), replications and a root seed. Every
validation error names the field and the rule.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from experiments.options_spec import OptionsSpec
from experiments.overrides import SpecError, apply_overrides
from experiments.overrides import require as _require
from experiments.recalibration_spec import RecalibrationSpec
from experiments.scenarios.replay import SyntheticGasParams
from protocols.amm import AmmParams
from protocols.governance import GovernanceParams
from protocols.lending_params import LendingParams, default_lending_params
from protocols.oracle import OracleParams
from protocols.perp import PerpParams

__all__ = [
    "PATH_MODELS",
    "AgentsSpec",
    "AmmSpec",
    "ExperimentSpec",
    "GasSpec",
    "MarketSpec",
    "ScenarioSpec",
    "VariantSpec",
    "spec_to_dict",
]

PATH_MODELS = ("gbm", "garch_t", "merton", "replay")


def _positive(path: str, value: float) -> None:
    _require(math.isfinite(value) and value > 0, path, "must be a finite number > 0", value)


def _frac(path: str, value: float, *, closed: bool = True) -> None:
    ok = 0.0 <= value <= 1.0 if closed else 0.0 < value < 1.0
    _require(ok, path, "must be in [0, 1]" if closed else "must be in (0, 1)", value)


@dataclass(frozen=True, slots=True, kw_only=True)
class MarketSpec:
    """Assets and the reference market's exogenous price paths and price impact.

    Defaults: ETH and BTC at 2024-ish levels; annual vols 75% / 60% (ETH runs 10-20 points above
    BTC, DOMAIN.md C [R]); correlation 0.8 (DOMAIN.md D); GARCH(1,1)-t at one-minute bars
    alpha 0.03, beta 0.965, nu 3.5 (DOMAIN.md C, calibrated [C]); Merton stress jumps lambda 20/yr,
    muJ -1%, sigmaJ 4% (DOMAIN.md C [R/C]). Impact: linear ``dp/p = -flow/depth`` (DOMAIN.md E);
    a depth of $2B means a $35M sale moves the price 1.75%, below Maker's measured 4% on-chain
    slippage (DOMAIN.md E [S]) because the reference market stands for all CEX books [R]. The
    depth must be large against the agents' own book: with a depth below the perp open interest a
    liquidation wave squeezes the price by multiples (a calibration error, not a finding).
    """

    assets: tuple[str, ...] = ("ETH", "BTC")
    initial_prices_usd: tuple[float, ...] = (3000.0, 60000.0)
    path_model: str = "garch_t"
    vol_annual: tuple[float, ...] = (0.75, 0.60)
    correlation: float = 0.8
    drift_annual: float = 0.0
    garch_alpha: float = 0.03
    garch_beta: float = 0.965
    garch_nu: float = 3.5
    jump_intensity_per_year: float = 20.0
    jump_mean: float = -0.01
    jump_vol: float = 0.04
    replay: str = ""
    impact_depth_usd: tuple[float, ...] = (2.0e9, 4.0e9)
    impact_half_life_seconds: float = 1800.0
    fee_frac: float = 0.0005

    def __post_init__(self) -> None:
        n = len(self.assets)
        _require(n >= 1, "MarketSpec.assets", "must name at least one asset", self.assets)
        _require(len(set(self.assets)) == n, "MarketSpec.assets", "must be unique", self.assets)
        _require(
            "USDC" not in self.assets,
            "MarketSpec.assets",
            "must not contain the stablecoin USDC",
            self.assets,
        )
        for name in ("initial_prices_usd", "vol_annual", "impact_depth_usd"):
            values = getattr(self, name)
            _require(
                len(values) == n,
                f"MarketSpec.{name}",
                f"must have one value per asset ({n})",
                values,
            )
            for i, v in enumerate(values):
                _positive(f"MarketSpec.{name}[{i}]", v)
        _require(
            self.path_model in PATH_MODELS,
            "MarketSpec.path_model",
            f"must be one of {', '.join(PATH_MODELS)}",
            self.path_model,
        )
        _require(
            -1.0 < self.correlation < 1.0,
            "MarketSpec.correlation",
            "must be in (-1, 1)",
            self.correlation,
        )
        _require(
            self.garch_alpha >= 0 and self.garch_beta >= 0,
            "MarketSpec.garch_alpha",
            "alpha and beta must be >= 0",
            (self.garch_alpha, self.garch_beta),
        )
        _require(
            self.garch_alpha + self.garch_beta < 1.0,
            "MarketSpec.garch_beta",
            "alpha + beta must be < 1 (stationary)",
            self.garch_alpha + self.garch_beta,
        )
        _require(
            self.garch_nu > 2.0,
            "MarketSpec.garch_nu",
            "must be > 2 (finite variance)",
            self.garch_nu,
        )
        _require(
            self.jump_intensity_per_year >= 0,
            "MarketSpec.jump_intensity_per_year",
            "must be >= 0",
            self.jump_intensity_per_year,
        )
        _require(self.jump_vol >= 0, "MarketSpec.jump_vol", "must be >= 0", self.jump_vol)
        _require(
            self.path_model != "replay" or bool(self.replay),
            "MarketSpec.replay",
            "must name a replay when path_model is 'replay'",
            self.replay,
        )
        _positive("MarketSpec.impact_half_life_seconds", self.impact_half_life_seconds)
        _require(
            0.0 <= self.fee_frac < 0.05,
            "MarketSpec.fee_frac",
            "must be in [0, 0.05)",
            self.fee_frac,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class AmmSpec:
    """One constant-product pool per asset against the stablecoin.

    ``liquidity_usd`` is the value of each pool (half per side). Uniswap v2 ETH/DAI held about
    $60-200M in 2020-2021 (the shipped reserves file, experiments/scenarios/data); one pool per
    asset stands for the on-chain liquidity liquidators sell into.
    """

    liquidity_usd: tuple[float, ...] = (150e6, 100e6)
    params: AmmParams = field(default_factory=AmmParams)

    def __post_init__(self) -> None:
        for i, v in enumerate(self.liquidity_usd):
            _positive(f"AmmSpec.liquidity_usd[{i}]", v)


@dataclass(frozen=True, slots=True, kw_only=True)
class GasSpec:
    """Gas price: a replayed series (``replay``, e.g. ``"gas-2020-03-12"``) or, when empty, the
    synthetic model that rises with realised volatility (``synthetic``; Black Thursday showed ~6x,
    DOMAIN.md F). A price replay with a matching gas file uses it when ``replay`` is ``"auto"``.
    """

    replay: str = "auto"
    synthetic: SyntheticGasParams = field(default_factory=SyntheticGasParams)


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentsSpec:
    """Agent counts, endowments (lognormal, median and log-sd) and behaviour parameters."""

    n_perp_traders: int = 1300
    trader_strategy_mix: tuple[float, ...] = (0.35, 0.25, 0.40)  # trend, mean-reversion, noise
    trader_capital_median_usd: float = 20_000.0
    trader_capital_sigma: float = 1.2
    trader_leverage_max: float = 20.0
    trader_multi_asset_frac: float = 0.3
    trader_period_seconds: float = 3600.0
    n_borrowers: int = 500
    borrower_capital_median_usd: float = 100_000.0
    borrower_capital_sigma: float = 1.5
    borrower_loop_frac: float = 0.2
    borrower_max_loops: int = 4
    borrower_target_ltv_range: tuple[float, ...] = (0.5, 0.97)
    borrower_attentive_frac: float = 0.5
    borrower_period_seconds: float = 4 * 3600.0
    n_suppliers: int = 250
    supplier_capital_median_usd: float = 1_000_000.0
    supplier_capital_sigma: float = 1.0
    supplier_run_utilisation: float = 0.97
    supplier_run_loss_frac: float = 0.001
    supplier_period_seconds: float = 2 * 3600.0
    n_liquidators: int = 25
    liquidator_capital_median_usd: float = 500_000.0
    liquidator_capital_sigma: float = 1.0
    liquidator_gas_units: float = 400_000.0
    liquidator_min_profit_usd: float = 10.0
    liquidator_max_per_step: int = 3
    n_arbitrageurs: int = 6
    arbitrageur_capital_usd: float = 10_000_000.0
    arbitrageur_gas_units: float = 150_000.0
    arbitrageur_min_profit_usd: float = 5.0
    # honest keepers: they watch every step and run their policy every keeper_period_seconds (and
    # on triggers); keeper_half_life_seconds is their EWMA forecaster's; recalibrate=False mutes
    # them (they forecast, submit nothing). What they decide is ScenarioSpec.recalibration.
    n_keepers: int = 3
    keeper_period_seconds: float = 600.0
    keeper_half_life_seconds: float = 6 * 3600.0
    recalibrate: bool = False

    def __post_init__(self) -> None:
        for name in (
            "n_perp_traders",
            "n_borrowers",
            "n_suppliers",
            "n_liquidators",
            "n_arbitrageurs",
            "n_keepers",
            "borrower_max_loops",
        ):
            _require(
                getattr(self, name) >= 0, f"AgentsSpec.{name}", "must be >= 0", getattr(self, name)
            )
        _require(
            self.liquidator_max_per_step >= 1,
            "AgentsSpec.liquidator_max_per_step",
            "must be >= 1",
            self.liquidator_max_per_step,
        )
        mix = self.trader_strategy_mix
        _require(
            len(mix) == 3 and all(m >= 0 for m in mix) and abs(sum(mix) - 1.0) < 1e-9,
            "AgentsSpec.trader_strategy_mix",
            "must be three non-negative fractions (trend, mean-reversion, noise) summing to 1",
            mix,
        )
        lo_hi = self.borrower_target_ltv_range
        _require(
            len(lo_hi) == 2 and 0.0 < lo_hi[0] <= lo_hi[1] <= 1.0,
            "AgentsSpec.borrower_target_ltv_range",
            "must be (low, high) with 0 < low <= high <= 1",
            lo_hi,
        )
        for name in (
            "trader_multi_asset_frac",
            "borrower_loop_frac",
            "borrower_attentive_frac",
            "supplier_run_utilisation",
            "supplier_run_loss_frac",
        ):
            _frac(f"AgentsSpec.{name}", getattr(self, name))
        for name in (
            "trader_capital_median_usd",
            "borrower_capital_median_usd",
            "supplier_capital_median_usd",
            "liquidator_capital_median_usd",
            "arbitrageur_capital_usd",
            "trader_period_seconds",
            "borrower_period_seconds",
            "supplier_period_seconds",
            "keeper_period_seconds",
            "keeper_half_life_seconds",
            "liquidator_gas_units",
            "arbitrageur_gas_units",
        ):
            _positive(f"AgentsSpec.{name}", getattr(self, name))
        _require(
            self.trader_leverage_max >= 1.0,
            "AgentsSpec.trader_leverage_max",
            "must be >= 1",
            self.trader_leverage_max,
        )

    @property
    def n_total(self) -> int:
        """Number of agents."""
        return (
            self.n_perp_traders
            + self.n_borrowers
            + self.n_suppliers
            + self.n_liquidators
            + self.n_arbitrageurs
            + self.n_keepers
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ScenarioSpec:
    """The world of one run: time, market, venues, agents, governance, recalibration."""

    steps: int = 10_080
    step_seconds: int = 60
    market: MarketSpec = field(default_factory=MarketSpec)
    amm: AmmSpec = field(default_factory=AmmSpec)
    oracle: OracleParams = field(default_factory=OracleParams)
    oracle_source: str = "market"
    lending: LendingParams = field(default_factory=default_lending_params)
    perp: PerpParams = field(default_factory=PerpParams)
    perp_vault_usd: float = 300e6
    perp_insurance_fund_usd: float = 5e6
    governance: GovernanceParams = field(default_factory=GovernanceParams)
    recalibration: RecalibrationSpec = field(default_factory=RecalibrationSpec)
    agents: AgentsSpec = field(default_factory=AgentsSpec)
    gas: GasSpec = field(default_factory=GasSpec)
    options: OptionsSpec = field(default_factory=OptionsSpec)
    check_conservation: bool = False

    def __post_init__(self) -> None:
        _require(self.steps >= 1, "ScenarioSpec.steps", "must be >= 1", self.steps)
        _require(
            1 <= self.step_seconds <= 86_400,
            "ScenarioSpec.step_seconds",
            "must be in [1, 86400]",
            self.step_seconds,
        )
        n = len(self.market.assets)
        _require(
            len(self.amm.liquidity_usd) == n,
            "ScenarioSpec.amm.liquidity_usd",
            f"must have one value per market asset ({n})",
            self.amm.liquidity_usd,
        )
        _require(
            self.oracle_source in ("market", "amm"),
            "ScenarioSpec.oracle_source",
            "must be 'market' (the reference market) or 'amm' (the on-chain pool)",
            self.oracle_source,
        )
        _positive("ScenarioSpec.perp_vault_usd", self.perp_vault_usd)
        _require(
            not self.options.enabled or self.options.asset in self.market.assets,
            "ScenarioSpec.options.asset",
            f"must be one of the market assets {self.market.assets}",
            self.options.asset,
        )
        _require(
            self.perp_insurance_fund_usd >= 0,
            "ScenarioSpec.perp_insurance_fund_usd",
            "must be >= 0",
            self.perp_insurance_fund_usd,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class VariantSpec:
    """A named set of dotted-path overrides of the scenario.

    Example: ``{"recalibration.policy": "damping"}``.
    """

    name: str = "default"
    overrides: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        _require(
            bool(self.name) and all(c.isalnum() or c in "-_" for c in self.name),
            "VariantSpec.name",
            "must be non-empty letters, digits, '-' or '_'",
            self.name,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ExperimentSpec:
    """A named experiment: a scenario, its variants, replications and a root seed.

    Every replication ``r`` draws its randomness from ``SeedSequence(seed).spawn(replications)[r]``
    and every variant of that replication uses the same child (common random numbers), so a
    comparison of variants sees the same exogenous path and the same agents.
    """

    name: str
    description: str = ""
    scenario: ScenarioSpec = field(default_factory=ScenarioSpec)
    variants: tuple[VariantSpec, ...] = (VariantSpec(),)
    replications: int = 1
    seed: int = 20_200_312

    def __post_init__(self) -> None:
        _require(
            bool(self.name) and all(c.isalnum() or c in "-_" for c in self.name),
            "name",
            "must be non-empty letters, digits, '-' or '_'",
            self.name,
        )
        _require(
            self.replications >= 1, "ExperimentSpec.replications", "must be >= 1", self.replications
        )
        _require(self.seed >= 0, "ExperimentSpec.seed", "must be >= 0", self.seed)
        _require(
            len(self.variants) >= 1, "variants", "must have at least one variant", self.variants
        )
        names = [v.name for v in self.variants]
        _require(
            len(set(names)) == len(names), "ExperimentSpec.variants", "names must be unique", names
        )
        for v in self.variants:  # fail before the run, with the variant's name in the message
            try:
                apply_overrides(self.scenario, dict(v.overrides), prefix="scenario")
            except SpecError as e:
                raise SpecError(f"variants.{v.name}.{e.field}", e.rule) from None

    def variant_scenario(self, variant: VariantSpec) -> ScenarioSpec:
        """The scenario with ``variant``'s overrides applied."""
        return apply_overrides(self.scenario, dict(variant.overrides), prefix="scenario")


def spec_to_dict(spec: Any) -> Any:
    """Canonical JSON-able form of a spec (tuples become lists, dataclasses dicts)."""
    if dataclasses.is_dataclass(spec) and not isinstance(spec, type):
        return {f.name: spec_to_dict(getattr(spec, f.name)) for f in dataclasses.fields(spec)}
    if isinstance(spec, tuple | list):
        return [spec_to_dict(v) for v in spec]
    if isinstance(spec, float) and not math.isfinite(spec):
        return str(spec)
    return spec
