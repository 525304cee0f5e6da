"""The ``cascadelab`` command: list and run experiments."""

from __future__ import annotations

import argparse
import logging
import sys
import tomllib
from pathlib import Path
from typing import Any

from experiments import catalog
from experiments.overrides import SpecError, apply_overrides, flatten_table, parse_assignment
from experiments.spec import ExperimentSpec, VariantSpec

__all__ = ["build_spec", "load_toml", "main"]

_TOP_LEVEL = ("name", "description", "replications", "seed")


def _experiment_path(key: str) -> str:
    """Dotted paths name ExperimentSpec fields, or scenario fields without the prefix."""
    head = key.split(".", 1)[0]
    if head in _TOP_LEVEL or head in ("scenario", "variants"):
        return key
    return f"scenario.{key}"


def _apply(spec: ExperimentSpec, overrides: dict[str, Any]) -> ExperimentSpec:
    for key, value in overrides.items():
        path = _experiment_path(key)
        if path.startswith("variants"):
            raise SpecError(path, "set variants in a TOML file's [variants.<name>] tables")
        spec = apply_overrides(spec, {path: value})
    return spec


def load_toml(path: Path) -> ExperimentSpec:
    """An experiment file: ``base = "<catalog name>"``, top-level fields, a ``[scenario]`` table of
    dotted or nested overrides, and optional ``[variants.<name>]`` tables (each a set of scenario
    overrides; they replace the base entry's variants)."""
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise SpecError(str(path), "file not found") from None
    except tomllib.TOMLDecodeError as e:
        raise SpecError(str(path), f"is not valid TOML ({e})") from None
    base = data.pop("base", None)
    if not isinstance(base, str):
        raise SpecError("base", f"must name a catalog entry ({', '.join(sorted(catalog.CATALOG))})")
    try:
        spec = catalog.get(base)
    except KeyError as e:
        raise SpecError("base", str(e.args[0])) from None
    variants = data.pop("variants", None)
    scenario = data.pop("scenario", {})
    unknown = [k for k in data if k not in _TOP_LEVEL]
    if unknown:
        raise SpecError(
            unknown[0],
            f"unknown top-level key; allowed: base, {', '.join(_TOP_LEVEL)}, "
            "[scenario], [variants.<name>]",
        )
    top = {k: data[k] for k in _TOP_LEVEL if k in data}
    spec = _apply(spec, {**top, **{f"scenario.{k}": v for k, v in flatten_table(scenario).items()}})
    if variants is not None:
        if not isinstance(variants, dict) or not variants:
            raise SpecError("variants", "must be tables [variants.<name>] of scenario overrides")
        new = []
        for name, table in variants.items():
            if not isinstance(table, dict):
                raise SpecError(f"variants.{name}", "must be a table of scenario overrides")
            new.append(VariantSpec(name=name, overrides=tuple(flatten_table(table).items())))
        spec = ExperimentSpec(
            name=spec.name,
            description=spec.description,
            scenario=spec.scenario,
            variants=tuple(new),
            replications=spec.replications,
            seed=spec.seed,
        )
    return spec


def build_spec(args: argparse.Namespace) -> ExperimentSpec:
    """The experiment named or described by ``args``, with every command-line override applied."""
    target = args.experiment
    if target.endswith(".toml"):
        spec = load_toml(Path(target))
    else:
        try:
            spec = catalog.get(target)
        except KeyError as e:
            raise SpecError("experiment", str(e.args[0])) from None
    overrides: dict[str, Any] = {}
    if args.replications is not None:
        overrides["replications"] = args.replications
    if args.seed is not None:
        overrides["seed"] = args.seed
    if args.steps is not None:
        overrides["scenario.steps"] = args.steps
    for text in args.set or []:
        key, value = parse_assignment(text)
        overrides[key] = value
    return _apply(spec, overrides)


def _cmd_list(_: argparse.Namespace) -> int:
    width = max(len(n) for n in catalog.CATALOG)
    for name, spec in catalog.CATALOG.items():
        s = spec.scenario
        variants = ", ".join(v.name for v in spec.variants)
        print(
            f"{name:<{width}}  {s.steps} steps x {s.step_seconds}s, "
            f"{s.agents.n_total} agents, variants: {variants}, replications: {spec.replications}"
        )
        print(f"{'':<{width}}  {spec.description}")
    for name, sweep in catalog.SWEEPS.items():
        axes = ", ".join(f"{a.field_path} ({len(a.values) or 'range'})" for a in sweep.axes)
        scenarios = ", ".join(s.name for s in sweep.scenario_set)
        print(
            f"{name:<{width}}  sweep ({sweep.mode}) of {axes} over {scenarios}, "
            f"replications: {sweep.replications}"
        )
        print(f"{'':<{width}}  {sweep.description}")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from experiments.report import format_summary, summary_table
    from experiments.runner import run_experiment

    spec = build_spec(args)
    result = run_experiment(spec, out_root=Path(args.out), progress=not args.quiet)
    print()
    print(format_summary(summary_table(result.runs)))
    print()
    print(f"results: {result.path}  ({result.wall_time_s:.1f} s)")
    print(f"report:  {result.path / 'report.md'}")
    return 0


