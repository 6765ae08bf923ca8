import dagster as dg

# Closed hours only: an hour's 1h row exists once its last chunk has closed.
CLOSED_HOURS = dg.HourlyPartitionsDefinition(start_date="2026-01-01-00:00")
