import argparse

import pytest

from experiments import catalog
from experiments.cli import build_spec, load_toml, main
from experiments.overrides import SpecError, apply_overrides
from experiments.spec import ExperimentSpec, MarketSpec, ScenarioSpec, VariantSpec


def args(experiment="baseline", **kw) -> argparse.Namespace:
    base = {"experiment": experiment, "replications": None, "seed": None, "steps": None, "set": []}
    base.update(kw)
    return argparse.Namespace(**base)


def test_overrides_by_dotted_path_return_new_spec() -> None:
    spec = catalog.get("baseline")
    new = apply_overrides(
        spec,
        {
            "scenario.lending.reserve_factor": 0.2,
            "scenario.agents.n_borrowers": "800",
            "scenario.market.vol_annual": "0.9,0.7",
            "scenario.lending.collateral.0.ltv": 0.75,
        },
    )
    assert new.scenario.lending.reserve_factor == 0.2
    assert new.scenario.agents.n_borrowers == 800
    assert new.scenario.market.vol_annual == (0.9, 0.7)
    assert new.scenario.lending.collateral[0].ltv == 0.75
    assert spec.scenario.agents.n_borrowers == 500  # the original is untouched


@pytest.mark.parametrize(
    ("overrides", "field", "rule"),
    [
        ({"scenario.agents.n_borrower": 3}, "scenario.agents.n_borrower", "unknown field"),
        ({"scenario.steps": "ten"}, "scenario.steps", "expected an integer"),
        ({"scenario.steps": 0}, "scenario.steps", "must be >= 1"),
        (
            {"scenario.check_conservation": "maybe"},
            "scenario.check_conservation",
            "expected true or false",
        ),
        ({"scenario.market.correlation": 1.5}, "scenario.market.correlation", "(-1, 1)"),
        ({"scenario.market.path_model": "brownian"}, "scenario.market.path_model", "one of"),
        ({"scenario.lending.collateral.5.ltv": 0.5}, "scenario.lending.collateral.5", "index"),
        ({"scenario.market": 3}, "scenario.market", "group of settings"),
        ({"replications": 0}, "replications", "must be >= 1"),
    ],
)
def test_bad_overrides_name_field_and_rule(overrides, field, rule) -> None:
    with pytest.raises(SpecError) as info:
        apply_overrides(catalog.get("baseline"), overrides)
    assert info.value.field == field
    assert rule in info.value.rule


def test_protocol_param_rules_surface_with_the_dotted_path() -> None:
    with pytest.raises(SpecError) as info:
        apply_overrides(catalog.get("baseline"), {"scenario.lending.reserve_factor": 1.5})
    assert info.value.field == "scenario.lending.reserve_factor"


def test_variant_overrides_are_validated_before_any_run() -> None:
    with pytest.raises(SpecError, match=r"variants\.bad\.scenario\.agents\.nope"):
        ExperimentSpec(
            name="x", variants=(VariantSpec(name="bad", overrides=(("agents.nope", 1),)),)
        )


def test_market_spec_lengths_must_match_assets() -> None:
    with pytest.raises(SpecError, match=r"MarketSpec\.vol_annual: must have one value per asset"):
        MarketSpec(vol_annual=(0.5,))
    with pytest.raises(SpecError, match=r"ScenarioSpec\.amm\.liquidity_usd"):
        ScenarioSpec(
            market=MarketSpec(
                assets=("ETH",),
                initial_prices_usd=(2000.0,),
                vol_annual=(0.7,),
                impact_depth_usd=(1e9,),
            )
        )


def test_cli_flags_and_set_build_the_spec() -> None:
    spec = build_spec(
        args(
            replications=3,
            seed=5,
            steps=100,
            set=["lending.reserve_factor=0.25", "agents.recalibrate=true"],
        )
    )
    assert (spec.replications, spec.seed, spec.scenario.steps) == (3, 5, 100)
    assert spec.scenario.lending.reserve_factor == 0.25
    assert spec.scenario.agents.recalibrate is True


def test_cli_unknown_experiment_and_field_stop_with_one_message(capsys) -> None:
    assert main(["run", "no-such-thing", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "unknown experiment 'no-such-thing'" in err and "baseline" in err
    assert main(["run", "baseline", "--set", "agents.n_traders=5", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "scenario.agents.n_traders: unknown field" in err
    assert main(["run", "baseline", "--steps", "-3", "--quiet"]) == 2
    assert "scenario.steps: must be >= 1" in capsys.readouterr().err


def test_toml_file_overrides_a_catalog_entry(tmp_path) -> None:
    f = tmp_path / "exp.toml"
    f.write_text(
        'base = "black-thursday-2020"\nname = "bt-small"\nreplications = 1\n'
        '[scenario]\nsteps = 50\n"agents.n_perp_traders" = 100\n'
        "[scenario.lending]\nreserve_factor = 0.2\n"
        '[variants.static]\n"agents.recalibrate" = false\n'
        '[variants.fast]\n"agents.recalibrate" = true\n"governance.timelock_seconds" = 60.0\n'
    )
    spec = load_toml(f)
    assert spec.name == "bt-small" and spec.scenario.steps == 50
    assert spec.scenario.agents.n_perp_traders == 100
    assert spec.scenario.lending.reserve_factor == 0.2
    assert [v.name for v in spec.variants] == ["static", "fast"]
    assert spec.variant_scenario(spec.variants[1]).governance.timelock_seconds == 60.0


def test_toml_errors_name_the_key(tmp_path) -> None:
    f = tmp_path / "bad.toml"
    f.write_text('base = "baseline"\nsteps = 10\n')
    with pytest.raises(SpecError, match="steps: unknown top-level key"):
        load_toml(f)
    f.write_text('base = "baseline"\n[scenario]\nsteps = "many"\n')
    with pytest.raises(SpecError, match=r"scenario\.steps: expected an integer"):
        load_toml(f)
    f.write_text('base = "nope"\n')
    with pytest.raises(SpecError, match="base: unknown experiment"):
        load_toml(f)
