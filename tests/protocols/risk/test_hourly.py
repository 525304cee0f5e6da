import math

import numpy as np
import pytest

from protocols.risk.hourly import HourlyForecaster


class Recorder(HourlyForecaster):
    """Records the hourly bars it is handed."""

    def __init__(self, **kw) -> None:
        super().__init__(initial_vol_annual=0.5, **kw)
        self.bars: list[tuple[float, float, float]] = []

    def _on_hour(self, r: float, pk: float, gk: float) -> None:
        self.bars.append((r, pk, gk))

    def forecast_variance(self, horizon_seconds: float) -> float:
        return 0.0


def test_hourly_bar_from_minute_returns_uses_the_path_range() -> None:
    rng = np.random.default_rng(0)
    r = rng.normal(0, 0.001, 120)
    f = Recorder()
    for x in r:
        f.update(float(x), 60.0)
    assert f.n_hours == 2 and len(f.bars) == 2
    path = np.concatenate([[0.0], np.cumsum(r[:60])])
    hl = path.max() - path.min()
    r_h, pk, gk = f.bars[0]
    assert r_h == pytest.approx(r[:60].sum())
    assert pk == pytest.approx(hl**2 / (4 * math.log(2)))
    assert gk == pytest.approx(0.5 * hl**2 - (2 * math.log(2) - 1) * r_h**2)
    assert f.bars[1][0] == pytest.approx(r[60:].sum())


def test_hourly_returns_fall_back_to_squared_return() -> None:
    f = Recorder()
    for x in (0.01, -0.02):
        f.update(x, 3600.0)
    assert f.bars == [(0.01, 0.01**2, 0.01**2), (-0.02, 0.02**2, 0.02**2)]


def test_long_interval_return_lands_in_the_hour_it_ends_and_gaps_are_flat() -> None:
    f = Recorder()
    f.update(0.03, 3 * 3600.0)
    assert [b[0] for b in f.bars] == [0.0, 0.0, 0.03]
    f.update(0.01, 1800.0)  # half an hour: no bar closes yet
    assert f.n_hours == 3
    f.update(0.01, 1800.0)
    assert f.bars[-1][0] == pytest.approx(0.02)


def test_non_positive_dt_is_ignored_and_bad_input_rejected() -> None:
    f = Recorder()
    f.update(0.5, 0.0)
    f.update(0.5, -60.0)
    assert f.elapsed_seconds == 0.0
    with pytest.raises(ValueError, match="log_return must be finite"):
        f.update(math.nan, 60.0)
    with pytest.raises(ValueError, match=r"HourlyForecaster.initial_vol_annual: must be finite"):
        HourlyForecaster(initial_vol_annual=-1.0)
    with pytest.raises(ValueError, match="min_returns_for_range: must be >= 2"):
        Recorder(min_returns_for_range=1)
