"""A hand-built hour: Hyperliquid (1 h rates) and Binance (8 h rates), a 1000x PEPE market on
each, and a second BTC market on Binance. Tests work out every expected value from these rows."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path

from funding_pipeline.lib.aggregates import write_stats_1m
from funding_pipeline.lib.exchanges.model import IntervalSource, MarketRow, RateUnit
from funding_pipeline.lib.polling import PollOutcome
from funding_pipeline.lib.snapshots import polls_table, snapshots_table
from funding_pipeline.lib.storage import layout
from funding_pipeline.lib.storage.files import ChunkWriter

HOUR = datetime(2026, 11, 23, 10, tzinfo=UTC)
S = timedelta(seconds=15)


def row(exchange, symbol, mark, rate, interval, oi_base="10000", volume="5000000"):
    return MarketRow(
        exchange=exchange,
        symbol=symbol,
        mark_price=D(mark),
        index_price=None,
        funding_rate=D(rate),
        funding_rate_raw=rate,
        rate_unit=RateUnit.DECIMAL,
        funding_interval_hours=D(interval),
        interval_source=IntervalSource.FIXED,
        open_interest_base=D(oi_base),
        open_interest_usd=D(oi_base) * D(mark),
        volume_24h_usd=D(volume),
        next_funding_at=None,
    )


# slot offset -> rows; minute :00 has 4 slots, minute :01 two.
HL_BTC = {0: ("100", "0.00001"), 1: ("102", "0.00002"), 2: ("99", "0.00003"), 3: ("101", "0.00002"),
          4: ("103", "0.00004"), 5: ("104", "0.00006")}  # fmt: skip


def slot_outcomes(at: datetime, i: int) -> list[PollOutcome]:
    hl = [
        row("hyperliquid", "BTC", *HL_BTC.get(i, ("105", "0.00003")), "1"),
        row("hyperliquid", "kPEPE", "0.012", "0.00001", "1", oi_base="100000000"),
    ]
    bn = [
        row("binance", "BTCUSDT", "100.5", "0.0001", "8"),
        row("binance", "BTCUSDC", "100.4", "0.0002", "8", oi_base="10"),
        row("binance", "1000PEPEUSDT", "0.0121", "-0.0002", "8", oi_base="100000000"),
    ]
    return [PollOutcome("hyperliquid", at, True, rows=hl), PollOutcome("binance", at, True, rows=bn)]


Outcomes = Callable[[datetime, int], list[PollOutcome]]


def build_chunk(wh: Path, start: datetime, slots: range, outcomes: Outcomes = slot_outcomes) -> None:
    """One closed chunk starting at `start` with its 1-minute file; slot `i` is `i` x 15 s after
    the start of the chunk's hour."""
    hour = start.replace(minute=0)
    writer = ChunkWriter(layout.chunk_path(wh, start))
    for i in slots:
        batch = outcomes(hour + S * i, i)
        writer.append(snapshots_table(batch), polls_table(batch))
    closed = writer.close()
    write_stats_1m(wh, closed, start, start + timedelta(minutes=5))
