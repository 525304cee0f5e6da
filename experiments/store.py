"""The results store: spec hashing, result folders, deterministic Parquet tables, the manifest.

A result lives in ``results/<experiment>/<spec hash prefix>/`` (see ARCHITECTURE.md, Experiments).
Equal inputs give byte-identical Parquet files, so a determinism test can compare files, and a
report can be rebuilt from the folder alone.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.metadata
import json
import math
import os
import platform
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = [
    "EVENTS_FILE",
    "HEALTH_FILE",
    "MANIFEST_FILE",
    "RUNS_FILE",
    "STEPS_FILE",
    "TIMINGS_FILE",
    "canonical_json",
    "consolidate_parts",
    "finished_parts",
    "read_manifest",
    "read_table",
    "remove_parts",
    "result_dir",
    "spec_hash",
    "write_manifest",
    "write_part",
    "write_table",
]

MANIFEST_FILE = "manifest.json"
RUNS_FILE = "runs.parquet"
STEPS_FILE = "steps.parquet"
EVENTS_FILE = "events.parquet"
HEALTH_FILE = "health.parquet"
TIMINGS_FILE = "timings.parquet"  # wall time per run: differs between backends, kept apart
PARTS_DIR = "parts"
_PART_FILE = "part.json"
# Tables of a run, in the order they are consolidated (status columns go last in runs.parquet).
_RUN_TABLES = {"runs": RUNS_FILE, "steps": STEPS_FILE, "events": EVENTS_FILE, "health": HEALTH_FILE}
_LAST_RUN_COLUMNS = ("status", "error", "traceback")

# Length of the hash prefix used as the folder name: 12 hex digits = 48 bits, collision-free for
# any realistic number of specs per experiment; the full digest is kept in the manifest.
HASH_PREFIX_CHARS = 12
# Versions recorded in every manifest (distribution names, importlib.metadata).
VERSIONED_PACKAGES = (
    "cascadelab",
    "mesa",
    "numpy",
    "numba",
    "pandas",
    "pyarrow",
    "networkx",
    "matplotlib",
)
# Fixed Parquet writer options: part of the determinism guarantee, change them only on purpose.
_PARQUET_OPTIONS: dict[str, Any] = {
    "compression": "zstd",
    "compression_level": 3,
    "version": "2.6",
    "data_page_version": "1.0",
    "use_dictionary": True,
    "write_statistics": True,
}
_GIT_TIMEOUT_SECONDS = 2.0
_REPO_ROOT = Path(__file__).resolve().parents[1]


def canonical_json(obj: Any) -> str:
    """Serialise ``obj`` as canonical JSON: sorted keys, no whitespace, ASCII, no NaN/inf.

    Raises
    ------
    ValueError
        If ``obj`` holds NaN or infinity (not JSON) or a value JSON cannot represent.
    """
    try:
        return json.dumps(
            obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
        )
    except (TypeError, ValueError) as exc:
        raise ValueError(f"spec is not canonical JSON: {exc}") from exc


def _sha256_hex(spec_json: dict) -> str:
    return hashlib.sha256(canonical_json(spec_json).encode("ascii")).hexdigest()


def spec_hash(spec_json: dict) -> str:
    """SHA-256 hex digest (64 characters) of the canonical JSON of a spec.

    The digest does not depend on key order; any changed value changes it. The result folder
    uses its first 12 characters (:func:`result_dir`), the manifest keeps all 64.
    """
    return _sha256_hex(spec_json)


def result_dir(root: Path, experiment: str, spec_hash: str) -> Path:
    """Folder of one result: ``root / experiment / spec_hash[:12]`` (not created).

    Raises
    ------
    ValueError
        If ``experiment`` is empty or not a single path component, or ``spec_hash`` is not at least
        12 lowercase hex characters.
    """
    if not experiment or experiment in (".", "..") or "/" in experiment or "\\" in experiment:
        raise ValueError(
            f"result_dir.experiment: must be a non-empty folder name, got {experiment!r}"
        )
    if len(spec_hash) < HASH_PREFIX_CHARS or any(c not in "0123456789abcdef" for c in spec_hash):
        raise ValueError(
            f"result_dir.spec_hash: must be >= {HASH_PREFIX_CHARS} lowercase hex characters, "
            f"got {spec_hash!r}"
        )
    return Path(root) / experiment / spec_hash[:HASH_PREFIX_CHARS]


def write_table(df: pd.DataFrame, path: Path) -> None:
    """Write ``df`` to Parquet with fixed options; equal frames give byte-identical files.

    The index is dropped (results keep their keys in columns), compression is zstd level 3, and
    nothing time-dependent is written. The file is written next to ``path`` and then renamed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(df, preserve_index=False)
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp, **_PARQUET_OPTIONS)
    # os.replace is atomic on POSIX: a stopped sweep never leaves a half-written file behind.
    os.replace(tmp, path)


