"""Venue symbol -> (base asset, contract multiplier): the one place symbols are normalized.

Venue modules keep the venue's own symbol (`kPEPE`, `1000PEPEUSDT`, `BTC-USD-PERP`); everything
that joins markets across venues calls `normalize(exchange, symbol, base_hint)`:

1. the explicit table `OVERRIDES` for symbols the rules below get wrong;
2. a HIP-3 / venue prefix up to the first colon is dropped (`xyz:AAPL`, `flx:CRCL`, `hyna:BTC`);
3. the quote/contract part is dropped by anchored shapes: `PERP_BTC_USDC`, `BTC_USDT_Perp`,
   `BTC/USDT-P`, `BTC-USDT-SWAP`, `BTC-USD-PERP`, `BTC-USD`; glued quotes (`BTCUSDT`, `BTCUSD`,
   `ETHPERP`) only on venues in `CONCATENATED_QUOTE`, because bare-name venues list real coins
   ending in USD (Lighter `USDJPY`);
4. the pinned table `PINNED` (any venue): names the multiplier rule must read one exact way —
   `kPEPE` and `1000PEPE` are 1000 PEPE, `KAITO`, `KSM`, `1INCH` stay themselves — so a change
   of the rule below cannot break them;
5. a multiplier prefix: lower-case `k` before an upper-case letter (`kPEPE` = 1000 PEPE), a power
   of ten >= 1000 before a letter (`1000PEPE`, `1000000MOG`) or `1M` (`1MBABYDOGE`). Anything else
   stays: `KAITO`, `KSM`, `KAVA`, `KNC`, `1INCH`, `0G` (the previous system's unanchored rules
   turned `KAITO` into `AITO`);
6. upper case, then the alias table (`XBT` -> `BTC`).

`base_hint` is the venue's own base-asset field: when given it names the base (after steps 2, 4,
5, 6); the multiplier comes from the symbol, or from the hint when the symbol carries none.
The multiplier is how many base units one venue unit stands for: a `kPEPE` price is the price of
1000 PEPE. Pure and cached: it runs for every row of every slot.
"""

import re
from decimal import Decimal
from functools import lru_cache
from typing import NamedTuple


class Normalized(NamedTuple):
    base_asset: str
    contract_multiplier: Decimal


ONE = Decimal(1)

# Venues whose symbols glue the quote to the base (`BTCUSDT`, edgeX `BTCUSD`, Bybit USDC `ETHPERP`).
CONCATENATED_QUOTE = frozenset({"aster", "binance", "bybit", "edgex", "ethereal"})

# Symbols the rules get wrong, by (exchange, venue symbol).
OVERRIDES: dict[tuple[str, str], Normalized] = {
    # Bybit writes this multiplier as a suffix (exchange_payloads/bybit/README.md).
    ("bybit", "SHIB1000USDT"): Normalized("SHIB", Decimal(1000)),
    # Paradex has listed multiplier markets with an upper-case prefix (exchange_payloads/paradex/README.md),
    # which the anchored lower-case `k` rule would read as coins named KPEPE / KSHIB / MSATS.
    ("paradex", "KPEPE-USD-PERP"): Normalized("PEPE", Decimal(1000)),
    ("paradex", "KSHIB-USD-PERP"): Normalized("SHIB", Decimal(1000)),
    ("paradex", "KBONK-USD-PERP"): Normalized("BONK", Decimal(1000)),
    ("paradex", "KFLOKI-USD-PERP"): Normalized("FLOKI", Decimal(1000)),
    ("paradex", "MSATS-USD-PERP"): Normalized("SATS", Decimal(1_000_000)),
    # Lighter lists FX pairs under their pair name; the base is the first currency (Extended: EUR-USD).
    ("lighter", "EURUSD"): Normalized("EUR", ONE),
    ("lighter", "GBPUSD"): Normalized("GBP", ONE),
    ("lighter", "AUDUSD"): Normalized("AUD", ONE),
    ("lighter", "NZDUSD"): Normalized("NZD", ONE),
}

