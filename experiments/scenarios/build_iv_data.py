"""Rebuild ``protocols/margin/data/deribit_iv_2024-05-24.csv`` from the shared Deribit snapshots.

Run from the repository root with the shared data folder beside it::

    python -m experiments.scenarios.build_iv_data [--shared ../shared/data]

The recipe is documented in ``protocols/margin/data/SOURCES.md``: per expiry, the forward is the
median put-call-parity forward (in coin) over the 4 strikes nearest the index; one out-of-the-money
row per strike is kept; expiries with fewer than 8 strikes are dropped. Only this script reads the
shared folder; the package reads the shipped CSV.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

SNAPSHOT = pd.Timestamp("2024-05-24 19:15:00")
"""Snapshot time, fitted by least squares of Black-76 coin prices against the marks (SOURCES.md)."""
_ROOT = Path(__file__).resolve().parents[2]
OUT = _ROOT / "protocols" / "margin" / "data" / "deribit_iv_2024-05-24.csv"
_SECONDS_PER_YEAR = 365.0 * 86_400.0


def _rows(asset: str, frame: pd.DataFrame) -> list[dict]:
    frame = frame.assign(mat=pd.to_datetime(frame["maturity"]))
    rows: list[dict] = []
    for mat, g in frame.groupby("mat"):
        if g["strike"].nunique() < 8:
            continue
        t_years = (mat - SNAPSHOT).total_seconds() / _SECONDS_PER_YEAR
        pv = g.pivot_table(index="strike", columns="option_type", values="mark_price").dropna()
        index_usd = g["index_price"].median()
        pv = pv.iloc[np.argsort(np.abs(pv.index.to_numpy() - index_usd))[:4]]
        forward = float(np.median(pv.index / (1.0 - (pv["call"] - pv["put"]))))
        is_call = g["option_type"] == "call"
        otm = g[(is_call & (g["strike"] >= forward)) | (~is_call & (g["strike"] < forward))]
        for _, o in otm.iterrows():
            rows.append(
                {
                    "asset": asset.upper(),
                    "expiry": mat.strftime("%Y-%m-%d"),
                    "t_years": round(t_years, 8),
                    "forward_usd": round(forward, 2),
                    "strike_usd": o["strike"],
                    "option_type": o["option_type"],
                    "mark_price_coin": o["mark_price"],
                    "mark_iv_pct": o["mark_iv"],
                }
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=_ROOT.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    folder = args.shared / "deribit_option_snapshots_2024_2026"
    rows: list[dict] = []
    for asset in ("btc", "eth"):
        rows += _rows(asset, pd.read_csv(folder / f"sol-dnn_{asset}_options_2024-05.csv"))
    pd.DataFrame(rows).to_csv(args.out, index=False)
    print(f"wrote {len(rows)} rows to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
