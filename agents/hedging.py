"""Delta-hedging rules (fixed interval, delta band, Whalley-Wilmott band) and a hedging simulator.

Pure functions over floats and arrays; no Mesa. The same rule drives a
:class:`~agents.market_maker.MarketMaker` inside the world and the vectorised simulator
:func:`simulate_hedged_short_option` used by the tests and the ``hedging-frequency`` experiment.

Conventions
-----------
``delta_base`` is the *net* delta of the whole book (options plus the hedge already held), in coins
of the underlying. ``gamma`` is the book's ``d(delta_base)/d(price_usd)``, in coins per USD (for one
option on one coin it is the per-unit Black-76 gamma, "per USD"). A rule answers with the signed
size to trade on the hedge venue, in coins (buy > 0), or 0 when the book stays where it is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from protocols.margin.greek_kernels import DELTA, GAMMA, PRICE, black76_greeks_usd

__all__ = [
    "HedgeParams",
    "HedgeRule",
    "HedgeSimResult",
    "HedgeTarget",
    "band_half_width_base",
    "gbm_paths",
    "hedge_due",
    "hedge_trade",
    "rebalance_trades",
    "simulate_hedged_short_option",
    "whalley_wilmott_half_width",
]

# Binance VIP0 perp taker fee 0.04% (DOMAIN.md A4 [R]) plus a 1 bp half spread ([R] assumption for
# a liquid ETH/BTC perp book): the proportional cost a hedger pays per unit of notional traded.
DEFAULT_COST_FRAC = 0.0004 + 0.0001


class HedgeRule(IntEnum):
    """When a hedger rebalances."""

    FIXED_INTERVAL = 0  # every ``interval_steps``, back to zero delta (Leland 1985 style)
    DELTA_BAND = 1  # when |net delta| leaves a fixed band of ``band_base`` coins
    WHALLEY_WILMOTT = 2  # when |net delta| leaves the Whalley-Wilmott (1997) band


class HedgeTarget(IntEnum):
    """Where a rebalance takes the net delta."""

    CENTRE = 0  # to zero delta
    EDGE = 1  # to the nearest edge of the band (the optimal policy in Whalley-Wilmott)


@dataclass(frozen=True, kw_only=True)
class HedgeParams:
    """A hedging rule and its parameters.

    Parameters
    ----------
    rule
        :class:`HedgeRule`.
    interval_steps
        FIXED_INTERVAL: steps between rebalances (>= 1).
    band_base
        DELTA_BAND: half-width of the no-trade band, an absolute size in coins of the underlying
        (for a book of one coin of option notional it is a band in delta units, 0.05 = 5 delta).
        The default is a placeholder of the right order for a one-coin book; size it to the book.
    risk_aversion
        WHALLEY_WILMOTT: the hedger's constant absolute risk aversion ``gamma_ra``, per USD
        (exponential utility ``-exp(-gamma_ra W)``). The default, 1e-5 per USD, is relative risk
        aversion 10 on a $1M desk ([R] calibration, not a venue value).
    cost_frac
        Proportional transaction cost ``lambda`` the WW rule assumes (a trade of ``x`` coins costs
        ``lambda |x| S``). Default: perp taker fee 0.04% + a 1 bp half spread ([R], DOMAIN.md A4).
    target
        Where a rebalance goes; ``None`` picks the rule's own: EDGE for WHALLEY_WILMOTT, CENTRE
        otherwise. FIXED_INTERVAL has no band, so only CENTRE is valid for it.
    min_trade_base
        Trades smaller than this (coins) are skipped (a venue's lot size); 0 trades any size.
    """

    rule: HedgeRule
    interval_steps: int = 60
    band_base: float = 0.05
    risk_aversion: float = 1e-5
    cost_frac: float = DEFAULT_COST_FRAC
    target: HedgeTarget | None = None
    min_trade_base: float = 0.0

    def __post_init__(self) -> None:
        name = type(self).__name__
        if not isinstance(self.rule, HedgeRule):
            raise ValueError(f"{name}.rule: must be a HedgeRule, got {self.rule!r}")
        if isinstance(self.interval_steps, bool) or not isinstance(self.interval_steps, int):
            raise ValueError(f"{name}.interval_steps: must be an int, got {self.interval_steps!r}")
        if self.interval_steps < 1:
            raise ValueError(f"{name}.interval_steps: must be >= 1, got {self.interval_steps}")
        for fld in ("band_base", "risk_aversion"):
            value = getattr(self, fld)
            if not (math.isfinite(value) and value > 0.0):
                raise ValueError(f"{name}.{fld}: must be > 0 and finite, got {value!r}")
        if not 0.0 <= self.cost_frac < 0.1:
            raise ValueError(f"{name}.cost_frac: must be in [0, 0.1), got {self.cost_frac!r}")
        if not (math.isfinite(self.min_trade_base) and self.min_trade_base >= 0.0):
            raise ValueError(f"{name}.min_trade_base: must be >= 0, got {self.min_trade_base!r}")
        if self.target is None:
            default = (
                HedgeTarget.EDGE if self.rule is HedgeRule.WHALLEY_WILMOTT else HedgeTarget.CENTRE
            )
            object.__setattr__(self, "target", default)  # frozen: resolve the rule's default once
        elif not isinstance(self.target, HedgeTarget):
            raise ValueError(f"{name}.target: must be a HedgeTarget or None, got {self.target!r}")
        if self.rule is HedgeRule.FIXED_INTERVAL and self.target is HedgeTarget.EDGE:
            raise ValueError(f"{name}.target: must be CENTRE for FIXED_INTERVAL, got EDGE")


def whalley_wilmott_half_width(
    gamma, price_usd, cost_frac: float, risk_aversion: float, discount=1.0
):
    """Half-width of the Whalley-Wilmott no-trade band around the Black-Scholes delta, coins.

    Parameters
    ----------
    gamma
        Book gamma ``d(delta_base)/d(price_usd)``, coins per USD (sign ignored); float or array.
    price_usd
        Underlying price ``S``, USD per coin.
    cost_frac
        Proportional transaction cost ``lambda`` (dimensionless).
    risk_aversion
        Absolute risk aversion ``gamma_ra``, per USD.
    discount
        ``exp(-r (T - t))`` (1.0 for undiscounted crypto marks).

    Returns
    -------
    float or ndarray
        ``H`` in coins: the hedger trades only when ``|delta - delta_BS| > H``, and then only to
        the nearest edge of the band.

    Notes
    -----
    Whalley & Wilmott (1997), "An asymptotic analysis of an optimal hedging model for option
    pricing with transaction costs", *Mathematical Finance* 7(3), 307-324, leading order in the
    small cost ``lambda`` for an exponential-utility hedger::

        H = ( 3/2 * exp(-r (T - t)) * lambda * S * Gamma^2 / gamma_ra )^(1/3)

    Units: ``lambda S Gamma^2 / gamma_ra`` is (USD/coin)(coin^2/USD)^2 / (1/USD) = coin^3, so ``H``
    is in coins. In delta units the band *widens* with costs (``lambda^(1/3)``) and with gamma
    (``|Gamma|^(2/3)``), and narrows with risk aversion (``gamma_ra^(-1/3)``). What narrows with
    gamma is the band in *price*: the move that crosses it is ``H / |Gamma| ~ |Gamma|^(-1/3)``,
    so a high-gamma book rebalances more often in spite of its wider delta band. A book with zero
    gamma (delta-one only) has a zero band: any delta is hedged away.
    """
    inner = 1.5 * discount * cost_frac * price_usd * np.square(gamma) / risk_aversion
    return np.cbrt(inner)


def band_half_width_base(params: HedgeParams, *, gamma, price_usd, discount=1.0):
    """The rule's no-trade half-width, coins: 0 (fixed interval), ``band_base``, or WW's ``H``."""
    if params.rule is HedgeRule.FIXED_INTERVAL:
        return np.zeros_like(np.asarray(gamma, dtype=np.float64))
    if params.rule is HedgeRule.DELTA_BAND:
        return np.full_like(np.asarray(gamma, dtype=np.float64), params.band_base)
    return whalley_wilmott_half_width(
        gamma, price_usd, params.cost_frac, params.risk_aversion, discount
    )


def hedge_due(params: HedgeParams, step: int, last_hedge_step: int | None) -> bool:
    """Whether the rule may rebalance at ``step``: always for bands; on schedule for the interval.

    FIXED_INTERVAL is due when it never hedged (``last_hedge_step is None``) or when at least
    ``interval_steps`` steps have passed since its last rebalance.
    """
    if params.rule is not HedgeRule.FIXED_INTERVAL or last_hedge_step is None:
        return True
    return step - last_hedge_step >= params.interval_steps


def rebalance_trades(params: HedgeParams, *, delta_base, gamma, price_usd, due, discount=1.0):
    """Vectorised rule: signed trade sizes (coins) for arrays of books; 0 where nothing trades.

    A book outside its band (``|delta| > H``, with ``H = 0`` for the fixed interval) and due
    trades to ``sign(delta) * H`` (EDGE) or to 0 (CENTRE); trades under ``min_trade_base`` are
    skipped.
    """
    delta = np.asarray(delta_base, dtype=np.float64)
    half = band_half_width_base(params, gamma=gamma, price_usd=price_usd, discount=discount)
    target = np.sign(delta) * half if params.target is HedgeTarget.EDGE else 0.0
    trade = np.where((np.abs(delta) > half) & due, target - delta, 0.0)
    if params.min_trade_base > 0.0:
        trade = np.where(np.abs(trade) >= params.min_trade_base, trade, 0.0)
    return trade


def hedge_trade(
    params: HedgeParams,
    *,
    delta_base: float,
    gamma: float,
    price_usd: float,
    step: int,
    last_hedge_step: int | None,
    discount: float = 1.0,
) -> float:
    """Size to trade on the hedge venue now, coins (buy > 0), or 0.0 when the book stays put.

    Parameters
    ----------
    params
        The rule.
    delta_base
        Net book delta including the hedge already held, coins.
    gamma
        Book gamma, coins per USD (used by WHALLEY_WILMOTT only).
    price_usd
        Underlying (index) price.
    step, last_hedge_step
        Current step and the step of the last rebalance (``None`` if never); used by
        FIXED_INTERVAL only.
    discount
        ``exp(-r tau)`` for the WW band.
    """
    if not (math.isfinite(delta_base) and math.isfinite(gamma)):
        raise ValueError(f"hedge_trade.delta_base/gamma: must be finite, got {delta_base}, {gamma}")
    if not (math.isfinite(price_usd) and price_usd > 0.0):
        raise ValueError(f"hedge_trade.price_usd: must be > 0, got {price_usd!r}")
    due = hedge_due(params, step, last_hedge_step)
    trade = rebalance_trades(
        params, delta_base=delta_base, gamma=gamma, price_usd=price_usd, due=due, discount=discount
    )
    return float(trade)


# ---------------------------------------------------------------------------------- simulator
@dataclass(frozen=True, kw_only=True, eq=False)
class HedgeSimResult:
    """Per-path outcome of :func:`simulate_hedged_short_option`, all USD except ``n_trades``.

    ``hedged_pnl_usd = premium_usd - payoff_usd + hedge_pnl_usd - cost_usd``: the seller's PnL.
    """

    premium_usd: np.ndarray
    payoff_usd: np.ndarray
    hedge_pnl_usd: np.ndarray
    cost_usd: np.ndarray
    n_trades: np.ndarray

    @property
    def hedged_pnl_usd(self) -> np.ndarray:
        """Premium received - payoff paid + gains on the hedge - transaction costs, per path."""
        return self.premium_usd - self.payoff_usd + self.hedge_pnl_usd - self.cost_usd

    @property
    def tracking_error_usd(self) -> float:
        """Standard deviation of the hedged PnL across paths (ddof=1)."""
        return float(np.std(self.hedged_pnl_usd, ddof=1))

    @property
    def mean_cost_usd(self) -> float:
        """Mean transaction cost per path."""
        return float(np.mean(self.cost_usd))


def gbm_paths(
    rng: np.random.Generator,
    *,
    s0_usd: float,
    vol: float,
    t_years: float,
    n_steps: int,
    n_paths: int,
    drift: float = 0.0,
) -> np.ndarray:
    """Geometric Brownian motion prices, ``(n_paths, n_steps + 1)`` USD, first column ``s0_usd``.

    Exact log-normal steps: ``S_{i+1} = S_i exp((drift - vol^2/2) dt + vol sqrt(dt) Z)``.
    """
    if not (s0_usd > 0.0 and vol >= 0.0 and t_years > 0.0 and n_steps >= 1 and n_paths >= 1):
        raise ValueError(
            "gbm_paths: must have s0_usd > 0, vol >= 0, t_years > 0, n_steps >= 1, n_paths >= 1; "
            f"got {s0_usd}, {vol}, {t_years}, {n_steps}, {n_paths}"
        )
    dt = t_years / n_steps
    z = rng.standard_normal((n_paths, n_steps))
    log_steps = (drift - 0.5 * vol * vol) * dt + vol * math.sqrt(dt) * z
    out = np.empty((n_paths, n_steps + 1))
    out[:, 0] = 0.0
    np.cumsum(log_steps, axis=1, out=out[:, 1:])
    return s0_usd * np.exp(out)


def simulate_hedged_short_option(
    paths_usd: np.ndarray,
    *,
    strike_usd: float,
    t_years: float,
    vol: float,
    params: HedgeParams,
    cost_frac: float,
    is_call: bool = True,
    notional_base: float = 1.0,
) -> HedgeSimResult:
    """Sell a European option at its Black-76 price and delta-hedge it by ``params`` to expiry.

    Parameters
    ----------
    paths_usd
        ``(n_paths, n_steps + 1)`` underlying prices; column ``i`` is time ``i * t_years /
        n_steps``, the last column is expiry. Any generator (GBM, jumps, replays) will do.
    strike_usd, t_years, vol
        The option; ``vol`` is both the pricing and the hedging volatility (a realised vol that
        differs from it shows up in the PnL).
    params
        Hedging rule; step ``i`` is the column index (FIXED_INTERVAL trades at 0, k, 2k, ...).
    cost_frac
        Proportional cost actually charged, ``cost_frac * |trade| * S`` (may differ from the
        ``params.cost_frac`` the WW rule assumes).
    is_call, notional_base
        Option type and size sold, coins.

    Notes
    -----
    Rates are zero and the forward is the spot (a perp hedge), so the premium and deltas are
    Black-76 with discount 1 (:func:`protocols.margin.greek_kernels.black76_greeks_usd`). At every
    column before expiry the rule sees the book's net delta ``h - N Delta`` and gamma ``-N Gamma``
    and trades; the hedge earns ``h (S_{i+1} - S_i)``. At expiry the option pays its intrinsic
    value and the hedge is unwound, paying the cost once more. With zero cost and fine hedging the
    hedged PnL tends to zero (the Black-Scholes replication); its standard deviation at
    ``N`` equal rebalances is about ``sqrt(pi/4) vol vega / sqrt(N)`` (Kamal & Derman 1999).
    """
    paths = np.asarray(paths_usd, dtype=np.float64)
    if paths.ndim != 2 or paths.shape[1] < 2:
        raise ValueError(
            f"simulate_hedged_short_option.paths_usd: must be 2-D with >= 2 columns, "
            f"got shape {paths.shape}"
        )
    if not np.all(np.isfinite(paths) & (paths > 0.0)):
        raise ValueError("simulate_hedged_short_option.paths_usd: must be finite and > 0")
    for fld, value in (
        ("strike_usd", strike_usd),
        ("t_years", t_years),
        ("vol", vol),
        ("notional_base", notional_base),
    ):
        if not (math.isfinite(value) and value > 0.0):
            raise ValueError(f"simulate_hedged_short_option.{fld}: must be > 0, got {value!r}")
    if not 0.0 <= cost_frac < 0.1:
        raise ValueError(
            f"simulate_hedged_short_option.cost_frac: must be in [0, 0.1), got {cost_frac!r}"
        )
    n_paths, n_steps = paths.shape[0], paths.shape[1] - 1
    dt = t_years / n_steps
    strike = np.full(n_paths, float(strike_usd))
    sigma = np.full(n_paths, float(vol))
    one = np.ones(n_paths)
    calls = np.full(n_paths, bool(is_call))
    hedge = np.zeros(n_paths)
    hedge_pnl = np.zeros(n_paths)
    cost = np.zeros(n_paths)
    n_trades = np.zeros(n_paths, dtype=np.int64)
    premium = np.zeros(n_paths)
    last: int | None = None
    for i in range(n_steps):
        spot = paths[:, i]
        greeks = black76_greeks_usd(
            spot, strike, np.full(n_paths, t_years - i * dt), sigma, one, calls
        )
        if i == 0:
            premium = notional_base * greeks[PRICE]
        due = hedge_due(params, i, last)
        trade = rebalance_trades(
            params,
            delta_base=hedge - notional_base * greeks[DELTA],
            gamma=-notional_base * greeks[GAMMA],
            price_usd=spot,
            due=due,
        )
        if due and params.rule is HedgeRule.FIXED_INTERVAL:
            last = i
        hedge += trade
        cost += cost_frac * np.abs(trade) * spot
        n_trades += trade != 0.0
        hedge_pnl += hedge * (paths[:, i + 1] - spot)
    final = paths[:, -1]
    intrinsic = final - strike_usd if is_call else strike_usd - final
    payoff = notional_base * np.maximum(intrinsic, 0.0)
    cost += cost_frac * np.abs(hedge) * final  # unwind the hedge at expiry (cash settlement)
    return HedgeSimResult(
        premium_usd=premium,
        payoff_usd=payoff,
        hedge_pnl_usd=hedge_pnl,
        cost_usd=cost,
        n_trades=n_trades,
    )
