"""Turn a stream of oracle returns of any sampling interval into hourly bars.

The GARCH, HAR and machine-learning forecasters are fitted on hourly data, while the simulator feeds
60-second (or any other) returns. :class:`HourlyForecaster` aggregates the stream into hourly
bars (close-to-close return, Parkinson and Garman-Klass variances from the intra-hour path) and
hands each completed hour to its subclass.
"""

from __future__ import annotations

import math

from protocols.risk.ewma import SECONDS_PER_YEAR

__all__ = ["SECONDS_PER_HOUR", "HourlyForecaster"]

SECONDS_PER_HOUR = 3_600.0
_TWO_LN2_M1 = 2.0 * math.log(2.0) - 1.0
_FOUR_LN2 = 4.0 * math.log(2.0)
_EPS_SECONDS = 1e-6  # float drift of summed dt (60.0 x 60 is exact; 0.1 x 36000 is not)


class HourlyForecaster:
    """Base of the forecasters that update on an hourly clock.

    Parameters
    ----------
    initial_vol_annual
        Annualised volatility the model assumes before it has seen data.
    min_returns_for_range
        Fewest returns an hour must hold for its high-low range to be used; with fewer (e.g. one
        hourly return) ``pk`` and ``gk`` fall back to ``r^2`` like close-only data
        (:mod:`protocols.risk.features`).

    Notes
    -----
    The clock starts at construction. A return observed over ``dt`` seconds is realised at the end
    of its interval (an oracle update): it belongs to the hour containing that instant, and hours in
    which no return ends are flat bars (the oracle showed no change). When the clock crosses an hour
    boundary the hour's bar is closed: ``r`` = sum of its log returns, ``H``/``L`` = the extremes of
    the cumulative log-price path from the hour's open, ``pk = (H - L)^2 / (4 ln 2)`` and
    ``gk = 0.5 (H - L)^2 - (2 ln 2 - 1) r^2``. Forecasts change only when an hour closes, so they
    lag the returns by up to one hour. A 60-second path samples the range discretely, which biases
    Parkinson down by roughly 15-20 % against an exchange's tick high-low.
    """

    def __init__(self, *, initial_vol_annual: float, min_returns_for_range: int = 30) -> None:
        name = type(self).__name__
        if not (initial_vol_annual > 0.0 and math.isfinite(initial_vol_annual)):
            raise ValueError(
                f"{name}.initial_vol_annual: must be finite and > 0, got {initial_vol_annual}"
            )
        if min_returns_for_range < 2:
            raise ValueError(
                f"{name}.min_returns_for_range: must be >= 2, got {min_returns_for_range}"
            )
        self.initial_vol_annual = float(initial_vol_annual)
        self.min_returns_for_range = int(min_returns_for_range)
        self.elapsed_seconds = 0.0
        self.n_hours = 0
        self._hour_end_seconds = SECONDS_PER_HOUR
        self._reset_hour()

    @property
    def initial_variance_per_hour(self) -> float:
        """``initial_vol_annual^2`` per hour."""
        return self.initial_vol_annual**2 * SECONDS_PER_HOUR / SECONDS_PER_YEAR

    def _reset_hour(self) -> None:
        self._x = 0.0  # log price relative to the hour's open
        self._hi = 0.0
        self._lo = 0.0
        self._n = 0

    def update(self, log_return: float, dt_seconds: float) -> None:
        """Fold in one log return observed over ``dt_seconds`` (ignored unless ``dt > 0``)."""
        if not dt_seconds > 0.0:
            return
        if not math.isfinite(log_return):
            raise ValueError(
                f"{type(self).__name__}.update: log_return must be finite, got {log_return}"
            )
        self.elapsed_seconds += dt_seconds
        # close every hour that ended before this return was realised (empty hours are flat bars)
        while self.elapsed_seconds > self._hour_end_seconds + _EPS_SECONDS:
            self._close_hour()
        self._x += log_return
        self._hi = max(self._hi, self._x)
        self._lo = min(self._lo, self._x)
        self._n += 1
        if self.elapsed_seconds >= self._hour_end_seconds - _EPS_SECONDS:
            self._close_hour()

    def _close_hour(self) -> None:
        r = self._x
        if self._n >= self.min_returns_for_range:
            hl = self._hi - self._lo
            pk = hl * hl / _FOUR_LN2
            gk = 0.5 * hl * hl - _TWO_LN2_M1 * r * r
        else:
            pk = gk = r * r
        self._on_hour(r, pk, gk)
        self.n_hours += 1
        self._hour_end_seconds += SECONDS_PER_HOUR
        self._reset_hour()

    def _on_hour(self, r: float, pk: float, gk: float) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def forecast_variance(self, horizon_seconds: float) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def _check_horizon(self, horizon_seconds: float) -> None:
        if not (horizon_seconds >= 0.0 and math.isfinite(horizon_seconds)):
            raise ValueError(
                f"{type(self).__name__}.forecast_variance: horizon_seconds must be finite and "
                f">= 0, got {horizon_seconds}"
            )

    @property
    def vol_annual(self) -> float:
        """The next hour's forecast variance, annualised, as a volatility."""
        return math.sqrt(
            self.forecast_variance(SECONDS_PER_HOUR) / SECONDS_PER_HOUR * SECONDS_PER_YEAR
        )
