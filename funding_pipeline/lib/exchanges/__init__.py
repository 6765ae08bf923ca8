"""Registry of venues: exchange id -> `Exchange(venue, poll, history)`.

One module per venue; a module contributes one or more ids (Hyperliquid adds its HIP-3 dexes).
"""

from functools import cache
from importlib import import_module

from funding_pipeline.lib.exchanges.model import Exchange

MODULES = (
    "hyperliquid",
    "lighter",
    "paradex",
    "edgex",
    "aster",
    "pacifica",
    "extended",
    "variational",
    "ethereal",
    "dydx",
    "grvt",
    "hibachi",
    "orderly",
    "binance",
    "bybit",
    "okx",
)


@cache
def all_exchanges() -> dict[str, Exchange]:
    """Imported on first use so one venue module can be worked on without the others."""
    registry: dict[str, Exchange] = {}
    for name in MODULES:
        module = import_module(f"{__name__}.{name}")
        for exchange in module.EXCHANGES:
            if exchange.venue.id in registry:
                raise ValueError(f"exchange id {exchange.venue.id!r} registered twice")
            registry[exchange.venue.id] = exchange
    return registry
