import re
from decimal import Decimal
from pathlib import Path

import pytest

from funding_pipeline.lib import symbols
from funding_pipeline.lib.symbols import PINNED, normalize

# The shared reference next to the repository (DESIGN: `../shared/reference`).
REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "reference"
REF = "exchange_payloads"  # venue payloads and READMEs: exchange_payloads/<venue>/<file>
DUMP = "previous_system_data/_mixed_db_dumps/early_30000.sql"  # real 2026-01 rows of the previous system


def ref(venue: str, name: str) -> str:
    return f"{REF}/{venue}/{name}"


HL_META = ref("hyperliquid", "info_metaAndAssetCtxs.docs_example.json")
HL_README = ref("hyperliquid", "README.md")

# (source, exchange, venue symbol, base_hint, expected base, expected multiplier): each symbol as a
# venue published it, with the reference file (under shared/reference) that shows it.
REAL_SYMBOLS = [
    (HL_META, "hyperliquid", "BTC", None, "BTC", "1"),
    (HL_META, "hyperliquid", "ETH", None, "ETH", "1"),
    (HL_META, "hyperliquid", "HPOS", None, "HPOS", "1"),
    (HL_README, "hyperliquid", "kPEPE", None, "PEPE", "1000"),
    (HL_README, "hyperliquid", "kBONK", None, "BONK", "1000"),
    (HL_README, "hyperliquid", "kSHIB", None, "SHIB", "1000"),
    (HL_README, "xyz", "xyz:AAPL", None, "AAPL", "1"),
    (HL_README, "felix", "flx:CRCL", None, "CRCL", "1"),
    (DUMP, "hyperliquid", "kNEIRO", None, "NEIRO", "1000"),
    (DUMP, "hyperliquid", "NEIROETH", None, "NEIROETH", "1"),
    (DUMP, "hyperliquid", "AI16Z", None, "AI16Z", "1"),
    (DUMP, "hyperliquid", "KAITO", None, "KAITO", "1"),
    (DUMP, "hyena", "hyna:BTC", None, "BTC", "1"),
    (DUMP, "felix", "flx:GOLD", None, "GOLD", "1"),
    (DUMP, "ventuals", "vntl:SPACEX", None, "SPACEX", "1"),
    (ref("aster", "fapi_v3_fundingInfo.docs_example.json"), "aster", "INJUSDT", None, "INJ", "1"),
    (ref("aster", "fapi_v3_fundingInfo.docs_example.json"), "aster", "ZORAUSDT", None, "ZORA", "1"),
    (ref("aster", "fapi_v3_fundingRate.docs_example.json"), "aster", "BTCUSDT", None, "BTC", "1"),
    (ref("aster", "README.md"), "aster", "ETHUSDT", None, "ETH", "1"),
    (ref("aster", "README.md"), "aster", "ASTERUSDT", None, "ASTER", "1"),
    (ref("aster", "README.md"), "aster", "1000PEPEUSDT", None, "PEPE", "1000"),
    (ref("aster", "README.md"), "aster", "kBONKUSDT", None, "BONK", "1000"),
    (DUMP, "aster", "USD1USDT", None, "USD1", "1"),  # the previous system turned it into "1"
    (DUMP, "aster", "BUSDT", None, "B", "1"),
    (DUMP, "aster", "42USDT", None, "42", "1"),
    (DUMP, "aster", "LUNA2USDT", None, "LUNA2", "1"),
    (DUMP, "aster", "1000CHEEMSUSDT", None, "CHEEMS", "1000"),
    (ref("binance", "fapi_v1_fundingRate.docs_example.json"), "binance", "BTCUSDT", None, "BTC", "1"),
    (ref("binance", "fapi_v1_fundingInfo.ccxt_comment_example.json"), "binance", "BLZUSDT", None, "BLZ", "1"),
    (ref("binance", "README.md"), "binance", "ETHUSDT", None, "ETH", "1"),
    (ref("binance", "README.md"), "binance", "BTCUSDC", None, "BTC", "1"),
    (ref("binance", "README.md"), "binance", "1000PEPEUSDT", None, "PEPE", "1000"),
    (ref("binance", "README.md"), "binance", "1000SHIBUSDT", None, "SHIB", "1000"),
    (ref("binance", "README.md"), "binance", "1000BONKUSDT", None, "BONK", "1000"),
    (ref("binance", "README.md"), "binance", "1MBABYDOGEUSDT", None, "BABYDOGE", "1000000"),
    (ref("bybit", "v5_market_funding_history.ccxt_comment_example.json"), "bybit", "ETHPERP", None, "ETH", "1"),
    (ref("bybit", "v5_market_tickers_linear.ccxt_comment_example.json"), "bybit", "BTCUSDT", None, "BTC", "1"),
    (ref("bybit", "README.md"), "bybit", "ETHUSDT", None, "ETH", "1"),
    (ref("bybit", "README.md"), "bybit", "BTCPERP", None, "BTC", "1"),
    (ref("bybit", "README.md"), "bybit", "1000PEPEUSDT", None, "PEPE", "1000"),
    (ref("bybit", "README.md"), "bybit", "10000SATSUSDT", None, "SATS", "10000"),
    (ref("bybit", "README.md"), "bybit", "SHIB1000USDT", None, "SHIB", "1000"),  # in OVERRIDES
    (ref("dydx", "v4_perpetualMarkets.ccxt_comment_example.json"), "dydx", "BTC-USD", None, "BTC", "1"),
    (ref("dydx", "README.md"), "dydx", "ETH-USD", None, "ETH", "1"),
    (ref("edgex", "api_v1_public_quote_getTicker.docs_example.json"), "edgex", "BTCUSDT", None, "BTC", "1"),
    (ref("edgex", "README.md"), "edgex", "BTCUSD", None, "BTC", "1"),
    (DUMP, "edgex", "1000000MOGUSD", None, "MOG", "1000000"),  # the previous system stored "000MOG"
    (DUMP, "edgex", "KAITOUSD", None, "KAITO", "1"),
    (DUMP, "edgex", "XAUTUSD", None, "XAUT", "1"),
    (DUMP, "edgex", "0GUSD", None, "0G", "1"),
    (ref("ethereal", "v1_product.data0.docs_example_testnet.json"), "ethereal", "BTCUSD", None, "BTC", "1"),
    (ref("ethereal", "README.md"), "ethereal", "ETHUSD", None, "ETH", "1"),
    (ref("extended", "api_v1_info_markets.ccxt_comment_example.json"), "extended", "BTC-USD", "BTC", "BTC", "1"),
    (ref("extended", "README.md"), "extended", "ETH-USD", None, "ETH", "1"),
    (ref("extended", "README.md"), "extended", "1000PEPE-USD", None, "PEPE", "1000"),
    (DUMP, "extended", "1000SHIB-USD", None, "SHIB", "1000"),
    (DUMP, "extended", "KAITO-USD", None, "KAITO", "1"),
    (DUMP, "extended", "EUR-USD", None, "EUR", "1"),
    (DUMP, "extended", "SPX500m-USD", None, "SPX500M", "1"),
    (ref("grvt", "full_v1_ticker_BTC_USDT_Perp.ccxt_comment_example.json"), "grvt", "BTC_USDT_Perp", None, "BTC", "1"),
    (ref("grvt", "README.md"), "grvt", "ETH_USDT_Perp", None, "ETH", "1"),
    (ref("hibachi", "market_data_prices_ETH.ccxt_comment_example.json"), "hibachi", "ETH/USDT-P", None, "ETH", "1"),
    (ref("hibachi", "README.md"), "hibachi", "BTC/USDT-P", None, "BTC", "1"),
    (ref("hibachi", "README.md"), "hibachi", "SOL/USDT-P", None, "SOL", "1"),
    (ref("lighter", "api_v1_orderBookDetails.ccxt_fixture.json"), "lighter", "ETH", None, "ETH", "1"),
    (ref("lighter", "README.md"), "lighter", "BTC", None, "BTC", "1"),
    (ref("lighter", "README.md"), "lighter", "1000PEPE", None, "PEPE", "1000"),
    (DUMP, "lighter", "1000BONK", None, "BONK", "1000"),
    (DUMP, "lighter", "KAITO", None, "KAITO", "1"),
    (DUMP, "lighter", "0G", None, "0G", "1"),
    (DUMP, "lighter", "2Z", None, "2Z", "1"),
    (DUMP, "lighter", "USDJPY", None, "USDJPY", "1"),  # bare names: FX pairs keep their pair name ...
    (DUMP, "lighter", "AUDUSD", None, "AUD", "1"),  # ... except those in OVERRIDES
    (
        ref("okx", "api_v5_public_funding-rate-history.ccxt_comment_example.json"),
        "okx",
        "BTC-USDT-SWAP",
        None,
        "BTC",
        "1",
    ),
    (
        ref("okx", "api_v5_public_funding-rate_instId_ANY.ccxt_comment_example.json"),
        "okx",
        "BTC-USD-SWAP",
        None,
        "BTC",
        "1",
    ),
    (ref("okx", "README.md"), "okx", "BTC-USDC-SWAP", None, "BTC", "1"),
    (ref("orderly", "v1_public_futures.ccxt_comment_example.json"), "orderly", "PERP_BTC_USDC", None, "BTC", "1"),
    (ref("orderly", "v1_public_funding_rates.ccxt_comment_example.json"), "orderly", "PERP_ETH_USDC", None, "ETH", "1"),
    (ref("orderly", "README.md"), "orderly", "PERP_1000PEPE_USDC", None, "PEPE", "1000"),
    (ref("pacifica", "api_v1_info.ccxt_comment_example.json"), "pacifica", "BTC", "BTC", "BTC", "1"),
    (ref("pacifica", "api_v1_info.ccxt_comment_example.json"), "pacifica", "SOL-USDC", "SOL", "SOL", "1"),
    (ref("pacifica", "api_v1_info_prices.ccxt_comment_example.json"), "pacifica", "XPL", None, "XPL", "1"),
    (ref("pacifica", "README.md"), "pacifica", "ETH", None, "ETH", "1"),
    (DUMP, "pacifica", "kPEPE", None, "PEPE", "1000"),
    (ref("paradex", "v1_markets_summary.ccxt_fixture_testnet.json"), "paradex", "BTC-USD-PERP", None, "BTC", "1"),
    (DUMP, "paradex", "kBONK-USD-PERP", None, "BONK", "1000"),
    (DUMP, "paradex", "kFLOKI-USD-PERP", None, "FLOKI", "1000"),
    (DUMP, "paradex", "KAITO-USD-PERP", None, "KAITO", "1"),
    # upper-case multiplier prefixes, in OVERRIDES
    (ref("paradex", "README.md"), "paradex", "KPEPE-USD-PERP", None, "PEPE", "1000"),
    (ref("paradex", "README.md"), "paradex", "KSHIB-USD-PERP", None, "SHIB", "1000"),
    (ref("paradex", "README.md"), "paradex", "MSATS-USD-PERP", None, "SATS", "1000000"),
    (ref("variational", "README.md"), "variational", "BTC", None, "BTC", "1"),
    (ref("variational", "README.md"), "variational", "US100S", None, "US100S", "1"),
]


