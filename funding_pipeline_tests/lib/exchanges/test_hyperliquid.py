import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from funding_pipeline.lib import units
from funding_pipeline.lib.exchanges import hyperliquid
from funding_pipeline.lib.exchanges.model import IntervalSource, ParseError
from funding_pipeline.lib.http.replay import Cassette, ReplayTransport
from funding_pipeline.lib.symbols import normalize
from funding_pipeline_tests.fixtures import load
from funding_pipeline_tests.lib.exchanges.replay_helpers import cassette, replay

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
    kpepe = result.rows[1]  # one kPEPE is 1000 PEPE: price and OI count kPEPE units
    assert kpepe.mark_price == Decimal("6.0436")
    assert kpepe.funding_rate == Decimal("0.0000125")
    assert kpepe.open_interest_base == Decimal("1882.55")  # kPEPE
    assert kpepe.open_interest_usd == Decimal("11377.379180")  # 1882.55 * 6.0436
    base, multiplier = normalize(kpepe.exchange, kpepe.symbol, kpepe.base_hint)
    assert (base, multiplier) == ("PEPE", Decimal(1000))
    assert kpepe.mark_price / multiplier == Decimal("0.0060436")  # price of one PEPE, as tokens.price_usd


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


# --- funding history -------------------------------------------------------------------------

INFO_URL = "https://api.hyperliquid.xyz/info"
SHORT = "info_fundingHistory.sdk_cassette_BTC_2023-05-12_to_2023-05-23.json"
LONG = "info_fundingHistory.sdk_cassette_BTC_2023-05-12_to_2023-07-17.json"


def _page(name: str, body: dict, response: object) -> Cassette:
    return cassette(INFO_URL, response, body=body, name=name)


class _Recording(ReplayTransport):
    """Replay that also keeps every request body, in order."""

    def __init__(self, cassettes):
        super().__init__(tuple(cassettes), 0)
        self.bodies: list[dict] = []

    async def handle_async_request(self, request):
        self.bodies.append(json.loads(request.content))
        return await super().handle_async_request(request)


def _history(venue_id, cassettes, start, end, symbols=None):
    exchange = {e.venue.id: e for e in hyperliquid.EXCHANGES}[venue_id]
    transport = _Recording(cassettes)
    result, _ = replay(
        exchange.venue, cassettes, lambda http: exchange.history(http, start, end, symbols), transport=transport
    )
    return result, transport.bodies


# --- HIP-3 dexes ---------------------------------------------------------------------------

# venue id, dex, (market 0, its base), (market 1, its base); every edited_hip3_* fixture carries
# the docs example's contexts, with market 1's rate edited to -0.0000886 (fixture README).
HIP3 = [
    ("hyena", "hyna", ("hyna:BTC", "BTC"), ("hyna:ETH", "ETH")),
    ("xyz", "xyz", ("xyz:XYZ100", "XYZ100"), ("xyz:AAPL", "AAPL")),
    ("felix", "flx", ("flx:CRCL", "CRCL"), ("flx:TSLA", "TSLA")),
    ("ventuals", "vntl", ("vntl:SPACEX", "SPACEX"), ("vntl:OPENAI", "OPENAI")),
    ("kinetiq", "km", ("km:US500", "US500"), ("km:USTECH", "USTECH")),
]


@pytest.mark.parametrize(("venue_id", "dex", "first", "second"), HIP3)
def test_hip3_poll_sends_the_dex_and_parses_exact_values(venue_id, dex, first, second):
    exchange = {e.venue.id: e for e in hyperliquid.EXCHANGES}[venue_id]
    meta = load("hyperliquid", f"info_metaAndAssetCtxs.edited_hip3_{dex}.json")
    cassettes = [_page("meta", {"type": "metaAndAssetCtxs", "dex": dex}, meta)]
    transport = _Recording(cassettes)

    poll = exchange.poll
    result, requests = replay(exchange.venue, cassettes, lambda http: poll(http, OBSERVED), transport=transport)

    assert requests == 1
    assert transport.bodies == [{"type": "metaAndAssetCtxs", "dex": dex}]
    assert result.rejected == [] and result.skipped == 0
    a, b = result.rows[:2]
    assert [r.symbol for r in result.rows[:2]] == [first[0], second[0]]
    assert {r.exchange for r in result.rows} == {venue_id}
    assert normalize(venue_id, a.symbol, a.base_hint) == (first[1], Decimal(1))
    assert normalize(venue_id, b.symbol, b.base_hint) == (second[1], Decimal(1))
    assert (a.mark_price, a.index_price) == (Decimal("14.3161"), Decimal("14.32"))
    assert (b.mark_price, b.index_price) == (Decimal("6.0436"), Decimal("6.0457"))
    assert (a.funding_rate, b.funding_rate) == (Decimal("0.0000125"), Decimal("-0.0000886"))
    for row in (a, b):
        assert (row.funding_interval_hours, row.interval_source) == (Decimal(1), IntervalSource.FIXED)
        assert row.next_funding_at == datetime(2026, 11, 23, 13, tzinfo=UTC)  # next full hour after 12:00:15
    # Hourly rates: funding_rate_1h is the rate itself, funding_apr = rate * 8760.
    assert units.rate_1h(a.funding_rate, a.funding_interval_hours) == Decimal("0.0000125")
    assert units.apr(units.rate_1h(a.funding_rate, a.funding_interval_hours)) == Decimal("0.1095")
    assert units.rate_1h(b.funding_rate, b.funding_interval_hours) == Decimal("-0.0000886")
    assert units.apr(units.rate_1h(b.funding_rate, b.funding_interval_hours)) == Decimal("-0.776136")
    # OI in base coins, USD at the mark: 688.11 * 14.3161 and 1882.55 * 6.0436.
    assert (a.open_interest_base, a.open_interest_usd) == (Decimal("688.11"), Decimal("9851.051571"))
    assert (b.open_interest_base, b.open_interest_usd) == (Decimal("1882.55"), Decimal("11377.379180"))
    assert (a.volume_24h_usd, b.volume_24h_usd) == (Decimal("1169046.29406"), Decimal("1426126.295175"))


