"""Typed transport failures; `retryable` is the one classification retries and the breaker use."""


class TransportError(Exception):
    """A request that produced no usable body."""

    retryable = False


class RequestTimeout(TransportError):
    retryable = True


class ConnectFailed(TransportError):
    retryable = True


class HttpStatusError(TransportError):
    def __init__(self, status: int, url: str, snippet: str, retry_after_s: float | None = None):
        self.status, self.url, self.retry_after_s = status, url, retry_after_s
        self.retryable = status == 429 or status >= 500
        super().__init__(f"HTTP {status} from {url}: {snippet}")


class BadBody(TransportError):
    """HTML, truncated or otherwise undecodable body where JSON was expected."""


class NoCassette(TransportError):
    """Replay has no recording for this request: a clear failure, never an empty success."""


class CircuitOpen(TransportError):
    """The venue failed repeatedly and is skipped until its cool-down ends."""
