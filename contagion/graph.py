"""The ecosystem graph: nodes are assets, tokens, oracles and protocols; edges say how they link.

One graph is used both to build the world (``experiments.world``) and to analyse it. Node attribute
``kind`` is one of :data:`NODE_KINDS`; edge attribute ``kind`` one of :data:`EDGE_KINDS`:

=================  ===============================  ==============================================
edge               direction                        meaning
=================  ===============================  ==============================================
``prices``         oracle -> protocol               the protocol reads this oracle
``collateral``     asset/token -> protocol          the protocol accepts it as collateral
``issues``         protocol -> token                LP shares, receipt tokens the protocol issues
``hedges_on``      protocol -> protocol             e.g. an options AMM hedges delta on a perp
``liquidates_into`` protocol -> AMM                 where seized collateral is sold
=================  ===============================  ==============================================

An oracle node's ``source`` attribute names the node it reads (the reference market or an AMM).
"""

from __future__ import annotations

import networkx as nx

__all__ = [
    "EDGE_KINDS",
    "NODE_KINDS",
    "PROTOCOL_KINDS",
    "build_order",
    "collateral_of",
    "hedge_venues",
    "issued_by",
    "liquidation_venues",
    "oracle_feeds",
    "validate_ecosystem",
]

PROTOCOL_KINDS = ("market", "amm", "lending", "perp", "options_amm", "pm_exchange")
NODE_KINDS = ("asset", "token", "oracle", *PROTOCOL_KINDS)
EDGE_KINDS = ("prices", "collateral", "issues", "hedges_on", "liquidates_into")

# which (source kind, target kind) pairs each edge kind may join
_EDGE_RULES: dict[str, tuple[set[str], set[str]]] = {
    "prices": ({"oracle"}, set(PROTOCOL_KINDS)),
    "collateral": ({"asset", "token"}, set(PROTOCOL_KINDS)),
    "issues": (set(PROTOCOL_KINDS), {"token"}),
    "hedges_on": (set(PROTOCOL_KINDS), set(PROTOCOL_KINDS)),
    "liquidates_into": (set(PROTOCOL_KINDS), {"amm"}),
}
# build dependencies: a node is built after every node it depends on
# (an options AMM hedges on a perp, so it is built after the perps)
_BUILD_RANK = {
    "asset": 0,
    "token": 0,
    "market": 1,
    "amm": 2,
    "oracle": 3,
    "lending": 4,
    "perp": 4,
    "pm_exchange": 4,
    "options_amm": 5,
}


def validate_ecosystem(g: nx.DiGraph) -> None:
    """Raise ``ValueError`` naming the node or edge that breaks a rule."""
    for node, data in g.nodes(data=True):
        kind = data.get("kind")
        if kind not in NODE_KINDS:
            raise ValueError(f"graph node {node!r}: kind must be one of {NODE_KINDS}, got {kind!r}")
        if kind == "oracle":
            src = data.get("source")
            if src not in g or g.nodes[src].get("kind") not in ("market", "amm"):
                raise ValueError(
                    f"graph node {node!r}: source must name a market or amm node, got {src!r}"
                )
            if not data.get("asset"):
                raise ValueError(f"graph node {node!r}: an oracle needs an 'asset' attribute")
    for u, v, data in g.edges(data=True):
        kind = data.get("kind")
        if kind not in EDGE_KINDS:
            raise ValueError(
                f"graph edge {u!r}->{v!r}: kind must be one of {EDGE_KINDS}, got {kind!r}"
            )
        sources, targets = _EDGE_RULES[kind]
        ku, kv = g.nodes[u].get("kind"), g.nodes[v].get("kind")
        if ku not in sources or kv not in targets:
            raise ValueError(
                f"graph edge {u!r}->{v!r} ({kind}): joins {ku} -> {kv}, "
                f"allowed {sorted(sources)} -> {sorted(targets)}"
            )


def _out(g: nx.DiGraph, node: str, kind: str) -> list[str]:
    return [v for _, v, k in g.out_edges(node, data="kind") if k == kind]


def _in(g: nx.DiGraph, node: str, kind: str) -> list[str]:
    return [u for u, _, k in g.in_edges(node, data="kind") if k == kind]


def oracle_feeds(g: nx.DiGraph, protocol: str) -> dict[str, str]:
    """Asset -> oracle node, for every oracle that ``protocol`` reads."""
    return {g.nodes[o]["asset"]: o for o in _in(g, protocol, "prices")}


def collateral_of(g: nx.DiGraph, protocol: str) -> list[str]:
    """Assets and tokens ``protocol`` accepts as collateral."""
    return sorted(_in(g, protocol, "collateral"))


def liquidation_venues(g: nx.DiGraph, protocol: str) -> dict[str, str]:
    """Base asset -> AMM node where ``protocol`` (or its liquidators) sells seized collateral."""
    return {g.nodes[a]["base_asset"]: a for a in _out(g, protocol, "liquidates_into")}


def hedge_venues(g: nx.DiGraph, protocol: str) -> list[str]:
    """Protocols ``protocol`` hedges its delta on (``hedges_on`` edges)."""
    return sorted(_out(g, protocol, "hedges_on"))


def issued_by(g: nx.DiGraph, protocol: str) -> list[str]:
    """Tokens ``protocol`` issues."""
    return sorted(_out(g, protocol, "issues"))


def build_order(g: nx.DiGraph) -> list[str]:
    """Protocol and oracle nodes in an order where dependencies come first."""
    nodes = [n for n, k in g.nodes(data="kind") if k in _BUILD_RANK and _BUILD_RANK[k] > 0]
    return sorted(nodes, key=lambda n: (_BUILD_RANK[g.nodes[n]["kind"]], n))