def test_history_page_8h_era_exact_values():
    result = hyperliquid.parse_funding_history(load("hyperliquid", SHORT))

    assert len(result.prints) == 34
    assert result.rejected == []
    first = result.prints[0]
    assert first.exchange == "hyperliquid"
    assert first.symbol == "BTC"
    assert first.funding_time == datetime(2023, 5, 12, 0, 0, 0, 48000, tzinfo=UTC)  # 1683849600048 ms
    assert first.funding_rate == Decimal("-0.00061334")
    assert first.funding_rate_raw == "-0.00061334"
    # No print before it: spacing to the next one, 1683878400388 - 1683849600048 = 28799660 ms ≈ 8 h.
    assert first.funding_interval_hours == Decimal(8)
    assert first.interval_source is IntervalSource.DERIVED
    positive = result.prints[16]  # 2023-05-17 08:00, the 0.01 %/8h interest baseline
    assert positive.funding_time == datetime(2023, 5, 17, 8, 0, 0, 279000, tzinfo=UTC)
    assert positive.funding_rate == Decimal("0.0001")
    assert {p.funding_interval_hours for p in result.prints} == {Decimal(8)}


def test_history_detects_the_8h_to_1h_switch():
    # Hyperliquid settled every 8 h until 2023-06-08 00:00 UTC and hourly since; the rate of each
    # print is per its own period (0.0001 per 8 h before, 0.0000125 = 0.0001 / 8 per hour after).
    prints = hyperliquid.parse_funding_history(load("hyperliquid", LONG)).prints

    assert len(prints) == 1038
    last_8h, first_1h = prints[81], prints[82]
    assert last_8h.funding_time == datetime(2023, 6, 8, 0, 0, 0, 254000, tzinfo=UTC)
    assert last_8h.funding_rate == Decimal("0.0001")
    assert last_8h.funding_interval_hours == Decimal(8)
    assert first_1h.funding_time == datetime(2023, 6, 8, 1, 0, 0, 54000, tzinfo=UTC)
    assert first_1h.funding_rate == Decimal("0.0000125")
    assert first_1h.funding_interval_hours == Decimal(1)
    assert [p.funding_interval_hours for p in prints] == [Decimal(8)] * 82 + [Decimal(1)] * 956
    assert {p.interval_source for p in prints} == {IntervalSource.DERIVED}


def test_history_off_grid_and_missing_prints_keep_their_period():
    # Regression: 2023-05-23 08:23:53 came 8.4 h after its predecessor and 7.6 h before the next;
    # 2023-07-02 20:00 is missing, so 21:00 follows 19:00 by 2 h — still an hourly print.
    prints = hyperliquid.parse_funding_history(load("hyperliquid", LONG)).prints

    off_grid, after_gap = prints[34], prints[677]
    assert off_grid.funding_time == datetime(2023, 5, 23, 8, 23, 53, 40000, tzinfo=UTC)
    assert off_grid.funding_interval_hours == Decimal(8)
    assert prints[35].funding_interval_hours == Decimal(8)
    assert after_gap.funding_time == datetime(2023, 7, 2, 21, 0, 0, 180000, tzinfo=UTC)
    assert after_gap.funding_interval_hours == Decimal(1)


def test_history_lone_print_falls_back_to_the_venue_interval():
    page = load("hyperliquid", LONG)[1037:]

    (only,) = hyperliquid.parse_funding_history(page).prints

    assert only.funding_interval_hours == Decimal(1)
    assert only.interval_source is IntervalSource.FIXED


