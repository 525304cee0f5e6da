"""Per-step metrics in preallocated arrays, and health snapshots around the worst step."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["MARGIN_COLUMNS", "StepRecorder", "step_columns"]

# Perp margin totals over all accounts, recorded after each step (StepRecorder.record_margin): what
# capital efficiency and the procyclicality of margins are measured from (experiments/metrics.py).
MARGIN_COLUMNS = ("perp_maintenance_margin_usd", "perp_initial_margin_usd", "perp_notional_usd")


def step_columns(assets: tuple[str, ...]) -> list[str]:
    """The metric columns of steps.parquet, in order (see README, "Results")."""
    cols = []
    for a in assets:
        cols += [
            f"ref_price_usd_{a}",
            f"amm_price_usd_{a}",
            f"oracle_price_usd_{a}",
            f"perp_mark_price_usd_{a}",
            f"perp_funding_rate_8h_{a}",
            f"perp_oi_long_usd_{a}",
            f"perp_oi_short_usd_{a}",
        ]
    cols += [
        "lending_utilisation",
        "lending_total_debt_usd",
        "lending_total_collateral_usd",
        "lending_liquidity_index",
        "lending_n_liquidatable",
        "lending_min_hf",
        "lending_ltv_scale",
        "lending_liquidation_volume_usd",
        "lending_bad_debt_usd",
        "perp_insurance_fund_usd",
        "perp_mm_scale",
        "perp_n_liquidatable",
        "perp_liquidation_volume_usd",
        "perp_bad_debt_usd",
        "perp_adl_volume_usd",
        "gas_price_gwei",
        "liquidation_volume_usd",
        "bad_debt_usd",
        "agent_actions",
        *MARGIN_COLUMNS,
    ]
    return cols


class StepRecorder:
    """Holds one float64 array per metric, written in place each step (no per-step allocation)."""

    def __init__(
        self, assets: tuple[str, ...], n_steps: int, extra_columns: tuple[str, ...] = ()
    ) -> None:
        # extra_columns: metrics of optional venues (the option venues' OPTION_COLUMNS)
        self.columns = step_columns(assets) + list(extra_columns)
        self.n_steps = n_steps
        self.data = {c: np.full(n_steps, np.nan) for c in self.columns}
        self.n_rows = 0
        self.health_rows: list[tuple[str, int, str, np.ndarray]] = []
        self._worst_volume = 0.0
        self.worst_step = -1

    def frame(self) -> pd.DataFrame:
        """The recorded steps as a DataFrame (``step`` is 1-based)."""
        n = self.n_rows
        df = pd.DataFrame({c: self.data[c][:n] for c in self.columns})
        df.insert(0, "step", np.arange(1, n + 1, dtype=np.int64))
        return df

    def record_margin(
        self, step: int, *, maintenance_usd: float, initial_usd: float, notional_usd: float
    ) -> None:
        """Record the perp margin totals of ``step`` (1-based): sums over all accounts, USD."""
        i = step - 1
        self.data["perp_maintenance_margin_usd"][i] = maintenance_usd
        self.data["perp_initial_margin_usd"][i] = initial_usd
        self.data["perp_notional_usd"][i] = notional_usd

    def offer_worst(
        self,
        step: int,
        volume_usd: float,
        before: dict[str, np.ndarray],
        after: dict[str, np.ndarray],
    ) -> None:
        """Keep the health distributions around the step with the largest liquidation volume."""
        if volume_usd <= self._worst_volume:
            return
        self._worst_volume = volume_usd
        self.worst_step = step
        self.health_rows = [("before", step, p, h.copy()) for p, h in before.items()]
        self.health_rows += [("after", step, p, h.copy()) for p, h in after.items()]

    def health_frame(self) -> pd.DataFrame:
        """Health rows (``when``, ``step``, ``protocol``, ``account``, ``health``)."""
        parts = []
        for when, step, protocol, h in self.health_rows:
            parts.append(
                pd.DataFrame(
                    {
                        "when": when,
                        "step": np.int64(step),
                        "protocol": protocol,
                        "account": np.arange(h.size, dtype=np.int64),
                        "health": h.astype(np.float64),
                    }
                )
            )
        if not parts:
            return pd.DataFrame(
                {
                    "when": pd.Series([], dtype=str),
                    "step": pd.Series([], dtype=np.int64),
                    "protocol": pd.Series([], dtype=str),
                    "account": pd.Series([], dtype=np.int64),
                    "health": pd.Series([], dtype=np.float64),
                }
            )
        return pd.concat(parts, ignore_index=True)
