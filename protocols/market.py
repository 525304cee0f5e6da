"""The reference market: the exogenous "rest of the world" venue for every risky asset.

Each step the scenario gives every asset an exogenous log-return; the price the world trades at is
that fundamental path times a transient price impact built from the net order flow of the
simulated agents (fire sales push prices down, and the push decays with a half-life). This is the
linear impact of Greenwood, Landier & Thesmar applied in log space (DOMAIN.md E, [R]).

The market settles trades through the ledger against the holder ``"market:external"``, which is
minted a large inventory of every asset at construction (recorded as mints), so the rest of the
world can always take the other side.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from protocols.ledger import Ledger
from protocols.types import TxStatus

__all__ = ["EXTERNAL_HOLDER", "ImpactParams", "ReferenceMarket", "ReferenceMarketParams"]

EXTERNAL_HOLDER = "market:external"

# A request may exceed a balance by floating-point dust and still count as "all of it"
# (same tolerance as Ledger.transfer).
_DUST_REL = 1e-9
_DUST_ABS = 1e-12


@dataclass(frozen=True, slots=True, kw_only=True)
class ImpactParams:
    """Price-impact parameters of one asset.

    Parameters
    ----------
    depth_usd
        Market depth D (USD): a net flow of ``flow_usd`` moves the log price by ``flow_usd / D``.
        Calibration hint: Maker's 2021 slippage curve, $35M of ETH for about 4% (DOMAIN.md E [S]),
        gives D of about $0.9B for ETH.
    half_life_seconds
        Half-life of the transient impact (s); ``math.inf`` makes the impact permanent.
    """

    depth_usd: float
    half_life_seconds: float

    def __post_init__(self) -> None:
        if not (self.depth_usd > 0.0 and math.isfinite(self.depth_usd)):
            raise ValueError(
                f"ImpactParams.depth_usd: must be finite and > 0, got {self.depth_usd}"
            )
        if not self.half_life_seconds > 0.0:
            raise ValueError(
                "ImpactParams.half_life_seconds: must be > 0 (inf = permanent impact), "
                f"got {self.half_life_seconds}"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class ReferenceMarketParams:
    """Parameters of the reference market.

    Parameters
    ----------
    impact
        Per-asset :class:`ImpactParams`, as a mapping ``{asset: ImpactParams}`` or a tuple of
        ``(asset, ImpactParams)`` pairs. Stored as a tuple of pairs sorted by asset, so equal
        parameters compare (and hash) equal whatever order they were given in.
    fee_frac
        Taker fee on every trade, as a fraction of notional. 5 bps is a typical centralised-exchange
        taker fee [R].
    """

    impact: Mapping[str, ImpactParams] | tuple[tuple[str, ImpactParams], ...]
    fee_frac: float = 0.0005

    def __post_init__(self) -> None:
        raw = self.impact.items() if isinstance(self.impact, Mapping) else self.impact
        try:
            pairs = tuple((str(a), p) for a, p in raw)
        except (TypeError, ValueError):
            raise ValueError(
                "ReferenceMarketParams.impact: must be a mapping asset -> ImpactParams or a tuple "
                f"of (asset, ImpactParams) pairs, got {self.impact!r}"
            ) from None
        for asset, p in pairs:
            if not isinstance(p, ImpactParams):
                raise ValueError(
                    f"ReferenceMarketParams.impact: must map assets to ImpactParams, got {p!r} "
                    f"for {asset!r}"
                )
        names = [a for a, _ in pairs]
        if len(set(names)) != len(names):
            raise ValueError(f"ReferenceMarketParams.impact: must not repeat an asset, got {names}")
        object.__setattr__(self, "impact", tuple(sorted(pairs, key=lambda ap: ap[0])))
        if not 0.0 <= self.fee_frac < 1.0:
            raise ValueError(
                f"ReferenceMarketParams.fee_frac: must be in [0, 1), got {self.fee_frac}"
            )

    def impact_of(self, asset: str) -> ImpactParams:
        """The :class:`ImpactParams` of ``asset`` (``ValueError`` if there are none)."""
        for a, p in self.impact:  # type: ignore[misc]
            if a == asset:
                return p
        raise ValueError(f"ReferenceMarketParams.impact: has no entry for {asset!r}")


class ReferenceMarket:
    """Exogenous price paths plus transient impact of the agents' net order flow.

    Parameters
    ----------
    ledger
        The world's ledger; the market opens the holder ``"market:external"`` and registers
        every asset (idempotent).
    assets
        Risky asset symbols, in the order of ``log_returns`` and :attr:`prices_usd`.
    initial_prices_usd
        Starting prices (USD), one per asset.
    params
        :class:`ReferenceMarketParams`; must have impact parameters for every asset.
    step_seconds
        Length of one step (s), used to turn half-lives into per-step decay.
    quote_asset
        The USD stablecoin trades settle in (its price is 1 by definition).
    inventory_usd
        USD value of each asset (and of the quote asset) minted to the external holder.

    Notes
    -----
    With fundamental ``F``, log impact ``I`` and net signed flow ``Q`` (USD, buying positive)
    recorded since the previous step, one :meth:`advance` does::

        F <- F * exp(r)
        I <- I * 2**(-step_seconds / half_life) + Q / depth_usd
        price = F * exp(I)

    so flow moves the *next* step's price, and trades within a step all fill at the same price.
    """

    def __init__(
        self,
        ledger: Ledger,
        *,
        assets: tuple[str, ...],
        initial_prices_usd: tuple[float, ...],
        params: ReferenceMarketParams,
        step_seconds: int,
        quote_asset: str = "USDC",
        inventory_usd: float = 1e12,
    ) -> None:
        assets = tuple(assets)
        prices = [float(p) for p in initial_prices_usd]
        if not assets or len(set(assets)) != len(assets):
            raise ValueError(
                f"ReferenceMarket.assets: must be non-empty and distinct, got {assets}"
            )
        if quote_asset in assets:
            raise ValueError(
                f"ReferenceMarket.assets: must not contain the quote asset {quote_asset!r}"
            )
        if len(prices) != len(assets) or not all(p > 0.0 and math.isfinite(p) for p in prices):
            raise ValueError(
                "ReferenceMarket.initial_prices_usd: must be one finite price > 0 per asset, "
                f"got {initial_prices_usd}"
            )
        if not step_seconds > 0:
            raise ValueError(f"ReferenceMarket.step_seconds: must be > 0, got {step_seconds}")
        if not (inventory_usd > 0.0 and math.isfinite(inventory_usd)):
            raise ValueError(
                f"ReferenceMarket.inventory_usd: must be finite and > 0, got {inventory_usd}"
            )
        self.ledger = ledger
        self.assets = assets
        self.quote_asset = quote_asset
        self.step_seconds = step_seconds
        self._index = {a: i for i, a in enumerate(assets)}
        self._asset_ids = [ledger.add_asset(a) for a in assets]
        self._quote_id = ledger.add_asset(quote_asset)
        self._holder = ledger.open_holder(EXTERNAL_HOLDER)
        self._fundamental = list(prices)
        self._impact = [0.0] * len(assets)
        self._flow_usd = [0.0] * len(assets)
        self._price = list(prices)
        self.params = params  # validates coverage and sets per-step decay and depth
        for aid, p in zip(self._asset_ids, prices, strict=True):
            ledger.mint(self._holder, aid, inventory_usd / p, "market:external inventory")
        ledger.mint(self._holder, self._quote_id, inventory_usd, "market:external inventory")

    # ------------------------------------------------------------------ params
    @property
    def params(self) -> ReferenceMarketParams:
        """Current parameters; assign a new object to recalibrate."""
        return self._params

    @params.setter
    def params(self, params: ReferenceMarketParams) -> None:
        if not isinstance(params, ReferenceMarketParams):
            raise ValueError(
                f"ReferenceMarket.params: must be ReferenceMarketParams, got {params!r}"
            )
        impacts = [params.impact_of(a) for a in self.assets]
        self._params = params
        self._fee = params.fee_frac
        self._depth = [p.depth_usd for p in impacts]
        self._decay = [2.0 ** (-self.step_seconds / p.half_life_seconds) for p in impacts]

    # ------------------------------------------------------------------ reads
    @property
    def holder(self) -> int:
        """Ledger id of ``"market:external"``, the rest of the world."""
        return self._holder

    def price_usd(self, asset: str) -> float:
        """Current trade price (USD) of ``asset``: fundamental times impact (1.0 for the quote)."""
        i = self._index.get(asset)
        if i is None:
            if asset == self.quote_asset:
                return 1.0
            raise ValueError(f"ReferenceMarket: unknown asset {asset!r}; known {self.assets}")
        return self._price[i]

    @property
    def prices_usd(self) -> np.ndarray:
        """Current prices (USD) of all assets, in ``assets`` order."""
        return np.array(self._price)

    def fundamental_usd(self, asset: str) -> float:
        """Exogenous fundamental price (USD) of ``asset``, without impact."""
        return self._fundamental[self._asset_index(asset)]

    def impact(self, asset: str) -> float:
        """Current log price impact of ``asset`` (``log(price / fundamental)``)."""
        return self._impact[self._asset_index(asset)]

    def pending_flow_usd(self, asset: str) -> float:
        """Net signed flow (USD, buying positive) recorded since the last :meth:`advance`."""
        return self._flow_usd[self._asset_index(asset)]

    def _asset_index(self, asset: str) -> int:
        i = self._index.get(asset)
        if i is None:
            raise ValueError(f"ReferenceMarket: unknown asset {asset!r}; known {self.assets}")
        return i

    # ------------------------------------------------------------------ step
    def advance(self, log_returns: np.ndarray) -> None:
        """Move every price one step.

        Parameters
        ----------
        log_returns
            Exogenous log-return of each asset over this step, in ``assets`` order.
        """
        r = log_returns.tolist() if isinstance(log_returns, np.ndarray) else list(log_returns)
        n = len(self._price)
        if len(r) != n:
            raise ValueError(f"ReferenceMarket.advance: need {n} log-returns, got {len(r)}")
        fund, impact, flow = self._fundamental, self._impact, self._flow_usd
        decay, depth, price = self._decay, self._depth, self._price
        exp = math.exp
        for i in range(n):
            ri = r[i]
            if not math.isfinite(ri):
                raise ValueError(f"ReferenceMarket.advance: log-return of {self.assets[i]} is {ri}")
            f = fund[i] * exp(ri)
            m = impact[i] * decay[i] + flow[i] / depth[i]
            fund[i] = f
            impact[i] = m
            flow[i] = 0.0
            price[i] = f * exp(m)

    # ------------------------------------------------------------------ trading
    def discard_pending_flow(self) -> None:
        """Forget the flow recorded since the last :meth:`advance` (used once, after the world's
        warm start: opening positions that pre-date step 0 are already in the starting price)."""
        self._flow_usd = [0.0] * len(self._flow_usd)

    def record_flow(self, asset: str, size_base: float) -> None:
        """Record signed order flow (base units, buying positive) that did not settle here.

        It is valued at the current price and moves the price at the next :meth:`advance`
        (e.g. a perp liquidation's closing order).
        """
        if not math.isfinite(size_base):
            raise ValueError(
                f"ReferenceMarket.record_flow: size_base must be finite, got {size_base}"
            )
        i = self._asset_index(asset)
        self._flow_usd[i] += size_base * self._price[i]

    def trade(self, holder: int, asset: str, size_base: float) -> tuple[TxStatus, float]:
        """Buy (``size_base > 0``) or sell (``< 0``) against the rest of the world.

        Fills at the current price, plus the fee on a buy and minus it on a sale; the flow is
        recorded and moves the next step's price.

        Returns
        -------
        status, usd
            ``usd`` is the quote amount paid (positive) or received (negative); 0 unless OK.
            ``INSUFFICIENT_BALANCE`` if the holder lacks the tokens, ``INSUFFICIENT_LIQUIDITY`` if
            the external inventory does; in both cases nothing changes.
        """
        if not math.isfinite(size_base):
            raise ValueError(f"ReferenceMarket.trade: size_base must be finite, got {size_base}")
        i = self._asset_index(asset)
        if size_base == 0.0:
            return TxStatus.OK, 0.0
        ledger, ext, aid, qid = self.ledger, self._holder, self._asset_ids[i], self._quote_id
        price = self._price[i]
        if size_base > 0.0:
            usd = size_base * price * (1.0 + self._fee)
            if not _covers(ledger.balance(holder, qid), usd):
                return TxStatus.INSUFFICIENT_BALANCE, 0.0
            if not _covers(ledger.balance(ext, aid), size_base):
                return TxStatus.INSUFFICIENT_LIQUIDITY, 0.0
            usd = ledger.transfer(holder, ext, qid, usd)
            ledger.transfer(ext, holder, aid, size_base)
        else:
            size = -size_base
            usd = size * price * (1.0 - self._fee)
            if not _covers(ledger.balance(holder, aid), size):
                return TxStatus.INSUFFICIENT_BALANCE, 0.0
            if not _covers(ledger.balance(ext, qid), usd):
                return TxStatus.INSUFFICIENT_LIQUIDITY, 0.0
            ledger.transfer(holder, ext, aid, size)
            usd = -ledger.transfer(ext, holder, qid, usd)
        self._flow_usd[i] += size_base * price
        return TxStatus.OK, usd


def _covers(have: float, amount: float) -> bool:
    """True if a balance ``have`` covers ``amount`` up to floating-point dust."""
    return amount <= have or amount - have <= _DUST_ABS + _DUST_REL * max(abs(have), abs(amount))
