"""Scenarios: synthetic price-path generators (paths) and historical replays with gas (replay)."""

from experiments.scenarios.paths import (
    GarchParams,
    GbmParams,
    MertonParams,
    PathParams,
    garch_t_log_returns,
    gbm_log_returns,
    generate_log_returns,
    merton_log_returns,
)
from experiments.scenarios.replay import (
    Replay,
    SyntheticGasParams,
    available_gas,
    available_replays,
    load_bars,
    load_gas,
    load_replay,
    synthetic_gas,
)

__all__ = [
    "GarchParams",
    "GbmParams",
    "MertonParams",
    "PathParams",
    "Replay",
    "SyntheticGasParams",
    "available_gas",
    "available_replays",
    "garch_t_log_returns",
    "gbm_log_returns",
    "generate_log_returns",
    "load_bars",
    "load_gas",
    "load_replay",
    "merton_log_returns",
    "synthetic_gas",
]
