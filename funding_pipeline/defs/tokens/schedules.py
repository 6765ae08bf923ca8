import dagster as dg

tokens_job = dg.define_asset_job(
    "tokens_job",
    selection=dg.AssetSelection.assets(
        "tracker_status", "normalized_tokens", "funding_arbitrage", "cross_exchange_funding", "cross_exchange_weights"
    ),
    description="Rebuilds venue health, normalized tokens and the rankings from the newest closed chunk.",
)

tokens_every_5_minutes = dg.ScheduleDefinition(
    name="tokens_every_5_minutes",
    job=tokens_job,
    cron_schedule="1-59/5 * * * *",  # a minute after each chunk closes
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