def read_table(path: Path) -> pd.DataFrame:
    """Read a Parquet table written by :func:`write_table`.

    Raises
    ------
    FileNotFoundError
        If the file does not exist; the message names it.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"results table not found: {path}")
    return pq.read_table(path).to_pandas()


def _package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _git_commit(repo: Path = _REPO_ROOT) -> str | None:
    """Commit of the checkout holding this package; None without git, checkout or commit."""
    # GIT_OPTIONAL_LOCKS=0: read-only, never refresh the index of a checkout someone is using.
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}
    try:
        out = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--verify", "--quiet", "HEAD"],
            capture_output=True,
            text=True,
            timeout=_GIT_TIMEOUT_SECONDS,
            check=False,
            env=env,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = out.stdout.strip()
    return commit if out.returncode == 0 and commit else None


def write_manifest(
    dir: Path,
    *,
    spec: dict,
    spec_hash: str,
    wall_time_s: float,
    backend: str = "serial",
    extra: dict | None = None,
) -> Path:
    """Write ``manifest.json`` into ``dir`` and return its path.

    Parameters
    ----------
    dir : Path
        The result folder (created if missing).
    spec : dict
        The experiment spec as JSON-able dict; stored as is (keys sorted).
    spec_hash : str
        Full SHA-256 digest of ``spec``; must equal ``spec_hash(spec)``.
    wall_time_s : float
        Wall-clock duration of the experiment in seconds (finite, >= 0).
    backend : str
        Name of the execution backend (``serial``, ``process``, ``ray``).
    extra : dict, optional
        Further JSON-able facts (e.g. ``{"experiment": "baseline"}``), stored under ``extra``.

    Notes
    -----
    Besides the arguments the manifest records the package versions, the git commit of the
    checkout (None if unavailable), the Python version and platform, and ``created_utc``.
    """
    expected = _sha256_hex(spec)  # the parameter `spec_hash` shadows the module function
    if spec_hash != expected:
        raise ValueError(
            f"write_manifest.spec_hash: must equal spec_hash(spec) = {expected}, got {spec_hash!r}"
        )
    if not math.isfinite(wall_time_s) or wall_time_s < 0:
        raise ValueError(f"write_manifest.wall_time_s: must be finite and >= 0, got {wall_time_s}")
    manifest = {
        "spec": spec,
        "spec_hash": spec_hash,
        "backend": backend,
        "wall_time_s": float(wall_time_s),
        "created_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "git_commit": _git_commit(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": _package_versions(),
        "extra": dict(extra or {}),
    }
    text = json.dumps(manifest, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False)
    dir = Path(dir)
    dir.mkdir(parents=True, exist_ok=True)
    path = dir / MANIFEST_FILE
    tmp = dir / f".{MANIFEST_FILE}.tmp"
    tmp.write_text(text + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def read_manifest(dir: Path) -> dict[str, Any]:
    """Read ``manifest.json`` from a result folder.

    Raises
    ------
    FileNotFoundError
        If the folder has no manifest; the message names the file.
    """
    path = Path(dir) / MANIFEST_FILE
    if not path.is_file():
        raise FileNotFoundError(f"manifest not found: {path}")
    manifest = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(manifest, Mapping) or "spec" not in manifest:
        raise ValueError(f"{path}: not a cascadelab manifest (no 'spec' key)")
    return dict(manifest)


# ---------------------------------------------------------------------- per-run parts (resume)
def write_part(
    dir: Path, run_id: str, tables: Mapping[str, pd.DataFrame], info: Mapping[str, Any]
) -> Path:
    """Write one finished run's tables to ``dir/parts/<run_id>/``, atomically.

    Parameters
    ----------
    dir : Path
        The result folder.
    run_id : str
        The run's identity (a folder name).
    tables : mapping
        ``runs`` (one row), ``steps``, ``events``, ``health`` DataFrames.
    info : mapping
        JSON-able facts about the run (``status``, ``wall_time_s``, ``worker``), kept in
        ``part.json``; they go to ``timings.parquet``, never to the result tables.

    Notes
    -----
    The files are written into a hidden temporary folder that is then renamed: a run is either
    completely recorded or not at all, so a sweep killed at any moment resumes cleanly.
    """
    parts = Path(dir) / PARTS_DIR
    final = parts / run_id
    tmp = parts / f".tmp-{run_id}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    for key, name in _RUN_TABLES.items():
        write_table(tables[key], tmp / name)
    (tmp / _PART_FILE).write_text(canonical_json({"run_id": run_id, **info}), encoding="utf-8")
    if final.exists():  # a run recorded twice (e.g. --retry-failed): the new record wins
        shutil.rmtree(final)
    os.replace(tmp, final)
    return final


def finished_parts(dir: Path) -> dict[str, str]:
    """``run_id -> status`` of every run recorded under ``dir/parts``.

    Half-written temporary folders of a stopped sweep are removed.
    """
    parts = Path(dir) / PARTS_DIR
    if not parts.is_dir():
        return {}
    out = {}
    for p in sorted(parts.iterdir()):
        if p.name.startswith(".tmp-"):
            shutil.rmtree(p, ignore_errors=True)
            continue
        info = p / _PART_FILE
        if info.is_file():
            out[p.name] = str(json.loads(info.read_text(encoding="utf-8")).get("status", "ok"))
    return out


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with ``schema``'s columns in its order; missing columns are nulls."""
    n = table.num_rows
    cols = [
        table.column(f.name).cast(f.type) if f.name in table.column_names else pa.nulls(n, f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(cols, schema=schema)


def _concat_parts(paths: Sequence[Path], out: Path) -> None:
    """Stream the Parquet files ``paths`` (in order) into one file, one part in memory at a time."""
    # an empty part (a run without events) says nothing about the types: leave it out
    metas = [pq.read_metadata(p) for p in paths]
    schemas = [m.schema.to_arrow_schema().remove_metadata() for m in metas if m.num_rows]
    schemas = schemas or [m.schema.to_arrow_schema().remove_metadata() for m in metas[:1]]
    schema = pa.unify_schemas(schemas, promote_options="permissive") if schemas else pa.schema([])
    tmp = out.with_name(f".{out.name}.tmp")
    with pq.ParquetWriter(tmp, schema, **_PARQUET_OPTIONS) as writer:
        for p in paths:
            table = pq.read_table(p)
            if table.num_rows:
                writer.write_table(_conform(table, schema))
    os.replace(tmp, out)


def consolidate_parts(dir: Path, run_ids: Sequence[str]) -> None:
    """Write runs/steps/events/health.parquet and timings.parquet of ``dir`` from its parts.

    Rows follow the order of ``run_ids`` (the expansion order), so the tables do not depend on
    the order in which runs finished, on the backend, or on how often the sweep was resumed.
    In runs.parquet the columns ``status``, ``error`` and ``traceback`` come last. The tables
    are written by a few threads at once (Arrow reads, encodes and compresses without the GIL),
    each streaming its parts in order: the same bytes as one after the other, in the time of the
    largest table (steps.parquet; a quarter less than one after the other for a 64-run sweep).

    Raises
    ------
    FileNotFoundError
        If a run of ``run_ids`` has no part; the message names the first few.
    """
    dir = Path(dir)
    folders = [dir / PARTS_DIR / r for r in run_ids]
    missing = [r for r, f in zip(run_ids, folders, strict=True) if not (f / _PART_FILE).is_file()]
    if missing:
        raise FileNotFoundError(
            f"cannot consolidate {dir}: {len(missing)} run(s) not finished, e.g. {missing[:3]}"
        )
    jobs = [
        partial(_concat_parts, [f / name for f in folders], dir / name)
        for key, name in _RUN_TABLES.items()
        if key != "runs"
    ]
    jobs.append(partial(_consolidate_runs, folders, dir))
    with ThreadPoolExecutor(max_workers=min(len(jobs), os.cpu_count() or 1)) as pool:
        for future in [pool.submit(job) for job in jobs]:
            future.result()  # raises the first failed table's error; `with` waits for the rest


def _consolidate_runs(folders: Sequence[Path], dir: Path) -> None:
    """runs.parquet (status, error and traceback last) and timings.parquet from the parts."""
    runs = pa.concat_tables(
        [pq.read_table(f / RUNS_FILE).replace_schema_metadata(None) for f in folders],
        promote_options="permissive",
    )
    order = [c for c in runs.column_names if c not in _LAST_RUN_COLUMNS]
    order += [c for c in _LAST_RUN_COLUMNS if c in runs.column_names]
    _write_arrow(runs.select(order), dir / RUNS_FILE)
    infos = [json.loads((f / _PART_FILE).read_text(encoding="utf-8")) for f in folders]
    write_table(pd.DataFrame(infos), dir / TIMINGS_FILE)


def _write_arrow(table: pa.Table, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp, **_PARQUET_OPTIONS)
    os.replace(tmp, path)


def remove_parts(dir: Path) -> None:
    """Delete ``dir/parts`` (after a complete consolidation)."""
    shutil.rmtree(Path(dir) / PARTS_DIR, ignore_errors=True)