@pytest.mark.parametrize(("source", "exchange", "symbol", "hint", "base", "multiplier"), REAL_SYMBOLS)
def test_real_symbol(source, exchange, symbol, hint, base, multiplier):
    result = normalize(exchange, symbol, hint)

    assert result.base_asset == base
    assert result.contract_multiplier == Decimal(multiplier)


def test_table_holds_forty_real_symbols_from_the_exchange_payloads():
    by_source = {src: {(e, s) for source, e, s, *_ in REAL_SYMBOLS if source.startswith(src)} for src in (REF, DUMP)}

    assert len(by_source[REF]) >= 40
    assert len(by_source[REF]) + len(by_source[DUMP]) == len(REAL_SYMBOLS)  # every row names one of the two


@pytest.mark.skipif(not REFERENCE.is_dir(), reason="the shared reference is not next to this checkout")
@pytest.mark.parametrize("source", sorted({row[0] for row in REAL_SYMBOLS}))
def test_every_symbol_appears_in_its_source(source):
    text = (REFERENCE / source).read_text(errors="replace")
    # as a whole token: not inside a longer name (BTC inside BTCUSDT does not count)
    missing = [
        s
        for src, _, s, *_ in REAL_SYMBOLS
        if src == source and not re.search(rf"(?<![\w:]){re.escape(s)}(?![\w])", text)
    ]

    assert missing == []


