"""Expand an experiment into self-contained runs, run them, and write the results folder.

``run_one(RunSpec) -> RunResult`` is pure and picklable (the unit a parallel backend ships);
``run_experiment`` runs every unit serially and writes ``results/<experiment>/<spec-hash>/``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from experiments.model import EcosystemModel
from experiments.report import write_report
from experiments.spec import ExperimentSpec, ScenarioSpec, spec_to_dict
from experiments.store import result_dir, spec_hash, write_manifest, write_table
from protocols.events import EVENT_COLUMNS

__all__ = ["ExperimentResult", "RunResult", "RunSpec", "expand", "run_experiment", "run_one"]


@dataclass(frozen=True, slots=True)
class RunSpec:
    """One run: a fully resolved scenario, its identity and its own seed."""

    experiment: str
    variant: str
    replication: int
    scenario: ScenarioSpec
    seed: np.random.SeedSequence

    @property
    def run_id(self) -> str:
        """``<variant>-r<replication>``."""
        return f"{self.variant}-r{self.replication}"


@dataclass(slots=True)
class RunResult:
    """Tables of one run (rows of the experiment's Parquet files)."""

    run: dict
    steps: pd.DataFrame
    events: pd.DataFrame
    health: pd.DataFrame


@dataclass(slots=True)
class ExperimentResult:
    """Where an experiment's results went, and its runs table."""

    path: Path
    runs: pd.DataFrame
    wall_time_s: float


def expand(spec: ExperimentSpec) -> list[RunSpec]:
    """All runs of ``spec``: variants x replications, replication ``r`` seeded by child ``r``."""
    children = np.random.SeedSequence(spec.seed).spawn(spec.replications)
    runs = []
    for variant in spec.variants:
        scenario = spec.variant_scenario(variant)
        for r, child in enumerate(children):
            runs.append(RunSpec(spec.name, variant.name, r, scenario, child))
    return runs


def _max_drawdown(prices: np.ndarray) -> float:
    if prices.size == 0:
        return 0.0
    peak = np.maximum.accumulate(prices)
    return float(np.max(1.0 - prices / peak))


def _outcomes(model: EcosystemModel, steps: pd.DataFrame, events: pd.DataFrame) -> dict:
    lending, perp, gov = model.lending, model.perp, model.governance
    liq = steps["liquidation_volume_usd"].to_numpy()
    start = model.insurance_start_usd
    out = {
        "bad_debt_usd": lending.bad_debt_total + perp.bad_debt_total,
        "lending_bad_debt_usd": lending.bad_debt_total,
        "perp_bad_debt_usd": perp.bad_debt_total,
        "socialised_loss_usd": lending.deficit_socialised_total,
        "liquidation_volume_usd": float(liq.sum()),
        "lending_liquidation_volume_usd": float(steps["lending_liquidation_volume_usd"].sum()),
        "perp_liquidation_volume_usd": float(steps["perp_liquidation_volume_usd"].sum()),
        "n_liquidations": int((events["kind"] == "LIQUIDATION").sum()) if len(events) else 0,
        "adl_volume_usd": perp.adl_volume_total,
        "insurance_fund_start_usd": start,
        "insurance_fund_min_usd": model.insurance_min_usd,
        "insurance_drawdown_frac": (start - model.insurance_min_usd) / start if start > 0 else 0.0,
    }
    for a in model.base_assets:
        out[f"max_price_drawdown_frac_{a}"] = _max_drawdown(steps[f"ref_price_usd_{a}"].to_numpy())
    out["worst_step"] = int(model.recorder.worst_step)
    out["proposals_accepted"] = gov.n_accepted
    out["proposals_rejected"] = gov.n_rejected
    mm = steps["perp_mm_scale"].to_numpy()
    out["mean_mm_scale"] = float(mm.mean()) if mm.size else float("nan")
    out["max_mm_scale"] = float(mm.max()) if mm.size else float("nan")
    out["agent_actions"] = int(model.n_actions)
    out["n_agents"] = len(model.agents)
    out["min_lending_hf"] = float(np.nanmin(steps["lending_min_hf"])) if len(steps) else np.nan
    return out


def run_one(
    run: RunSpec, *, progress: Callable[[int], None] | None = None, profile: bool = False
) -> RunResult:
    """Build the world of ``run``, step it to the end, and return its tables."""
    model = EcosystemModel(run.scenario, rng=run.seed, profile=profile)
    model.run(progress=progress)
    ident = {"run_id": run.run_id, "variant": run.variant, "replication": run.replication}
    steps = model.recorder.frame()
    steps.insert(1, "time_s", steps["step"] * run.scenario.step_seconds)
    for i, (k, v) in enumerate(ident.items()):
        steps.insert(i, k, v)
    events = pd.DataFrame(model.events.columns, columns=list(EVENT_COLUMNS))
    events = events.astype(
        {"step": np.int64, "account": np.int64, "amount": np.float64, "value_usd": np.float64}
    )
    for i, (k, v) in enumerate(ident.items()):
        events.insert(i, k, v)
    health = model.recorder.health_frame()
    for i, (k, v) in enumerate(ident.items()):
        health.insert(i, k, v)
    row = {
        **ident,
        "seed_entropy": str(run.seed.entropy),
        "spawn_key": ",".join(str(k) for k in run.seed.spawn_key),
        "steps": int(model.steps),
        **_outcomes(model, steps, events),
    }
    return RunResult(run=row, steps=steps, events=events, health=health)


def run_experiment(
    spec: ExperimentSpec,
    *,
    out_root: Path = Path("results"),
    progress: bool = True,
    report: bool = True,
) -> ExperimentResult:
    """Run every run of ``spec`` serially and write its results folder."""
    spec_json = spec_to_dict(spec)
    digest = spec_hash(spec_json)
    folder = result_dir(out_root, spec.name, digest)
    runs = expand(spec)
    total = sum(r.scenario.steps for r in runs)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total, unit="step", desc=spec.name, dynamic_ncols=True, mininterval=0.5)
    started = time.perf_counter()
    results = []
    for run in runs:
        if bar is not None:
            bar.set_postfix_str(run.run_id)
        results.append(run_one(run, progress=bar.update if bar is not None else None))
    if bar is not None:
        bar.close()
    wall = time.perf_counter() - started
    runs_df = pd.DataFrame([r.run for r in results])
    folder.mkdir(parents=True, exist_ok=True)
    write_table(runs_df, folder / "runs.parquet")
    write_table(pd.concat([r.steps for r in results], ignore_index=True), folder / "steps.parquet")
    write_table(
        pd.concat([r.events for r in results], ignore_index=True), folder / "events.parquet"
    )
    write_table(
        pd.concat([r.health for r in results], ignore_index=True), folder / "health.parquet"
    )
    write_manifest(
        folder,
        spec=spec_json,
        spec_hash=digest,
        wall_time_s=wall,
        backend="serial",
        extra={"experiment": spec.name, "n_runs": len(runs)},
    )
    if report:
        write_report(folder)
    return ExperimentResult(path=folder, runs=runs_df, wall_time_s=wall)
