"""Mesa agents: decision rules only. Agents hold account ids and act through protocol methods."""

from agents.arbitrageur import Arbitrageur
from agents.base import Participant
from agents.borrower import Borrower
from agents.faulty_keeper import Fault, FaultyKeeper
from agents.hedging import HedgeParams, HedgeRule, HedgeTarget
from agents.keeper import Keeper, KeeperParams
from agents.liquidator import Liquidator
from agents.market_maker import MarketMaker
from agents.option_trader import OptionStyle, OptionTrader, OptionVenue
from agents.options_lp import ExitReason, OptionsLP
from agents.supplier import Supplier
from agents.trader import PerpTrader, Strategy

__all__ = [
    "Arbitrageur",
    "Borrower",
    "ExitReason",
    "Fault",
    "FaultyKeeper",
    "HedgeParams",
    "HedgeRule",
    "HedgeTarget",
    "Keeper",
    "KeeperParams",
    "Liquidator",
    "MarketMaker",
    "OptionStyle",
    "OptionTrader",
    "OptionVenue",
    "OptionsLP",
    "Participant",
    "PerpTrader",
    "Strategy",
    "Supplier",
]
