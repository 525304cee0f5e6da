"""Delta-hedging option market makers of the portfolio-margin exchange."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from agents.base import Participant
from agents.hedging import HedgeParams, hedge_trade
from protocols.margin.book import InstrumentKind
from protocols.margin.option_kernels import black76_price
from protocols.margin.standard_margin import aevo_params, position_standard_margin
from protocols.perp_params import SETTLEMENT_ASSET
from protocols.types import EventKind, TxStatus

if TYPE_CHECKING:
    from experiments.model import EcosystemModel

__all__ = ["MarketMaker", "added_standard_im_usd"]

_USD_RATES = aevo_params().as_array()  # USD-margined Deribit formulas (DOMAIN.md A1 [S])
_MIN_VOL = 0.01


def added_standard_im_usd(
    series,
    series_id: int,
    position_base: float,
    change_base: float,
    index_usd: float,
    iv: float,
    step: int,
) -> float:
    """Initial margin a position change adds under USD standard margin, USD (>= 0).

    ``standard IM(position + change) - standard IM(position)`` of one series (DOMAIN.md A1, Aevo
    rates), floored at 0. Standard margin ignores offsets between series, so it bounds the
    portfolio margin that the exchange charges from above; agents use it to pre-check a trade
    (the exchange itself rejects trades that break its own initial margin).
    """
    kind = InstrumentKind.CALL if series.is_call[series_id] else InstrumentKind.PUT
    sizes = np.array([position_base, position_base + change_base])
    im, _ = position_standard_margin(
        np.full(2, int(kind), dtype=np.int64),
        sizes,
        np.full(2, float(series.strike_usd[series_id])),
        np.full(2, float(series.t_years(series_id, step))),
        np.full(2, iv),
        float(index_usd),
        _USD_RATES,
        True,
    )
    return max(float(im[1] - im[0]), 0.0)


class MarketMaker(Participant):
    """Quotes options on the portfolio-margin exchange and delta-hedges its book on the perp.

    Parameters
    ----------
    asset
        Underlying (``"ETH"``); the maker hedges on ``model.perp``'s market of this asset.
    hedge
        The hedging rule (:class:`~agents.hedging.HedgeParams`; ``hedge.rule`` picks it).
    capital_usd
        USDC endowment; ``perp_margin_frac`` of it is deposited on the perp exchange as hedge
        margin and the rest in the maker's portfolio-margin account.
    quote_spread_vol_points
        Half spread in vol points: the maker sells at mark vol + spread and buys at mark vol -
        spread (``2.0`` quotes 62/58 around a 60% mark).
    label
        Name in reports (default: the rule's name).
    max_margin_utilisation
        The maker refuses a quote whose trade would take ``IM / equity`` of its PM account above
        this (IM added estimated by standard margin, an upper bound on portfolio margin).

    Notes
    -----
    Each activation the maker reads the net delta of its book, ``delta(PM account) + perp
    size``, and its gamma, asks :func:`~agents.hedging.hedge_trade`, and trades the answer on
    the perp. The cost of a rebalance of ``x`` coins filled at ``f`` when the index is ``I`` is
    ``fee + (f - I) x``: the taker fee plus the *signed* slippage against the index (buying above
    the index or selling below it costs; a trade against the perp's skew can earn). Its
    mark-to-market value (PM equity + perp equity + idle cash) is appended to
    :attr:`pnl_history` at every activation, less ``capital_usd``, so the tracking error of a rule
    is the dispersion of that series.
    """

    def __init__(
        self,
        model: EcosystemModel,
        *,
        period_seconds: float,
        asset: str,
        hedge: HedgeParams,
        capital_usd: float,
        quote_spread_vol_points: float,
        label: str = "",
        perp_margin_frac: float = 0.25,
        max_margin_utilisation: float = 0.8,
    ) -> None:
        name = type(self).__name__
        if not isinstance(hedge, HedgeParams):
            raise ValueError(f"{name}.hedge: must be HedgeParams, got {type(hedge).__name__}")
        if not (math.isfinite(capital_usd) and capital_usd > 0.0):
            raise ValueError(f"{name}.capital_usd: must be > 0, got {capital_usd!r}")
        if not (math.isfinite(quote_spread_vol_points) and quote_spread_vol_points >= 0.0):
            raise ValueError(
                f"{name}.quote_spread_vol_points: must be >= 0, got {quote_spread_vol_points!r}"
            )
        if not 0.0 < perp_margin_frac < 1.0:
            raise ValueError(f"{name}.perp_margin_frac: must be in (0, 1), got {perp_margin_frac}")
        if not 0.0 < max_margin_utilisation <= 1.0:
            raise ValueError(
                f"{name}.max_margin_utilisation: must be in (0, 1], got {max_margin_utilisation}"
            )
        super().__init__(model, period_seconds=period_seconds, kind="maker")
        self.asset = asset
        self.hedge = hedge
        self.capital_usd = float(capital_usd)
        self.quote_spread_vol_points = float(quote_spread_vol_points)
        self.label = label or hedge.rule.name.lower()
        self.max_margin_utilisation = float(max_margin_utilisation)
        self.pm = model.pm_exchange
        self.perp = model.perp
        self.pm_account = self.pm.open_account(self.wallet)
        self.perp_account = self.perp.open_account(self.wallet)
        # deposit now, not at the first activation: takers may ask for quotes before it
        model.endow(self.wallet, SETTLEMENT_ASSET, capital_usd)
        perp_usd = perp_margin_frac * capital_usd
        self.perp.deposit(self.perp_account, SETTLEMENT_ASSET, perp_usd)
        self.pm.deposit(self.pm_account, capital_usd - perp_usd)
        self.last_hedge_step: int | None = None
        self.n_rebalances = self.n_hedge_failures = self.n_quotes = self.n_refusals = 0
        self.hedge_fee_usd = self.hedge_slippage_usd = 0.0
        self.hedge_volume_base = 0.0
        self.pnl_history: list[float] = []
        self.pnl_steps: list[int] = []

    # ------------------------------------------------------------------ quoting
    @property
    def hedge_cost_usd(self) -> float:
        """Total cost of hedging so far: taker fees plus signed slippage against the index, USD."""
        return self.hedge_fee_usd + self.hedge_slippage_usd

    def margin_utilisation(self) -> float:
        """``IM / equity`` of the PM account (``inf`` at zero or negative equity)."""
        eq, initial, _ = self.pm.account_margin(self.pm_account)
        return initial / eq if eq > 0.0 else math.inf

    def quote(self, series_id: int, size_base: float, is_buy: bool) -> float | None:
        """Price per coin at which the maker trades ``size_base`` of a series with a taker.

        ``is_buy`` is the taker's side: True, the taker buys and the maker sells at its ask (mark
        vol + spread); False, the maker buys at its bid (mark vol - spread, floored at 1 vol
        point). Returns ``None`` when the series cannot trade or when the trade would add risk
        beyond ``max_margin_utilisation``.
        """
        if not (math.isfinite(size_base) and size_base > 0.0):
            raise ValueError(f"MarketMaker.quote: size_base must be > 0, got {size_base!r}")
        pm, step = self.pm, self.model.steps
        series = pm.series
        t_years = float(series.t_years(series_id, step))
        if not series.active[series_id] or t_years <= 0.0:
            return None
        mark_vol = float(pm.mark_vol(series_id))
        spread = self.quote_spread_vol_points / 100.0
        vol = max(mark_vol + spread if is_buy else mark_vol - spread, _MIN_VOL)
        index = self.model.oracle_price(self.asset)
        price = black76_price(
            index,
            float(series.strike_usd[series_id]),
            t_years,
            vol,
            1.0,
            bool(series.is_call[series_id]),
        )
        change = -size_base if is_buy else size_base
        position = pm.position(self.pm_account, series_id)
        added = added_standard_im_usd(series, series_id, position, change, index, mark_vol, step)
        eq, initial, _ = pm.account_margin(self.pm_account)
        if added > 0.0 and (eq <= 0.0 or (initial + added) / eq > self.max_margin_utilisation):
            self.n_refusals += 1
            return None
        self.n_quotes += 1
        return float(price)

    # ------------------------------------------------------------------ hedging
    def book_delta_gamma(self) -> tuple[float, float]:
        """Net delta (coins; PM book + perp hedge) and gamma (coins per USD) of the maker."""
        delta, gamma, _, _ = self.pm.account_greeks(self.pm_account)
        hedge_size, _ = self.perp.position(self.perp_account, self.asset)
        return float(delta) + float(hedge_size), float(gamma)

    def _taker_fee_frac(self) -> float:
        return next(m.taker_fee_frac for m in self.perp.params.markets if m.asset == self.asset)

    def _rebalance(self, size_base: float, step: int) -> None:
        perp = self.perp
        index = perp.index_price(self.asset)
        status, fill = perp.trade(self.perp_account, self.asset, size_base)
        if status is TxStatus.HEALTH_TOO_LOW:  # not enough hedge margin: hedge half, once
            size_base *= 0.5
            status, fill = perp.trade(self.perp_account, self.asset, size_base)
        if status is not TxStatus.OK:
            self.n_hedge_failures += 1
            return
        fee = abs(size_base) * fill * self._taker_fee_frac()
        slippage = (fill - index) * size_base
        self.hedge_fee_usd += fee
        self.hedge_slippage_usd += slippage
        self.hedge_volume_base += abs(size_base)
        self.n_rebalances += 1
        self.last_hedge_step = step
        self.model.events.record(
            EventKind.HEDGE,
            perp.name,
            account=self.perp_account,
            asset=self.asset,
            amount=size_base,
            value_usd=abs(size_base) * fill,
            detail=f"maker={self.label} rule={self.hedge.rule.name} cost_usd={fee + slippage:.4f}",
        )

    def value_usd(self) -> float:
        """Mark-to-market value: PM equity + perp equity + idle USDC in the wallet, USD."""
        ledger = self.model.ledger
        cash = ledger.balance(self.wallet, ledger.asset_id(SETTLEMENT_ASSET))
        return (
            float(self.pm.account_equity_usd(self.pm_account))
            + float(self.perp.account_equity_usd(self.perp_account))
            + cash
        )

    def act(self) -> None:
        """Rebalance the delta hedge if the rule says so, then record the book's value."""
        step = self.model.steps
        delta, gamma = self.book_delta_gamma()
        size = hedge_trade(
            self.hedge,
            delta_base=delta,
            gamma=gamma,
            price_usd=self.perp.index_price(self.asset),
            step=step,
            last_hedge_step=self.last_hedge_step,
        )
        if size != 0.0:
            self._rebalance(size, step)
        self.pnl_history.append(self.value_usd() - self.capital_usd)
        self.pnl_steps.append(step)
