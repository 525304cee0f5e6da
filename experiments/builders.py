"""Builders of the ecosystem graph's nodes: one function per node ``kind``, called by
:class:`~experiments.model.EcosystemModel` in the graph's build order (dependencies first)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from contagion.graph import hedge_venues, liquidation_venues, oracle_feeds
from experiments.world import STABLE_ASSET
from protocols.amm import ConstantProductAMM
from protocols.lending import LendingMarket
from protocols.margin.deribit_marks import default_surface
from protocols.market import ImpactParams, ReferenceMarket, ReferenceMarketParams
from protocols.options_amm import OptionsAMM
from protocols.oracle import PriceOracle
from protocols.perp import PerpExchange
from protocols.pm_exchange import PortfolioMarginExchange
from protocols.types import FixedPrice

if TYPE_CHECKING:
    from experiments.model import EcosystemModel

__all__ = ["BUILDERS", "feeds"]


def _build_market(model: EcosystemModel, node: str) -> ReferenceMarket:
    m = model.spec.market
    impact = {
        a: ImpactParams(depth_usd=d, half_life_seconds=m.impact_half_life_seconds)
        for a, d in zip(m.assets, m.impact_depth_usd, strict=True)
    }
    return ReferenceMarket(
        model.ledger,
        assets=m.assets,
        initial_prices_usd=tuple(model.initial_prices_usd[a] for a in m.assets),
        params=ReferenceMarketParams(impact=impact, fee_frac=m.fee_frac),
        step_seconds=model.step_seconds,
        quote_asset=STABLE_ASSET,
    )


def _build_amm(model: EcosystemModel, node: str) -> ConstantProductAMM:
    data = model.graph.nodes[node]
    asset = data["base_asset"]
    spec = model.spec
    liquidity = spec.amm.liquidity_usd[spec.market.assets.index(asset)]
    amm = ConstantProductAMM(
        node, model.ledger, base_asset=asset, quote_asset=STABLE_ASSET, params=spec.amm.params
    )
    price = model.initial_prices_usd[asset]
    base, quote = 0.5 * liquidity / price, 0.5 * liquidity
    model.endow(model._genesis, asset, base)
    model.endow(model._genesis, STABLE_ASSET, quote)
    amm.seed(model._genesis, base, quote)
    model._amms[asset] = amm
    return amm


def _build_oracle(model: EcosystemModel, node: str) -> PriceOracle:
    data = model.graph.nodes[node]
    asset = data["asset"]
    source_node = model.nodes[data["source"]]
    if isinstance(source_node, ReferenceMarket):

        def source(market=source_node, asset=asset) -> float:
            return market.price_usd(asset)
    else:

        def source(amm=source_node) -> float:
            return amm.price_usd

    oracle = PriceOracle(
        node,
        asset=asset,
        source=source,
        params=model.spec.oracle,
        step_seconds=model.step_seconds,
        initial_price_usd=model.initial_prices_usd[asset],
    )
    model.oracles[asset] = oracle
    return oracle


def feeds(model: EcosystemModel, node: str) -> dict[str, object]:
    feeds: dict[str, object] = {
        a: model.nodes[o] for a, o in oracle_feeds(model.graph, node).items()
    }
    feeds[STABLE_ASSET] = FixedPrice(1.0)
    return feeds


def _build_lending(model: EcosystemModel, node: str) -> LendingMarket:
    return LendingMarket(
        node,
        model.ledger,
        model.events,
        oracles=feeds(model, node),
        params=model.spec.lending,
        step_seconds=model.step_seconds,
    )


def _build_perp(model: EcosystemModel, node: str) -> PerpExchange:
    venues = {a: model.nodes[amm] for a, amm in liquidation_venues(model.graph, node).items()}
    perp = PerpExchange(
        node,
        model.ledger,
        model.events,
        oracles=feeds(model, node),
        params=model.spec.perp,
        step_seconds=model.step_seconds,
        spot_venues=venues,
        flow_sink=model.nodes["market"].record_flow,
    )
    spec = model.spec
    model.endow(model._genesis, STABLE_ASSET, spec.perp_vault_usd + spec.perp_insurance_fund_usd)
    perp.seed_vault(model._genesis, spec.perp_vault_usd)
    if spec.perp_insurance_fund_usd > 0:
        perp.seed_insurance(model._genesis, spec.perp_insurance_fund_usd)
    return perp


def _build_options_amm(model: EcosystemModel, node: str) -> OptionsAMM:
    opt = model.spec.options
    hedge = [model.nodes[h] for h in hedge_venues(model.graph, node)]
    return OptionsAMM(
        node,
        model.ledger,
        model.events,
        asset=opt.asset,
        oracle=model.oracles[opt.asset],
        params=opt.amm_params,
        surface=default_surface(opt.asset),
        step_seconds=model.step_seconds,
        hedge_venue=hedge[0] if hedge else None,
    )


def _build_pm_exchange(model: EcosystemModel, node: str) -> PortfolioMarginExchange:
    opt = model.spec.options
    pm = PortfolioMarginExchange(
        node,
        model.ledger,
        model.events,
        asset=opt.asset,
        oracle=model.oracles[opt.asset],
        surface=default_surface(opt.asset),
        params=opt.pm_params,
        step_seconds=model.step_seconds,
    )
    if opt.pm_insurance_fund_usd > 0:
        model.endow(model._genesis, STABLE_ASSET, opt.pm_insurance_fund_usd)
        pm.seed_insurance(model._genesis, opt.pm_insurance_fund_usd)
    model.endow(model._genesis, STABLE_ASSET, opt.pm_backstop_usd)
    pm.seed_backstop(model._genesis, opt.pm_backstop_usd)
    return pm


BUILDERS: dict[str, Callable[[EcosystemModel, str], object]] = {
    "market": _build_market,
    "amm": _build_amm,
    "oracle": _build_oracle,
    "lending": _build_lending,
    "perp": _build_perp,
    "options_amm": _build_options_amm,
    "pm_exchange": _build_pm_exchange,
}
