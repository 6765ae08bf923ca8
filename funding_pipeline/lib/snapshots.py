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
        ("settlement_interval_hours", pa.float64()),
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


def _enum_values(members: list) -> list[str]:
    """`.value` of each member, looked up once per distinct member (the enum property is slow)."""
    value = {m: m.value for m in set(members)}
    return [value[m] for m in members]


def snapshots_table(outcomes: Sequence[PollOutcome]) -> pa.Table:
    # Built column by column (comprehensions, not 18 appends per row): this runs for every row
    # of every slot; see docs/benchmarks.md "Collection".
    rows: list = []
    slots: list = []
    seen: set[tuple[str, str]] = set()
    for outcome in outcomes:
        for row in outcome.rows:
            key = (row.exchange, row.symbol)
            if key in seen:  # a venue listing a market twice in one answer: keep the first
                continue
            seen.add(key)
            rows.append(row)
            slots.append(outcome.slot_at)
    normalized = [normalize(r.exchange, r.symbol, r.base_hint) for r in rows]
    per_hour = [units.rate_1h(r.funding_rate, r.funding_interval_hours) for r in rows]
    cols = {
        "observed_at": slots,
        "exchange": [r.exchange for r in rows],
        "symbol": [r.symbol for r in rows],
        "base_asset": [n.base_asset for n in normalized],
        "contract_multiplier": [float(n.contract_multiplier) for n in normalized],
        "mark_price": [float(r.mark_price) for r in rows],
        "index_price": [None if r.index_price is None else float(r.index_price) for r in rows],
        "funding_rate": [float(r.funding_rate) for r in rows],
        "funding_rate_raw": [r.funding_rate_raw for r in rows],
        "rate_unit": _enum_values([r.rate_unit for r in rows]),
        "funding_interval_hours": [float(r.funding_interval_hours) for r in rows],
        "interval_source": _enum_values([r.interval_source for r in rows]),
        "settlement_interval_hours": [
            float(r.funding_interval_hours if r.settlement_interval_hours is None else r.settlement_interval_hours)
            for r in rows
        ],
        "funding_rate_1h": [float(p) for p in per_hour],
        "funding_apr": [float(units.apr(p)) for p in per_hour],
        "open_interest_base": [None if r.open_interest_base is None else float(r.open_interest_base) for r in rows],
        "open_interest_usd": [None if r.open_interest_usd is None else float(r.open_interest_usd) for r in rows],
        "volume_24h_usd": [None if r.volume_24h_usd is None else float(r.volume_24h_usd) for r in rows],
        "next_funding_at": [r.next_funding_at for r in rows],
    }
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
