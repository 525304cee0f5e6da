"""Parameter sweeps: a :class:`SweepSpec` expands into self-contained runs, each with its own seed.

A sweep varies *levers* (the axes: dotted paths into the scenario, e.g. ``perp.mm_scale``) over
*scenarios* (named sets of scenario overrides: crash replays, synthetic stress) and replications,
in EMAworkbench's vocabulary of levers, uncertainties and replications. Settings come from one of
four named modes (never silent positional pairing):

- ``grid``: the Cartesian product of every axis's values (first axis slowest);
- ``zip``: the i-th values of every axis together (all axes must have the same length);
- ``random``: ``n_samples`` independent uniform draws, log-uniform with ``log = true``;
- ``lhs``: a Latin hypercube of ``n_samples`` points (one point per stratum of every axis).

Axes of random and lhs sweeps give a range (``low``, ``high``) or a list of values to choose from.
Every run is one row of runs.parquet with its setting, scenario and parameter values as columns.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from experiments.overrides import SpecError, apply_overrides
from experiments.runner import ExperimentResult, RunSpec, execute, finish
from experiments.spec import ExperimentSpec, ScenarioSpec, VariantSpec, spec_to_dict
from experiments.store import result_dir, spec_hash

__all__ = [
    "SWEEP_MODES",
    "SweepAxis",
    "SweepSpec",
    "expand_sweep",
    "run_sweep",
    "sweep_settings",
]

SWEEP_MODES = ("grid", "zip", "random", "lhs")
# First element of every spawn key, so the sampler's stream and the runs' never coincide.
_SAMPLER_KEY, _RUN_KEY, _COMMON_KEY = 0, 1, 2


def _require(ok: bool, field: str, rule: str, value: Any) -> None:
    if not ok:
        raise SpecError(field, f"{rule}, got {value!r}")


def _scenario_path(path: str) -> str:
    """An axis path relative to the scenario (``scenario.perp.mm_scale`` -> ``perp.mm_scale``)."""
    return path.removeprefix("scenario.")


def _get(obj: Any, path: str) -> Any:
    for part in path.split("."):
        obj = obj[int(part)] if isinstance(obj, tuple) else getattr(obj, part)
    return obj


@dataclass(frozen=True, slots=True, kw_only=True)
class SweepAxis:
    """One lever: a dotted path into the scenario and its values, or a range to sample.

    Parameters
    ----------
    path
        ``perp.mm_scale``, ``governance.timelock_seconds``, ``lending.collateral.0.ltv`` (a
        leading ``scenario.`` is allowed).
    values
        The values of a grid or zip sweep; in random and lhs sweeps, the choices.
    low, high, log
        A range sampled by random and lhs sweeps, log-uniformly with ``log``. Integer fields
        are rounded.
    """

    path: str
    values: tuple[Any, ...] = ()
    low: float | None = None
    high: float | None = None
    log: bool = False

    def __post_init__(self) -> None:
        name = f"SweepAxis({self.path}).path" if self.path else "SweepAxis.path"
        _require(bool(_scenario_path(self.path)), name, "must be a dotted scenario path", self.path)
        field = f"SweepAxis({self.path})"
        has_range = self.low is not None or self.high is not None
        _require(
            bool(self.values) != has_range,
            f"{field}.values",
            "give either values or a range (low, high), not both or neither",
            (self.values, self.low, self.high),
        )
        if has_range:
            lo, hi = self.low, self.high
            _require(
                lo is not None
                and hi is not None
                and math.isfinite(lo)
                and math.isfinite(hi)
                and lo < hi,
                f"{field}.low",
                "low and high must be finite with low < high",
                (lo, hi),
            )
            _require(not self.log or lo > 0, f"{field}.low", "must be > 0 with log", lo)
        else:
            _require(not self.log, f"{field}.log", "applies only to a range (low, high)", self.log)

    @property
    def field_path(self) -> str:
        """The path relative to the scenario (without a leading ``scenario.``)."""
        return _scenario_path(self.path)

    @property
    def is_range(self) -> bool:
        """Whether the axis is sampled from ``[low, high]``."""
        return not self.values


@dataclass(frozen=True, slots=True, kw_only=True)
class SweepSpec:
    """A sweep: levers (``axes``) x ``scenarios`` x ``replications`` over a base experiment.

    Parameters
    ----------
    name
        Folder name of the results (letters, digits, ``-``, ``_``).
    base
        The experiment whose scenario every run starts from (its variants, replications and
        seed are not used).
    mode
        One of :data:`SWEEP_MODES`.
    axes
        The levers; paths must be unique.
    scenarios
        Named scenario overrides every setting runs under; empty means the base's variants.
    n_samples
        Settings drawn by random and lhs sweeps; must be 0 for grid and zip.
    replications, seed
        Runs per (setting, scenario) and the root of every seed.
    common_random_numbers
        ``False``: every run draws from its own child ``SeedSequence(seed, spawn_key=(1, i, j,
        r))`` for setting ``i``, scenario ``j``, replication ``r``. ``True``: replication ``r``
        of scenario ``j`` uses the same child ``(2, j, r)`` under every setting, so settings
        are compared on the same paths and agents (lower variance of differences).
    """

    name: str
    description: str = ""
    base: ExperimentSpec
    mode: str = "grid"
    axes: tuple[SweepAxis, ...]
    scenarios: tuple[VariantSpec, ...] = ()
    n_samples: int = 0
    replications: int = 1
    seed: int = 0
    common_random_numbers: bool = False

    def __post_init__(self) -> None:
        _require(
            bool(self.name) and all(c.isalnum() or c in "-_" for c in self.name),
            "SweepSpec.name",
            "must be non-empty letters, digits, '-' or '_'",
            self.name,
        )
        _require(
            self.mode in SWEEP_MODES,
            "SweepSpec.mode",
            f"must be one of {', '.join(SWEEP_MODES)}",
            self.mode,
        )
        _require(len(self.axes) >= 1, "SweepSpec.axes", "must have at least one axis", self.axes)
        paths = [_scenario_path(a.path) for a in self.axes]
        _require(len(set(paths)) == len(paths), "SweepSpec.axes", "paths must be unique", paths)
        sampled = self.mode in ("random", "lhs")
        if sampled:
            _require(
                self.n_samples >= 1,
                "SweepSpec.n_samples",
                f"must be >= 1 in {self.mode} mode",
                self.n_samples,
            )
        else:
            _require(
                self.n_samples == 0,
                "SweepSpec.n_samples",
                f"must be 0 in {self.mode} mode (the axes' values fix the settings)",
                self.n_samples,
            )
            ranged = [a.path for a in self.axes if a.is_range]
            _require(
                not ranged,
                "SweepSpec.axes",
                f"{self.mode} mode needs values on every axis, not a range",
                ranged,
            )
        if self.mode == "zip":
            lengths = {a.path: len(a.values) for a in self.axes}
            _require(
                len(set(lengths.values())) == 1,
                "SweepSpec.axes",
                "zip mode needs the same number of values on every axis",
                lengths,
            )
        _require(
            self.replications >= 1, "SweepSpec.replications", "must be >= 1", self.replications
        )
        _require(self.seed >= 0, "SweepSpec.seed", "must be >= 0", self.seed)
        names = [s.name for s in self.scenario_set]
        _require(
            len(set(names)) == len(names), "SweepSpec.scenarios", "names must be unique", names
        )
        for s in self.scenario_set:
            try:
                self.base.variant_scenario(s)
            except SpecError as e:
                raise SpecError(f"SweepSpec.scenarios.{s.name}.{e.field}", e.rule) from None
        for axis in self.axes:  # every value must be valid before a single run starts
            probes = axis.values if axis.values else (axis.low, axis.high)
            for v in probes:
                _resolve(self.base.scenario, axis, v)

    @property
    def scenario_set(self) -> tuple[VariantSpec, ...]:
        """The scenarios every setting runs under."""
        return self.scenarios or self.base.variants


def _resolve(scenario: ScenarioSpec, axis: SweepAxis, value: Any) -> ScenarioSpec:
    """``scenario`` with ``axis`` set to ``value`` (rounded for integer fields)."""
    path = _scenario_path(axis.path)
    if axis.is_range:
        try:
            current = _get(scenario, path)
        except (AttributeError, IndexError, ValueError):
            current = None
        if isinstance(current, int) and not isinstance(current, bool):
            value = round(value)
    try:
        return apply_overrides(scenario, {path: value}, prefix="scenario")
    except SpecError as e:
        raise SpecError(f"SweepSpec.axes[{axis.path}]", f"value {value!r}: {e}") from None


def _unit_samples(sweep: SweepSpec) -> np.ndarray:
    """``(n_samples, n_axes)`` points in [0, 1): uniform (random) or a Latin hypercube (lhs)."""
    rng = np.random.default_rng(np.random.SeedSequence(sweep.seed, spawn_key=(_SAMPLER_KEY,)))
    n, d = sweep.n_samples, len(sweep.axes)
    if sweep.mode == "random":
        return rng.random((n, d))
    # one point in each of the n strata [k/n, (k+1)/n) of every axis, strata shuffled per axis
    strata = np.stack([rng.permutation(n) for _ in range(d)], axis=1)
    return (strata + rng.random((n, d))) / n


def _from_unit(axis: SweepAxis, u: float) -> Any:
    if not axis.is_range:
        return axis.values[min(int(u * len(axis.values)), len(axis.values) - 1)]
    lo, hi = float(axis.low), float(axis.high)  # type: ignore[arg-type]
    if axis.log:
        return float(math.exp(math.log(lo) + u * (math.log(hi) - math.log(lo))))
    return lo + u * (hi - lo)


def sweep_settings(sweep: SweepSpec) -> list[tuple[Any, ...]]:
    """The settings of ``sweep``: one tuple of axis values (in axis order) per setting."""
    if sweep.mode == "grid":
        return list(itertools.product(*(a.values for a in sweep.axes)))
    if sweep.mode == "zip":
        return list(zip(*(a.values for a in sweep.axes), strict=True))
    units = _unit_samples(sweep)
    return [
        tuple(_from_unit(a, float(u)) for a, u in zip(sweep.axes, row, strict=True))
        for row in units
    ]


def expand_sweep(sweep: SweepSpec) -> list[RunSpec]:
    """Every run of ``sweep``: settings x scenarios x replications, in that nesting order.

    Run ids are ``s<setting>-<scenario>-r<replication>`` (``s004-crash-2020-r1``); the design
    columns are ``setting``, ``scenario`` and one per axis (its path in the scenario), holding
    the value the run really used (after type conversion and rounding).
    """
    settings = sweep_settings(sweep)
    width = max(3, len(str(len(settings) - 1)))
    scenarios = sweep.scenario_set
    runs = []
    for i, values in enumerate(settings):
        sid = f"s{i:0{width}d}"
        for j, scen in enumerate(scenarios):
            scenario = sweep.base.variant_scenario(scen)
            for axis, v in zip(sweep.axes, values, strict=True):
                scenario = _resolve(scenario, axis, v)
            design = (
                ("setting", sid),
                ("scenario", scen.name),
                *(
                    (_scenario_path(a.path), _get(scenario, _scenario_path(a.path)))
                    for a in sweep.axes
                ),
            )
            for r in range(sweep.replications):
                key = (_COMMON_KEY, j, r) if sweep.common_random_numbers else (_RUN_KEY, i, j, r)
                seed = np.random.SeedSequence(sweep.seed, spawn_key=key)
                runs.append(RunSpec(sweep.name, f"{sid}-{scen.name}", r, scenario, seed, design))
    return runs


def run_sweep(
    sweep: SweepSpec,
    *,
    out_root: Path = Path("results"),
    backend: str = "serial",
    workers: int | None = None,
    address: str | None = None,
    progress: bool = True,
    report: bool = True,
    retry_failed: bool = False,
) -> ExperimentResult:
    """Run ``sweep`` on ``backend`` into ``out_root/<name>/<spec hash>/`` and report on it.

    Resumable: the same call after an interruption skips the runs already finished and ends with
    the same tables as an uninterrupted sweep.
    """
    spec_json = spec_to_dict(sweep)
    digest = spec_hash(spec_json)
    folder = result_dir(out_root, sweep.name, digest)
    runs = expand_sweep(sweep)
    summary = execute(
        runs,
        folder,
        backend=backend,
        workers=workers,
        address=address,
        progress=progress,
        retry_failed=retry_failed,
    )
    facts = {
        "mode": sweep.mode,
        "axes": [_scenario_path(a.path) for a in sweep.axes],
        "scenarios": [s.name for s in sweep.scenario_set],
        "replications": sweep.replications,
        "n_settings": len(runs) // (len(sweep.scenario_set) * sweep.replications),
    }
    runs_df = finish(
        folder,
        spec=spec_json,
        digest=digest,
        summary=summary,
        backend=backend,
        extra={"experiment": sweep.name, "sweep": facts},
    )
    if report:
        from experiments.governance_report import write_governance_report

        write_governance_report(folder)
    return ExperimentResult(path=folder, runs=runs_df, wall_time_s=summary.wall_time_s)
