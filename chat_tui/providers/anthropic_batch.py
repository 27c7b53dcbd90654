"""Anthropic Message Batches through the official SDK (imported on first use).

``messages.batches.create(requests=[{"custom_id", "params"}])`` with ``params`` built by the
same :func:`~chat_tui.providers.anthropic.build_params` as a chat turn (no ``stream``: the API
rejects it inside a batch); ``retrieve`` until ``processing_status == "ended"``; ``results``
streams JSONL, one line per request, in any order, each ``succeeded`` (a whole Message),
``errored`` (an error object), ``canceled`` or ``expired``. Only succeeded requests are billed.

Errors map as for streaming (:class:`~chat_tui.providers.anthropic.AnthropicProvider`) and are
raised as :class:`~chat_tui.providers.batch_base.BatchAPIError`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from chat_tui.providers._common import one_line
from chat_tui.providers.anthropic import AnthropicProvider, build_params
from chat_tui.providers.base import ProviderSettings
from chat_tui.providers.batch_base import BatchAPIError, BatchOutcome, BatchState
from chat_tui.providers.events import ChatRequest, Usage

if TYPE_CHECKING:
    from anthropic import AsyncAnthropic
    from anthropic.types import Usage as SDKUsage
    from anthropic.types.messages import MessageBatch, MessageBatchIndividualResponse


class AnthropicBatchClient:
    def __init__(self, settings: ProviderSettings) -> None:
        self.settings = settings
        # The streaming provider owns the SDK client and the error mapping: one of each.
        self._provider = AnthropicProvider(settings)

    def request_line(self, custom_id: str, request: ChatRequest) -> dict[str, Any]:
        return {"custom_id": custom_id, "params": build_params(request)}

    def _client(self) -> AsyncAnthropic:
        if not self.settings.api_key:
            raise BatchAPIError(self._provider._no_key())
        return self._provider._get_client()

    def _fail(self, exc: Exception) -> BatchAPIError:
        return BatchAPIError(self._provider._map_error(exc, started=False))

    async def submit(self, lines: list[dict[str, Any]]) -> BatchState:
        client = self._client()
        try:
            batch = await client.messages.batches.create(requests=lines)  # type: ignore[arg-type]
        except Exception as exc:
            raise self._fail(exc) from exc
        return _state(batch)

    async def retrieve(self, batch_id: str) -> BatchState:
        client = self._client()
        try:
            batch = await client.messages.batches.retrieve(batch_id)
        except Exception as exc:
            raise self._fail(exc) from exc
        return _state(batch)

    async def cancel(self, batch_id: str) -> BatchState:
        client = self._client()
        try:
            batch = await client.messages.batches.cancel(batch_id)
        except Exception as exc:
            raise self._fail(exc) from exc
        return _state(batch)

    async def results(self, batch_id: str) -> AsyncIterator[BatchOutcome]:
        client = self._client()
        try:
            lines = await client.messages.batches.results(batch_id)
            async for line in lines:
                yield _outcome(line, self.settings.api_key)
        except BatchAPIError:
            raise
        except Exception as exc:
            raise self._fail(exc) from exc

    async def aclose(self) -> None:
        await self._provider.aclose()


def _state(batch: MessageBatch) -> BatchState:
    c = batch.request_counts
    finished = c.succeeded + c.errored + c.canceled + c.expired
    ended = batch.processing_status == "ended"
    return BatchState(
        id=batch.id,
        status=batch.processing_status,
        ended=ended,
        total=finished + c.processing,
        done=finished,
        # Zero until the whole batch has ended: unknown before that, not 0.
        succeeded=c.succeeded if ended else None,
        errored=c.errored if ended else None,
        canceled=c.canceled if ended else None,
        expired=c.expired if ended else None,
    )


def _usage(usage: SDKUsage) -> Usage:
    split = usage.cache_creation
    return Usage(
        input_tokens=usage.input_tokens,
        cache_write_tokens=usage.cache_creation_input_tokens,
        cache_write_5m_tokens=split.ephemeral_5m_input_tokens if split else None,
        cache_write_1h_tokens=split.ephemeral_1h_input_tokens if split else None,
        cache_read_tokens=usage.cache_read_input_tokens,
        output_tokens=usage.output_tokens,
        raw=usage.model_dump(exclude_none=True),
    )


def _outcome(line: MessageBatchIndividualResponse, secret: str | None) -> BatchOutcome:
    result = line.result
    if result.type == "succeeded":
        message = result.message
        text = "".join(block.text for block in message.content if block.type == "text")
        return BatchOutcome(
            line.custom_id,
            "succeeded",
            text=text,
            usage=_usage(message.usage),
            stop_reason=message.stop_reason,
            response_id=message.id,
        )
    if result.type == "errored":
        error = result.error.error
        return BatchOutcome(
            line.custom_id, "errored", error=one_line(f"{error.type}: {error.message}", secret)
        )
    return BatchOutcome(line.custom_id, result.type)
