"""The Deribit option marks shipped with ``protocols.margin`` and the surface fitted to them.

``data/deribit_iv_2024-05-24.csv``: BTC and ETH marks (forward, strike, coin mark price, mark IV)
of 10 expiries at about 2024-05-24 19:15 UTC; provenance, derivation and known artefacts in
``data/SOURCES.md``. The file ships inside ``protocols`` because ``protocols`` may read nothing
outside its package (not the ``experiments`` data folder, not the shared reference data).
"""

from __future__ import annotations

import csv
import functools
from pathlib import Path

import numpy as np

from protocols.margin.surface import VolSurface

__all__ = ["DERIBIT_IV_FILE", "default_surface", "load_deribit_quotes"]

DERIBIT_IV_FILE = Path(__file__).resolve().parent / "data" / "deribit_iv_2024-05-24.csv"


def load_deribit_quotes(asset: str) -> dict[str, np.ndarray]:
    """The shipped Deribit mark IVs of ``asset`` ("BTC" or "ETH"), 2024-05-24 19:15 UTC.

    Returns arrays ``t_years``, ``forward_usd``, ``strike_usd``, ``is_call``,
    ``mark_price_coin`` and ``mark_iv`` (annualised, 0.6 = 60%), one entry per OTM quote.
    """
    with DERIBIT_IV_FILE.open(newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["asset"] == asset]
    if not rows:
        raise ValueError(f"load_deribit_quotes.asset: must be 'BTC' or 'ETH', got {asset!r}")
    return {
        "t_years": np.array([float(r["t_years"]) for r in rows]),
        "forward_usd": np.array([float(r["forward_usd"]) for r in rows]),
        "strike_usd": np.array([float(r["strike_usd"]) for r in rows]),
        "is_call": np.array([r["option_type"] == "call" for r in rows]),
        "mark_price_coin": np.array([float(r["mark_price_coin"]) for r in rows]),
        "mark_iv": np.array([float(r["mark_iv_pct"]) / 100.0 for r in rows]),
    }


@functools.cache
def default_surface(asset: str = "BTC") -> VolSurface:
    """A :class:`VolSurface` fitted to the shipped Deribit marks of ``asset`` (cached).

    Notes
    -----
    Quotes with a mark IV of exactly 100% are left out: on BTC they sit at deep strikes, all at
    the same round value, a cap of the data source rather than a market vol (the ow1display
    snapshot of the shared data shows the same pattern). The fit errors are in the per-expiry
    :class:`~protocols.margin.sabr.SabrFit` of :func:`~protocols.margin.surface.fit_surface`
    (about 2.5 vol points RMSE on BTC, 3.6 on ETH: the marks are jagged, see SOURCES.md).
    """
    q = load_deribit_quotes(asset)
    keep = q["mark_iv"] != 1.0
    return VolSurface.from_quotes(
        strike=q["strike_usd"][keep],
        expiry_years=q["t_years"][keep],
        implied_vol=q["mark_iv"][keep],
        forward=q["forward_usd"][keep],
    )
