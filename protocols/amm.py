"""A constant-product spot AMM (Uniswap v2 maths with a fee).

Reserves ``x`` (base) and ``y`` (quote) keep ``x * y >= k``; the fee stays in the pool, so ``k``
grows with every swap and liquidity providers earn it. LP shares are a ledger asset
(``f"LP-{base}-{quote}"``) that the AMM mints and burns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from protocols.ledger import Ledger
from protocols.types import TxStatus

__all__ = ["AmmParams", "ConstantProductAMM"]

# A request may exceed a balance by floating-point dust and still count as "all of it"
# (same tolerance as Ledger.transfer).
_DUST_REL = 1e-9
_DUST_ABS = 1e-12


@dataclass(frozen=True, slots=True, kw_only=True)
class AmmParams:
    """Parameters of a constant-product AMM.

    Parameters
    ----------
    fee_frac
        Swap fee as a fraction of the input amount, kept by the pool (LPs).
    """

    # Uniswap v2 0.30% swap fee (UniswapV2Library.getAmountOut, 997/1000) [S]
    fee_frac: float = 0.003

    def __post_init__(self) -> None:
        if not 0.0 <= self.fee_frac < 1.0:
            raise ValueError(f"AmmParams.fee_frac: must be in [0, 1), got {self.fee_frac}")


class ConstantProductAMM:
    """A base/quote constant-product pool.

    Parameters
    ----------
    name
        Protocol name; the pool's ledger holder is ``f"{name}:pool"``.
    ledger
        The world's ledger. ``base_asset`` and ``quote_asset`` must be registered; the LP asset
        ``f"LP-{base_asset}-{quote_asset}"`` must not be (one pool per pair and ledger).
    base_asset, quote_asset
        Asset symbols; prices are quote per base (USD when the quote is a USD stablecoin).
    params
        :class:`AmmParams`.

    Notes
    -----
    With ``g = 1 - fee_frac``, a swap of ``a`` base in pays ``a g y / (x + g a)`` quote out
    (and symmetrically for quote in); the whole ``a`` joins the reserve, so
    ``(x + a)(y - out) = k (x + a) / (x + g a) >= k``.
    """

    def __init__(
        self,
        name: str,
        ledger: Ledger,
        *,
        base_asset: str,
        quote_asset: str = "USDC",
        params: AmmParams = AmmParams(),
    ) -> None:
        if base_asset == quote_asset:
            raise ValueError(f"ConstantProductAMM: base and quote must differ, got {base_asset!r}")
        lp_symbol = f"LP-{base_asset}-{quote_asset}"
        if lp_symbol in ledger.assets:
            raise ValueError(f"ConstantProductAMM: LP asset {lp_symbol!r} already exists in ledger")
        self.name = name
        self.ledger = ledger
        self.base_asset = base_asset
        self.quote_asset = quote_asset
        self._base_id = ledger.asset_id(base_asset)
        self._quote_id = ledger.asset_id(quote_asset)
        self._lp_symbol = lp_symbol
        self._lp_id = ledger.add_asset(lp_symbol)
        self._holder = ledger.open_holder(f"{name}:pool")
        self._x = 0.0  # base reserve, always equal to the pool's ledger balance
        self._y = 0.0  # quote reserve
        self._shares = 0.0  # LP shares outstanding (the LP asset's supply)
        self.params = params

    # ------------------------------------------------------------------ params
    @property
    def params(self) -> AmmParams:
        """Current parameters; assign a new object to change the fee."""
        return self._params

    @params.setter
    def params(self, params: AmmParams) -> None:
        if not isinstance(params, AmmParams):
            raise ValueError(f"ConstantProductAMM.params: must be AmmParams, got {params!r}")
        self._params = params
        self._gamma = 1.0 - params.fee_frac

    # ------------------------------------------------------------------ reads
    @property
    def holder(self) -> int:
        """Ledger id of the pool (holds the reserves)."""
        return self._holder

    @property
    def lp_asset(self) -> str:
        """Symbol of the LP share asset."""
        return self._lp_symbol

    @property
    def lp_asset_id(self) -> int:
        """Ledger id of the LP share asset."""
        return self._lp_id

    @property
    def reserves(self) -> tuple[float, float]:
        """``(base, quote)`` reserves."""
        return self._x, self._y

    @property
    def total_shares(self) -> float:
        """LP shares outstanding."""
        return self._shares

    @property
    def price_usd(self) -> float:
        """Pool (marginal, pre-fee) price: quote reserve / base reserve; NaN if empty."""
        x = self._x
        return self._y / x if x > 0.0 else math.nan

    @property
    def share_price_usd(self) -> float:
        """Value of one LP share at the pool price, ``2 y / shares``; NaN if no shares."""
        return 2.0 * self._y / self._shares if self._shares > 0.0 else math.nan

    def quote_amount_out(self, asset_in: str, amount_in: float) -> float:
        """Output of swapping ``amount_in`` of ``asset_in`` now (0 if the pool is empty)."""
        base_in = self._side(asset_in)
        _check_amount("amount_in", amount_in)
        r_in, r_out = (self._x, self._y) if base_in else (self._y, self._x)
        if r_in <= 0.0:
            return 0.0
        a = amount_in * self._gamma
        return r_out * a / (r_in + a)

    def amount_in_to_reach_price(self, target_price_usd: float) -> tuple[str, float]:
        """Input that moves the pool price exactly to ``target_price_usd``, fee included.

        Returns ``(asset_in, amount_in)``: base in when the target is below the pool price, quote
        in when above; ``(base_asset, 0.0)`` at the target or when the pool is empty.

        Notes
        -----
        Selling ``a`` base gives ``P' = k / ((x + g a)(x + a))``; setting ``P' = T`` gives
        ``g a^2 + (1+g) x a + x^2 - k/T = 0``, solved in the cancellation-free form
        ``a = 2 x^2 (P/T - 1) / ((1+g) x + sqrt((1-g)^2 x^2 + 4 g k / T))``. Buying with ``b``
        quote is the mirror image with ``y`` and ``1/T``.

        Pushing the pool to the reference price is not the profit-maximising arbitrage (the
        last units trade at a loss once the fee is counted); see :meth:`arbitrage_amount_in`.
        """
        if not (target_price_usd > 0.0 and math.isfinite(target_price_usd)):
            raise ValueError(f"target_price_usd: must be finite and > 0, got {target_price_usd}")
        x, y, g = self._x, self._y, self._gamma
        if x <= 0.0 or y <= 0.0:
            return self.base_asset, 0.0
        p = y / x
        k = x * y
        if target_price_usd < p:
            num = 2.0 * x * x * (p / target_price_usd - 1.0)
            den = (1.0 + g) * x + math.sqrt((1.0 - g) ** 2 * x * x + 4.0 * g * k / target_price_usd)
            return self.base_asset, num / den
        if target_price_usd > p:
            num = 2.0 * y * y * (target_price_usd / p - 1.0)
            den = (1.0 + g) * y + math.sqrt((1.0 - g) ** 2 * y * y + 4.0 * g * k * target_price_usd)
            return self.quote_asset, num / den
        return self.base_asset, 0.0

    def arbitrage_amount_in(self, reference_price_usd: float) -> tuple[str, float]:
        """Profit-maximising swap against an outside price (``(base_asset, 0.0)`` if none pays).

        Notes
        -----
        Selling ``a`` base bought outside at ``T``: profit ``g a y / (x + g a) - T a`` is maximal
        at ``(x + g a)^2 = g k / T``, i.e. ``a = (sqrt(g k / T) - x) / g``, positive only when
        ``g P > T``. Buying base with ``b`` quote: ``b = (sqrt(g k T) - y) / g`` when ``P < g T``.
        Inside the band ``g P <= T <= P / g`` no trade pays.
        """
        if not (reference_price_usd > 0.0 and math.isfinite(reference_price_usd)):
            raise ValueError(
                f"reference_price_usd: must be finite and > 0, got {reference_price_usd}"
            )
        x, y, g = self._x, self._y, self._gamma
        if x <= 0.0 or y <= 0.0:
            return self.base_asset, 0.0
        k = x * y
        a = (math.sqrt(g * k / reference_price_usd) - x) / g
        if a > 0.0:
            return self.base_asset, a
        b = (math.sqrt(g * k * reference_price_usd) - y) / g
        if b > 0.0:
            return self.quote_asset, b
        return self.base_asset, 0.0

    # ------------------------------------------------------------------ swaps
    def swap(
        self, holder: int, asset_in: str, amount_in: float, min_amount_out: float = 0.0
    ) -> tuple[TxStatus, float]:
        """Swap ``amount_in`` of ``asset_in`` for the other asset.

        Returns ``(status, amount_out)``. ``INVALID_AMOUNT`` for a zero amount,
        ``INSUFFICIENT_BALANCE`` if the holder lacks the input, ``INSUFFICIENT_LIQUIDITY`` if the
        pool is empty, ``SLIPPAGE`` if the output is below ``min_amount_out``; in every non-OK
        case nothing changes and ``amount_out`` is 0.
        """
        base_in = self._side(asset_in)
        _check_amount("amount_in", amount_in)
        if amount_in == 0.0:
            return TxStatus.INVALID_AMOUNT, 0.0
        if base_in:
            id_in, id_out, r_in, r_out = self._base_id, self._quote_id, self._x, self._y
        else:
            id_in, id_out, r_in, r_out = self._quote_id, self._base_id, self._y, self._x
        if r_in <= 0.0 or r_out <= 0.0:
            return TxStatus.INSUFFICIENT_LIQUIDITY, 0.0
        ledger = self.ledger
        have = ledger.balance(holder, id_in)
        if amount_in > have:
            if not _is_dust(have, amount_in):
                return TxStatus.INSUFFICIENT_BALANCE, 0.0
            amount_in = have
        a = amount_in * self._gamma
        out = r_out * a / (r_in + a)
        if out < min_amount_out:
            return TxStatus.SLIPPAGE, 0.0
        if not out < r_out:  # float rounding on an enormous input
            return TxStatus.INSUFFICIENT_LIQUIDITY, 0.0
        pool = self._holder
        ledger.transfer(holder, pool, id_in, amount_in)
        ledger.transfer(pool, holder, id_out, out)
        if base_in:
            self._x = r_in + amount_in
            self._y = r_out - out
        else:
            self._y = r_in + amount_in
            self._x = r_out - out
        return TxStatus.OK, out

    # ------------------------------------------------------------------ liquidity
    def seed(self, provider_holder: int, base_amount: float, quote_amount: float) -> float:
        """First liquidity: takes both amounts, mints ``sqrt(base * quote)`` shares, returns them.

        Raises ``ValueError`` if the pool already has liquidity, an amount is not > 0, or the
        provider lacks the tokens (seeding is set-up, not an agent action).
        """
        if self._shares > 0.0:
            raise ValueError(f"ConstantProductAMM.seed: {self.name} already has liquidity")
        for label, amt in (("base_amount", base_amount), ("quote_amount", quote_amount)):
            if not (amt > 0.0 and math.isfinite(amt)):
                raise ValueError(
                    f"ConstantProductAMM.seed: {label} must be finite and > 0, got {amt}"
                )
        status, shares = self.add_liquidity(provider_holder, base_amount, quote_amount)
        if status != TxStatus.OK:
            raise ValueError(f"ConstantProductAMM.seed: provider cannot pay ({status.name})")
        return shares

    def add_liquidity(
        self, holder: int, base_amount: float, quote_amount: float
    ) -> tuple[TxStatus, float]:
        """Deposit up to ``base_amount`` and ``quote_amount`` at the pool ratio; mint shares.

        Like the Uniswap v2 router, only the largest pair in the pool ratio is taken (the rest
        stays with the holder), so existing shares are not diluted. On an empty pool both amounts
        are taken and ``sqrt(base * quote)`` shares minted (no locked minimum liquidity).

        Returns ``(status, shares)``; ``INVALID_AMOUNT`` if nothing would be deposited,
        ``INSUFFICIENT_BALANCE`` if the holder lacks the tokens (nothing changes).
        """
        _check_amount("base_amount", base_amount)
        _check_amount("quote_amount", quote_amount)
        x, y, s = self._x, self._y, self._shares
        if s > 0.0:
            quote_optimal = base_amount * y / x
            if quote_optimal <= quote_amount:
                quote_amount = quote_optimal
            else:
                base_amount = quote_amount * x / y
            shares = min(base_amount / x, quote_amount / y) * s
        else:
            shares = math.sqrt(base_amount * quote_amount)
        if not shares > 0.0:
            return TxStatus.INVALID_AMOUNT, 0.0
        ledger = self.ledger
        have_b = ledger.balance(holder, self._base_id)
        have_q = ledger.balance(holder, self._quote_id)
        if base_amount > have_b and not _is_dust(have_b, base_amount):
            return TxStatus.INSUFFICIENT_BALANCE, 0.0
        if quote_amount > have_q and not _is_dust(have_q, quote_amount):
            return TxStatus.INSUFFICIENT_BALANCE, 0.0
        pool = self._holder
        self._x = x + ledger.transfer(holder, pool, self._base_id, base_amount)
        self._y = y + ledger.transfer(holder, pool, self._quote_id, quote_amount)
        ledger.mint(holder, self._lp_id, shares, f"{self.name}: add liquidity")
        self._shares = s + shares
        return TxStatus.OK, shares

    def remove_liquidity(self, holder: int, shares: float) -> tuple[TxStatus, float, float]:
        """Burn ``shares`` and pay out their pro-rata part of both reserves.

        Returns ``(status, base, quote)``; ``INVALID_AMOUNT`` for zero shares,
        ``INSUFFICIENT_BALANCE`` if the holder has fewer shares (nothing changes).
        """
        _check_amount("shares", shares)
        if shares == 0.0:
            return TxStatus.INVALID_AMOUNT, 0.0, 0.0
        ledger = self.ledger
        have = ledger.balance(holder, self._lp_id)
        if shares > have:
            if not _is_dust(have, shares):
                return TxStatus.INSUFFICIENT_BALANCE, 0.0, 0.0
            shares = have
        s, x, y = self._shares, self._x, self._y
        if shares >= s:  # last LP out takes everything, no dust left behind
            base, quote, shares = x, y, s
        else:
            frac = shares / s
            base, quote = x * frac, y * frac
        ledger.burn(holder, self._lp_id, shares, f"{self.name}: remove liquidity")
        pool = self._holder
        base = ledger.transfer(pool, holder, self._base_id, base)
        quote = ledger.transfer(pool, holder, self._quote_id, quote)
        self._shares = s - shares
        self._x = x - base
        self._y = y - quote
        return TxStatus.OK, base, quote

    # ------------------------------------------------------------------ helpers
    def _side(self, asset_in: str) -> bool:
        """True if ``asset_in`` is the base asset, False if the quote; ValueError otherwise."""
        if asset_in == self.base_asset:
            return True
        if asset_in == self.quote_asset:
            return False
        raise ValueError(
            f"ConstantProductAMM {self.name}: asset_in must be {self.base_asset!r} or "
            f"{self.quote_asset!r}, got {asset_in!r}"
        )


def _check_amount(label: str, amount: float) -> None:
    """Negative or non-finite amounts are programming errors."""
    if not (amount >= 0.0 and math.isfinite(amount)):
        raise ValueError(f"ConstantProductAMM: {label} must be finite and >= 0, got {amount}")


def _is_dust(have: float, amount: float) -> bool:
    """True if ``amount`` exceeds ``have`` by no more than floating-point dust."""
    return amount - have <= _DUST_ABS + _DUST_REL * max(abs(have), abs(amount))
