import os

import dagster as dg
import httpx

from funding_pipeline.defs.metadata import settings
from funding_pipeline.lib import candles
from funding_pipeline.lib.history import Sleep, source_transport

API_KEY_ENV = "CRYPTOCOMPARE_API_KEY"


class CryptoCompare(dg.ConfigurableResource):
    """CryptoCompare's daily-history API. `api_key` is optional (the free tier answers without);
    it is sent as a header only, never logged, never part of a URL or of run metadata."""

    api_key: str | None = None
    tsym: str = candles.DEFAULT_TSYM
    batch_days: int = candles.DEFAULT_BATCH_DAYS

    def transport(self) -> tuple[httpx.AsyncBaseTransport, Sleep]:
        """The network live, `<FUNDING_REPLAY_DIR>/cryptocompare/` cassettes in replay."""
        current = settings()
        return source_transport(current.source, current.replay_dir, candles.SOURCE)


@dg.definitions
def defs() -> dg.Definitions:
    # dg.EnvVar fails a run when the variable is unset, and the key is optional: bind it only
    # when the code location is loaded with it set (reload the location after setting it).
    api_key = dg.EnvVar(API_KEY_ENV) if os.environ.get(API_KEY_ENV) else None
    return dg.Definitions(resources={"cryptocompare": CryptoCompare(api_key=api_key)})
