import dagster as dg

# end_offset=1: the current, still-open hour is a partition, so its collection run can start.
COLLECTION_HOURS = dg.HourlyPartitionsDefinition(start_date="2026-01-01-00:00", end_offset=1)
