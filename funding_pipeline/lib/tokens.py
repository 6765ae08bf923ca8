"""Latest cross-venue state: normalized tokens, the live arbitrage ranking, cross-venue averages
and their per-venue weights.

All are computed in DuckDB from the newest closed chunk and written as one
copy-on-write `latest.duckdb` each.
"""

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb

from funding_pipeline.lib import units
from funding_pipeline.lib.storage import layout
from funding_pipeline.lib.storage.files import attach_sql, check_version, write_atomic
from funding_pipeline.lib.storage.schemas import (
    CROSS_EXCHANGE_FUNDING,
    CROSS_EXCHANGE_WEIGHTS,
    FUNDING_ARBITRAGE,
    MARKET_SNAPSHOTS,
    NORMALIZED_TOKENS,
)

# When one venue lists several markets of one base asset (BTCUSDT and BTCUSDC, kPEPE and
# PEPE), all are kept; the primary one — most open interest, then most volume, then the
# shortest symbol — stands for the venue in rankings, since it is where size can trade.
TOKENS_SELECT = f"""
WITH latest AS (
    SELECT * FROM src.market_snapshots
    QUALIFY row_number() OVER (PARTITION BY exchange, symbol ORDER BY observed_at DESC) = 1
)
SELECT base_asset, exchange, symbol,
       observed_at AS updated_at,
       epoch(CAST(? AS TIMESTAMPTZ)) - epoch(observed_at) AS snapshot_age_s,
       contract_multiplier,
       mark_price / contract_multiplier AS price_usd,
       funding_rate, funding_interval_hours, settlement_interval_hours, funding_rate_1h,
       {units.SQL_RATE_8H} AS funding_rate_8h,
       funding_apr, open_interest_usd, volume_24h_usd, next_funding_at,
       row_number() OVER (
           PARTITION BY base_asset, exchange
           ORDER BY open_interest_usd DESC NULLS LAST, volume_24h_usd DESC NULLS LAST, length(symbol), symbol
       ) = 1 AS is_primary
FROM latest
"""


@dataclass(frozen=True)
class ArbitrageConfig:
    """Filters and costs for the ranking; `None` open interest or volume (a venue that does
    not publish it) passes the filter rather than hiding the venue."""

    min_open_interest_usd: float = 100_000.0
    min_volume_24h_usd: float = 100_000.0
    default_taker_fee: float = 0.0005  # per trade, decimal (5 bps)
    taker_fees: dict[str, float] = field(default_factory=dict)  # per exchange id, overrides the default
    holding_days: float = 7.0  # fees of entry + exit on both legs are spread over this


# Environment overrides of the defaults (read at call time); a run's config overrides these.
ARBITRAGE_ENV = {
    "min_open_interest_usd": "FUNDING_ARB_MIN_OI_USD",
    "min_volume_24h_usd": "FUNDING_ARB_MIN_VOLUME_USD",
    "default_taker_fee": "FUNDING_ARB_TAKER_FEE",
    "taker_fees": "FUNDING_ARB_TAKER_FEES",  # "binance=0.0004,okx=0.0005"
    "holding_days": "FUNDING_ARB_HOLDING_DAYS",
}
MAX_TAKER_FEE = 0.01  # 1 % per trade: anything above is a percent written as a decimal


class ArbitrageSettingsError(ValueError):
    """An arbitrage setting that is not a number or outside its range."""


