"""The results store: spec hashing, deterministic Parquet, manifest."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from experiments.store import (
    MANIFEST_FILE,
    read_manifest,
    read_table,
    result_dir,
    spec_hash,
    write_manifest,
    write_table,
)

SPEC = {
    "name": "baseline",
    "seed": 12345,
    "scenario": {"step_seconds": 60, "steps": 50, "assets": ["ETH", "BTC"]},
    "sweep": {"mode": "grid", "values": {"perp.mm_scale": [1.0, 1.5]}},
}


def _steps_frame() -> pd.DataFrame:
    """A slice of steps.parquet: keys, strings, ints and floats as the runner writes them."""
    rng = np.random.default_rng(7)
    n = 50
    rows = []
    for variant in ("baseline", "tight_mm"):
        for rep in range(2):
            rows.append(
                pd.DataFrame(
                    {
                        "run_id": f"{variant}-{rep}",
                        "variant": variant,
                        "replication": rep,
                        "step": np.arange(n, dtype=np.int64),
                        "time_s": np.arange(n, dtype=np.int64) * 60,
                        "ref_price_usd_ETH": 3000.0 * np.exp(np.cumsum(rng.normal(0, 0.01, n))),
                        "lending_n_liquidatable": rng.integers(0, 5, n),
                        "lending_bad_debt_usd": np.cumsum(rng.exponential(10.0, n)),
                    }
                )
            )
    return pd.concat(rows, ignore_index=True)


def test_write_table_equal_frames_byte_identical(tmp_path):
    a, b = _steps_frame(), _steps_frame()
    # Same values, different index: the index is not written, so the files must still match.
    b.index = b.index + 1000
    write_table(a, tmp_path / "a.parquet")
    write_table(b, tmp_path / "b.parquet")
    write_table(a, tmp_path / "a_again.parquet")
    first = (tmp_path / "a.parquet").read_bytes()
    assert first == (tmp_path / "b.parquet").read_bytes()
    assert first == (tmp_path / "a_again.parquet").read_bytes()
    assert not list(tmp_path.glob(".*.tmp"))


def test_write_table_different_frames_differ(tmp_path):
    a = _steps_frame()
    b = a.copy()
    b.loc[3, "lending_bad_debt_usd"] += 1.0
    write_table(a, tmp_path / "a.parquet")
    write_table(b, tmp_path / "b.parquet")
    assert (tmp_path / "a.parquet").read_bytes() != (tmp_path / "b.parquet").read_bytes()


def test_write_table_round_trip_equal(tmp_path):
    df = _steps_frame()
    df["flag"] = df["step"] % 2 == 0
    path = tmp_path / "sub" / "steps.parquet"  # parent folders are created
    write_table(df, path)
    back = read_table(path)
    pd.testing.assert_frame_equal(back, df)
    assert back["replication"].dtype == np.int64


def test_read_table_missing_file_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.parquet"):
        read_table(tmp_path / "nope.parquet")


def test_spec_hash_stable_across_key_order():
    reordered = {
        "sweep": {"values": {"perp.mm_scale": [1.0, 1.5]}, "mode": "grid"},
        "scenario": {"assets": ["ETH", "BTC"], "steps": 50, "step_seconds": 60},
        "seed": 12345,
        "name": "baseline",
    }
    h = spec_hash(SPEC)
    assert h == spec_hash(reordered)
    assert re.fullmatch(r"[0-9a-f]{64}", h)


@pytest.mark.parametrize(
    "path, value",
    [
        (("seed",), 12346),
        (("scenario", "step_seconds"), 61),
        (("scenario", "assets"), ["BTC", "ETH"]),
    ],
)
def test_spec_hash_changes_when_value_changes(path, value):
    changed = json.loads(json.dumps(SPEC))
    target = changed
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    assert spec_hash(changed) != spec_hash(SPEC)


def test_spec_hash_rejects_nan():
    with pytest.raises(ValueError, match="canonical JSON"):
        spec_hash({"x": float("nan")})


def test_result_dir_uses_hash_prefix(tmp_path):
    h = spec_hash(SPEC)
    d = result_dir(tmp_path, "baseline", h)
    assert d == tmp_path / "baseline" / h[:12]
    assert not d.exists()


@pytest.mark.parametrize(
    "experiment, digest, field",
    [
        ("baseline", "abc", "spec_hash"),
        ("baseline", "G" * 64, "spec_hash"),
        ("a/b", "a" * 64, "experiment"),
    ],
)
def test_result_dir_rejects_bad_names(tmp_path, experiment, digest, field):
    with pytest.raises(ValueError, match=re.escape(f"result_dir.{field}")):
        result_dir(tmp_path, experiment, digest)


def test_write_manifest_records_versions_and_hash(tmp_path):
    h = spec_hash(SPEC)
    path = write_manifest(
        tmp_path / "r",
        spec=SPEC,
        spec_hash=h,
        wall_time_s=1.25,
        backend="process",
        extra={"experiment": "baseline", "n_runs": 4},
    )
    assert path == tmp_path / "r" / MANIFEST_FILE
    m = read_manifest(tmp_path / "r")
    assert m["spec"] == SPEC
    assert m["spec_hash"] == h
    assert m["backend"] == "process"
    assert m["wall_time_s"] == 1.25
    assert m["extra"] == {"experiment": "baseline", "n_runs": 4}
    for package in ("mesa", "numpy", "numba", "pandas", "pyarrow", "networkx", "matplotlib"):
        assert m["versions"][package] == __import__(package).__version__
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", m["python"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", m["created_utc"])
    assert m["git_commit"] is None or re.fullmatch(r"[0-9a-f]{40,64}", m["git_commit"])


def test_write_manifest_rejects_wrong_hash_and_bad_wall_time(tmp_path):
    with pytest.raises(ValueError, match=r"write_manifest\.spec_hash"):
        write_manifest(tmp_path, spec=SPEC, spec_hash="0" * 64, wall_time_s=1.0)
    with pytest.raises(ValueError, match=r"write_manifest\.wall_time_s"):
        write_manifest(tmp_path, spec=SPEC, spec_hash=spec_hash(SPEC), wall_time_s=-1.0)
    assert not (tmp_path / MANIFEST_FILE).exists()


def test_read_manifest_missing_names_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"manifest\.json"):
        read_manifest(tmp_path)


def test_consolidate_parts_accepts_a_run_without_events(tmp_path) -> None:
    """A run with no events writes an empty events part; consolidation must still type the
    columns from the parts that have rows (regression: an untyped empty part broke the merge)."""
    from experiments.store import consolidate_parts, read_table, write_part

    def tables(run_id: str, n_events: int) -> dict[str, pd.DataFrame]:
        events = pd.DataFrame(
            {"run_id": [run_id] * n_events, "kind": ["LIQUIDATION"] * n_events}
        ).astype({"run_id": "str", "kind": "str"})
        if n_events == 0:  # what pandas builds from empty lists: untyped object columns
            events = pd.DataFrame({"run_id": [], "kind": []})
        return {
            "runs": pd.DataFrame({"run_id": [run_id], "status": ["ok"]}),
            "steps": pd.DataFrame({"run_id": [run_id], "step": [1]}),
            "events": events,
            "health": pd.DataFrame({"run_id": [run_id], "health": [1.0]}),
        }

    write_part(tmp_path, "a", tables("a", 0), {"status": "ok", "wall_time_s": 0.0, "worker": ""})
    write_part(tmp_path, "b", tables("b", 2), {"status": "ok", "wall_time_s": 0.0, "worker": ""})
    consolidate_parts(tmp_path, ["a", "b"])
    events = read_table(tmp_path / "events.parquet")
    assert events["kind"].tolist() == ["LIQUIDATION", "LIQUIDATION"]
    assert read_table(tmp_path / "runs.parquet")["run_id"].tolist() == ["a", "b"]
