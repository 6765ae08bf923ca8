"""Column contract of every table (README "Tables"), with a schema version stored in each file.

Bump `version` when a table's columns change; files written under an older version are
reported by `funding-pipeline doctor` and refused by `warehouse.connect()`.
"""

from dataclasses import dataclass

TS = "TIMESTAMP WITH TIME ZONE"


@dataclass(frozen=True)
class Table:
    name: str
    version: int
    columns: tuple[tuple[str, str], ...]
    key: tuple[str, ...]

    @property
    def column_names(self) -> list[str]:
        return [c for c, _ in self.columns]

    def create_sql(self, prefix: str = "") -> str:
        cols = ", ".join(f'"{c}" {t}' for c, t in self.columns)
        return f"CREATE TABLE IF NOT EXISTS {prefix}{self.name} ({cols})"  # sql-ok: fixed identifiers

    def empty_select(self) -> str:
        cols = ", ".join(f'CAST(NULL AS {t}) AS "{c}"' for c, t in self.columns)
        return f"SELECT {cols} WHERE false"  # sql-ok: fixed identifiers


def _t(name: str, version: int, key: tuple[str, ...], *columns: tuple[str, str]) -> Table:
    return Table(name, version, tuple(columns), key)


STATS_COLUMNS = (
    ("bucket_start", TS),
    ("exchange", "VARCHAR"),
    ("symbol", "VARCHAR"),
    ("base_asset", "VARCHAR"),
    ("samples", "INTEGER"),
    ("mark_price_open", "DOUBLE"),
    ("mark_price_high", "DOUBLE"),
    ("mark_price_low", "DOUBLE"),
    ("mark_price_close", "DOUBLE"),
    ("funding_rate_1h_avg", "DOUBLE"),
    ("funding_rate_1h_min", "DOUBLE"),
    ("funding_rate_1h_max", "DOUBLE"),
    ("open_interest_usd_last", "DOUBLE"),
    ("volume_24h_usd_last", "DOUBLE"),
)

MARKET_SNAPSHOTS = _t(
    "market_snapshots",
    2,
    ("observed_at", "exchange", "symbol"),
    ("observed_at", TS),
    ("exchange", "VARCHAR"),
    ("symbol", "VARCHAR"),
    ("base_asset", "VARCHAR"),
    ("contract_multiplier", "DOUBLE"),
    ("mark_price", "DOUBLE"),
    ("index_price", "DOUBLE"),
    ("funding_rate", "DOUBLE"),
    ("funding_rate_raw", "VARCHAR"),
    ("rate_unit", "VARCHAR"),
    ("funding_interval_hours", "DOUBLE"),
    ("interval_source", "VARCHAR"),
    ("settlement_interval_hours", "DOUBLE"),
    ("funding_rate_1h", "DOUBLE"),
    ("funding_apr", "DOUBLE"),
    ("open_interest_base", "DOUBLE"),
    ("open_interest_usd", "DOUBLE"),
    ("volume_24h_usd", "DOUBLE"),
    ("next_funding_at", TS),
)

TRACKER_POLLS = _t(
    "tracker_polls",
    1,
    ("slot_at", "exchange"),
    ("slot_at", TS),
    ("exchange", "VARCHAR"),
    ("ok", "BOOLEAN"),
    ("rows", "INTEGER"),
    ("latency_ms", "DOUBLE"),
    ("error", "VARCHAR"),
    ("rejected", "INTEGER"),
    ("skipped", "INTEGER"),
    ("requests", "INTEGER"),
    ("retries", "INTEGER"),
    ("jitter_ms", "DOUBLE"),
    ("first_rejection", "VARCHAR"),
)

MARKET_STATS_1M = _t("market_stats_1m", 1, ("bucket_start", "exchange", "symbol"), *STATS_COLUMNS)
MARKET_STATS_1H = _t("market_stats_1h", 1, ("bucket_start", "exchange", "symbol"), *STATS_COLUMNS)

TRACKER_STATUS = _t(
    "tracker_status",
    1,
    ("exchange",),
    ("exchange", "VARCHAR"),
    ("enabled", "BOOLEAN"),
    ("last_slot_at", TS),
    ("last_success_at", TS),
    ("last_error_at", TS),
    ("last_error", "VARCHAR"),
    ("consecutive_failures", "INTEGER"),
    ("slots_ok_last_hour", "INTEGER"),
    ("slots_last_hour", "INTEGER"),
    ("rows_last_slot", "INTEGER"),
    ("computed_at", TS),
)

NORMALIZED_TOKENS = _t(
    "normalized_tokens",
    2,
    ("base_asset", "exchange", "symbol"),
    ("base_asset", "VARCHAR"),
    ("exchange", "VARCHAR"),
    ("symbol", "VARCHAR"),
    ("updated_at", TS),
    ("snapshot_age_s", "DOUBLE"),
    ("contract_multiplier", "DOUBLE"),
    ("price_usd", "DOUBLE"),
    ("funding_rate", "DOUBLE"),
    ("funding_interval_hours", "DOUBLE"),
    ("settlement_interval_hours", "DOUBLE"),
    ("funding_rate_1h", "DOUBLE"),
    ("funding_rate_8h", "DOUBLE"),
    ("funding_apr", "DOUBLE"),
    ("open_interest_usd", "DOUBLE"),
    ("volume_24h_usd", "DOUBLE"),
    ("next_funding_at", TS),
    ("is_primary", "BOOLEAN"),
)

