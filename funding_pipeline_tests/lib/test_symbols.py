from decimal import Decimal

import pytest

from funding_pipeline.lib.symbols import normalize

REF = "shared/reference/exchange_payloads"
DUMP = "shared/reference/previous_system_data/_mixed_db_dumps/early_30000.sql"  # real 2026-01 rows

# (exchange, venue symbol, base_hint, expected base, expected multiplier), each symbol as a venue
# published it; the comment names the file it was taken from.
REAL_SYMBOLS = [
    # REF/hyperliquid/info_metaAndAssetCtxs.docs_example.json
    ("hyperliquid", "BTC", None, "BTC", "1"),
    ("hyperliquid", "HPOS", None, "HPOS", "1"),
    # REF/hyperliquid/README.md (symbols, HIP-3 names)
    ("hyperliquid", "kBONK", None, "BONK", "1000"),
    ("hyperliquid", "kSHIB", None, "SHIB", "1000"),
    ("xyz", "xyz:AAPL", None, "AAPL", "1"),
    ("felix", "flx:CRCL", None, "CRCL", "1"),
    # DUMP (hyperliquid, hyena, flx, vntl rows)
    ("hyperliquid", "kNEIRO", None, "NEIRO", "1000"),
    ("hyperliquid", "NEIROETH", None, "NEIROETH", "1"),
    ("hyperliquid", "AI16Z", None, "AI16Z", "1"),
    ("hyperliquid", "KAITO", None, "KAITO", "1"),
    ("hyena", "hyna:BTC", None, "BTC", "1"),
    ("felix", "flx:GOLD", None, "GOLD", "1"),
    ("ventuals", "vntl:SPACEX", None, "SPACEX", "1"),
    # REF/aster/fapi_v3_fundingInfo.docs_example.json
    ("aster", "INJUSDT", None, "INJ", "1"),
    ("aster", "ZORAUSDT", None, "ZORA", "1"),
    # DUMP (aster rows); the previous system turned USD1USDT into "1"
    ("aster", "USD1USDT", None, "USD1", "1"),
    ("aster", "BUSDT", None, "B", "1"),
    ("aster", "42USDT", None, "42", "1"),
    ("aster", "LUNA2USDT", None, "LUNA2", "1"),
    ("aster", "1000CHEEMSUSDT", None, "CHEEMS", "1000"),
    # REF/binance/fapi_v1_fundingRate.docs_example.json, fapi_v1_fundingInfo.ccxt_comment_example.json
    ("binance", "BTCUSDT", None, "BTC", "1"),
    ("binance", "BLZUSDT", None, "BLZ", "1"),
    # REF/binance/README.md (symbols)
    ("binance", "BTCUSDC", None, "BTC", "1"),
    ("binance", "1000PEPEUSDT", None, "PEPE", "1000"),
    ("binance", "1MBABYDOGEUSDT", None, "BABYDOGE", "1000000"),
    # REF/bybit/v5_market_funding_history.ccxt_comment_example.json (USDC perp), v5_market_tickers_linear
    ("bybit", "ETHPERP", None, "ETH", "1"),
    ("bybit", "BTCUSDT", None, "BTC", "1"),
    # REF/bybit/README.md (symbols); SHIB1000USDT is in the explicit table
    ("bybit", "10000SATSUSDT", None, "SATS", "10000"),
    ("bybit", "SHIB1000USDT", None, "SHIB", "1000"),
    # REF/dydx/v4_perpetualMarkets.ccxt_comment_example.json
    ("dydx", "BTC-USD", None, "BTC", "1"),
    # REF/edgex/api_v1_public_quote_getTicker.docs_example.json
    ("edgex", "BTCUSDT", None, "BTC", "1"),
    # DUMP (edgex rows); the previous system stored 1000000MOGUSD as "000MOG"
    ("edgex", "1000000MOGUSD", None, "MOG", "1000000"),
    ("edgex", "KAITOUSD", None, "KAITO", "1"),
    ("edgex", "XAUTUSD", None, "XAUT", "1"),
    ("edgex", "0GUSD", None, "0G", "1"),
    # REF/ethereal/v1_product.data0.docs_example_testnet.json
    ("ethereal", "BTCUSD", None, "BTC", "1"),
    # REF/extended/api_v1_info_markets.ccxt_comment_example.json (name + assetName)
    ("extended", "BTC-USD", "BTC", "BTC", "1"),
    # DUMP (extended rows)
    ("extended", "1000SHIB-USD", None, "SHIB", "1000"),
    ("extended", "KAITO-USD", None, "KAITO", "1"),
    ("extended", "EUR-USD", None, "EUR", "1"),
    ("extended", "SPX500m-USD", None, "SPX500M", "1"),
    # REF/grvt/full_v1_ticker_BTC_USDT_Perp.ccxt_comment_example.json
    ("grvt", "BTC_USDT_Perp", None, "BTC", "1"),
    # REF/hibachi/market_data_prices_ETH.ccxt_comment_example.json
    ("hibachi", "ETH/USDT-P", None, "ETH", "1"),
    # REF/lighter/api_v1_orderBookDetails.ccxt_fixture.json
    ("lighter", "ETH", None, "ETH", "1"),
    # DUMP (lighter rows): bare names, FX pairs by pair name
    ("lighter", "1000BONK", None, "BONK", "1000"),
    ("lighter", "KAITO", None, "KAITO", "1"),
    ("lighter", "0G", None, "0G", "1"),
    ("lighter", "2Z", None, "2Z", "1"),
    ("lighter", "USDJPY", None, "USDJPY", "1"),
    ("lighter", "AUDUSD", None, "AUD", "1"),
    # REF/okx/api_v5_public_funding-rate-history..., funding-rate_instId_ANY... ; README (USDC swap)
    ("okx", "BTC-USDT-SWAP", None, "BTC", "1"),
    ("okx", "BTC-USD-SWAP", None, "BTC", "1"),
    ("okx", "BTC-USDC-SWAP", None, "BTC", "1"),
    # REF/orderly/v1_public_futures.ccxt_comment_example.json, v1_public_funding_rates...
    ("orderly", "PERP_BTC_USDC", None, "BTC", "1"),
    ("orderly", "PERP_ETH_USDC", None, "ETH", "1"),
    # REF/pacifica/api_v1_info.ccxt_comment_example.json (symbol + base_asset), api_v1_info_prices...
    ("pacifica", "BTC", "BTC", "BTC", "1"),
    ("pacifica", "SOL-USDC", "SOL", "SOL", "1"),
    ("pacifica", "XPL", None, "XPL", "1"),
    # DUMP (pacifica rows)
    ("pacifica", "kPEPE", None, "PEPE", "1000"),
    # REF/paradex/v1_markets_summary.ccxt_fixture_testnet.json
    ("paradex", "BTC-USD-PERP", None, "BTC", "1"),
    # DUMP (paradex rows)
    ("paradex", "kBONK-USD-PERP", None, "BONK", "1000"),
    ("paradex", "kFLOKI-USD-PERP", None, "FLOKI", "1000"),
    ("paradex", "KAITO-USD-PERP", None, "KAITO", "1"),
    # REF/paradex/README.md: upper-case multiplier prefixes, in the explicit table
    ("paradex", "KPEPE-USD-PERP", None, "PEPE", "1000"),
    ("paradex", "MSATS-USD-PERP", None, "SATS", "1000000"),
]


@pytest.mark.parametrize(("exchange", "symbol", "hint", "base", "multiplier"), REAL_SYMBOLS)
def test_real_symbol(exchange, symbol, hint, base, multiplier):
    result = normalize(exchange, symbol, hint)

    assert result.base_asset == base
    assert result.contract_multiplier == Decimal(multiplier)


def test_table_holds_forty_real_symbols():
    assert len({(e, s) for e, s, *_ in REAL_SYMBOLS}) >= 40


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
