"""The options AMM's delta hedge: real orders on a perp exchange (Lyra v1's pool hedger, DOMAIN.md
A6 [S]: the LP pool hedges its net option delta through a short or a perp; later Lyra versions used
GMX and Synthetix perps).

The hedge account is an ordinary :class:`~protocols.perp.PerpExchange` account owned by the pool's
ledger holder: its margin is pool USDC, its trades move the perp's skew and funding, and the perp
may liquidate it like anyone's. So :class:`PoolHedger` never remembers its position: it reads it
back from the exchange every time.
"""

from __future__ import annotations

from protocols.events import EventLog
from protocols.ledger import Ledger
from protocols.options_amm_params import OptionsAmmParams
from protocols.perp import PerpExchange
from protocols.types import EventKind, TxStatus

__all__ = ["PoolHedger"]


class PoolHedger:
    """Keeps ``|options delta + perp position| x index <= hedge_band_nav_frac x NAV``.

    Parameters
    ----------
    name
        The AMM's name (tags events).
    ledger, events
        The world's ledger and event log.
    venue
        The perp exchange; an account owned by ``pool_holder`` is opened on it.
    asset, quote_asset
        The hedged market and the margin asset (the pool's cash).
    pool_holder
        Ledger holder of the pool's USDC (pays margin, receives withdrawn margin).
    step_seconds
        Length of one model step.

    Notes
    -----
    When the net delta leaves the band the hedger trades ``-net`` (back to delta zero, as Lyra's
    hedger does when it interacts) after topping the margin up to ``hedge_margin_frac`` of the
    target notional; afterwards it tops up or withdraws margin towards that fraction of the
    position it holds. Hedge cost is the taker fee plus slippage against the index:
    ``|x| fill fee + (fill - index) x`` for a trade of ``x`` coins.
    """

    def __init__(
        self,
        name: str,
        ledger: Ledger,
        events: EventLog,
        *,
        venue: PerpExchange,
        asset: str,
        quote_asset: str,
        pool_holder: int,
        step_seconds: int,
    ) -> None:
        if asset not in venue.params.market_assets:
            raise ValueError(
                f"OptionsAMM.hedge_venue: must list a {asset!r} market, got "
                f"{venue.params.market_assets}"
            )
        self.name, self.venue, self.asset, self.quote_asset = name, venue, asset, quote_asset
        self._ledger, self._events = ledger, events
        self._pool_holder = pool_holder
        self._step_seconds = step_seconds
        self._quote_id = ledger.asset_id(quote_asset)
        self.account = venue.open_account(pool_holder)
        self.cost_total_usd = 0.0
        self.failures = 0
        self._last_step: int | None = None

    @property
    def size_base(self) -> float:
        """The perp position, read back from the exchange."""
        return self.venue.position(self.account, self.asset)[0]

    @property
    def equity_usd(self) -> float:
        """Equity of the hedge account at the perp's marks."""
        return self.venue.account_equity_usd(self.account)

    def raise_cash(self, amount_usd: float) -> None:
        """Return up to ``amount_usd`` of margin to the pool, as much as the account can spare
        (equity above initial margin, and no more USDC than it holds)."""
        if not amount_usd > 0.0:
            return
        equity, _, initial = self.venue.margin_state()
        a = self.account
        spare = min(
            amount_usd,
            float(equity[a] - initial[a]),
            self.venue.collateral_of(a, self.quote_asset),
        )
        if spare > 0.0:
            self.venue.withdraw(a, self.quote_asset, spare)

    def _set_margin(self, target_usd: float, *, allow_withdraw: bool) -> None:
        gap = target_usd - self.equity_usd
        if gap > 0.0:
            amount = min(gap, self._ledger.balance(self._pool_holder, self._quote_id))
            if amount > 0.0:
                self.venue.deposit(self.account, self.quote_asset, amount)
        elif allow_withdraw:
            self.raise_cash(-gap)

    def rebalance(
        self, step: int, options_delta_base: float, nav_usd: float, params: OptionsAmmParams
    ) -> None:
        """Hedge if ``hedge_interval_seconds`` have passed since the last check and the net delta
        is outside the band; then adjust the margin."""
        last, p = self._last_step, params
        if last is not None and (step - last) * self._step_seconds < p.hedge_interval_seconds:
            return
        self._last_step = step
        index = self.venue.index_price(self.asset)
        net = options_delta_base + self.size_base
        if abs(net) * index > p.hedge_band_nav_frac * max(nav_usd, 0.0):
            target_usd = abs(options_delta_base) * index * p.hedge_margin_frac
            self._set_margin(target_usd, allow_withdraw=False)
            status, fill = self.venue.trade(self.account, self.asset, -net)
            if status == TxStatus.OK:
                markets = self.venue.params.markets
                fee_frac = next(m.taker_fee_frac for m in markets if m.asset == self.asset)
                cost = abs(net) * fill * fee_frac + (fill - index) * -net
                self.cost_total_usd += cost
                self._events.record(
                    EventKind.HEDGE,
                    self.name,
                    account=self.account,
                    asset=self.asset,
                    amount=-net,
                    value_usd=cost,
                    detail=f"fill_usd={fill:.8g} index_usd={index:.8g} status={status.name}",
                )
            else:
                self.failures += 1
        target_usd = abs(self.size_base) * index * p.hedge_margin_frac
        self._set_margin(target_usd, allow_withdraw=True)
