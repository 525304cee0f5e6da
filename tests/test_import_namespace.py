"""The four top-level packages must be this repository's (``agents`` is a common PyPI name)."""

from pathlib import Path

import agents
import contagion
import experiments
import protocols

REPO = Path(__file__).resolve().parents[1]


def test_top_level_packages_resolve_inside_the_repository() -> None:
    for module in (agents, contagion, experiments, protocols):
        assert Path(module.__file__).resolve().parent.parent == REPO, module.__name__