@pytest.mark.parametrize("symbol", ["KAITO", "KSM", "KAVA", "KNC", "1INCH"])
def test_anchored_rules_keep_coins_starting_with_k_or_1(symbol):
    # Regression: the previous system stripped `^k` case-insensitively and `^1000` unanchored,
    # turning KAITO into AITO and KSM into SM (previous_system.md §4).
    assert normalize("binance", f"{symbol}USDT") == (symbol, Decimal(1))
    assert normalize("hyperliquid", symbol) == (symbol, Decimal(1))


def test_hip3_prefix_of_every_dex_is_dropped():
    # HIP-3 names as in fixtures/hyperliquid/info_metaAndAssetCtxs.edited_hip3_*.json
    names = ["hyna:ETH", "xyz:XYZ100", "flx:TSLA", "vntl:OPENAI", "km:US500"]

    bases = [normalize("hyperliquid", n).base_asset for n in names]

    assert bases == ["ETH", "XYZ100", "TSLA", "OPENAI", "US500"]


def test_glued_quote_is_only_stripped_on_concatenated_venues():
    # Lighter lists bare names; a trailing USD there is part of the name.
    assert normalize("lighter", "USDKRW").base_asset == "USDKRW"
    assert normalize("edgex", "SUSDUSD").base_asset == "SUSD"


