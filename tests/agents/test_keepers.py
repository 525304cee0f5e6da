"""Keepers: signed proposals, latency and the race, muting, forecasts; KeeperParams validation."""

from __future__ import annotations

import pytest

from agents import Keeper, KeeperParams
from experiments.model import EcosystemModel
from experiments.runner import expand
from protocols.governance import ProposalStatus
from protocols.risk.policies import DampingParams
from protocols.signing import public_key_bytes, verify_signature

NAME = "recalibration-policies"


def _model(small_spec, variant: str, steps: int, **overrides) -> EcosystemModel:
    spec = small_spec(NAME, steps, **overrides)
    run = next(r for r in expand(spec) if r.variant == variant)
    return EcosystemModel(run.scenario, rng=run.seed)


def _honest(model: EcosystemModel) -> list[Keeper]:
    return [k for k in model.keepers if type(k) is Keeper]


def test_keepers_sign_with_registered_keys_and_arrive_after_their_latency(small_spec) -> None:
    model = _model(small_spec, "2021-breaker", 30)
    gov = model.governance
    latency = {k.name: k.latency_steps for k in _honest(model)}
    assert sorted(latency.values()) == [1, 2]  # conftest: 2 honest keepers, 60 s and 120 s
    seen = []
    for _ in range(30):
        model.step()
        for arrival, _, sender, p in gov._mempool:
            if sender in latency and (sender, p.nonce) not in {(s, n) for s, n, _ in seen}:
                seen.append((sender, p.nonce, arrival - p.step))
                key = next(k for k in _honest(model) if k.name == sender).key
                assert verify_signature(public_key_bytes(key), p.message(gov.domain), p.signature)
    assert seen, "the 2021 replay trips the breaker within 30 steps"
    assert all(delay == latency[s] for s, _, delay in seen)
    for k in _honest(model):
        nonces = [n for s, n, _ in seen if s == k.name]
        assert nonces == sorted(set(nonces))  # strictly increasing nonces


def test_keepers_race_the_fastest_valid_keeper_wins_every_window(small_spec) -> None:
    model = _model(small_spec, "2021-damping", 120)
    model.run()
    fast, slow = sorted(_honest(model), key=lambda k: k.latency_steps)
    assert fast.statuses.get(ProposalStatus.QUEUED, 0) > 0
    assert ProposalStatus.QUEUED not in slow.statuses  # same forecast, later arrival
    assert slow.statuses.get(ProposalStatus.WINDOW_TAKEN, 0) > 0


def test_keepers_muted_forecast_but_never_submit(small_spec) -> None:
    model = _model(small_spec, "2021-breaker", 60, **{"scenario.agents.recalibrate": False})
    model.run()
    assert all(k.n_submitted == 0 for k in model.keepers)
    assert model.governance.n_accepted == model.governance.n_rejected == 0
    # they still watched the crash: forecasts and its vol-of-vol moved
    k = _honest(model)[0]
    assert k.vol_ratio() > 1.0 and k.vol_of_vol() > 0.0
    assert model.recorder.frame()["perp_mm_scale"].max() == 1.0


def test_keeper_params_validation_names_the_field() -> None:
    with pytest.raises(ValueError, match=r"KeeperParams.policy: must be one of"):
        KeeperParams(policy="yolo")
    with pytest.raises(ValueError, match=r"KeeperParams.policy_params: must be DampingParams"):
        KeeperParams(policy="damping")
    with pytest.raises(ValueError, match=r"KeeperParams.horizon_seconds: must be finite and > 0"):
        KeeperParams(horizon_seconds=0.0)
    assert KeeperParams(policy="damping", policy_params=DampingParams()).policy == "damping"
