"""Fixtures of the experiment tests that start Ray."""

from __future__ import annotations

import pytest

# STACK.md, "Ray on loopback": set here independently of the backend, which applies them itself
RAY_LOOPBACK = {
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_USAGE_STATS_REPORT_URL": "http://127.0.0.1:9/",
    "RAY_AUTH_MODE": "disabled",
}


@pytest.fixture
def ray_loopback(monkeypatch, tmp_path):
    """Ray (skipped where it is not installed), with STACK.md's loopback settings for the test:
    a guard for tests that start Ray (``run_ray`` applies them too) and the settings of tests
    that start Ray nodes themselves. Ray is imported before the settings, so its
    ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER`` constant (read on import) is set too."""
    ray = pytest.importorskip("ray")
    from ray._private import ray_constants

    for k, v in RAY_LOOPBACK.items():
        monkeypatch.setenv(k, v)
    home = tmp_path / "home"
    home.mkdir()
    (home / "ray_bootstrap_config.yaml").write_text("{}\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setattr(ray_constants, "ENABLE_RAY_CLUSTER", False)
    return ray
