"""The event log: liquidations, bad debt, ADL, proposals, runs. Column lists, cheap to append."""

from __future__ import annotations

from protocols.types import EventKind

__all__ = ["EVENT_COLUMNS", "EventLog"]

EVENT_COLUMNS = ("step", "kind", "protocol", "account", "asset", "amount", "value_usd", "detail")


class EventLog:
    """Append-only log of discrete events, stored column-wise.

    ``step`` is set by the model at the start of every step; protocols call :meth:`record`.
    ``account`` is the protocol's account id (-1 when the event has none); ``amount`` is in units of
    ``asset``; ``value_usd`` is the USD value at the oracle price the protocol used.
    """

    def __init__(self) -> None:
        self.step = 0
        self.columns: dict[str, list] = {name: [] for name in EVENT_COLUMNS}

    def record(
        self,
        kind: EventKind,
        protocol: str,
        *,
        account: int = -1,
        asset: str = "",
        amount: float = 0.0,
        value_usd: float = 0.0,
        detail: str = "",
    ) -> None:
        """Append one event at the current step."""
        c = self.columns
        c["step"].append(self.step)
        c["kind"].append(kind.name)
        c["protocol"].append(protocol)
        c["account"].append(account)
        c["asset"].append(asset)
        c["amount"].append(float(amount))
        c["value_usd"].append(float(value_usd))
        c["detail"].append(detail)

    def __len__(self) -> int:
        return len(self.columns["step"])

    def count(self, kind: EventKind) -> int:
        """Number of events of one kind."""
        return sum(1 for k in self.columns["kind"] if k == kind.name)
