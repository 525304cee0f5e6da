"""EcosystemModel: the world, built from a ScenarioSpec and its ecosystem graph, stepped in the
order of ARCHITECTURE.md ("The world, one step")."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import ClassVar

import mesa
import networkx as nx
import numpy as np

from agents import Keeper, MarketMaker
from contagion.graph import build_order
from experiments.builders import BUILDERS
from experiments.metrics import margin_totals
from experiments.options_population import populate_options
from experiments.options_world import OptionVenues
from experiments.population import populate
from experiments.recalibration import Recalibration, build_governance
from experiments.recorder import StepRecorder
from experiments.spec import ScenarioSpec
from experiments.world import STABLE_ASSET, build_graph, exogenous_paths
from protocols.amm import ConstantProductAMM
from protocols.events import EventLog
from protocols.ledger import Ledger
from protocols.lending import LendingMarket
from protocols.market import ReferenceMarket
from protocols.options_amm import OptionsAMM
from protocols.oracle import PriceOracle
from protocols.perp import PerpExchange
from protocols.pm_exchange import PortfolioMarginExchange
from protocols.risk.triggers import VenueSnapshot

__all__ = ["PHASES", "EcosystemModel"]

PHASES = ("market", "arbitrage", "oracles", "accrue", "agents", "margin", "contagion", "collect")

# Shared trend signals: fast and slow EMAs of each oracle price (wall-clock half-lives).
_FAST_HALF_LIFE_S = 3600.0
_SLOW_HALF_LIFE_S = 6 * 3600.0


class EcosystemModel(mesa.Model):
    """A crypto-derivatives ecosystem: reference market, AMMs, oracles, a lending market, a perp
    exchange, governance, and the agents that act across them.

    Parameters
    ----------
    spec
        The scenario.
    rng
        A ``SeedSequence`` (or an int). Its children 0, 1, 2 seed the exogenous price path, the
        agents (Mesa's ``self.rng``/``self.random``) and the keepers' order, so variants of one
        replication share the same path and agents even when their keepers act differently. The
        children are derived, not spawned, so the caller's ``SeedSequence`` is not consumed.
    profile
        Accumulate wall time per step phase in :attr:`phase_seconds`.
    """

    def __init__(
        self,
        spec: ScenarioSpec,
        *,
        rng: np.random.SeedSequence | int | None = None,
        profile: bool = False,
    ) -> None:
        seq = rng if isinstance(rng, np.random.SeedSequence) else np.random.SeedSequence(rng)
        # derived, not spawned: spawn() would advance the caller's object, and every variant of a
        # replication shares that object (a later variant would get other children)
        path_seq, agent_seq, keeper_seq = (
            np.random.SeedSequence(seq.entropy, spawn_key=(*seq.spawn_key, i)) for i in range(3)
        )
        super().__init__(rng=np.random.default_rng(agent_seq))
        self.spec = spec
        self.step_seconds = spec.step_seconds
        self.stable_asset = STABLE_ASSET
        self.base_assets = spec.market.assets
        self.profile = profile
        self.phase_seconds = dict.fromkeys(PHASES, 0.0)
        self.n_actions = 0

        initial_prices, self.log_returns, self.gas_gwei = exogenous_paths(
            spec, np.random.default_rng(path_seq)
        )
        self.initial_prices_usd = dict(zip(self.base_assets, initial_prices, strict=True))
        self.ledger = Ledger((STABLE_ASSET, *self.base_assets))
        self.events = EventLog()
        self._genesis = self.ledger.open_holder("world:genesis")
        self._validators = self.ledger.open_holder("world:validators")
        self._stable_id = self.ledger.asset_id(STABLE_ASSET)

        self.graph: nx.DiGraph = build_graph(spec)
        self.nodes: dict[str, object] = {}
        self._amms: dict[str, ConstantProductAMM] = {}
        self.oracles: dict[str, PriceOracle] = {}
        for node in build_order(self.graph):
            self.nodes[node] = BUILDERS[self.graph.nodes[node]["kind"]](self, node)
        self.market: ReferenceMarket = self.nodes["market"]  # type: ignore[assignment]
        self.lending: LendingMarket = self.nodes["lending"]  # type: ignore[assignment]
        self.perp: PerpExchange = self.nodes["perp"]  # type: ignore[assignment]
        self.options_amm: OptionsAMM | None = self.nodes.get("options_amm")  # type: ignore
        self.pm_exchange: PortfolioMarginExchange | None = self.nodes.get("pm_exchange")  # type: ignore
        self.option_makers: list[MarketMaker] = []

        self.governance = build_governance(self)
        self._signals = {a: [p, p] for a, p in self.initial_prices_usd.items()}
        self._fast = 0.5 ** (self.step_seconds / _FAST_HALF_LIFE_S)
        self._slow = 0.5 ** (self.step_seconds / _SLOW_HALF_LIFE_S)
        self._wake: dict[int, list] = {}
        self.liquidators: list = []
        self.arbitrageurs: list = []
        populate(self)
        self.option_venues: OptionVenues | None = None
        if spec.options.enabled:
            populate_options(self)
            self.option_venues = OptionVenues(self)
        self.recalibration = Recalibration(self, np.random.default_rng(keeper_seq))
        extra = self.option_venues.columns if self.option_venues is not None else ()
        self.recorder = StepRecorder(self.base_assets, spec.steps, extra)
        self._health_end = self._health()
        self._lending_liq_usd = 0.0
        self.insurance_start_usd = self.perp.insurance_fund_usd
        self.insurance_min_usd = self.insurance_start_usd

    # ------------------------------------------------------------------ services for agents
    def endow(self, holder: int, asset: str, amount: float) -> None:
        """Give an agent its starting tokens (a recorded mint)."""
        self.ledger.mint(holder, self.ledger.asset_id(asset), amount, "endowment")

    def amm(self, asset: str) -> ConstantProductAMM:
        """The AMM pool of ``asset`` against the stablecoin."""
        return self._amms[asset]

    def oracle_price(self, asset: str) -> float:
        """Published oracle price of ``asset`` (1 for the stablecoin)."""
        if asset == STABLE_ASSET:
            return 1.0
        return self.oracles[asset].price_usd

    def signal(self, asset: str) -> tuple[float, float]:
        """(fast EMA, slow EMA) of the oracle price of ``asset``."""
        s = self._signals[asset]
        return s[0], s[1]

    @property
    def gas_price_gwei(self) -> float:
        """Gas price of the current step."""
        return float(self.gas_gwei[min(max(self.steps - 1, 0), self.gas_gwei.size - 1)])

    def gas_cost_usd(self, gas_units: float) -> float:
        """USD cost of ``gas_units`` at the current gas price and ETH oracle price."""
        eth = self.oracle_price("ETH") if "ETH" in self.oracles else 2000.0
        return gas_units * self.gas_price_gwei * 1e-9 * eth

    def pay_gas(self, holder: int, amount_usd: float) -> None:
        """Pay gas (in the stablecoin, to the block producers' holder)."""
        have = self.ledger.balance(holder, self._stable_id)
        self.ledger.transfer(holder, self._validators, self._stable_id, min(have, amount_usd))

    def schedule(self, agent, delay_steps: int) -> None:
        """Wake ``agent`` in ``delay_steps`` steps."""
        self._wake.setdefault(self.steps + delay_steps, []).append(agent)

    # ------------------------------------------------------------------ governance plumbing
    _GOVERNED: ClassVar[dict[str, tuple[str, str]]] = {
        "perp.mm_scale": ("perp", "mm_scale"),
        "lending.ltv_scale": ("lending", "ltv_scale"),
        "options_amm.fee_scale": ("options_amm", "fee_scale"),
        "options_amm.vol_scale": ("options_amm", "vol_scale"),
    }

    def _param_value(self, name: str) -> float:
        node, fld = self._GOVERNED[name]
        return float(getattr(self.nodes[node].params, fld))  # type: ignore[attr-defined]

    def _apply_param(self, name: str, value: float) -> None:
        node, fld = self._GOVERNED[name]
        protocol = self.nodes[node]
        protocol.params = dataclasses.replace(protocol.params, **{fld: value})  # type: ignore

    # ------------------------------------------------------------------ one step
    def step(self) -> None:
        """One step of the world (ARCHITECTURE.md, phases 1-8)."""
        t = self.steps  # Mesa has already counted this step: 1 for the first
        self.ledger.step = t
        self.events.step = t
        clock = time.perf_counter if self.profile else None
        marks: list[float] = [clock()] if clock else []

        # 1. reference market: exogenous return + transient impact of last step's net flow
        self.market.advance(self.log_returns[t - 1])
        if clock:
            marks.append(clock())
        # 2. arbitrageurs pull the AMMs toward the reference price
        for arb in self.arbitrageurs:
            arb.step()
        if clock:
            marks.append(clock())
        # 3. oracles
        for oracle in self.oracles.values():
            oracle.update(t)
        for asset, s in self._signals.items():
            p = self.oracles[asset].price_usd
            s[0] = self._fast * s[0] + (1.0 - self._fast) * p
            s[1] = self._slow * s[1] + (1.0 - self._slow) * p
        if clock:
            marks.append(clock())
        # 4. protocols accrue; due governance changes take effect
        self.lending.accrue(t)
        self.perp.accrue(t)
        if self.option_venues is not None:
            self.option_venues.accrue(t)
        for name, value in self.recalibration.deliver(t):
            self._apply_param(name, value)
        if clock:
            marks.append(clock())
        # 5. agents on their own clocks
        due = self._wake.pop(t, None)
        if due:
            self.random.shuffle(due)
            for agent in due:
                agent.step()
                self.schedule(agent, agent.next_delay_steps())
            self.n_actions += len(due)
        self.recalibration.step_keepers()  # keepers watch every step (not counted as actions)
        if clock:
            marks.append(clock())
        # 6. margin engines: health, liquidations, insurance, ADL
        lending_before = self.lending.bad_debt_total
        flagged = self.lending.liquidatable_accounts()
        hf = self.lending.health_factors()
        n_lending_flagged = int(flagged.size)
        volume_before = self._lending_liq_usd
        if flagged.size:
            order = list(self.liquidators)
            self.random.shuffle(order)
            for liq in order:
                liq.liquidate(self.lending.liquidatable_accounts())
        lending_volume = self.lending.liquidation_volume_total_usd - volume_before
        self._lending_liq_usd = self.lending.liquidation_volume_total_usd
        eq, mm, _ = self.perp.margin_state()
        n_perp_flagged = int(np.count_nonzero(eq < mm))
        summary = self.perp.liquidate()
        if self.option_venues is not None:
            self.option_venues.liquidate()
        if clock:
            marks.append(clock())
        # 7. contagion: receipt and LP tokens are re-marked from their issuers' state
        self.token_marks = self._mark_tokens()
        if clock:
            marks.append(clock())
        # 8. data collection
        health_before = self._health_end
        self._health_end = self._health()
        volume = lending_volume + summary.volume_usd
        self.recorder.offer_worst(t, volume, health_before, self._health_end)
        self._collect(
            t, hf, n_lending_flagged, n_perp_flagged, lending_volume, summary, lending_before, due
        )
        if self.spec.check_conservation:
            self.ledger.check_conservation()
        if clock:
            marks.append(clock())
            for name, a, b in zip(PHASES, marks[:-1], marks[1:], strict=True):
                self.phase_seconds[name] += b - a

    def _health(self) -> dict[str, np.ndarray]:
        hf = self.lending.health_factors()
        eq, mm, _ = self.perp.margin_state()
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(mm > 0.0, eq / mm, np.inf)
        return {"lending": hf[np.isfinite(hf)], "perp": ratio[np.isfinite(ratio)]}

    def _mark_tokens(self) -> dict[str, float]:
        marks = {f"a{STABLE_ASSET}": self.lending.share_price_usd}
        for amm in self._amms.values():
            marks[amm.lp_asset] = amm.share_price_usd
        if self.option_venues is not None:
            marks.update(self.option_venues.marks())
        return marks

    def _collect(
        self,
        t,
        hf,
        n_lending_flagged,
        n_perp_flagged,
        lending_volume,
        summary,
        lending_bad_before,
        due,
    ) -> None:
        rec = self.recorder
        d = rec.data
        i = t - 1
        perp = self.perp
        lending = self.lending
        for a in self.base_assets:
            d[f"ref_price_usd_{a}"][i] = self.market.price_usd(a)
            d[f"amm_price_usd_{a}"][i] = self._amms[a].price_usd
            d[f"oracle_price_usd_{a}"][i] = self.oracles[a].price_usd
            d[f"perp_mark_price_usd_{a}"][i] = perp.mark_price(a)
            d[f"perp_funding_rate_8h_{a}"][i] = perp.funding_rate_8h(a)
            long_usd, short_usd = perp.open_interest_usd(a)
            d[f"perp_oi_long_usd_{a}"][i] = long_usd
            d[f"perp_oi_short_usd_{a}"][i] = short_usd
        d["lending_utilisation"][i] = lending.utilisation
        d["lending_total_debt_usd"][i] = lending.total_debt
        d["lending_total_collateral_usd"][i] = lending.total_collateral_usd
        d["lending_liquidity_index"][i] = lending.liquidity_index
        d["lending_n_liquidatable"][i] = n_lending_flagged
        finite = hf[np.isfinite(hf)]
        d["lending_min_hf"][i] = float(finite.min()) if finite.size else np.nan
        d["lending_ltv_scale"][i] = lending.params.ltv_scale
        d["lending_liquidation_volume_usd"][i] = lending_volume
        d["lending_bad_debt_usd"][i] = lending.bad_debt_total
        d["perp_insurance_fund_usd"][i] = perp.insurance_fund_usd
        d["perp_mm_scale"][i] = perp.params.mm_scale
        d["perp_n_liquidatable"][i] = n_perp_flagged
        d["perp_liquidation_volume_usd"][i] = summary.volume_usd
        d["perp_bad_debt_usd"][i] = perp.bad_debt_total
        d["perp_adl_volume_usd"][i] = perp.adl_volume_total
        d["gas_price_gwei"][i] = self.gas_price_gwei
        d["liquidation_volume_usd"][i] = lending_volume + summary.volume_usd
        d["bad_debt_usd"][i] = lending.bad_debt_total + perp.bad_debt_total
        d["agent_actions"][i] = len(due) if due else 0
        mm, im, notional = margin_totals(self)
        rec.record_margin(t, maintenance_usd=mm, initial_usd=im, notional_usd=notional)
        if self.option_venues is not None:
            self.option_venues.collect(i, d)
        rec.n_rows = t
        self.insurance_min_usd = min(self.insurance_min_usd, perp.insurance_fund_usd)

    def run(self, steps: int | None = None, progress: Callable[[int], None] | None = None) -> None:
        """Step ``steps`` times (default: the scenario's length)."""
        n = self.spec.steps - self.steps if steps is None else steps
        for _ in range(n):
            self.step()
            if progress is not None:
                progress(1)

    def scenario_recalibrates(self) -> bool:
        """Whether keepers propose parameter changes in this run."""
        return self.spec.agents.recalibrate and self.spec.recalibration.policy != "static"

    @property
    def keepers(self) -> list[Keeper]:
        """The keeper agents (honest and faulty)."""
        return list(self.recalibration.keepers)

    def venue_snapshot(self) -> VenueSnapshot:
        """Public state of the perp venue this step (what keepers' triggers read)."""
        return self.recalibration.snapshot()
