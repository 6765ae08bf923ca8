from datetime import UTC, datetime
from decimal import Decimal

import pytest

from funding_pipeline.lib.exchanges import hyperliquid
from funding_pipeline.lib.exchanges.model import IntervalSource, ParseError
from funding_pipeline_tests.fixtures import load

OBSERVED = datetime(2026, 11, 23, 12, 0, 15, tzinfo=UTC)


def test_docs_example_btc():
    result = hyperliquid.parse_meta_and_asset_ctxs(
        load("hyperliquid", "info_metaAndAssetCtxs.docs_example.json"), observed_at=OBSERVED
    )

    assert [r.symbol for r in result.rows] == ["BTC", "ETH", "HPOS"]
    btc = result.rows[0]
    assert btc.mark_price == Decimal("14.3161")
    assert btc.index_price == Decimal("14.32")
    assert btc.funding_rate == Decimal("0.0000125")
    assert btc.funding_interval_hours == Decimal(1)
    assert btc.interval_source is IntervalSource.FIXED
    assert btc.open_interest_base == Decimal("688.11")
    assert btc.open_interest_usd == Decimal("9851.051571")  # 688.11 * 14.3161
    assert btc.volume_24h_usd == Decimal("1169046.29406")
    assert btc.next_funding_at == datetime(2026, 11, 23, 13, tzinfo=UTC)


def test_sdk_example_negative_rate():
    result = hyperliquid.parse_meta_and_asset_ctxs(
        load("hyperliquid", "info_metaAndAssetCtxs.sdk_openapi_example.json"), observed_at=OBSERVED
    )

    (btc,) = result.rows
    assert btc.funding_rate == Decimal("-0.0000886")
    assert btc.funding_rate_raw == "-0.0000886"
    assert btc.open_interest_usd == Decimal("6302.207224")  # 0.22168 * 28429.3


def test_edge_cases_multiplier_delisted_missing_volume():
    result = hyperliquid.parse_meta_and_asset_ctxs(
        load("hyperliquid", "info_metaAndAssetCtxs.edited_docs_example.json"), observed_at=OBSERVED
    )

    assert [r.symbol for r in result.rows] == ["BTC", "kPEPE"]
    assert result.skipped == 1  # HPOS is delisted
    assert result.rows[0].volume_24h_usd is None
    assert result.rows[1].mark_price == Decimal("6.0436")


def test_hip3_venue_keeps_its_own_id():
    venues = {e.venue.id for e in hyperliquid.EXCHANGES}
    assert venues == {"hyperliquid", "hyena", "xyz", "felix", "ventuals", "kinetiq"}


def test_bad_market_rejected_others_kept():
    payload = load("hyperliquid", "info_metaAndAssetCtxs.docs_example.json")
    payload[1][1]["markPx"] = "NaN"

    result = hyperliquid.parse_meta_and_asset_ctxs(payload, observed_at=OBSERVED)

    assert [r.symbol for r in result.rows] == ["BTC", "HPOS"]
    (error,) = result.rejected
    assert error.path == "$[1][1].markPx"


def test_length_mismatch_fails_the_poll():
    # Contexts are matched to names by index; a shorter list would shift every market.
    payload = load("hyperliquid", "info_metaAndAssetCtxs.docs_example.json")
    payload[1].pop()

    with pytest.raises(ParseError, match="lengths differ"):
        hyperliquid.parse_meta_and_asset_ctxs(payload, observed_at=OBSERVED)
