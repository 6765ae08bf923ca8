"""Poll outcomes -> Arrow tables for `market_snapshots` and `tracker_polls`.

Decimal at the parse boundary, float64 at the storage boundary: this is the one crossing.
The derived units (`funding_rate_1h`, `funding_apr`) are computed here from `lib.units`.
"""

from collections.abc import Sequence

import pyarrow as pa

from funding_pipeline.lib import units
from funding_pipeline.lib.polling import PollOutcome
from funding_pipeline.lib.symbols import normalize

TS = pa.timestamp("us", tz="UTC")

SNAPSHOT_SCHEMA = pa.schema(
    [
        ("observed_at", TS),
        ("exchange", pa.string()),
        ("symbol", pa.string()),
        ("base_asset", pa.string()),
        ("contract_multiplier", pa.float64()),
        ("mark_price", pa.float64()),
        ("index_price", pa.float64()),
        ("funding_rate", pa.float64()),
        ("funding_rate_raw", pa.string()),
        ("rate_unit", pa.string()),
        ("funding_interval_hours", pa.float64()),
        ("interval_source", pa.string()),
        ("funding_rate_1h", pa.float64()),
        ("funding_apr", pa.float64()),
        ("open_interest_base", pa.float64()),
        ("open_interest_usd", pa.float64()),
        ("volume_24h_usd", pa.float64()),
        ("next_funding_at", TS),
    ]
)

POLLS_SCHEMA = pa.schema(
    [
        ("slot_at", TS),
        ("exchange", pa.string()),
        ("ok", pa.bool_()),
        ("rows", pa.int32()),
        ("latency_ms", pa.float64()),
        ("error", pa.string()),
        ("rejected", pa.int32()),
        ("skipped", pa.int32()),
        ("requests", pa.int32()),
        ("retries", pa.int32()),
        ("jitter_ms", pa.float64()),
        ("first_rejection", pa.string()),
    ]
)


def _f(value) -> float | None:
    return None if value is None else float(value)


def snapshots_table(outcomes: Sequence[PollOutcome]) -> pa.Table:
    cols: dict[str, list] = {name: [] for name in SNAPSHOT_SCHEMA.names}
    seen: set[tuple[str, str]] = set()
    for outcome in outcomes:
        for row in outcome.rows:
            key = (row.exchange, row.symbol)
            if key in seen:  # a venue listing a market twice in one answer: keep the first
                continue
            seen.add(key)
            base, multiplier = normalize(row.exchange, row.symbol, row.base_hint)
            per_hour = units.rate_1h(row.funding_rate, row.funding_interval_hours)
            cols["observed_at"].append(outcome.slot_at)
            cols["exchange"].append(row.exchange)
            cols["symbol"].append(row.symbol)
            cols["base_asset"].append(base)
            cols["contract_multiplier"].append(float(multiplier))
            cols["mark_price"].append(float(row.mark_price))
            cols["index_price"].append(_f(row.index_price))
            cols["funding_rate"].append(float(row.funding_rate))
            cols["funding_rate_raw"].append(row.funding_rate_raw)
            cols["rate_unit"].append(row.rate_unit.value)
            cols["funding_interval_hours"].append(float(row.funding_interval_hours))
            cols["interval_source"].append(row.interval_source.value)
            cols["funding_rate_1h"].append(float(per_hour))
            cols["funding_apr"].append(float(units.apr(per_hour)))
            cols["open_interest_base"].append(_f(row.open_interest_base))
            cols["open_interest_usd"].append(_f(row.open_interest_usd))
            cols["volume_24h_usd"].append(_f(row.volume_24h_usd))
            cols["next_funding_at"].append(row.next_funding_at)
    return pa.table(cols, schema=SNAPSHOT_SCHEMA)


def polls_table(outcomes: Sequence[PollOutcome], jitter_ms: float = 0.0) -> pa.Table:
    cols: dict[str, list] = {name: [] for name in POLLS_SCHEMA.names}
    for o in outcomes:
        cols["slot_at"].append(o.slot_at)
        cols["exchange"].append(o.exchange)
        cols["ok"].append(o.ok)
        cols["rows"].append(len(o.rows))
        cols["latency_ms"].append(o.latency_ms)
        cols["error"].append(o.error)
        cols["rejected"].append(len(o.rejected))
        cols["skipped"].append(o.skipped)
        cols["requests"].append(o.requests)
        cols["retries"].append(o.retries)
        cols["jitter_ms"].append(jitter_ms)
        cols["first_rejection"].append(str(o.rejected[0])[:500] if o.rejected else None)
    return pa.table(cols, schema=POLLS_SCHEMA)
