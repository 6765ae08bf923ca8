import dagster as dg
import httpx

from funding_pipeline.defs.metadata import settings
from funding_pipeline.lib import alerts


class AlertWebhook(dg.ConfigurableResource):
    """Delivers alerts to `FUNDING_ALERT_WEBHOOK` (read when sending); without it alerts are only logged."""

    timeout_seconds: float = 10.0

    def transport(self) -> httpx.BaseTransport | None:
        """The HTTP transport (None = the network); tests return an `httpx.MockTransport`."""
        return None

    def deliver(self, sent: list[alerts.Alert], log) -> list[str]:
        """Log every alert and POST it when a webhook is set; returns the keys that failed."""
        url = settings().alert_webhook
        failed = []
        for alert in sent:
            log.warning(alerts.message(alert))
            if url is None:
                continue
            try:
                alerts.send(url, alert, transport=self.transport(), timeout=self.timeout_seconds)
            except alerts.WebhookError as exc:
                log.error(f"alert not delivered, will retry on the next tick: {exc}")
                failed.append(alert.key)
        return failed


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(resources={"alert_webhook": AlertWebhook()})
