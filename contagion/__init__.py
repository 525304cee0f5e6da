"""Contagion: the ecosystem graph, loss propagation and systemic metrics."""