# Names as left once the venue prefix and the quote are gone, pinned on every venue (case matters:
# Paradex `KPEPE` is in `OVERRIDES`). The cases the issue and the previous system got wrong.
PINNED: dict[str, Normalized] = {
    "kPEPE": Normalized("PEPE", Decimal(1000)),
    "1000PEPE": Normalized("PEPE", Decimal(1000)),
    "kBONK": Normalized("BONK", Decimal(1000)),
    "1000BONK": Normalized("BONK", Decimal(1000)),
    "kSHIB": Normalized("SHIB", Decimal(1000)),
    "1000SHIB": Normalized("SHIB", Decimal(1000)),
    "KAITO": Normalized("KAITO", ONE),
    "KSM": Normalized("KSM", ONE),
    "KAVA": Normalized("KAVA", ONE),
    "KNC": Normalized("KNC", ONE),
    "1INCH": Normalized("1INCH", ONE),
}

# Same asset, different ticker (ccxt `commonCurrencies`); applied after all stripping.
ALIASES = {"XBT": "BTC"}

_PREFIX = re.compile(r"^[A-Za-z0-9]+:")
_QUOTE = r"(?:USDT|USDC|USD)"
_SHAPES = (
    re.compile(rf"^PERP_(?P<base>[A-Za-z0-9]+)_{_QUOTE}$"),  # Orderly PERP_BTC_USDC
    re.compile(rf"^(?P<base>[A-Za-z0-9]+)_{_QUOTE}_Perp$", re.IGNORECASE),  # GRVT BTC_USDT_Perp
    re.compile(rf"^(?P<base>[A-Za-z0-9]+)/{_QUOTE}-P$"),  # Hibachi BTC/USDT-P
    re.compile(rf"^(?P<base>[A-Za-z0-9]+)-{_QUOTE}-(?:SWAP|PERP)$"),  # OKX BTC-USDT-SWAP, Paradex
    re.compile(rf"^(?P<base>[A-Za-z0-9]+)-(?:{_QUOTE}|PERP)$"),  # Extended / dYdX BTC-USD
)
_CONCATENATED = re.compile(r"^(?P<base>[A-Za-z0-9]+?)(?:USDT|USDC|USD|PERP)$")
_MULTIPLIER = re.compile(r"^(?:(?P<k>k)|(?P<million>1M)|(?P<power>10{3,}))(?=[A-Z])")


def _base(name: str) -> tuple[str, Decimal]:
    """(name without multiplier, multiplier): the pinned table, else the multiplier rule."""
    pinned = PINNED.get(name)
    return pinned if pinned is not None else _multiplier(name)


def _multiplier(name: str) -> tuple[str, Decimal]:
    match = _MULTIPLIER.match(name)
    if match is None:
        return name, ONE
    if match["k"]:
        factor = Decimal(1000)
    elif match["million"]:
        factor = Decimal(1_000_000)
    else:
        factor = Decimal(int(match["power"]))
    return name[match.end() :], factor


def _strip_quote(exchange: str, name: str) -> str:
    for shape in _SHAPES:
        match = shape.match(name)
        if match:
            return match["base"]
    if exchange in CONCATENATED_QUOTE:
        match = _CONCATENATED.match(name)
        if match:
            return match["base"]
    return name


def _finish(name: str, original: str, exchange: str) -> str:
    base = ALIASES.get(name.upper(), name.upper())
    if not base:
        raise ValueError(f"{exchange}: symbol {original!r} has no base asset left after normalization")
    return base


@lru_cache(maxsize=32768)
def normalize(exchange: str, symbol: str, base_hint: str | None = None) -> Normalized:
    """Base asset (upper case) and contract multiplier of one venue symbol; see the module doc."""
    text = symbol.strip() if isinstance(symbol, str) else ""
    if not text:
        raise ValueError(f"{exchange}: empty symbol {symbol!r}")
    override = OVERRIDES.get((exchange, text))
    if override is not None:
        return override
    name, factor = _base(_strip_quote(exchange, _PREFIX.sub("", text, count=1)))
    hint = base_hint.strip() if base_hint else ""
    if hint:
        hint_name, hint_factor = _base(_PREFIX.sub("", hint, count=1))
        return Normalized(_finish(hint_name, hint, exchange), factor if factor != ONE else hint_factor)
    return Normalized(_finish(name, text, exchange), factor)
