from datetime import UTC, datetime
from decimal import Decimal

import pytest

from funding_pipeline.lib import units
from funding_pipeline.lib.exchanges import variational
from funding_pipeline.lib.exchanges.model import IntervalSource, ParseError
from funding_pipeline.lib.symbols import normalize
from funding_pipeline_tests.fixtures import load

OBSERVED = datetime(2026, 11, 23, 12, 0, 15, tzinfo=UTC)


def _parse(name: str):
    return variational.parse_metadata_stats(load("variational", name), observed_at=OBSERVED)


def test_btc_values_from_api_notes_example():
    result = _parse("metadata_stats.thirdparty_omni_api_notes.json")

    (btc,) = result.rows
    assert btc.symbol == "BTC"
    assert btc.base_hint == "BTC"
    assert btc.mark_price == Decimal("85734.2744737329")
    assert btc.index_price is None  # the stats endpoint has no index price
    assert btc.funding_rate == Decimal("0.075426")
    assert btc.funding_rate_raw == "0.075426"
    assert btc.funding_interval_hours == Decimal(8760)  # the rate is per year
    assert btc.interval_source is IntervalSource.FIXED
    assert btc.open_interest_usd == Decimal("34542768.61")  # 23658826.20 long + 10883942.41 short
    assert btc.volume_24h_usd == Decimal("1581665161.507424")
    assert btc.next_funding_at == datetime(2026, 11, 23, 16, tzinfo=UTC)  # 8 h settlement (28800 s)


def test_rate_is_annualised_not_per_settlement():
    # Quirk: `funding_rate` is an APR decimal (365-day year), whatever `funding_interval_s` is.
    # A real 8 h BTC funding transfer of 0.0000685680365296804 matches APR 0.075082:
    # 0.075082 / 8760 h * 8 h = 0.075082 / 1095 = 0.0000685680365296803652968...
    payload = load("variational", "metadata_stats.thirdparty_omni_api_notes.json")
    payload["listings"][0]["funding_rate"] = "0.075082"

    (btc,) = variational.parse_metadata_stats(payload, observed_at=OBSERVED).rows
    per_settlement = units.rate_1h(btc.funding_rate, btc.funding_interval_hours) * 8

    assert per_settlement.quantize(Decimal("1e-19")) == Decimal("0.0000685680365296804")


def test_scanner_capture_without_quotes_or_totals():
    result = _parse("metadata_stats.thirdparty_scanner_tests.json")

    (btc,) = result.rows
    assert btc.funding_rate == Decimal("0.086232")
    assert btc.open_interest_usd == Decimal("196286089.52")  # 113883049.01 + 82403040.51
    assert btc.volume_24h_usd == Decimal("1058107020.46")


def test_edited_example_hourly_negative_multiplier_market_and_swap():
    result = _parse("metadata_stats.edited_thirdparty_omni_api_notes.json")

    assert [r.symbol for r in result.rows] == ["BTC", "1000000MOG"]
    assert result.skipped == 1  # US100S: funding_interval_s 0 is a swap
    mog = result.rows[1]
    assert mog.base_hint == "1000000MOG"  # multiplier left to the shared normaliser
    assert normalize(mog.exchange, mog.symbol, mog.base_hint) == ("MOG", Decimal(1_000_000))
    assert mog.funding_rate == Decimal("-0.218400")
    assert mog.funding_interval_hours == Decimal(8760)  # quoted period, not the 1 h settlement
    assert mog.settlement_interval_hours == Decimal(1)
    assert mog.mark_price == Decimal("0.6250")
    assert mog.open_interest_usd == Decimal("660000.75")  # 250000.50 + 410000.25
    assert mog.open_interest_base == Decimal("1056001.2")  # 660000.75 / 0.625
    assert mog.volume_24h_usd == Decimal("1834567.12")
    assert mog.next_funding_at == datetime(2026, 11, 23, 13, tzinfo=UTC)  # 1 h settlement


def test_bad_market_rejected_others_kept():
    payload = load("variational", "metadata_stats.edited_thirdparty_omni_api_notes.json")
    payload["listings"][1]["mark_price"] = ""

    result = variational.parse_metadata_stats(payload, observed_at=OBSERVED)

    assert [r.symbol for r in result.rows] == ["BTC"]
    (error,) = result.rejected
    assert error.path == "$.listings[1].mark_price"


def test_missing_settlement_interval_is_rejected_not_guessed():
    # The previous system defaulted a missing interval to 28800 s; here it is an error.
    payload = load("variational", "metadata_stats.thirdparty_omni_api_notes.json")
    del payload["listings"][0]["funding_interval_s"]

    result = variational.parse_metadata_stats(payload, observed_at=OBSERVED)

    assert result.rows == []
    assert result.rejected[0].path == "$.listings[0].funding_interval_s"


def test_missing_open_interest_side_is_rejected():
    payload = load("variational", "metadata_stats.thirdparty_omni_api_notes.json")
    del payload["listings"][0]["open_interest"]["short_open_interest"]

    result = variational.parse_metadata_stats(payload, observed_at=OBSERVED)

    assert result.rejected[0].path == "$.listings[0].open_interest.short_open_interest"


def test_wrong_envelope_fails_the_poll():
    with pytest.raises(ParseError, match="expected an array"):
        variational.parse_metadata_stats({"data": []}, observed_at=OBSERVED)


def test_no_public_history():
    (exchange,) = variational.EXCHANGES

    assert exchange.history is None
