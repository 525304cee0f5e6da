"""Sweep expansion (grid, zip, random, lhs), seeds, validation errors and sweep files."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from experiments import catalog
from experiments.catalog.governance_sweep import tiny
from experiments.overrides import SpecError
from experiments.spec import VariantSpec
from experiments.sweep import SweepAxis, expand_sweep, sweep_settings
from experiments.sweep_file import build_sweep, load_sweep_toml

MM = SweepAxis(path="perp.mm_scale", values=(0.75, 1.0, 1.5))
TL = SweepAxis(path="scenario.governance.timelock_seconds", values=(0.0, 1800.0))


def test_grid_is_the_cartesian_product_times_scenarios_and_replications() -> None:
    sweep = tiny(axes=(MM, TL), replications=2)
    runs = expand_sweep(sweep)
    assert len(runs) == 3 * 2 * 2 * 2  # settings x scenarios x replications
    assert sweep_settings(sweep) == [
        (0.75, 0.0),
        (0.75, 1800.0),
        (1.0, 0.0),
        (1.0, 1800.0),
        (1.5, 0.0),
        (1.5, 1800.0),
    ]
    first = runs[0]
    assert first.run_id == "s000-garch-stress-r0"
    assert dict(first.design) == {
        "setting": "s000",
        "scenario": "garch-stress",
        "perp.mm_scale": 0.75,
        "governance.timelock_seconds": 0.0,
    }
    last = runs[-1]
    assert last.run_id == "s005-jump-stress-r1"
    # the values really reach the run's scenario, and the scenario's overrides too
    assert last.scenario.perp.mm_scale == 1.5
    assert last.scenario.governance.timelock_seconds == 1800.0
    assert last.scenario.market.path_model == "merton"
    assert len({r.run_id for r in runs}) == len(runs)


def test_zip_pairs_values_by_position_and_needs_equal_lengths() -> None:
    ax = SweepAxis(path="governance.timelock_seconds", values=(0.0, 600.0, 3600.0))
    sweep = tiny(mode="zip", axes=(MM, ax))
    assert sweep_settings(sweep) == [(0.75, 0.0), (1.0, 600.0), (1.5, 3600.0)]
    with pytest.raises(SpecError, match=r"SweepSpec.axes: zip mode needs the same number"):
        tiny(mode="zip", axes=(MM, TL))


def test_lhs_puts_one_point_in_every_stratum_within_the_range() -> None:
    n = 8
    axes = (
        SweepAxis(path="perp.mm_scale", low=0.5, high=2.5),
        SweepAxis(path="agents.keeper_half_life_seconds", low=600.0, high=86_400.0, log=True),
        SweepAxis(path="agents.n_keepers", low=1, high=5),  # an integer field: rounded
    )
    sweep = tiny(mode="lhs", axes=axes, n_samples=n)
    pts = np.array(sweep_settings(sweep), dtype=float)
    assert pts.shape == (n, 3)
    strata = np.floor((pts[:, 0] - 0.5) / 2.0 * n).astype(int)
    assert sorted(strata) == list(range(n))
    log_u = (np.log(pts[:, 1]) - np.log(600.0)) / (np.log(86_400.0) - np.log(600.0))
    assert sorted(np.floor(log_u * n).astype(int)) == list(range(n))
    runs = expand_sweep(sweep)
    keepers = {dict(r.design)["agents.n_keepers"] for r in runs}
    assert all(isinstance(k, int) and 1 <= k <= 5 for k in keepers)
    assert expand_sweep(sweep)[3].scenario == runs[3].scenario  # reproducible


def test_random_mode_draws_choices_and_ranges_reproducibly() -> None:
    axes = (SweepAxis(path="perp.mm_scale", low=0.5, high=2.0), TL)
    sweep = tiny(mode="random", axes=axes, n_samples=20)
    pts = sweep_settings(sweep)
    assert pts == sweep_settings(sweep)
    assert all(0.5 <= mm < 2.0 and tl in (0.0, 1800.0) for mm, tl in pts)
    assert {tl for _, tl in pts} == {0.0, 1800.0}
    assert sweep_settings(replace(sweep, seed=sweep.seed + 1)) != pts


def test_every_run_has_its_own_reproducible_child_seed() -> None:
    sweep = tiny(axes=(MM,), replications=3, common_random_numbers=False)
    runs = expand_sweep(sweep)
    keys = [r.seed.spawn_key for r in runs]
    assert len(set(keys)) == len(runs)
    assert all(r.seed.entropy == sweep.seed for r in runs)
    states = {tuple(r.seed.generate_state(4)) for r in runs}
    assert len(states) == len(runs)
    again = expand_sweep(sweep)
    assert [r.seed.spawn_key for r in again] == keys


def test_common_random_numbers_share_seeds_across_settings_only() -> None:
    runs = expand_sweep(tiny(axes=(MM,), replications=2, common_random_numbers=True))
    by_setting: dict[str, list] = {}
    for r in runs:
        by_setting.setdefault(dict(r.design)["setting"], []).append(r.seed.spawn_key)
    first, *rest = by_setting.values()
    assert all(keys == first for keys in rest)  # same (scenario, replication) -> same seed
    assert len(set(first)) == len(first)  # different within a setting


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"mode": "sobol"}, r"SweepSpec.mode: must be one of grid, zip, random, lhs, got 'sobol'"),
        ({"axes": ()}, r"SweepSpec.axes: must have at least one axis"),
        ({"axes": (MM, MM)}, r"SweepSpec.axes: paths must be unique"),
        ({"n_samples": 4}, r"SweepSpec.n_samples: must be 0 in grid mode"),
        ({"mode": "lhs"}, r"SweepSpec.n_samples: must be >= 1 in lhs mode"),
        (
            {"axes": (SweepAxis(path="perp.mm_scale", low=1.0, high=2.0),)},
            r"SweepSpec.axes: grid mode needs values on every axis",
        ),
        ({"replications": 0}, r"SweepSpec.replications: must be >= 1, got 0"),
        ({"name": "a b"}, r"SweepSpec.name: must be non-empty letters"),
        (
            {"axes": (SweepAxis(path="perp.mm_scal", values=(1.0,)),)},
            r"SweepSpec.axes\[perp.mm_scal\].*scenario.perp.mm_scal: unknown field",
        ),
        (
            {"axes": (SweepAxis(path="perp.mm_scale", values=(1.0, -1.0)),)},
            r"SweepSpec.axes\[perp.mm_scale\]: value -1.0: .*mm_scale.*> 0",
        ),
        (
            {"scenarios": (VariantSpec(name="x", overrides=(("market.path_model", "nope"),)),)},
            r"SweepSpec.scenarios.x.scenario.market.path_model: must be one of",
        ),
    ],
)
def test_invalid_sweep_names_the_field_and_the_rule(changes, message) -> None:
    with pytest.raises(SpecError, match=message):
        tiny(**changes)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"values": (1.0,), "low": 0.5, "high": 2.0}, r"values: give either values or a range"),
        ({}, r"values: give either values or a range"),
        ({"low": 2.0, "high": 1.0}, r"low: low and high must be finite with low < high"),
        ({"low": 0.0, "high": 1.0, "log": True}, r"low: must be > 0 with log"),
        ({"values": (1.0,), "log": True}, r"log: applies only to a range"),
    ],
)
def test_invalid_axis_names_the_field_and_the_rule(kwargs, message) -> None:
    with pytest.raises(SpecError, match=r"SweepAxis\(perp.mm_scale\)\." + message):
        SweepAxis(path="perp.mm_scale", **kwargs)


def test_sweep_file_overrides_a_catalog_sweep(tmp_path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(
        'base = "governance-sweep"\nname = "mine"\nmode = "lhs"\nn_samples = 5\n'
        "replications = 1\n[scenario]\nsteps = 120\nagents.n_borrowers = 10\n"
        '[axes]\n"perp.mm_scale" = {low = 0.5, high = 2.0}\n'
        '"governance.timelock_seconds" = [0, 600]\n'
        '[scenarios.calm]\n"market.vol_annual" = [0.3, 0.2]\n'
    )
    sweep = load_sweep_toml(path, experiments=catalog.CATALOG, sweeps=catalog.SWEEPS)
    assert (sweep.name, sweep.mode, sweep.n_samples) == ("mine", "lhs", 5)
    assert sweep.base.scenario.steps == 120 and sweep.base.scenario.agents.n_borrowers == 10
    assert [s.name for s in sweep.scenario_set] == ["calm"]
    runs = expand_sweep(sweep)
    assert len(runs) == 5 and runs[0].scenario.market.vol_annual == (0.3, 0.2)
    # the catalog sweep's other fields are kept
    assert sweep.seed == catalog.SWEEPS["governance-sweep"].seed


def test_sweep_file_errors_name_the_key(tmp_path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('base = "governance-sweep"\nfoo = 1\n')
    with pytest.raises(SpecError, match=r"sweep: unknown key\(s\)"):
        load_sweep_toml(path, experiments=catalog.CATALOG, sweeps=catalog.SWEEPS)
    path.write_text('base = "baseline"\n')
    with pytest.raises(SpecError, match=r"axes: a sweep over an experiment needs \[axes\]"):
        load_sweep_toml(path, experiments=catalog.CATALOG, sweeps=catalog.SWEEPS)
    path.write_text('base = "nope"\n')
    with pytest.raises(SpecError, match=r"base: must name a catalog sweep or experiment"):
        load_sweep_toml(path, experiments=catalog.CATALOG, sweeps=catalog.SWEEPS)


def test_command_line_changes_apply_together() -> None:
    sweep = build_sweep(
        "governance-sweep",
        experiments=catalog.CATALOG,
        sweeps=catalog.SWEEPS,
        sets={"mode": "random", "n_samples": "3", "replications": "1", "agents.n_keepers": "1"},
        axes={"perp.mm_scale": ("1.0", "2.0")},
    )
    assert (sweep.mode, sweep.n_samples, sweep.replications) == ("random", 3, 1)
    assert sweep.base.scenario.agents.n_keepers == 1
    assert sweep.axes[0].values == ("1.0", "2.0") and len(sweep.axes) == 3
    # string values from the command line are converted to the field's type in the runs
    assert {dict(r.design)["perp.mm_scale"] for r in expand_sweep(sweep)} <= {1.0, 2.0}
    with pytest.raises(SpecError, match=r"sweep: unknown sweep 'nope'"):
        build_sweep("nope", experiments=catalog.CATALOG, sweeps=catalog.SWEEPS)


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 12),
    seed=st.integers(0, 2**32),
)
def test_lhs_strata_property(n, seed) -> None:
    sweep = tiny(
        mode="lhs",
        n_samples=n,
        seed=seed,
        axes=(SweepAxis(path="perp.mm_scale", low=1.0, high=2.0),),
    )
    u = np.array([p[0] for p in sweep_settings(sweep)]) - 1.0
    assert sorted(np.floor(u * n).astype(int)) == list(range(n))