def _cmd_forecast(args: argparse.Namespace) -> int:
    from experiments import forecasting as fc

    data = Path(args.data) if args.data else fc.DATA_DIR
    if not data.is_dir():
        print(f"cascadelab: error: --data: {data} is not a folder", file=sys.stderr)
        return 2
    spec = fc.EvaluationSpec(refit_days=args.refit_days)
    if args.action == "refit":
        out = Path(args.out) if args.out else fc.MODELS_DIR
        table = fc.refit(data_dir=data, out_dir=out, spec=spec)
        print(f"models written to {out}; held-out (CoinGecko) losses of the refitted models:")
    else:
        table, _ = fc.evaluate(spec, data_dir=data)
    print(fc.format_table(table))
    return 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    from experiments.sweep import run_sweep
    from experiments.sweep_file import build_sweep

    sets: dict[str, Any] = {
        k: v
        for k, v in (
            ("replications", args.replications),
            ("seed", args.seed),
            ("scenario.steps", args.steps),
        )
        if v is not None
    }
    sets.update(parse_assignment(t) for t in args.set or [])
    axes = {
        k: tuple(x.strip() for x in v.split(",") if x.strip())
        for k, v in (parse_assignment(t) for t in args.axis or [])
    }
    sweep = build_sweep(
        args.sweep, experiments=catalog.CATALOG, sweeps=catalog.SWEEPS, sets=sets, axes=axes
    )
    result = run_sweep(
        sweep,
        out_root=Path(args.out),
        backend=args.backend,
        workers=args.workers,
        address=args.address,
        progress=not args.quiet,
        report=not args.no_report,
        retry_failed=args.retry_failed,
    )
    failed = int((result.runs["status"] != "ok").sum())
    print(f"\n{len(result.runs)} runs ({failed} failed) in {result.wall_time_s:.1f} s")
    print(f"results: {result.path}")
    if not args.no_report:
        text = (result.path / "report.md").read_text(encoding="utf-8")
        print(text.split("## Recommendation\n\n", 1)[-1].split("\n\n", 1)[0])
        print(f"report:  {result.path / 'report.md'}")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from experiments.governance_report import build_report

    try:
        path = build_report(Path(args.dir), risk_budget_usd=args.risk_budget_usd)
    except (FileNotFoundError, ValueError) as e:
        print(f"cascadelab: error: {e}", file=sys.stderr)
        return 2
    print(f"report: {path}")
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cascadelab", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the catalog").set_defaults(func=_cmd_list)
    r = sub.add_parser("run", help="run a catalog entry or an experiment TOML file")
    r.add_argument("experiment", help="catalog name, or a FILE.toml that overrides one")
    r.add_argument("--replications", type=int, help="replications per variant")
    r.add_argument("--seed", type=int, help="root seed")
    r.add_argument("--steps", type=int, help="steps per run")
    r.add_argument(
        "--set",
        action="append",
        metavar="FIELD=VALUE",
        help="override a field by dotted path (repeatable), e.g. "
        "--set lending.reserve_factor=0.2 --set agents.n_borrowers=800",
    )
    r.add_argument("--out", default="results", help="results root (default: results)")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    r.set_defaults(func=_cmd_run)
    f = sub.add_parser(
        "forecast", help="refit the shipped volatility models, or evaluate them walk-forward"
    )
    f.add_argument("action", choices=("refit", "evaluate"))
    f.add_argument("--data", help="folder of the hourly files (default: the shipped data)")
    f.add_argument("--out", help="refit: folder for the model files (default: the shipped ones)")
    f.add_argument("--refit-days", type=int, default=90, help="walk-forward refit interval")
    f.set_defaults(func=_cmd_forecast)
    w = sub.add_parser("sweep", help="run a catalog sweep or a sweep FILE.toml (resumable)")
    w.add_argument("sweep", help="catalog sweep name, or a FILE.toml")
    w.add_argument("--backend", choices=("serial", "process", "ray"), default="process")
    w.add_argument("--workers", type=int, help="processes or Ray CPUs (default: all cores)")
    w.add_argument("--address", help="ray: join the cluster at ADDR (default: start a local one)")
    w.add_argument("--replications", type=int, help="replications per setting and scenario")
    w.add_argument("--seed", type=int, help="root seed")
    w.add_argument("--steps", type=int, help="steps per run")
    w.add_argument(
        "--set",
        action="append",
        metavar="FIELD=VALUE",
        help="override a sweep field or a scenario field (repeatable), e.g. "
        "--set n_samples=16 --set agents.n_borrowers=100",
    )
    w.add_argument(
        "--axis",
        action="append",
        metavar="PATH=V1,V2",
        help="replace or add an axis, e.g. --axis perp.mm_scale=1.0,2.0",
    )
    w.add_argument("--out", default="results", help="results root (default: results)")
    w.add_argument("--retry-failed", action="store_true", help="re-run runs that failed")
    w.add_argument("--no-report", action="store_true", help="skip the governance report")
    w.add_argument("--quiet", action="store_true", help="no progress bar")
    w.set_defaults(func=_cmd_sweep)
    rep = sub.add_parser("report", help="rebuild report.md of a result folder from its files")
    rep.add_argument("dir", help="a result folder (results/<name>/<hash>)")
    rep.add_argument(
        "--risk-budget-usd",
        type=float,
        help="sweeps: largest acceptable ES99 of bad debt (default: 10%% of the insurance fund)",
    )
    rep.set_defaults(func=_cmd_report)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``cascadelab`` command."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = _parser().parse_args(argv)
    try:
        return int(args.func(args))
    except SpecError as e:
        print(f"cascadelab: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