def _number(value: float | str, source: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ArbitrageSettingsError(f"{source}={value!r} is not a number") from None
    if not number >= 0:  # also rejects NaN
        raise ArbitrageSettingsError(f"{source}={value!r} must be at least 0")
    return number


def _fee(value: float | str, source: str) -> float:
    fee = _number(value, source)
    if fee > MAX_TAKER_FEE:
        raise ArbitrageSettingsError(f"{source}={value!r}: a taker fee is a decimal per trade, at most {MAX_TAKER_FEE}")
    return fee


def _fee_list(text: str, source: str) -> dict[str, float]:
    fees = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        exchange, sep, value = item.partition("=")
        if not sep or not exchange.strip():
            raise ArbitrageSettingsError(f"{source}: {item!r} is not <exchange>=<fee>")
        fees[exchange.strip()] = _fee(value.strip(), f"{source} {exchange.strip()}")
    return fees


def load_arbitrage_config(
    env: Mapping[str, str] | None = None,
    known_exchanges: Iterable[str] | None = None,
    **overrides,
) -> ArbitrageConfig:
    """Settings from explicit overrides (a run's config; `None` = not given), else the
    `FUNDING_ARB_*` variables, else the `ArbitrageConfig` defaults. Per-exchange taker fees of
    the overrides are merged over those of the variable."""
    env = os.environ if env is None else env
    unknown = set(overrides) - set(ARBITRAGE_ENV)
    if unknown:
        raise TypeError(f"unknown arbitrage setting(s): {', '.join(sorted(unknown))}")
    defaults, values = ArbitrageConfig(), {}
    for name, variable in ARBITRAGE_ENV.items():
        if name == "taker_fees":
            continue
        value, source = overrides.get(name), name
        if value is None and env.get(variable, "").strip():
            value, source = env[variable].strip(), variable
        if value is None:
            value = getattr(defaults, name)
        values[name] = _fee(value, source) if name == "default_taker_fee" else _number(value, source)
    if not values["holding_days"] > 0:
        raise ArbitrageSettingsError("holding_days must be more than 0")
    variable = ARBITRAGE_ENV["taker_fees"]
    fees = _fee_list(env.get(variable, ""), variable)
    fees.update({e: _fee(f, f"taker_fees {e}") for e, f in (overrides.get("taker_fees") or {}).items()})
    if known_exchanges is not None:
        strange = sorted(set(fees) - set(known_exchanges))
        if strange:
            raise ArbitrageSettingsError(f"taker fees for unknown exchange id(s): {', '.join(strange)}")
    return ArbitrageConfig(**values, taker_fees=fees)


ARBITRAGE_SELECT = """
WITH legs AS (
    SELECT t.*, coalesce(f.fee, ?) AS taker_fee
    FROM normalized_tokens t LEFT JOIN fees f USING (exchange)
    WHERE is_primary
      AND coalesce(open_interest_usd, 1e300) >= ? AND coalesce(volume_24h_usd, 1e300) >= ?
),
counted AS (SELECT *, count(*) OVER (PARTITION BY base_asset) AS venues FROM legs),
long_leg AS (
    SELECT * FROM counted WHERE venues >= 2
    QUALIFY row_number() OVER (PARTITION BY base_asset ORDER BY funding_apr ASC, exchange) = 1
),
-- The short leg is chosen among the other venues, so equal APRs everywhere still give a pair.
short_leg AS (
    SELECT c.* FROM counted c JOIN long_leg l ON c.base_asset = l.base_asset AND c.exchange <> l.exchange
    QUALIFY row_number() OVER (PARTITION BY c.base_asset ORDER BY c.funding_apr DESC, c.exchange) = 1
)
SELECT 'live' AS period, l.base_asset,
       l.exchange AS long_exchange, s.exchange AS short_exchange,
       l.funding_apr AS long_funding_apr, s.funding_apr AS short_funding_apr,
       s.funding_apr - l.funding_apr AS spread_apr,
       s.funding_apr - l.funding_apr - 2 * (l.taker_fee + s.taker_fee) * 365 / ? AS net_spread_apr,
       l.settlement_interval_hours AS long_interval_hours, s.settlement_interval_hours AS short_interval_hours,
       l.settlement_interval_hours <> s.settlement_interval_hours AS intervals_differ,
       (s.price_usd - l.price_usd) / ((s.price_usd + l.price_usd) / 2) AS mark_price_spread,
       l.venues::INTEGER AS venues,
       NULL::DOUBLE AS persistence,
       CAST(? AS TIMESTAMPTZ) AS computed_at
FROM long_leg l JOIN short_leg s USING (base_asset)
"""

# Each venue's primary market with its share of the base asset's open interest and volume
# (NULL where the venue publishes none, or zero); the weighted APRs are sums over these rows.
WEIGHTS_SELECT = """
SELECT 'live' AS period, base_asset, exchange, symbol, funding_apr, open_interest_usd, volume_24h_usd,
       CASE WHEN open_interest_usd > 0 THEN open_interest_usd
           / sum(CASE WHEN open_interest_usd > 0 THEN open_interest_usd END) OVER (PARTITION BY base_asset)
       END AS oi_weight,
       CASE WHEN volume_24h_usd > 0 THEN volume_24h_usd
           / sum(CASE WHEN volume_24h_usd > 0 THEN volume_24h_usd END) OVER (PARTITION BY base_asset)
       END AS volume_weight,
       CAST(? AS TIMESTAMPTZ) AS computed_at
FROM normalized_tokens WHERE is_primary
"""

CROSS_SELECT = f"""
SELECT period, base_asset, count(*)::INTEGER AS venues,
       sum(oi_weight * funding_apr) AS oi_weighted_apr,
       sum(volume_weight * funding_apr) AS volume_weighted_apr,
       sum(open_interest_usd) AS total_open_interest_usd,
       sum(volume_24h_usd) AS total_volume_24h_usd,
       any_value(computed_at) AS computed_at
FROM ({WEIGHTS_SELECT}) GROUP BY period, base_asset
"""


def newest_closed_chunk(warehouse: Path) -> Path | None:
    chunks = layout.KINDS[0].files(warehouse)
    return chunks[-1] if chunks else None


def _insert(con: duckdb.DuckDBPyConnection, table, select: str, params: list) -> None:
    cols = ", ".join(f'"{c}"' for c in table.column_names)
    con.execute(f"INSERT INTO {table.name} ({cols}) SELECT {cols} FROM ({select})", params)  # sql-ok


def write_normalized_tokens(warehouse: Path, chunk: Path, now: datetime) -> Path:
    def fill(con: duckdb.DuckDBPyConnection) -> None:
        con.execute(attach_sql(chunk, "src"))  # write_atomic detaches it
        check_version(con, "src", MARKET_SNAPSHOTS, chunk)
        _insert(con, NORMALIZED_TOKENS, TOKENS_SELECT, [now])

    return write_atomic(layout.latest_path(warehouse, "normalized_tokens"), [NORMALIZED_TOKENS], fill)


def _with_tokens(warehouse: Path, target, body) -> Path:
    source = layout.latest_path(warehouse, "normalized_tokens")

    def fill(con: duckdb.DuckDBPyConnection) -> None:
        con.execute(attach_sql(source, "tok"))  # detached, and the temp view dropped, on close
        check_version(con, "tok", NORMALIZED_TOKENS, source)
        con.execute("CREATE TEMP VIEW normalized_tokens AS SELECT * FROM tok.normalized_tokens")
        body(con)

    return write_atomic(layout.latest_path(warehouse, target.name), [target], fill)


def write_arbitrage(warehouse: Path, config: ArbitrageConfig, now: datetime) -> Path:
    def body(con: duckdb.DuckDBPyConnection) -> None:
        con.execute("CREATE TEMP TABLE fees (exchange VARCHAR, fee DOUBLE)")
        if config.taker_fees:
            con.executemany("INSERT INTO fees VALUES (?, ?)", list(config.taker_fees.items()))
        params = [
            config.default_taker_fee,
            config.min_open_interest_usd,
            config.min_volume_24h_usd,
            config.holding_days,
            now,
        ]
        _insert(con, FUNDING_ARBITRAGE, ARBITRAGE_SELECT, params)

    return _with_tokens(warehouse, FUNDING_ARBITRAGE, body)


def write_cross_exchange(warehouse: Path, now: datetime) -> tuple[Path, Path]:
    """cross_exchange_funding and cross_exchange_weights, both from the same normalized_tokens file."""

    def write(table, select: str) -> Path:
        return _with_tokens(warehouse, table, lambda con: _insert(con, table, select, [now]))

    weights = write(CROSS_EXCHANGE_WEIGHTS, WEIGHTS_SELECT)
    return write(CROSS_EXCHANGE_FUNDING, CROSS_SELECT), weights
