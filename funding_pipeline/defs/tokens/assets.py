import dataclasses
from datetime import UTC, datetime, timedelta

import dagster as dg
from pydantic import Field

from funding_pipeline.defs.metadata import OWNERS, column_schema, enabled_exchange_ids, settings, settings_metadata
from funding_pipeline.lib import tokens
from funding_pipeline.lib.exchanges import all_exchanges
from funding_pipeline.lib.status import write_tracker_status

FIVE_MINUTES = dg.FreshnessPolicy.time_window(fail_window=timedelta(minutes=15), warn_window=timedelta(minutes=10))


def _now(context: dg.AssetExecutionContext) -> datetime:
    """Wall time, or with the simulated clock the end of the newest collected data."""
    current = settings()
    if current.clock == "simulated":
        chunk = tokens.newest_closed_chunk(current.warehouse)
        if chunk is not None:
            day, hour, name = chunk.parts[-3:]
            start = datetime.strptime(f"{day} {hour}:{name[:2]}", "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
            return start + timedelta(minutes=5)
    return datetime.now(UTC)


@dg.asset(
    name="tracker_status",
    group_name="ingest",
    deps=["tracker_polls"],
    pool="duckdb_tokens",
    owners=OWNERS,
    kinds={"duckdb"},
    metadata=column_schema("tracker_status"),
    freshness_policy=FIVE_MINUTES,
)
def tracker_status(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    """Latest health per enabled venue: last success, last error, consecutive failures, slots ok
    in the last hour, rows in the last slot — from the recent closed chunks."""
    current = settings()
    now = _now(context)
    _, table = write_tracker_status(current.warehouse, enabled_exchange_ids(current), now)
    rows = table.to_pylist()
    silent = [r["exchange"] for r in rows if not r["rows_last_slot"]]
    return dg.MaterializeResult(
        metadata={
            **settings_metadata(current),
            "dagster/row_count": len(rows),
            "venues_without_rows_last_slot": ", ".join(silent) or "-",
        }
    )


@dg.asset(
    name="normalized_tokens",
    group_name="tokens",
    deps=["market_snapshots"],
    pool="duckdb_tokens",
    owners=OWNERS,
    kinds={"duckdb"},
    metadata=column_schema("normalized_tokens"),
    freshness_policy=FIVE_MINUTES,
)
def normalized_tokens(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    """One row per (base asset, venue, market) from the newest closed chunk: price per one unit of
    base, the rate as published with its interval, per hour, per 8 h and APR, open interest and
    volume in USD, next funding time and the age of the snapshot. `is_primary` marks the market
    standing for the venue when it lists several of one base asset."""
    current = settings()
    chunk = tokens.newest_closed_chunk(current.warehouse)
    if chunk is None:
        raise dg.Failure("no closed market_snapshots chunk yet: run the collection first")
    tokens.write_normalized_tokens(current.warehouse, chunk, _now(context))
    return dg.MaterializeResult(metadata={**settings_metadata(current), "source_chunk": str(chunk)})


class ArbitrageSettings(dg.Config):
    """Filters and costs of the ranking; empty = the `FUNDING_ARB_*` variable, else the default
    (docs/operations.md, "Arbitrage settings")."""

    min_open_interest_usd: float | None = Field(None, description="USD open interest each leg needs (100,000)")
    min_volume_24h_usd: float | None = Field(None, description="USD 24 h volume each leg needs (100,000)")
    default_taker_fee: float | None = Field(None, description="taker fee per trade, decimal (0.0005 = 5 bps)")
    taker_fees: dict[str, float] = Field(
        default_factory=dict, description="per exchange id, overrides the default fee (merged over the variable)"
    )
    holding_days: float | None = Field(None, description="days the entry and exit fees are spread over (7)")


@dg.asset(
    name="funding_arbitrage",
    group_name="tokens",
    deps=["normalized_tokens"],
    pool="duckdb_tokens",
    owners=OWNERS,
    kinds={"duckdb"},
    metadata=column_schema("funding_arbitrage"),
    freshness_policy=FIVE_MINUTES,
)
def funding_arbitrage(context: dg.AssetExecutionContext, config: ArbitrageSettings) -> dg.MaterializeResult:
    """Per base asset on two or more venues: the long/short pair with the widest funding-APR
    spread, each leg's interval (flagged when they differ), the mark-price spread between the
    legs and the spread net of taker fees; `period` = 'live'."""
    current = settings()
    try:
        cfg = tokens.load_arbitrage_config(known_exchanges=all_exchanges(), **config.model_dump())
    except tokens.ArbitrageSettingsError as exc:
        raise dg.Failure(str(exc)) from None
    tokens.write_arbitrage(current.warehouse, cfg, _now(context))
    used = dataclasses.asdict(cfg)
    return dg.MaterializeResult(
        metadata={
            **settings_metadata(current),
            **{k: v for k, v in used.items() if k != "taker_fees"},
            "taker_fees": dg.MetadataValue.json(used["taker_fees"]),
        }
    )


def _cross_spec(table: str, description: str) -> dg.AssetSpec:
    return dg.AssetSpec(
        table,
        group_name="tokens",
        deps=["normalized_tokens"],
        description=description,
        owners=OWNERS,
        kinds={"duckdb"},
        metadata=column_schema(table),
        freshness_policy=FIVE_MINUTES,
    )


@dg.multi_asset(
    name="cross_exchange",
    specs=[
        _cross_spec(
            "cross_exchange_funding",
            "Per base asset (`period` = 'live'): open-interest-weighted and volume-weighted funding APR over "
            "its venues' primary markets, the venue count and the totals the weights come from.",
        ),
        _cross_spec(
            "cross_exchange_weights",
            "The venues behind each cross_exchange_funding row: one row per (period, base asset, venue) with "
            "the primary market's APR, open interest, volume and its oi_weight / volume_weight (each sums to 1).",
        ),
    ],
    pool="duckdb_tokens",
)
def cross_exchange(context: dg.AssetExecutionContext):
    """Cross-venue averages and their per-venue weights, written from the same normalized_tokens file."""
    current = settings()
    funding, weights = tokens.write_cross_exchange(current.warehouse, _now(context))
    meta = settings_metadata(current)
    yield dg.MaterializeResult(asset_key="cross_exchange_weights", metadata={**meta, "file": str(weights)})
    yield dg.MaterializeResult(asset_key="cross_exchange_funding", metadata={**meta, "file": str(funding)})
