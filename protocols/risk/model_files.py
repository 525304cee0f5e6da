"""Reading and writing the fitted forecasting models shipped in ``protocols/risk/models``.

A model file is JSON: ``{"kind", "format_version", "model", "metadata"}``. ``kind`` is ``garch``,
``linear_log`` or ``tree_ensemble``; a tree ensemble keeps its node arrays in an ``.npz`` beside the
JSON (loaded with ``allow_pickle=False``). ``metadata`` records what the model was fitted on (data
files and range, features, horizon), when, with which library versions, and its held-out metrics;
``cascadelab forecast refit`` rewrites the files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from protocols.risk.garch import GarchParams
from protocols.risk.log_models import TREE_ARRAYS, LinearLogModel, TreeEnsembleModel

__all__ = ["MODELS_DIR", "Model", "load_garch", "load_model", "read_model", "write_model"]

MODELS_DIR = Path(__file__).resolve().parent / "models"
FORMAT_VERSION = 1
Model = GarchParams | LinearLogModel | TreeEnsembleModel
_INT_ARRAYS = ("feature", "left", "right", "roots")
_FLAG_ARRAYS = ("missing_left", "is_leaf")


def write_model(path: Path, model: Model, metadata: dict[str, Any]) -> None:
    """Write ``model`` and its ``metadata`` to ``path`` (``.json``; trees add ``.npz``)."""
    path = Path(path)
    if path.suffix != ".json":
        raise ValueError(f"write_model.path: must end in .json, got {path}")
    if isinstance(model, GarchParams):
        kind, body = "garch", model.to_dict()
    elif isinstance(model, LinearLogModel):
        kind, body = "linear_log", model.to_dict()
    elif isinstance(model, TreeEnsembleModel):
        kind = "tree_ensemble"
        body = {
            "feature_names": list(model.feature_names),
            "baseline": model.baseline,
            "smearing": model.smearing,
            "horizon_hours": model.horizon_hours,
            "arrays_file": path.with_suffix(".npz").name,
        }
        np.savez_compressed(path.with_suffix(".npz"), **model.arrays)
    else:
        raise TypeError(f"write_model.model: unsupported type {type(model).__name__}")
    doc = {"kind": kind, "format_version": FORMAT_VERSION, "model": body, "metadata": metadata}
    path.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")


def read_model(path: Path) -> tuple[Model, dict[str, Any]]:
    """``(model, metadata)`` from a file written by :func:`write_model`."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(
            f"model file {path}: not found (rebuild with `cascadelab forecast refit`)"
        ) from None
    if doc.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"model file {path}: format_version must be {FORMAT_VERSION}, "
            f"got {doc.get('format_version')!r}"
        )
    kind, body = doc["kind"], doc["model"]
    if kind == "garch":
        model: Model = GarchParams.from_dict(body)
    elif kind == "linear_log":
        model = LinearLogModel.from_dict(body)
    elif kind == "tree_ensemble":
        with np.load(path.parent / body["arrays_file"], allow_pickle=False) as z:
            arrays = {k: np.ascontiguousarray(z[k]) for k in TREE_ARRAYS}
        for k in _INT_ARRAYS:
            arrays[k] = arrays[k].astype(np.int64)
        for k in _FLAG_ARRAYS:
            arrays[k] = arrays[k].astype(np.uint8)
        model = TreeEnsembleModel(
            feature_names=tuple(body["feature_names"]),
            baseline=float(body["baseline"]),
            smearing=float(body["smearing"]),
            horizon_hours=int(body["horizon_hours"]),
            arrays=arrays,
        )
    else:
        raise ValueError(
            f"model file {path}: kind must be garch, linear_log or tree_ensemble, got {kind!r}"
        )
    return model, doc["metadata"]


def load_model(name: str, models_dir: Path | None = None) -> Model:
    """The shipped model ``<name>.json`` (``har``, ``ridge``, ``hgb``, ``garch_btc``, ...)."""
    return read_model((models_dir or MODELS_DIR) / f"{name}.json")[0]


def load_garch(asset: str, models_dir: Path | None = None) -> GarchParams:
    """The shipped hourly GARCH(1,1) fit of ``asset`` (``BTC`` or ``ETH``)."""
    model = load_model(f"garch_{asset.lower()}", models_dir)
    if not isinstance(model, GarchParams):
        raise ValueError(f"load_garch: garch_{asset.lower()}.json is not a GARCH model")
    return model
