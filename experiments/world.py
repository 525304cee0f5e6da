"""Declare the ecosystem graph of a scenario (the world the model builds itself from)."""

from __future__ import annotations

import networkx as nx
import numpy as np

from contagion.graph import validate_ecosystem
from experiments.overrides import SpecError
from experiments.scenarios.paths import GarchParams, GbmParams, MertonParams, generate_log_returns
from experiments.scenarios.replay import load_gas, load_replay, synthetic_gas
from experiments.spec import ScenarioSpec

__all__ = ["STABLE_ASSET", "add_option_venues", "build_graph", "exogenous_paths"]

STABLE_ASSET = "USDC"


def build_graph(spec: ScenarioSpec) -> nx.DiGraph:
    """The default topology: one reference market, one AMM and one oracle per asset, a lending
    market and a perp exchange that both read the oracles and both liquidate into the AMMs.

    Nodes carry ``kind`` and what the builder needs (``asset``, ``base_asset``, ``source``); the
    shared ``liquidates_into`` edges are what lets one protocol's fire sale move the other's prices.
    """
    g = nx.DiGraph()
    assets = spec.market.assets
    g.add_node(f"asset:{STABLE_ASSET}", kind="asset", asset=STABLE_ASSET)
    g.add_node("market", kind="market")
    for asset in assets:
        g.add_node(f"asset:{asset}", kind="asset", asset=asset)
        amm = f"amm:{asset}-{STABLE_ASSET}"
        g.add_node(amm, kind="amm", base_asset=asset, quote_asset=STABLE_ASSET)
        g.add_node(f"token:LP-{asset}-{STABLE_ASSET}", kind="token")
        g.add_edge(amm, f"token:LP-{asset}-{STABLE_ASSET}", kind="issues")
        source = "market" if spec.oracle_source == "market" else amm
        g.add_node(f"oracle:{asset}", kind="oracle", asset=asset, source=source)
    g.add_node("lending", kind="lending")
    g.add_node("perp", kind="perp")
    g.add_node(f"token:a{STABLE_ASSET}", kind="token")
    g.add_edge("lending", f"token:a{STABLE_ASSET}", kind="issues")
    g.add_edge(f"asset:{STABLE_ASSET}", "perp", kind="collateral")
    for asset in assets:
        for protocol in ("lending", "perp"):
            g.add_edge(f"oracle:{asset}", protocol, kind="prices")
            g.add_edge(f"asset:{asset}", protocol, kind="collateral")
            g.add_edge(protocol, f"amm:{asset}-{STABLE_ASSET}", kind="liquidates_into")
    add_option_venues(g, spec)
    validate_ecosystem(g)
    return g


def add_option_venues(g: nx.DiGraph, spec: ScenarioSpec) -> None:
    """The option venues of ``spec.options``: an options AMM that issues LP shares and hedges its
    delta on the perp, and a portfolio-margin exchange with USDC collateral; both read the oracle
    of the underlying."""
    opt = spec.options
    oracle = f"oracle:{opt.asset}"
    if opt.amm:
        g.add_node("options_amm", kind="options_amm", asset=opt.asset)
        g.add_node(f"token:LP-OPT-{opt.asset}", kind="token")
        g.add_edge("options_amm", f"token:LP-OPT-{opt.asset}", kind="issues")
        g.add_edge(oracle, "options_amm", kind="prices")
        g.add_edge(f"asset:{STABLE_ASSET}", "options_amm", kind="collateral")
        g.add_edge("options_amm", "perp", kind="hedges_on")
    if opt.pm_exchange:
        g.add_node("pm_exchange", kind="pm_exchange", asset=opt.asset)
        g.add_edge(oracle, "pm_exchange", kind="prices")
        g.add_edge(f"asset:{STABLE_ASSET}", "pm_exchange", kind="collateral")


def exogenous_paths(
    spec: ScenarioSpec, rng: np.random.Generator
) -> tuple[tuple[float, ...], np.ndarray, np.ndarray]:
    """Initial prices, log-returns ``(steps, n_assets)`` and gas in gwei ``(steps,)`` of a run.

    Synthetic models draw from ``rng``; a replay is deterministic and must cover ``spec.steps``.
    """
    m = spec.market
    n = len(m.assets)
    corr = np.full((n, n), m.correlation)
    np.fill_diagonal(corr, 1.0)
    corr_t = tuple(tuple(float(x) for x in row) for row in corr)
    gas_name = spec.gas.replay
    if m.path_model == "replay":
        try:
            replay = load_replay(m.replay, m.assets, spec.step_seconds)
        except (ValueError, KeyError) as e:
            raise SpecError("scenario.market.replay", str(e)) from None
        if replay.n_steps < spec.steps:
            raise SpecError(
                "scenario.steps",
                f"must be <= {replay.n_steps}, the length of replay "
                f"{m.replay!r} at {spec.step_seconds} s steps, got {spec.steps}",
            )
        initial = replay.initial_prices_usd
        log_returns = np.array(replay.log_returns[: spec.steps])
        if gas_name == "auto":
            gas_name = replay.gas or ""
    else:
        common = {
            "vol_per_year": m.vol_annual,
            "drift_per_year": m.drift_annual,
            "correlation": corr_t,
        }
        if m.path_model == "gbm":
            params: object = GbmParams(**common)
        elif m.path_model == "garch_t":
            params = GarchParams(alpha=m.garch_alpha, beta=m.garch_beta, nu=m.garch_nu, **common)
        else:
            params = MertonParams(
                jump_intensity_per_year=m.jump_intensity_per_year,
                jump_mean=m.jump_mean,
                jump_vol=m.jump_vol,
                **common,
            )
        initial = m.initial_prices_usd
        log_returns = generate_log_returns(
            rng, n_steps=spec.steps, step_seconds=spec.step_seconds, params=params
        )
        if gas_name == "auto":
            gas_name = ""
    if gas_name:
        try:
            gas = load_gas(gas_name, spec.step_seconds)
        except (ValueError, KeyError) as e:
            raise SpecError("scenario.gas.replay", str(e)) from None
        if gas.size < spec.steps:
            gas = np.concatenate([gas, np.full(spec.steps - gas.size, gas[-1])])
        gas = gas[: spec.steps]
    else:
        gas = synthetic_gas(log_returns, step_seconds=spec.step_seconds, params=spec.gas.synthetic)
    return initial, log_returns, np.asarray(gas, dtype=float)