def test_alias_applies_after_stripping():
    assert normalize("binance", "XBTUSDT") == ("BTC", Decimal(1))


def test_base_hint_names_the_base_and_symbol_keeps_its_multiplier():
    assert normalize("extended", "1000PEPE-USD", "PEPE") == ("PEPE", Decimal(1000))
    assert normalize("extended", "PEPE-USD", "1000PEPE") == ("PEPE", Decimal(1000))


@pytest.mark.parametrize("symbol", ["", "   "])
def test_empty_symbol_is_an_error(symbol):
    with pytest.raises(ValueError, match="empty symbol"):
        normalize("binance", symbol)


def test_prefix_only_symbol_is_an_error():
    with pytest.raises(ValueError, match="no base asset"):
        normalize("xyz", "xyz:")


def test_results_are_cached():
    normalize.cache_clear()

    normalize("hyperliquid", "kPEPE")
    normalize("hyperliquid", "kPEPE")

    assert normalize.cache_info().hits == 1


ISSUE_CASES = {
    "kPEPE": ("PEPE", 1000),
    "1000PEPE": ("PEPE", 1000),
    "KAITO": ("KAITO", 1),
    "KSM": ("KSM", 1),
    "1INCH": ("1INCH", 1),
}


def test_the_issue_cases_are_pinned_explicitly():
    assert {
        name: (PINNED[name].base_asset, int(PINNED[name].contract_multiplier)) for name in ISSUE_CASES
    } == ISSUE_CASES


# Each pinned name in the shapes of several venues.
SHAPES = [
    ("hyperliquid", "{}"),
    ("lighter", "{}"),
    ("binance", "{}USDT"),
    ("aster", "{}USDT"),
    ("edgex", "{}USD"),
    ("extended", "{}-USD"),
    ("dydx", "{}-USD"),
    ("okx", "{}-USDT-SWAP"),
    ("paradex", "{}-USD-PERP"),
    ("orderly", "PERP_{}_USDC"),
    ("grvt", "{}_USDT_Perp"),
    ("hibachi", "{}/USDT-P"),
    ("xyz", "xyz:{}"),
]


@pytest.mark.parametrize(("exchange", "shape"), SHAPES)
def test_pinned_names_survive_a_broken_multiplier_rule(monkeypatch, exchange, shape):
    # The previous system's rules: any leading k/K and any 1000 anywhere meant a multiplier.
    monkeypatch.setattr(symbols, "_multiplier", lambda name: (re.sub(r"^[kK]|1000", "", name), Decimal(1000)))
    normalize.cache_clear()
    try:
        results = {name: normalize(exchange, shape.format(name)) for name in ISSUE_CASES}
        assert normalize(exchange, shape.format("KNCX")).base_asset == "NCX"  # the rule is broken indeed
    finally:
        normalize.cache_clear()

    assert {n: (r.base_asset, int(r.contract_multiplier)) for n, r in results.items()} == ISSUE_CASES
