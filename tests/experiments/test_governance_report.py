"""Governance report: per-setting tail statistics, Pareto front, recommendation, figures, CLI."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from experiments.cli import main
from experiments.governance_report import (
    build_report,
    pareto_front,
    recommend,
    setting_table,
    write_governance_report,
)
from experiments.metrics import expected_shortfall
from experiments.runner import run_experiment
from experiments.spec import spec_to_dict
from experiments.store import RUNS_FILE, spec_hash, write_manifest, write_table

AXES = ["perp.mm_scale", "governance.timelock_seconds"]
# setting -> (axis values, worst bad debt, capital efficiency): s003 is beaten by s001 on both
SETTINGS = {
    "s000": ((1.0, 0.0), 0.0, 10.0),
    "s001": ((1.0, 600.0), 100.0, 20.0),
    "s002": ((2.0, 0.0), 1e6, 30.0),
    "s003": ((2.0, 600.0), 200.0, 15.0),
}


def _runs() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    rows = []
    for sid, ((mm, tl), worst, eff) in SETTINGS.items():
        for scen in ("crash", "stress"):
            for r in range(5):
                # one run in four of each setting has bad debt, the worst one reaches `worst`
                bad = worst * (r == 4) * (scen == "crash") + worst / 10 * (r == 3)
                rows.append(
                    {
                        "run_id": f"{sid}-{scen}-r{r}",
                        "variant": f"{sid}-{scen}",
                        "replication": r,
                        "setting": sid,
                        "scenario": scen,
                        "perp.mm_scale": mm,
                        "governance.timelock_seconds": tl,
                        "bad_debt_usd": bad,
                        "insolvent": bad > 0,
                        "insurance_drawdown_frac": rng.uniform(0, 0.1),
                        "liquidation_volume_usd": rng.uniform(1e6, 2e6),
                        "capital_efficiency": eff + rng.normal(0, 0.1),
                        "margin_peak_to_trough": 1.5,
                        "margin_max_1d_increase_frac": 0.5,
                        "insurance_fund_start_usd": 5e6,
                        "status": "ok",
                        "error": "",
                        "traceback": "",
                    }
                )
    return pd.DataFrame(rows)


def _folder(tmp_path, runs: pd.DataFrame):
    write_table(runs, tmp_path / RUNS_FILE)
    spec = {"name": "synthetic"}
    sweep = {"mode": "grid", "axes": AXES, "scenarios": ["crash", "stress"], "replications": 5}
    write_manifest(
        tmp_path,
        spec=spec,
        spec_hash=spec_hash(spec),
        wall_time_s=1.0,
        extra={"experiment": "synthetic", "sweep": sweep},
    )
    return tmp_path


def test_setting_table_tail_statistics_by_hand() -> None:
    runs = _runs()
    table = setting_table(runs, AXES).set_index("setting")
    assert list(table["n_runs"]) == [10] * 4
    s2 = runs[runs["setting"] == "s002"]["bad_debt_usd"].to_numpy()
    assert table.loc["s002", "es99_bad_debt_usd"] == 1e6  # fewer than 100 runs: the worst
    assert table.loc["s002", "es95_bad_debt_usd"] == pytest.approx(expected_shortfall(s2, 0.95))
    assert table.loc["s002", "bad_debt_usd"] == pytest.approx(s2.mean())
    assert table.loc["s001", "p_insolvent"] == pytest.approx(0.3)  # 3 of 10 runs
    for stat in ("p_insolvent", "capital_efficiency", "bad_debt_usd", "es95_bad_debt_usd"):
        lo, hi = table[f"{stat}_lo"], table[f"{stat}_hi"]
        assert ((lo <= table[stat] + 1e-9) & (table[stat] <= hi + 1e-9)).all(), stat
    assert table.loc["s000", "es99_bad_debt_usd_hi"] == 0.0
    # deterministic: the bootstrap is seeded
    pd.testing.assert_frame_equal(setting_table(runs, AXES).set_index("setting"), table)


def test_pareto_front_and_recommendation() -> None:
    table = setting_table(_runs(), AXES)
    assert pareto_front(table) == ["s002", "s001", "s000"]
    rec = recommend(table, AXES, budget_usd=500_000.0)
    assert rec.setting == "s001" and rec.feasible
    assert "`s001` (perp.mm_scale = 1, governance.timelock_seconds = 600)" in rec.reason
    assert "within the budget of $500k" in rec.reason and "`s002`" in rec.reason
    assert recommend(table, AXES, budget_usd=0.0).setting == "s000"
    none = recommend(table, AXES, budget_usd=-1.0)
    assert (none.setting, none.feasible) == ("s000", False)
    assert none.reason.startswith("No setting keeps the ES99")


def test_settings_with_failed_runs_are_not_recommended() -> None:
    runs = _runs()
    i = runs.index[runs["run_id"] == "s001-stress-r0"][0]
    runs.loc[i, ["status", "error", "bad_debt_usd"]] = ["failed", "ValueError: boom", np.nan]
    table = setting_table(runs, AXES).set_index("setting")
    assert table.loc["s001", "n_failed"] == 1
    assert recommend(table.reset_index(), AXES, 500_000.0).setting == "s003"


def test_write_governance_report_is_deterministic_with_figures(tmp_path) -> None:
    folder = _folder(tmp_path, _runs())
    text = write_governance_report(folder).read_text()
    assert "## Recommendation\n\n**`s001`.**" in text  # default budget: 10% of $5M
    assert "| `s002` (Pareto) |" in text and "| `s003` |" in text
    assert "Every run finished." in text
    for name in ("pareto", "heatmaps", "distributions"):
        assert (folder / "figures" / f"{name}.png").stat().st_size > 10_000
        assert f"figures/{name}.png" in text
    assert write_governance_report(folder).read_text() == text
    tight = write_governance_report(folder, risk_budget_usd=0.0).read_text()
    assert "**`s000`.**" in tight


def test_build_report_of_a_plain_run_is_the_experiment_report(tmp_path, small_spec) -> None:
    result = run_experiment(
        small_spec("baseline", 20), out_root=tmp_path, progress=False, report=False
    )
    text = build_report(result.path).read_text()
    assert text.startswith("# cascadelab report: baseline")
    with pytest.raises(ValueError, match="not a sweep"):
        write_governance_report(result.path)
    assert spec_hash(spec_to_dict(small_spec("baseline", 20)))[:12] == result.path.name


def test_cli_sweep_report_and_list(tmp_path, capsys) -> None:
    toml = tmp_path / "tiny.toml"
    toml.write_text(
        'base = "governance-sweep"\nname = "cli-sweep"\nreplications = 1\n'
        "[scenario]\nsteps = 40\nagents.n_perp_traders = 10\nagents.n_borrowers = 6\n"
        "agents.n_suppliers = 3\nagents.n_liquidators = 1\nagents.n_arbitrageurs = 1\n"
        '[axes]\n"perp.mm_scale" = [1.0, 2.0]\n'
        '[scenarios.stress]\n"market.vol_annual" = [1.5, 1.2]\n'
    )
    out = tmp_path / "results"
    code = main(
        [
            "sweep",
            str(toml),
            "--backend",
            "serial",
            "--out",
            str(out),
            "--quiet",
            "--axis",
            "governance.timelock_seconds=0,600",
        ]
    )
    printed = capsys.readouterr().out
    assert code == 0 and "4 runs (0 failed)" in printed and "is the most" in printed
    folder = next(out.glob("cli-sweep/*"))
    (folder / "report.md").unlink()
    assert main(["report", str(folder), "--risk-budget-usd", "0"]) == 0
    assert (folder / "report.md").is_file()
    assert main(["report", str(tmp_path / "nope")]) == 2
    assert "manifest not found" in capsys.readouterr().err
    assert main(["sweep", "nope", "--out", str(out)]) == 2
    assert main(["list"]) == 0
    assert re.search(r"governance-sweep +sweep \(grid\) of perp.mm_scale", capsys.readouterr().out)
