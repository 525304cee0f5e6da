"""Funding of the perpetual exchange: one vectorized settlement per call (DOMAIN.md A4).

Split from :mod:`protocols.perp` as :mod:`protocols.perp_liquidation` is: a function of the
exchange's state arrays, called by :meth:`PerpExchange.accrue`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from protocols.margin.perp_kernels import settle_funding
from protocols.perp_params import SETTLEMENT_ASSET, USD_TOL
from protocols.types import EventKind

if TYPE_CHECKING:
    from protocols.perp import PerpExchange

__all__ = ["apply_funding"]


def apply_funding(ex: PerpExchange, step: int) -> None:
    """Charge funding for the steps since the last call (vectorized, one kernel call).

    Notes
    -----
    Per market ``F = P + clamp(I - P, -c, c)`` per funding interval, applied continuously:
    each account pays ``size * mark * F * dt / interval`` (longs pay shorts when ``F > 0``);
    the vault, on the other side of the net open interest, receives or pays the difference.
    """
    if step < ex._last_step:
        raise ValueError(f"PerpExchange.accrue: step must be >= {ex._last_step}, got {step}")
    dt_seconds = (step - ex._last_step) * ex.step_seconds
    ex._last_step = step
    if dt_seconds == 0 or ex._n == 0:
        return
    index = ex._index_prices()
    premium = ex._premium(index, ex._long_base - ex._short_base)
    rate = ex._funding_rates(premium) * (dt_seconds / ex._params.funding_interval_seconds)
    n = ex._n
    to_vault, from_vault, shortfall = settle_funding(
        ex._size[:n],
        index * (1.0 + premium) * rate,
        ex._coll[:n],
        ex._usdc_col,
        ex._debt[:n],
        ex.vault_usd,
    )
    if to_vault > 0.0:
        ex._ledger.transfer(ex.margin_holder, ex.vault_holder, ex._usdc_id, to_vault)
    if from_vault > 0.0:
        ex._ledger.transfer(ex.vault_holder, ex.margin_holder, ex._usdc_id, from_vault)
    if shortfall > USD_TOL:
        ex.vault_shortfall_total += shortfall
        ex._events.record(
            EventKind.SOCIALISED_LOSS,
            ex.name,
            asset=SETTLEMENT_ASSET,
            amount=shortfall,
            value_usd=shortfall,
            detail="vault could not pay funding",
        )
