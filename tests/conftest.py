"""Shared fixtures: small, fast versions of the catalog worlds."""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

from experiments import catalog
from experiments.overrides import apply_overrides
from experiments.spec import ExperimentSpec

# CI explores the same examples on every run (reproducible); local runs keep exploring new ones.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

SMALL_AGENTS = {
    "scenario.agents.n_perp_traders": 120,
    "scenario.agents.n_borrowers": 80,
    "scenario.agents.n_suppliers": 30,
    "scenario.agents.n_liquidators": 5,
    "scenario.agents.n_arbitrageurs": 2,
    "scenario.agents.n_keepers": 2,
}


def small(name: str, steps: int, **overrides) -> ExperimentSpec:
    """Catalog entry ``name`` with fewer agents and ``steps`` steps, one replication."""
    spec = catalog.get(name)
    return apply_overrides(
        spec,
        {
            **SMALL_AGENTS,
            "scenario.steps": steps,
            "replications": 1,
            "scenario.check_conservation": True,
            **overrides,
        },
    )


@pytest.fixture
def small_spec():
    return small
