import dagster as dg

# end_offset=2: the current, still-open hour is a partition, and so is the next one, which the
# hourly schedule launches a minute before it starts (the run waits for HH:00:00).
COLLECTION_HOURS = dg.HourlyPartitionsDefinition(start_date="2026-01-01-00:00", end_offset=2)
