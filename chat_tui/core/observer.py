"""Request observers: who hears about each finished model request, in a neutral record.

The session calls its observer once per model request it ran (complete, stopped or failed)
with a :class:`RequestRecord`. Telemetry (``chat_tui.telemetry``, OpenTelemetry) is the one
observer so far; it is built only when the user turns it on, so with telemetry off nothing
of it is imported. The record carries the prompt and the answer: an observer must not send
them anywhere unless the user asked (``capture_content``). It never carries a key.
"""

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import urlsplit

from chat_tui.core.pricing import Cost
from chat_tui.providers.events import ChatRequest, ResponseInfo, Stop, Usage

if TYPE_CHECKING:
    from chat_tui.config import Settings
    from chat_tui.core.session import TurnResult
    from chat_tui.providers.base import ProviderSettings


class RequestRecord(NamedTuple):
    """One finished model request. ``None`` means not known. Times are wall-clock seconds.
    (A NamedTuple with evaluated annotations, immutable like a frozen dataclass: it adds a
    tenth as much to the session's import time.)"""

    kind: str  # "chat", or a request kind: keep_warm, prewarm, batch
    provider: str
    request_model: str
    response_model: str | None
    response_id: str | None
    server_address: str | None
    server_port: int | None
    started_at: float
    duration_s: float | None
    ttft_s: float | None
    usage: Usage
    cost: Cost
    status: str  # complete, stopped, interrupted, failed
    finish_reason: str | None
    error_type: str | None
    request: ChatRequest | None = None  # the prompt: content, see the module docstring
    answer: str | None = None


RequestObserver = Callable[[RequestRecord], None]


def observer_for(settings: "Settings") -> RequestObserver | None:
    """The observer the settings ask for: None when telemetry is off (then nothing of
    OpenTelemetry is imported). Raises ConfigError when it is on but not installed."""
    telemetry = getattr(settings, "telemetry", None)
    if telemetry is None or not telemetry.enabled:
        return None
    from chat_tui.telemetry import shared_telemetry

    return shared_telemetry(telemetry)


def request_record(
    result: "TurnResult",
    provider: "ProviderSettings",
    request: ChatRequest,
    stop: Stop | None,
    response: ResponseInfo | None,
    answer: str,
    *,
    kind: str = "chat",
) -> RequestRecord:
    """The record of a turn the session just finished."""
    m = result.metrics
    end = time.time()
    parts = urlsplit(provider.base_url) if provider.base_url else None
    return RequestRecord(
        kind=kind,
        provider=provider.kind,
        request_model=request.model,
        response_model=response.model if response else None,
        response_id=response.id if response else None,
        server_address=parts.hostname if parts else None,
        server_port=parts.port if parts else None,
        started_at=end - (m.total_s or 0.0),
        duration_s=m.total_s,
        ttft_s=m.ttft_s,
        usage=m.usage,
        cost=m.cost,
        status=result.status,
        finish_reason=stop.reason if stop else None,
        error_type=str(result.error_kind) if result.error_kind else None,
        request=request,
        answer=answer,
    )