FUNDING_ARBITRAGE = _t(
    "funding_arbitrage",
    1,
    ("period", "base_asset"),
    ("period", "VARCHAR"),
    ("base_asset", "VARCHAR"),
    ("long_exchange", "VARCHAR"),
    ("short_exchange", "VARCHAR"),
    ("long_funding_apr", "DOUBLE"),
    ("short_funding_apr", "DOUBLE"),
    ("spread_apr", "DOUBLE"),
    ("net_spread_apr", "DOUBLE"),
    ("long_interval_hours", "DOUBLE"),
    ("short_interval_hours", "DOUBLE"),
    ("intervals_differ", "BOOLEAN"),
    ("mark_price_spread", "DOUBLE"),
    ("venues", "INTEGER"),
    ("persistence", "DOUBLE"),
    ("computed_at", TS),
)

CROSS_EXCHANGE_FUNDING = _t(
    "cross_exchange_funding",
    2,
    ("period", "base_asset"),
    ("period", "VARCHAR"),
    ("base_asset", "VARCHAR"),
    ("venues", "INTEGER"),
    ("oi_weighted_apr", "DOUBLE"),
    ("volume_weighted_apr", "DOUBLE"),
    ("total_open_interest_usd", "DOUBLE"),
    ("total_volume_24h_usd", "DOUBLE"),
    ("computed_at", TS),
)

# The venues behind each cross_exchange_funding row and their weights (one row per venue).
CROSS_EXCHANGE_WEIGHTS = _t(
    "cross_exchange_weights",
    1,
    ("period", "base_asset", "exchange"),
    ("period", "VARCHAR"),
    ("base_asset", "VARCHAR"),
    ("exchange", "VARCHAR"),
    ("symbol", "VARCHAR"),
    ("funding_apr", "DOUBLE"),
    ("open_interest_usd", "DOUBLE"),
    ("volume_24h_usd", "DOUBLE"),
    ("oi_weight", "DOUBLE"),
    ("volume_weight", "DOUBLE"),
    ("computed_at", TS),
)

FUNDING_RATE_HISTORY = _t(
    "funding_rate_history",
    1,
    ("exchange", "symbol", "funding_time"),
    ("funding_time", TS),
    ("exchange", "VARCHAR"),
    ("symbol", "VARCHAR"),
    ("base_asset", "VARCHAR"),
    ("funding_rate", "DOUBLE"),
    ("funding_rate_raw", "VARCHAR"),
    ("funding_interval_hours", "DOUBLE"),
    ("interval_source", "VARCHAR"),
    ("funding_rate_1h", "DOUBLE"),
    ("funding_apr", "DOUBLE"),
    ("source", "VARCHAR"),
)

FUNDING_RATE_MA = _t(
    "funding_rate_ma",
    1,
    ("exchange", "base_asset", "period"),
    ("exchange", "VARCHAR"),
    ("base_asset", "VARCHAR"),
    ("period", "VARCHAR"),
    ("ma_funding_rate_1h", "DOUBLE"),
    ("ma_funding_apr", "DOUBLE"),
    ("samples", "INTEGER"),
    ("coverage", "DOUBLE"),
    ("valid", "BOOLEAN"),
    ("source", "VARCHAR"),
    ("computed_at", TS),
)

ACCUMULATED_FUNDING = _t(
    "accumulated_funding",
    1,
    ("exchange", "base_asset", "period"),
    ("exchange", "VARCHAR"),
    ("base_asset", "VARCHAR"),
    ("period", "VARCHAR"),
    ("accumulated_rate", "DOUBLE"),
    ("prints", "INTEGER"),
    ("computed_at", TS),
)

PRICE_CANDLES = _t(
    "price_candles",
    1,
    ("day", "symbol"),
    ("day", "DATE"),
    ("symbol", "VARCHAR"),
    ("open", "DOUBLE"),
    ("high", "DOUBLE"),
    ("low", "DOUBLE"),
    ("close", "DOUBLE"),
    ("volume_from", "DOUBLE"),
    ("volume_to", "DOUBLE"),
    ("source", "VARCHAR"),
)

TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        MARKET_SNAPSHOTS,
        TRACKER_POLLS,
        MARKET_STATS_1M,
        MARKET_STATS_1H,
        TRACKER_STATUS,
        NORMALIZED_TOKENS,
        FUNDING_ARBITRAGE,
        CROSS_EXCHANGE_FUNDING,
        CROSS_EXCHANGE_WEIGHTS,
        FUNDING_RATE_HISTORY,
        FUNDING_RATE_MA,
        ACCUMULATED_FUNDING,
        PRICE_CANDLES,
    )
}

# The arbitrage ranking per moving-average window (`period` = MA window), the live ranking's
# columns in its own latest file: the live asset rewrites `funding_arbitrage/latest.duckdb`
# every 5 minutes, so a second writer there would race it.
FUNDING_ARBITRAGE_MA = Table("funding_arbitrage_ma", 1, FUNDING_ARBITRAGE.columns, FUNDING_ARBITRAGE.key)
TABLES[FUNDING_ARBITRAGE_MA.name] = FUNDING_ARBITRAGE_MA
