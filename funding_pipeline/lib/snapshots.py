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


def _per_distinct(values: list, convert) -> list:
    """`convert` of each value, computed once per distinct value: enum `.value` (a slow property)
    and the few intervals and multipliers of a slot."""
    done = {v: convert(v) for v in set(values)}
    return [done[v] for v in values]


def _timestamps(values: list) -> pa.Array:
    """A timestamp column from few distinct datetimes (one slot time, a few settlement times):
    pyarrow converts each distinct value once, then repeats them by index."""
    index: dict = {}
    codes = [index.setdefault(v, len(index)) for v in values]
    return pa.array(list(index), TS).take(pa.array(codes, pa.int32()))


def _value(member) -> str:
    return member.value


def _optional_floats(values: list) -> list:
    return [None if v is None else float(v) for v in values]


def snapshots_table(outcomes: Sequence[PollOutcome]) -> pa.Table:
    """Rows of one slot as Arrow columns: the Decimal -> float64 crossing.

    Built column by column (this runs for every row of every slot; docs/benchmarks.md
    "Collection"). `funding_rate_1h` and `funding_apr` are float64 arithmetic on the stored
    float64 columns, the `units.SQL_*` formulas exactly (docs/architecture.md).
    """
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
    rates = [float(r.funding_rate) for r in rows]
    intervals = _per_distinct([r.funding_interval_hours for r in rows], float)
    per_hour = [rate / hours for rate, hours in zip(rates, intervals, strict=True)]
    hours_per_year = float(units.HOURS_PER_YEAR)
    settles = [
        r.funding_interval_hours if r.settlement_interval_hours is None else r.settlement_interval_hours for r in rows
    ]
    cols = {
        "observed_at": _timestamps(slots),
        "exchange": [r.exchange for r in rows],
        "symbol": [r.symbol for r in rows],
        "base_asset": [n.base_asset for n in normalized],
        "contract_multiplier": _per_distinct([n.contract_multiplier for n in normalized], float),
        "mark_price": [float(r.mark_price) for r in rows],
        "index_price": _optional_floats([r.index_price for r in rows]),
        "funding_rate": rates,
        "funding_rate_raw": [r.funding_rate_raw for r in rows],
        "rate_unit": _per_distinct([r.rate_unit for r in rows], _value),
        "funding_interval_hours": intervals,
        "interval_source": _per_distinct([r.interval_source for r in rows], _value),
        "settlement_interval_hours": _per_distinct(settles, float),
        "funding_rate_1h": per_hour,
        "funding_apr": [p * hours_per_year for p in per_hour],
        "open_interest_base": _optional_floats([r.open_interest_base for r in rows]),
        "open_interest_usd": _optional_floats([r.open_interest_usd for r in rows]),
        "volume_24h_usd": _optional_floats([r.volume_24h_usd for r in rows]),
        "next_funding_at": _timestamps([r.next_funding_at for r in rows]),
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