def test_history_bad_print_rejected_others_kept():
    page = load("hyperliquid", SHORT)
    page[1]["fundingRate"] = "abc"

    result = hyperliquid.parse_funding_history(page)

    assert len(result.prints) == 33
    (error,) = result.rejected
    assert error.path == "$[1].fundingRate"
    assert error.endpoint == "fundingHistory"


def test_history_wrong_envelope_raises():
    with pytest.raises(ParseError, match="expected an array"):
        hyperliquid.parse_funding_history({"error": "rate limited"})


def test_history_pages_across_the_switch_and_stops_past_end():
    rows = load("hyperliquid", LONG)
    start = datetime(2023, 6, 7, tzinfo=UTC)  # 1686096000000 ms
    end = datetime(2023, 6, 8, 6, tzinfo=UTC)  # 1686204000000 ms
    base = {"type": "fundingHistory", "coin": "BTC", "endTime": 1686203999999}
    cassettes = [
        # start - 17 h = 2023-06-06 07:00 = 1686034800000: rows 76..81, 8-hourly, 2023-06-06 08:00 to 06-08 00:00
        _page("p1", {**base, "startTime": 1686034800000}, rows[76:82]),
        # last time + 1: rows 82..86, hourly 01:00 to 05:00; the next print is due at 06:00 = end
        _page("p2", {**base, "startTime": 1686182400255}, rows[82:87]),
    ]

    result, bodies = _history("hyperliquid", cassettes, start, end, ["BTC"])

    assert len(bodies) == 2
    assert [p.funding_time.hour for p in result.prints] == [0, 8, 16, 0, 1, 2, 3, 4, 5]
    assert [p.funding_interval_hours for p in result.prints] == [Decimal(8)] * 4 + [Decimal(1)] * 5
    # first_1h is the first print of page 2: its interval comes from the last print of page 1.
    assert result.prints[4].funding_rate == Decimal("0.0000125")
    assert result.prints[0].funding_time == datetime(2023, 6, 7, 0, 0, 0, 420000, tzinfo=UTC)
    assert result.rejected == []


def test_history_stops_on_an_empty_page():
    rows = load("hyperliquid", LONG)
    start = datetime(2023, 7, 17, 12, tzinfo=UTC)
    end = datetime(2023, 7, 18, tzinfo=UTC)  # the recording ends at 2023-07-17 21:00
    base = {"type": "fundingHistory", "coin": "BTC", "endTime": 1689638399999}
    cassettes = [
        # start - 17 h = 2023-07-16 19:00 = 1689534000000: rows 1011..1031 (19:00 to 15:00)
        _page("p1", {**base, "startTime": 1689534000000}, rows[1011:1032]),
        _page("p2", {**base, "startTime": 1689606000066}, rows[1032:1038]),  # 16:00 to 21:00
        _page("p3", {**base, "startTime": 1689627600066}, []),
    ]

    result, bodies = _history("hyperliquid", cassettes, start, end, ["BTC"])

    assert len(bodies) == 3
    assert [p.funding_time.hour for p in result.prints] == list(range(12, 22))
    assert result.prints[7].funding_time == datetime(2023, 7, 17, 19, 0, 1, 356000, tzinfo=UTC)
    assert {p.funding_interval_hours for p in result.prints} == {Decimal(1)}


def test_hip3_history_lists_the_dex_coins():
    start, end = datetime(2026, 11, 23, 11, tzinfo=UTC), datetime(2026, 11, 23, 12, tzinfo=UTC)
    meta = load("hyperliquid", "info_metaAndAssetCtxs.edited_hip3_xyz.json")
    cassettes = [
        _page("meta", {"type": "metaAndAssetCtxs", "dex": "xyz"}, meta),
        _page("history", {"type": "fundingHistory"}, []),
    ]

    result, bodies = _history("xyz", cassettes, start, end)

    assert bodies[0] == {"type": "metaAndAssetCtxs", "dex": "xyz"}
    assert sorted(b["coin"] for b in bodies[1:]) == ["xyz:AAPL", "xyz:TSLA", "xyz:XYZ100"]
    assert result.prints == []


def test_history_page_cap_is_reported(monkeypatch):
    monkeypatch.setattr(hyperliquid, "MAX_PAGES", 2)
    rows = load("hyperliquid", LONG)
    start, end = datetime(2023, 7, 17, 12, tzinfo=UTC), datetime(2023, 7, 18, tzinfo=UTC)
    base = {"type": "fundingHistory", "coin": "BTC"}
    cassettes = [
        _page("p1", {**base, "startTime": 1689534000000}, rows[1011:1020]),  # 07-16 19:00 to 07-17 03:00
        _page("p2", {**base, "startTime": 1689562800205}, rows[1020:1025]),
    ]

    result, bodies = _history("hyperliquid", cassettes, start, end, ["BTC"])

    assert len(bodies) == 2
    (error,) = result.rejected
    assert "page cap" in error.reason
