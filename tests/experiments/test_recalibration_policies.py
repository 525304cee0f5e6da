"""The recalibration-policies catalog entry: every variant runs; policies act at their triggers;
faulty keepers are always rejected with the right reason; the policy figures draw."""

from __future__ import annotations

import numpy as np
import pandas as pd

from agents import FaultyKeeper, Keeper
from agents.faulty_keeper import EXPECTED_REJECTION
from experiments.catalog import recalibration_policies
from experiments.model import EcosystemModel
from experiments.policy_figures import format_policy_table, write_policy_figures
from experiments.runner import expand, run_one
from protocols.governance import ProposalStatus

NAME = "recalibration-policies"


def _model(small_spec, variant: str, steps: int) -> EcosystemModel:
    run = next(r for r in expand(small_spec(NAME, steps)) if r.variant == variant)
    model = EcosystemModel(run.scenario, rng=run.seed)
    model.run()
    return model


def test_recalibration_policies_has_every_policy_on_every_scenario() -> None:
    spec = recalibration_policies.SPEC
    names = {v.name for v in spec.variants}
    for scenario in ("2020", "2021", "stress"):
        for policy in ("static", "scheduled", "breaker", "breaker-ramp", "damping", "predictive"):
            assert f"{scenario}-{policy}" in names
    policies = {spec.variant_scenario(v).recalibration.policy for v in spec.variants}
    assert policies == {"static", "scheduled", "circuit_breaker", "damping", "predictive"}
    assert set(spec.scenario.recalibration.faulty) == {"stale", "out_of_bounds", "forged", "replay"}
    assert spec.replications >= 2


def test_recalibration_policies_every_variant_runs_a_few_steps(small_spec, tmp_path) -> None:
    spec = small_spec(NAME, 12)
    results = [run_one(r) for r in expand(spec)]
    assert len(results) == len(spec.variants)
    for res in results:
        assert len(res.steps) == 12 and np.all(res.steps["ref_price_usd_ETH"] > 0)
        if res.run["variant"].endswith("-static"):
            assert np.all(res.steps["perp_mm_scale"] == 1.0)
    runs = pd.DataFrame([r.run for r in results])
    steps = pd.concat([r.steps for r in results])
    paths = write_policy_figures(tmp_path, runs, steps)
    assert all(p.stat().st_size > 1000 for p in paths)
    assert "breaker-ramp" in format_policy_table(runs)


def test_recalibration_breaker_raises_margins_in_the_crash_static_never_moves(small_spec) -> None:
    static = _model(small_spec, "2021-static", 40)
    breaker = _model(small_spec, "2021-breaker", 40)
    s_mm = static.recorder.frame()["perp_mm_scale"].to_numpy()
    assert np.all(s_mm == 1.0) and static.governance.n_accepted == 0
    assert static.lending.params.ltv_scale == 1.0
    # the 2021 replay moves ETH more than 1% in 5 minutes at 00:09 UTC: the breaker jumps at once
    frame = breaker.recorder.frame()
    mm = frame["perp_mm_scale"].to_numpy()
    assert mm.max() == 2.0 and 0 < int(np.argmax(mm > 1.0)) < 15
    assert frame["lending_ltv_scale"].min() == 0.5
    assert breaker.governance.n_emergency >= 2  # both levers, on the emergency path


def test_recalibration_faulty_keepers_are_always_rejected_with_their_reason(small_spec) -> None:
    model = _model(small_spec, "2021-damping", 90)
    faulty = [k for k in model.keepers if isinstance(k, FaultyKeeper)]
    assert {k.fault.name for k in faulty} == {"STALE", "OUT_OF_BOUNDS", "FORGED", "REPLAY"}
    for k in faulty:
        assert k.n_submitted > 0, k.fault
        assert set(k.statuses) == {EXPECTED_REJECTION[k.fault]}, (k.fault, k.statuses)
        # every submission was answered, except one still in flight at the last step
        assert k.n_submitted - 1 <= sum(k.statuses.values()) <= k.n_submitted
    # honest keepers moved the margins; the slower ones lost races, never to a faulty keeper
    honest = [k for k in model.keepers if type(k) is Keeper]
    accepted = sum(k.statuses.get(ProposalStatus.QUEUED, 0) for k in honest)
    assert accepted == model.governance.n_accepted > 0
    assert sum(k.statuses.get(ProposalStatus.WINDOW_TAKEN, 0) for k in honest) > 0
    assert model.recorder.frame()["perp_mm_scale"].max() > 1.0
