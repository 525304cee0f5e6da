"""A Chainlink-style push oracle: deviation threshold, heartbeat, latency, optional TWAP.

Protocols read :attr:`PriceOracle.price_usd`, never the true price; the gap between the two (a
step function that moves only on a large enough deviation or a heartbeat, and lands late) is the
"oracle lag -> delayed liquidation -> bad debt" channel of DOMAIN.md F.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "CHAINLINK_BTC_USD",
    "CHAINLINK_ETH_USD",
    "CHAINLINK_USDC_USD",
    "OracleParams",
    "PriceOracle",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class OracleParams:
    """Update rules of a push oracle.

    Parameters
    ----------
    deviation_frac
        A round starts when ``|p / p_last - 1| > deviation_frac`` (``p_last``: the last value
        submitted). 0 publishes every change.
    heartbeat_seconds
        A round starts when this long has elapsed since the last one, even if the price has not
        moved; ``math.inf`` disables the heartbeat.
    latency_steps
        Steps between the start of a round and the moment its value lands on-chain (the value
        is the one observed when the round started).
    twap_window_steps
        0 or 1: the oracle observes the source's spot value. ``n > 1``: it observes the
        geometric time-weighted mean of the last ``n`` observations (Uniswap v3 style).
    """

    # Chainlink ETH/USD mainnet 0.5% / 3600 s, DOMAIN.md F [S]; latency of about one block to
    # ~40 s, so one 60 s step (DOMAIN.md F [S]).
    deviation_frac: float = 0.005
    heartbeat_seconds: float = 3600
    latency_steps: int = 1
    twap_window_steps: int = 0

    def __post_init__(self) -> None:
        if not (self.deviation_frac >= 0.0 and math.isfinite(self.deviation_frac)):
            raise ValueError(
                f"OracleParams.deviation_frac: must be finite and >= 0, got {self.deviation_frac}"
            )
        if not self.heartbeat_seconds > 0:
            raise ValueError(
                f"OracleParams.heartbeat_seconds: must be > 0 (inf disables), "
                f"got {self.heartbeat_seconds}"
            )
        for name in ("latency_steps", "twap_window_steps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"OracleParams.{name}: must be an int >= 0, got {value!r}")


CHAINLINK_ETH_USD = OracleParams()
# BTC/USD mainnet heartbeat 3600 s [S]; deviation 0.5% [R] (DOMAIN.md F).
CHAINLINK_BTC_USD = OracleParams(deviation_frac=0.005, heartbeat_seconds=3600)
# USDC/USD mainnet 0.25% / 86400 s, docs.chain.link via DOMAIN.md F [S].
CHAINLINK_USDC_USD = OracleParams(deviation_frac=0.0025, heartbeat_seconds=86400)


class PriceOracle:
    """A push oracle reading one source price every step.

    Parameters
    ----------
    name
        Oracle name (for the ecosystem graph and logs).
    asset
        Asset symbol whose USD price is published.
    source
        Called once per :meth:`update`; returns the observed USD price (e.g. the reference
        market's or an AMM's price). A non-finite or non-positive value counts as a missed
        observation (no report that step) and is counted in :attr:`n_missed_observations`.
    params
        :class:`OracleParams`.
    step_seconds
        Length of one step (s).
    initial_price_usd
        Value published at construction, treated as a round landed at step 0.

    Notes
    -----
    At ``update(t)``: observe ``o_t`` (spot, or ``exp(mean(log p))`` over the TWAP window); start
    a round if ``|o_t / s - 1| > deviation_frac`` or ``(t - t_s) * step_seconds >=
    heartbeat_seconds``, where ``s, t_s`` are the value and step of the last round started; a
    round started at ``t`` lands at ``t + latency_steps`` with value ``o_t``. Comparing with the
    last round *started* (not landed) keeps one move from starting a round every step while a
    round is in flight. Rounds land in order.

    The TWAP is geometric, as in Uniswap v3 (mean of ticks, DOMAIN.md F [S]): it averages log
    prices, so the TWAP of ``1/p`` is ``1/TWAP(p)`` (ETH/USD and USD/ETH agree) and a one-step
    spike moves it less than an arithmetic mean would. Its window holds the last
    ``twap_window_steps`` observations (one per :meth:`update` call) and starts filled with the
    initial price.
    """

    def __init__(
        self,
        name: str,
        *,
        asset: str,
        source: Callable[[], float],
        params: OracleParams,
        step_seconds: int,
        initial_price_usd: float,
    ) -> None:
        if not step_seconds > 0:
            raise ValueError(f"PriceOracle.step_seconds: must be > 0, got {step_seconds}")
        if not (initial_price_usd > 0.0 and math.isfinite(initial_price_usd)):
            raise ValueError(
                f"PriceOracle.initial_price_usd: must be finite and > 0, got {initial_price_usd}"
            )
        self.name = name
        self.asset = asset
        self.source = source
        self.step_seconds = step_seconds
        self._price = float(initial_price_usd)
        self._last_update_step = 0
        self._n_updates = 0
        self._submitted_price = self._price
        self._submitted_step = 0
        self._pending: deque[tuple[int, float]] = deque()  # (landing step, value), in order
        self._last_step: int | None = None
        self._last_spot = self._price
        self.n_missed_observations = 0
        self.params = params

    # ------------------------------------------------------------------ params
    @property
    def params(self) -> OracleParams:
        """Current parameters; assign a new object to recalibrate.

        A new TWAP window restarts filled with the last observation; a new latency applies to
        rounds started afterwards.
        """
        return self._params

    @params.setter
    def params(self, params: OracleParams) -> None:
        if not isinstance(params, OracleParams):
            raise ValueError(f"PriceOracle.params: must be OracleParams, got {params!r}")
        old = getattr(self, "_params", None)
        self._params = params
        self._deviation = params.deviation_frac
        self._heartbeat = params.heartbeat_seconds
        self._latency = params.latency_steps
        window = params.twap_window_steps
        if old is None or old.twap_window_steps != window:
            self._window = window if window > 1 else 0
            log_p = math.log(self._last_spot)
            self._ring = [log_p] * self._window
            self._ring_pos = 0
            self._ring_sum = log_p * self._window

    # ------------------------------------------------------------------ reads
    @property
    def price_usd(self) -> float:
        """Latest price landed on-chain (USD)."""
        return self._price

    @property
    def last_update_step(self) -> int:
        """Step at which the latest round landed (Chainlink's ``updatedAt``)."""
        return self._last_update_step

    @property
    def n_updates(self) -> int:
        """Rounds landed since construction (the initial price not counted)."""
        return self._n_updates

    @property
    def n_pending(self) -> int:
        """Rounds started but not landed yet."""
        return len(self._pending)

    def staleness_seconds(self, step: int) -> float:
        """Seconds since the latest round landed, as a consumer checking ``updatedAt`` sees it."""
        return (step - self._last_update_step) * self.step_seconds

    # ------------------------------------------------------------------ step
    def update(self, step: int) -> bool:
        """Observe the source, start a round if a trigger fires, land due rounds.

        Parameters
        ----------
        step
            Current step; must increase from call to call.

        Returns
        -------
        bool
            True if a round landed (``price_usd`` was published) at this step.
        """
        if self._last_step is not None and step <= self._last_step:
            raise ValueError(
                f"PriceOracle.update: step must increase, got {step} after {self._last_step}"
            )
        self._last_step = step
        spot = float(self.source())
        if spot > 0.0 and math.isfinite(spot):
            self._last_spot = spot
            observed = self._observe(spot)
            if (
                abs(observed / self._submitted_price - 1.0) > self._deviation
                or (step - self._submitted_step) * self.step_seconds >= self._heartbeat
            ):
                self._submitted_price = observed
                self._submitted_step = step
                land = step + self._latency
                if self._pending and self._pending[-1][0] > land:  # latency was cut: keep order
                    land = self._pending[-1][0]
                self._pending.append((land, observed))
        else:
            self.n_missed_observations += 1
        pending = self._pending
        if not pending or pending[0][0] > step:
            return False
        while pending and pending[0][0] <= step:
            self._price = pending.popleft()[1]
            self._n_updates += 1
        self._last_update_step = step
        return True

    def _observe(self, spot: float) -> float:
        """Spot, or the geometric TWAP of the window after adding ``spot``."""
        window = self._window
        if not window:
            return spot
        log_p = math.log(spot)
        ring, pos = self._ring, self._ring_pos
        self._ring_sum += log_p - ring[pos]
        ring[pos] = log_p
        pos += 1
        if pos == window:  # once per window: recompute the sum to stop rounding drift
            pos = 0
            self._ring_sum = math.fsum(ring)
        self._ring_pos = pos
        return math.exp(self._ring_sum / window)
