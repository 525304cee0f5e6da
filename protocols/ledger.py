"""One ledger for every token in the world.

Every movement of every asset goes through :class:`Ledger`: ``transfer`` moves an amount between two
holders, ``mint`` and ``burn`` change the supply and are recorded as events. Protocols keep *claims*
(collateral, debt, positions) in their own arrays; the tokens behind those claims sit at the
protocol's ledger holders (``"lending:pool"``, ``"perp:margin"``, ...).

Invariant (checked by :meth:`Ledger.check_conservation`): for every asset, the sum of all holders'
balances equals the initial supply plus recorded mints minus recorded burns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["ConservationError", "Ledger", "LedgerError", "SupplyEvent"]

# Amounts within this relative distance of a balance count as "all of it": floating-point dust from
# interest indices must not make a full repayment or withdrawal fail.
_DUST_REL = 1e-9
_DUST_ABS = 1e-12


class LedgerError(ValueError):
    """A transfer or burn that would overdraw a holder, or names an unknown holder or asset."""


class ConservationError(AssertionError):
    """The sum of balances of an asset no longer equals supply + mints - burns."""


@dataclass(frozen=True, slots=True)
class SupplyEvent:
    """A recorded mint (``amount > 0``) or burn (``amount < 0``)."""

    step: int
    holder: str
    asset: str
    amount: float
    reason: str


class Ledger:
    """Balances of every holder in every asset, with explicit mints and burns.

    Holders and assets are registered by name and addressed by small integer ids afterwards
    (ids are what hot paths use). Balances are plain Python floats in lists: a scalar transfer
    costs well under a microsecond.

    Parameters
    ----------
    assets
        Asset symbols known from the start (more can be added with :meth:`add_asset`).
    """

    def __init__(self, assets: tuple[str, ...] | list[str] = ()) -> None:
        self._asset_ids: dict[str, int] = {}
        self._holder_ids: dict[str, int] = {}
        self._holder_names: list[str] = []
        self._balances: list[list[float]] = []  # [asset][holder]
        self._supply: list[float] = []  # initial supply + mints - burns, per asset
        self.events: list[SupplyEvent] = []
        self.step = 0
        self.transfer_count = 0
        for symbol in assets:
            self.add_asset(symbol)

    # ------------------------------------------------------------------ registry
    def add_asset(self, symbol: str) -> int:
        """Register an asset (idempotent) and return its id."""
        if symbol in self._asset_ids:
            return self._asset_ids[symbol]
        aid = len(self._balances)
        self._asset_ids[symbol] = aid
        self._balances.append([0.0] * len(self._holder_names))
        self._supply.append(0.0)
        return aid

    def open_holder(self, name: str) -> int:
        """Register a holder (a wallet or a protocol address) and return its id."""
        if name in self._holder_ids:
            raise LedgerError(f"holder {name!r} already exists")
        hid = len(self._holder_names)
        self._holder_ids[name] = hid
        self._holder_names.append(name)
        for row in self._balances:
            row.append(0.0)
        return hid

    def asset_id(self, symbol: str) -> int:
        """Id of a registered asset."""
        try:
            return self._asset_ids[symbol]
        except KeyError:
            raise LedgerError(
                f"unknown asset {symbol!r}; known: {sorted(self._asset_ids)}"
            ) from None

    def holder_id(self, name: str) -> int:
        """Id of a registered holder."""
        try:
            return self._holder_ids[name]
        except KeyError:
            raise LedgerError(f"unknown holder {name!r}") from None

    def holder_name(self, holder: int) -> str:
        """Name of a holder id."""
        return self._holder_names[holder]

    @property
    def assets(self) -> tuple[str, ...]:
        """Registered asset symbols, in id order."""
        return tuple(self._asset_ids)

    @property
    def n_holders(self) -> int:
        """Number of registered holders."""
        return len(self._holder_names)

    # ------------------------------------------------------------------ reads
    def balance(self, holder: int, asset: int) -> float:
        """Balance of ``holder`` in ``asset`` (token units)."""
        return self._balances[asset][holder]

    def balances_of_asset(self, asset: int) -> list[float]:
        """All holders' balances of one asset, indexed by holder id (a copy)."""
        return list(self._balances[asset])

    def supply(self, asset: int) -> float:
        """Initial supply plus mints minus burns of ``asset``."""
        return self._supply[asset]

    # ------------------------------------------------------------------ writes
    def transfer(self, src: int, dst: int, asset: int, amount: float) -> float:
        """Move ``amount`` of ``asset`` from ``src`` to ``dst`` and return the amount moved.

        An amount that exceeds the balance by no more than floating-point dust moves the whole
        balance. A real overdraft raises :class:`LedgerError` and changes nothing.
        """
        amount = self._debit(src, asset, amount, "send")
        self._balances[asset][dst] += amount
        self.transfer_count += 1
        return amount

    def _debit(self, src: int, asset: int, amount: float, verb: str) -> float:
        """Take ``amount`` from ``src`` (all of it if only dust short); raise on an overdraft."""
        if amount < 0.0 or not math.isfinite(amount):
            raise LedgerError(f"{verb} amount must be finite and >= 0, got {amount!r}")
        row = self._balances[asset]
        have = row[src]
        if amount > have:
            if amount - have > _DUST_ABS + _DUST_REL * max(abs(have), abs(amount)):
                raise LedgerError(
                    f"{self._holder_names[src]} holds {have:.12g} "
                    f"{self.assets[asset]}, cannot {verb} {amount:.12g}"
                )
            amount = have
        row[src] = have - amount
        return amount

    def mint(self, dst: int, asset: int, amount: float, reason: str) -> None:
        """Create ``amount`` new units at ``dst``; recorded as a supply event."""
        if amount < 0.0 or not math.isfinite(amount):
            raise LedgerError(f"mint amount must be finite and >= 0, got {amount!r}")
        self._balances[asset][dst] += amount
        self._supply[asset] += amount
        self.events.append(
            SupplyEvent(self.step, self._holder_names[dst], self.assets[asset], amount, reason)
        )

    def burn(self, src: int, asset: int, amount: float, reason: str) -> float:
        """Destroy ``amount`` units of ``src`` (a recorded supply event); return the amount."""
        amount = self._debit(src, asset, amount, "burn")
        self._supply[asset] -= amount
        self.events.append(
            SupplyEvent(self.step, self._holder_names[src], self.assets[asset], -amount, reason)
        )
        return amount

    # ------------------------------------------------------------------ invariant
    def conservation_errors(self, rel_tol: float = 1e-9) -> dict[str, float]:
        """Per asset, ``sum(balances) - supply`` where it exceeds the tolerance (empty if none)."""
        errors: dict[str, float] = {}
        for symbol, aid in self._asset_ids.items():
            total = math.fsum(self._balances[aid])
            supply = self._supply[aid]
            if abs(total - supply) > rel_tol * max(1.0, abs(supply)):
                errors[symbol] = total - supply
            if min(self._balances[aid], default=0.0) < 0.0:
                errors[symbol + ":negative"] = min(self._balances[aid])
        return errors

    def check_conservation(self, rel_tol: float = 1e-9) -> None:
        """Raise :class:`ConservationError` if any asset's balances do not sum to its supply."""
        errors = self.conservation_errors(rel_tol)
        if errors:
            detail = ", ".join(f"{k}: {v:+.6g}" for k, v in errors.items())
            raise ConservationError(f"step {self.step}: ledger not conserved ({detail})")
