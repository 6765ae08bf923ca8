"""Every venue's `history` over generated multi-page cassettes, replayed through the real transport."""

import asyncio
import json
import shutil
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from funding_pipeline.lib import history, recordings
from funding_pipeline.lib.exchanges import all_exchanges
from funding_pipeline.lib.http.client import VenueHttp
from funding_pipeline.lib.http.replay import ReplayTransport, load_cassettes
from funding_pipeline.lib.polling import poll_exchange, replay_transports
from funding_pipeline.lib.settings import BUNDLED_RECORDINGS

D = timedelta(days=1)
END = datetime(2026, 5, 20, tzinfo=UTC)
HISTORY_VENUES = sorted(e for e, x in all_exchanges().items() if x.history is not None)

# (days in the window, history kwargs): long enough, or pages small enough, that every venue
# walks more than one page (Lighter: more than one 720-hour window; Paradex: one request per
# hour, each paged with `next`, samples every 0.5 s).
PLANS: dict[str, tuple[int, dict]] = {
    **{v: (30, {}) for v in recordings.HYPERLIQUID},  # 500 rows a page
    "binance": (6, {"page_limit": 50}),
    "aster": (6, {"page_limit": 50}),
    "bybit": (6, {"page_limit": 50}),
    "okx": (8, {}),  # 100 a page
    "orderly": (8, {}),  # 100 a page
    "grvt": (45, {}),  # 1000 a page
    "edgex": (6, {"page_size": 50}),
    "hibachi": (8, {}),  # 100 a page
    "paradex": (2, {}),
    "lighter": (35, {}),
    "dydx": (45, {}),  # 1000 a page
    "pacifica": (8, {"page_size": 100}),
    "extended": (8, {"page_size": 100}),
    "ethereal": (20, {}),  # 200 a page, trailing month only
}
# Venues whose prints carry the interval they settled (spacing or a field); the rest are fixed 1 h.
INTERVAL_CHANGES = recordings.VARIABLE | recordings.HYPERLIQUID


def _model(days: int, venue: str) -> tuple[recordings.MarketModel, datetime]:
    start = END - days * D
    switch = recordings.IntervalSwitch(at=start + (2 * D if days > 4 else D), before=8, after=1)
    model = recordings.MarketModel(now=END, origin=start - 40 * D, switch=switch)
    if venue == "paradex":
        model.paradex_every_ms = 500  # 120 samples a minute: two pages of 100
    return model, start


def _replay_folder(tmp_path: Path, venue: str, recorder: recordings.Recorder) -> Path:
    folder = tmp_path / venue
    shutil.copytree(BUNDLED_RECORDINGS / venue, folder)
    recordings.write_cassettes(folder, recorder.cassettes)
    return folder


def _replayed(folder: Path, venue: str, start: datetime, end: datetime, kwargs: dict, symbols=None):
    exchange = all_exchanges()[venue]
    transport = ReplayTransport(load_cassettes(folder), 0)

    async def go():
        async with httpx.AsyncClient(transport=transport) as client:
            http = VenueHttp(exchange.venue, client, deadline=time.monotonic() + 3600, sleep=history.no_sleep)
            return await exchange.history(http, start, end, symbols, **kwargs)

    return asyncio.run(go())


@pytest.mark.parametrize("venue", HISTORY_VENUES)
def test_history_pages_through_generated_cassettes(venue, tmp_path):
    days, kwargs = PLANS[venue]
    model, start = _model(days, venue)
    exchange = all_exchanges()[venue]

    recorder = recordings.record_history(exchange, [(start, END)], model, **kwargs)
    result = _replayed(_replay_folder(tmp_path, venue, recorder), venue, start, END, kwargs)

    assert result.rejected == []
    symbols = sorted({p.symbol for p in result.prints})
    assert symbols, "no prints at all"
    # more history requests than markets: some market needed a second page (or window)
    assert recorder.history_requests > len(symbols)
    for symbol in symbols:
        got = [(p.funding_time, p.funding_rate, p.funding_interval_hours) for p in result.prints if p.symbol == symbol]
        expected = [tuple(e) for e in recordings.expected_prints(model, venue, symbol, start, END)]
        assert got == expected, symbol
    intervals = {p.funding_interval_hours for p in result.prints}
    if venue in INTERVAL_CHANGES:
        # 8-hourly until two days into the window, hourly after
        assert intervals == {Decimal(8), Decimal(1)}
    else:
        assert intervals == {Decimal(1)}  # these venues settle hourly, a fixed interval


