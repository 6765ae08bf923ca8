import dagster as dg

from funding_pipeline.lib.exchanges import all_exchanges

# Every venue gets a partition: venues with a history endpoint fetch it, the others (listed in
# docs/history.md) derive their prints from the snapshots the collection stored.
ENDPOINT_EXCHANGES = sorted(e for e, x in all_exchanges().items() if x.history is not None)
DERIVED_EXCHANGES = sorted(e for e, x in all_exchanges().items() if x.history is None)

# end_offset=1: today is a partition too (prints settled so far; a rerun completes it).
HISTORY_DAYS = dg.DailyPartitionsDefinition(start_date="2020-01-01", end_offset=1)
HISTORY_EXCHANGES = dg.StaticPartitionsDefinition(ENDPOINT_EXCHANGES + DERIVED_EXCHANGES)
# Keys read "<YYYY-MM-DD>|<exchange>" (dimensions in name order).
HISTORY_PARTITIONS = dg.MultiPartitionsDefinition({"date": HISTORY_DAYS, "exchange": HISTORY_EXCHANGES})

CANDLE_DAYS = dg.DailyPartitionsDefinition(start_date="2020-01-01", end_offset=1)
