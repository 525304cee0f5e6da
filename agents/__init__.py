"""Mesa agents: decision rules only. Agents hold account ids and act through protocol methods."""

from agents.arbitrageur import Arbitrageur
from agents.base import Participant
from agents.borrower import Borrower
from agents.faulty_keeper import Fault, FaultyKeeper
from agents.keeper import Keeper, KeeperParams
from agents.liquidator import Liquidator
from agents.supplier import Supplier
from agents.trader import PerpTrader, Strategy

__all__ = [
    "Arbitrageur",
    "Borrower",
    "Fault",
    "FaultyKeeper",
    "Keeper",
    "KeeperParams",
    "Liquidator",
    "Participant",
    "PerpTrader",
    "Strategy",
    "Supplier",
]
