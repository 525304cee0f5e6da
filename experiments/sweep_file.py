"""Sweep files (TOML) and command-line changes to a sweep.

A sweep file names a catalog sweep or experiment as its ``base`` and changes it::

    base = "governance-sweep"        # or an experiment, e.g. "black-thursday-2020"
    name = "my-sweep"
    mode = "lhs"                     # grid, zip, random, lhs
    n_samples = 16                   # random and lhs only
    replications = 2
    seed = 7

    [scenario]                       # overrides of the base experiment's scenario
    steps = 720

    [axes]                           # replaces the base sweep's axes
    "perp.mm_scale" = {low = 0.75, high = 2.0}
    "governance.timelock_seconds" = [0, 1800, 14400]

    [scenarios.crash-2021]           # replaces the base sweep's scenarios
    "market.replay" = "eth-2021-05-19"
    "market.path_model" = "replay"
"""

from __future__ import annotations

import tomllib
import typing
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from experiments.overrides import SpecError, apply_overrides, coerce_value, flatten_table
from experiments.spec import ExperimentSpec, VariantSpec
from experiments.sweep import SweepAxis, SweepSpec

__all__ = ["build_sweep", "load_sweep_toml"]


def _require(ok: bool, field: str, rule: str, value: Any) -> None:
    if not ok:
        raise SpecError(field, f"{rule}, got {value!r}")


_TOML_TOP_LEVEL = (
    "name",
    "description",
    "mode",
    "n_samples",
    "replications",
    "seed",
    "common_random_numbers",
)


def _axis_from_toml(path: str, value: Any) -> SweepAxis:
    if isinstance(value, list):
        return SweepAxis(path=path, values=tuple(value))
    if isinstance(value, Mapping):
        unknown = sorted(set(value) - {"values", "low", "high", "log"})
        _require(not unknown, f"axes.{path}", "allowed keys: values, low, high, log", unknown)
        kw = dict(value)
        if "values" in kw:
            kw["values"] = tuple(kw["values"])
        return SweepAxis(path=path, **kw)
    raise SpecError(f"axes.{path}", f"must be a list of values or {{low, high}}, got {value!r}")


def load_sweep_toml(
    path: Path,
    *,
    experiments: Mapping[str, ExperimentSpec],
    sweeps: Mapping[str, SweepSpec],
) -> SweepSpec:
    """A sweep file: ``base`` names a catalog sweep (whose fields it overrides) or experiment.

    Layout: top-level ``base``, ``name``, ``mode``, ``n_samples``, ``replications``, ``seed``,
    ``common_random_numbers``, ``description``; a ``[scenario]`` table of base-scenario overrides;
    an ``[axes]`` table (``"perp.mm_scale" = [1.0, 1.5]`` or ``= {low = 0.5, high = 2.0}``),
    which replaces a base sweep's axes; ``[scenarios.<name>]`` tables of scenario overrides.
    """
    try:
        data = tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise SpecError(str(path), "file not found") from None
    except tomllib.TOMLDecodeError as e:
        raise SpecError(str(path), f"is not valid TOML ({e})") from None
    data = dict(data.get("sweep", data))
    base = data.pop("base", None)
    known = sorted({*sweeps, *experiments})
    _require(
        isinstance(base, str) and base in known,
        "base",
        f"must name a catalog sweep or experiment ({', '.join(known)})",
        base,
    )
    scenario = flatten_table(data.pop("scenario", {}))
    axes_table = data.pop("axes", None)
    scen_table = data.pop("scenarios", None)
    unknown = [k for k in data if k not in _TOML_TOP_LEVEL]
    _require(
        not unknown,
        "sweep",
        f"unknown key(s); allowed: base, {', '.join(_TOML_TOP_LEVEL)}, "
        "[scenario], [axes], [scenarios.<name>]",
        unknown,
    )
    fields: dict[str, Any] = dict(data)
    if base in sweeps:
        start = sweeps[base]
    else:
        _require(axes_table is not None, "axes", "a sweep over an experiment needs [axes]", None)
        start = None
        fields.setdefault("name", f"{base}-sweep")
    base_exp = start.base if start else experiments[base]
    if scenario:
        base_exp = apply_overrides(base_exp, {f"scenario.{k}": v for k, v in scenario.items()})
    fields["base"] = base_exp
    if axes_table is not None:
        _require(
            isinstance(axes_table, Mapping) and bool(axes_table),
            "axes",
            "must be a table of dotted path = values",
            axes_table,
        )
        fields["axes"] = tuple(_axis_from_toml(k, v) for k, v in axes_table.items())
    if scen_table is not None:
        _require(
            isinstance(scen_table, Mapping) and bool(scen_table),
            "scenarios",
            "must be tables [scenarios.<name>] of scenario overrides",
            scen_table,
        )
        bad = [k for k, v in scen_table.items() if not isinstance(v, Mapping)]
        _require(not bad, "scenarios", "each [scenarios.<name>] must be a table", bad)
        fields["scenarios"] = tuple(
            VariantSpec(name=k, overrides=tuple(flatten_table(v).items()))
            for k, v in scen_table.items()
        )
    return SweepSpec(**fields) if start is None else replace(start, **fields)


def _sweep_path(key: str) -> str:
    """Command-line paths: SweepSpec fields as they are, scenario fields with or without the
    ``scenario.`` prefix (``agents.n_borrowers`` -> ``base.scenario.agents.n_borrowers``)."""
    head = key.split(".", 1)[0]
    if head in SweepSpec.__dataclass_fields__:
        return key
    return f"base.scenario.{key.removeprefix('scenario.')}"


def build_sweep(
    target: str,
    *,
    experiments: Mapping[str, ExperimentSpec],
    sweeps: Mapping[str, SweepSpec],
    sets: Mapping[str, Any] | None = None,
    axes: Mapping[str, tuple[Any, ...]] | None = None,
) -> SweepSpec:
    """The sweep named ``target`` (catalog) or described by ``target`` (a .toml file), with
    dotted-path overrides ``sets`` (``replications``, ``n_samples``, ``agents.n_borrowers``, ...)
    and ``axes`` (path -> values; replaces that axis or adds a new one)."""
    if target.endswith(".toml"):
        sweep = load_sweep_toml(Path(target), experiments=experiments, sweeps=sweeps)
    elif target in sweeps:
        sweep = sweeps[target]
    else:
        raise SpecError(
            "sweep", f"unknown sweep {target!r}; known: {', '.join(sorted(sweeps))} or a FILE.toml"
        )
    # plain SweepSpec fields change together (mode = lhs needs n_samples in the same step)
    plain, nested = {}, {}
    hints = typing.get_type_hints(SweepSpec)
    for key, value in (sets or {}).items():
        path = _sweep_path(key)
        if "." in path:
            nested[path] = value
        else:
            plain[path] = coerce_value(path, hints[path], value)
    if plain:
        sweep = replace(sweep, **plain)
    sweep = apply_overrides(sweep, nested)
    for path, values in (axes or {}).items():
        new = SweepAxis(path=path, values=tuple(values))
        at = next((i for i, a in enumerate(sweep.axes) if a.field_path == new.field_path), None)
        axes_now = list(sweep.axes)
        if at is None:
            axes_now.append(new)
        else:
            axes_now[at] = new
        sweep = replace(sweep, axes=tuple(axes_now))
    return sweep
