import networkx as nx
import pytest

from contagion.graph import (
    build_order,
    issued_by,
    liquidation_venues,
    oracle_feeds,
    validate_ecosystem,
)


def small_graph() -> nx.DiGraph:
    g = nx.DiGraph()
    g.add_node("asset:ETH", kind="asset", asset="ETH")
    g.add_node("market", kind="market")
    g.add_node("amm:ETH-USDC", kind="amm", base_asset="ETH")
    g.add_node("token:LP", kind="token")
    g.add_node("oracle:ETH", kind="oracle", asset="ETH", source="market")
    g.add_node("lending", kind="lending")
    g.add_node("perp", kind="perp")
    g.add_edge("amm:ETH-USDC", "token:LP", kind="issues")
    for p in ("lending", "perp"):
        g.add_edge("oracle:ETH", p, kind="prices")
        g.add_edge("asset:ETH", p, kind="collateral")
        g.add_edge(p, "amm:ETH-USDC", kind="liquidates_into")
    return g


def test_graph_queries_follow_typed_edges() -> None:
    g = small_graph()
    validate_ecosystem(g)
    assert oracle_feeds(g, "lending") == {"ETH": "oracle:ETH"}
    assert liquidation_venues(g, "perp") == {"ETH": "amm:ETH-USDC"}
    assert issued_by(g, "amm:ETH-USDC") == ["token:LP"]


def test_graph_build_order_puts_dependencies_first() -> None:
    order = build_order(small_graph())
    assert order.index("market") < order.index("amm:ETH-USDC") < order.index("oracle:ETH")
    assert order.index("oracle:ETH") < order.index("lending")
    assert "asset:ETH" not in order


def test_graph_validation_names_the_bad_edge() -> None:
    g = small_graph()
    g.add_edge("lending", "oracle:ETH", kind="liquidates_into")
    with pytest.raises(ValueError, match=r"'lending'->'oracle:ETH' \(liquidates_into\)"):
        validate_ecosystem(g)
    g = small_graph()
    g.add_edge("asset:ETH", "perp", kind="lends_to")
    with pytest.raises(ValueError, match="kind must be one of"):
        validate_ecosystem(g)
    g = small_graph()
    g.nodes["oracle:ETH"]["source"] = "nowhere"
    with pytest.raises(ValueError, match="source must name a market or amm"):
        validate_ecosystem(g)
