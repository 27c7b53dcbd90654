"""The provider-neutral side of the two batch protocols (Anthropic Message Batches, the OpenAI
Batch API): one client interface, the states and results it reports, and its one error.

A batch client turns neutral :class:`~chat_tui.providers.events.ChatRequest` objects into the
provider's request lines (``request_line``), submits a list of them as one batch, reports the
batch's state, streams its results and cancels it. It never retries: the core's poller decides
what a failure means. SDKs are imported lazily by the provider modules.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from chat_tui.providers.base import ProviderSettings
from chat_tui.providers.events import ChatRequest, ErrorKind, ProviderError, Usage

ResultStatus = Literal["succeeded", "errored", "canceled", "expired"]
RESULT_STATUSES: tuple[ResultStatus, ...] = ("succeeded", "errored", "canceled", "expired")
# Errors worth another try later: the network, the provider's load, its rate limits.
TRANSIENT = frozenset(
    {
        ErrorKind.CONNECTION,
        ErrorKind.TIMEOUT,
        ErrorKind.RATE_LIMITED,
        ErrorKind.OVERLOADED,
        ErrorKind.SERVER,
        ErrorKind.STREAM_BROKEN,
    }
)


@dataclass(frozen=True, slots=True)
class BatchState:
    """One provider batch as last reported. ``status`` is the provider's own word
    (``in_progress``, ``ended``, ``finalizing``, ``cancelled``...); ``ended`` is True once no
    request is still being processed and the results can be read. ``done`` counts requests
    that finished (whatever their outcome); per-outcome counts are ``None`` where the provider
    does not report them yet (Anthropic reports them only once the batch has ended)."""

    id: str
    status: str
    ended: bool
    total: int
    done: int
    succeeded: int | None = None
    errored: int | None = None
    canceled: int | None = None
    expired: int | None = None
    # Why the provider rejected the whole batch (OpenAI ``failed``), when it did.
    failure: str | None = None


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """The result of one request of a batch. ``text`` is the answer (succeeded only),
    ``usage`` its billed tokens (succeeded only: nothing else is billed), ``error`` the
    provider's reason for an errored request, on one line."""

    custom_id: str
    status: ResultStatus
    text: str = ""
    usage: Usage | None = None
    error: str | None = None
    stop_reason: str | None = None
    response_id: str | None = None


class BatchAPIError(Exception):
    """A batch call failed. ``error`` says how, as a :class:`ProviderError`."""

    def __init__(self, error: ProviderError) -> None:
        super().__init__(error.message)
        self.error = error

    @property
    def transient(self) -> bool:
        return self.error.kind in TRANSIENT


class BatchClient(Protocol):
    settings: ProviderSettings

    def request_line(self, custom_id: str, request: ChatRequest) -> dict[str, Any]:
        """One request of a batch, in the provider's format (also what its size is measured on)."""
        ...

    async def submit(self, lines: list[dict[str, Any]]) -> BatchState:
        """Create one batch from ``lines``; returns its first state (with its id)."""
        ...

    async def retrieve(self, batch_id: str) -> BatchState: ...

    def results(self, batch_id: str) -> AsyncIterator[BatchOutcome]:
        """Every result the provider has for an ended batch, in the provider's order."""
        ...

    async def cancel(self, batch_id: str) -> BatchState: ...

    async def aclose(self) -> None: ...


def make_batch_client(settings: ProviderSettings) -> BatchClient:
    """The batch client for ``settings``: Anthropic Message Batches or the OpenAI Batch API."""
    if settings.kind == "anthropic":
        from chat_tui.providers.anthropic_batch import AnthropicBatchClient

        return AnthropicBatchClient(settings)
    if settings.kind == "openai":
        from chat_tui.providers.openai_batch import OpenAIBatchClient

        return OpenAIBatchClient(settings)
    raise ValueError(f"{settings.label} has no batch API")