@pytest.mark.parametrize("venue", ["binance", "aster"])
def test_a_walk_ending_on_an_empty_page(venue, tmp_path):
    """Binance-dialect paging stops at a short page: with rows filling exactly two pages, the
    third page asked for is empty and ends the walk."""
    start = END - 4 * D
    switch = recordings.IntervalSwitch(at=start + 2 * D, before=8, after=1)
    model = recordings.MarketModel(now=END, origin=start - 40 * D, switch=switch)
    first_ms = int((start - timedelta(hours=8)).timestamp() * 1000)  # the module's lookback

    def rows(end: datetime) -> int:
        return len(model.settlements(venue, "BTCUSDT", first_ms, int(end.timestamp() * 1000) - 1))

    end = END if rows(END) % 2 == 0 else END - timedelta(hours=1)  # hourly at the end: one row less
    kwargs = {"page_limit": rows(end) // 2}
    model.now = end
    exchange = all_exchanges()[venue]

    recorder = recordings.record_history(exchange, [(start, end)], model, symbols=["BTCUSDT"], **kwargs)
    replayed = _replayed(_replay_folder(tmp_path, venue, recorder), venue, start, end, kwargs, ["BTCUSDT"])

    assert (recorder.history_requests, recorder.empty_pages) == (3, 1)
    got = [(p.funding_time, p.funding_rate, p.funding_interval_hours) for p in replayed.prints]
    assert got == [tuple(e) for e in recordings.expected_prints(model, venue, "BTCUSDT", start, end)]
    assert {p.funding_interval_hours for p in replayed.prints} == {Decimal(8), Decimal(1)}


def test_cassettes_are_labelled_synthetic_and_most_specific_first(tmp_path):
    model, start = _model(8, "pacifica")
    recorder = recordings.record_history(all_exchanges()["pacifica"], [(start, END)], model, page_size=100)
    folder = tmp_path / "pacifica"
    recordings.write_cassettes(folder, recorder.cassettes)

    names = sorted(p.name for p in folder.glob("*.json"))
    docs = [json.loads((folder / n).read_text()) for n in names]
    assert all(d["comment"].startswith("synthetic") for d in docs)
    # cursor pages (3 pinned keys) sort before the first page (2 pinned keys) of a symbol
    pinned = [len(d["request"].get("params", {})) for d in docs]
    assert pinned == sorted(pinned, reverse=True)


def test_prepared_folder_keeps_polls_working_and_serves_every_day(tmp_path):
    start, end = datetime(2026, 5, 19, 22, tzinfo=UTC), datetime(2026, 5, 20, 2, tzinfo=UTC)

    prepared = recordings.prepare_replay_dir(tmp_path / "replay", start, end)

    assert [str(d) for d in prepared.days] == ["2026-05-19", "2026-05-20"]
    assert set(prepared.history_cassettes) == set(HISTORY_VENUES)
    assert prepared.candle_cassettes == 2 * len(recordings.DEFAULT_SYMBOLS)
    # the venues still poll exactly as from the bundled recordings
    for venue in ("hyperliquid", "grvt", "pacifica"):
        exchange = all_exchanges()[venue]
        ours = asyncio.run(poll_exchange(exchange, start, transport=replay_transports(prepared.folder)(venue, 3)))
        bundled = asyncio.run(poll_exchange(exchange, start, transport=replay_transports(BUNDLED_RECORDINGS)(venue, 3)))
        assert ours.ok and [r.funding_rate for r in ours.rows] == [r.funding_rate for r in bundled.rows]
    # and a day's history replays with no print after the window's end
    transport = ReplayTransport(load_cassettes(prepared.folder / "okx"), 0)
    day = recordings.day_start(prepared.days[-1])
    result, _ = asyncio.run(
        history.fetch_history(all_exchanges()["okx"], day, day + D, transport, sleep=history.no_sleep)
    )
    assert result.prints and max(p.funding_time for p in result.prints) <= end
