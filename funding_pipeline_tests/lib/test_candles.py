import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from funding_pipeline import warehouse
from funding_pipeline.lib import candles, recordings
from funding_pipeline.lib.history import no_sleep
from funding_pipeline.lib.http.replay import ReplayTransport, load_cassettes

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cryptocompare"


def _load(name: str):
    return json.loads((FIXTURES / name).read_text(), parse_float=Decimal)


def test_histoday_capture_parses_exactly():
    found, empty, rejected = candles.parse_histoday(
        _load("data_v2_histoday_BTC_USD.trimmed_thirdparty_capture.json"), symbol="BTC"
    )

    assert (len(found), empty, rejected) == (5, 0, [])
    first = found[0]
    assert first.day == date(2022, 5, 10)  # time 1652140800
    assert (first.open, first.high, first.low, first.close) == (
        Decimal("30076.9"),
        Decimal("32625.41"),
        Decimal("29836.19"),
        Decimal("31013.12"),
    )
    assert (first.volume_from, first.volume_to) == (Decimal("103840.6"), Decimal("3244062170.09"))
    assert found[-1].day == date(2022, 6, 9)


def test_error_answer_raises_with_the_message():
    with pytest.raises(candles.CandleSourceError, match="There is no data for any of the toSymbols USD"):
        candles.parse_histoday(_load("error_no_data.thirdparty_docs_example.json"), symbol="NOPE")


def test_zero_candles_before_listing_are_skipped_and_bad_ones_rejected():
    payload = _load("data_v2_histoday_BTC_USD.trimmed_thirdparty_capture.json")
    rows = payload["Data"]["Data"]
    rows[0].update(open=0, high=0, low=0, close=0, volumefrom=0, volumeto=0)
    rows[1]["low"] = Decimal("99999")  # low above open

    found, empty, rejected = candles.parse_histoday(payload, symbol="BTC")

    assert (len(found), empty) == (3, 1)
    assert len(rejected) == 1 and "$.Data.Data[1]" in str(rejected[0])


def test_request_parameters():
    assert candles.histoday_params("BTC", "USD", date(2022, 5, 10), date(2022, 6, 9)) == {
        "fsym": "BTC",
        "tsym": "USD",
        "limit": 30,  # 31 days: limit + 1 candles
        "toTs": 1654732800,
    }
    # limit must be at least 1: one day asks for two candles
    assert candles.histoday_params("ETH", "USD", date(2022, 6, 9), date(2022, 6, 9))["limit"] == 1
    assert candles.batches(date(2024, 12, 30), date(2025, 1, 3), 2) == [
        (date(2024, 12, 30), date(2024, 12, 31)),
        (date(2025, 1, 1), date(2025, 1, 2)),
        (date(2025, 1, 3), date(2025, 1, 3)),
    ]


def _replay(tmp_path: Path, ranges: list[tuple[date, date]], symbols: list[str]) -> ReplayTransport:
    folder = tmp_path / "replay" / "cryptocompare"
    recordings.candle_cassettes(folder, symbols, ranges, today=date(2026, 1, 31))
    return ReplayTransport(load_cassettes(folder), 0)


def _stored(root: Path) -> list[tuple]:
    with warehouse.connect(root, tables=["price_candles"]) as con:
        return con.execute("SELECT day, symbol, open, close, source FROM price_candles ORDER BY day, symbol").fetchall()


def test_overlapping_backfills_never_duplicate_a_day(tmp_path):
    symbols = ["BTC", "ETH"]
    first, last = date(2025, 12, 28), date(2026, 1, 3)
    # batches of 3 days, as `load_candles` cuts them, for two overlapping ranges
    ranges = candles.batches(first, last, 3) + candles.batches(date(2025, 12, 31), date(2026, 1, 2), 3)
    transport = _replay(tmp_path, ranges, symbols)
    wh = tmp_path / "warehouse"

    report = candles.load_candles(wh, symbols, first, last, transport, batch_days=3, sleep=no_sleep)
    once = _stored(tmp_path)
    candles.load_candles(wh, symbols, date(2025, 12, 31), date(2026, 1, 2), transport, batch_days=3, sleep=no_sleep)

    assert _stored(tmp_path) == once
    assert len(once) == 14  # 7 days x 2 symbols, across two year files
    assert (report.batches, report.rows, report.requests) == (3, 14, 6)
    assert sorted(Path(f).name for f in report.files) == ["2025.duckdb", "2026.duckdb"]
    assert {r[4] for r in once} == {"cryptocompare"}


def test_the_api_key_travels_in_a_header_only(tmp_path):
    seen: list[httpx.Request] = []
    inner = _replay(tmp_path, [(date(2026, 1, 5), date(2026, 1, 5))], ["BTC"])

    class Spy(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request):
            seen.append(request)
            return await inner.handle_async_request(request)

    candles.load_candles(
        tmp_path / "warehouse", ["btc"], date(2026, 1, 5), date(2026, 1, 5), Spy(), api_key="s3cret", sleep=no_sleep
    )

    (request,) = seen
    assert request.headers["authorization"] == "Apikey s3cret"
    assert "s3cret" not in str(request.url)
    assert dict(request.url.params) == {"fsym": "BTC", "tsym": "USD", "limit": "1", "toTs": "1767571200"}
