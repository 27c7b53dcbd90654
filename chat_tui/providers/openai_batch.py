"""The OpenAI Batch API through the official SDK (imported on first use).

Submitting is two calls: upload a JSONL input file (``files.create(purpose="batch")``), one
``/v1/chat/completions`` request a line, each body built by the same
:func:`~chat_tui.providers.openai_compat.build_params` as a chat turn without ``stream`` (a
batch does not stream), then ``batches.create(input_file_id=..., endpoint=...,
completion_window="24h")``. Poll ``batches.retrieve`` until the batch is ``completed``,
``expired``, ``cancelled`` or ``failed``; then ``files.content`` of its output file (one line a
request that got a response) and of its error file (requests that errored, and those left
undone when the batch expired, ``batch_expired``, or was cancelled, ``batch_cancelled``).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Literal

from chat_tui.providers._common import one_line
from chat_tui.providers.base import ProviderSettings
from chat_tui.providers.batch_base import BatchAPIError, BatchOutcome, BatchState, ResultStatus
from chat_tui.providers.events import ChatRequest, ErrorKind, ProviderError, Usage
from chat_tui.providers.openai_compat import STOP_REASONS, OpenAICompatProvider, build_params

if TYPE_CHECKING:
    from openai import AsyncOpenAI
    from openai.types import Batch

ENDPOINT: Literal["/v1/chat/completions"] = "/v1/chat/completions"
ENDED = frozenset({"completed", "expired", "cancelled", "failed"})
# What an error-file line's code says about a request that never ran.
NOT_RUN: dict[str, ResultStatus] = {"batch_expired": "expired", "batch_cancelled": "canceled"}


class OpenAIBatchClient:
    def __init__(self, settings: ProviderSettings) -> None:
        self.settings = settings
        # The streaming provider owns the SDK client and the error mapping: one of each.
        self._provider = OpenAICompatProvider(settings)

    def request_line(self, custom_id: str, request: ChatRequest) -> dict[str, Any]:
        body = build_params(request, self.settings)
        body.pop("stream", None)
        body.pop("stream_options", None)
        return {"custom_id": custom_id, "method": "POST", "url": ENDPOINT, "body": body}

    def _client(self) -> AsyncOpenAI:
        if not self.settings.api_key:
            env = self.settings.key_env or "OPENAI_API_KEY"
            raise BatchAPIError(ProviderError(ErrorKind.NO_KEY, f"no OpenAI API key: set {env}"))
        return self._provider._get_client()

    def _fail(self, exc: Exception) -> BatchAPIError:
        return BatchAPIError(self._provider._map_error(exc, started=False))

    async def submit(self, lines: list[dict[str, Any]]) -> BatchState:
        client = self._client()
        data = b"".join(json.dumps(line, separators=(",", ":")).encode() + b"\n" for line in lines)
        try:
            upload = await client.files.create(
                file=("chat-tui-batch.jsonl", data, "application/jsonl"), purpose="batch"
            )
            batch = await client.batches.create(
                input_file_id=upload.id, endpoint=ENDPOINT, completion_window="24h"
            )
        except Exception as exc:
            raise self._fail(exc) from exc
        return _state(batch, len(lines))

    async def retrieve(self, batch_id: str) -> BatchState:
        client = self._client()
        try:
            batch = await client.batches.retrieve(batch_id)
        except Exception as exc:
            raise self._fail(exc) from exc
        return _state(batch)

    async def cancel(self, batch_id: str) -> BatchState:
        client = self._client()
        try:
            batch = await client.batches.cancel(batch_id)
        except Exception as exc:
            raise self._fail(exc) from exc
        return _state(batch)

    async def results(self, batch_id: str) -> AsyncIterator[BatchOutcome]:
        client = self._client()
        secret = self.settings.api_key
        try:
            batch = await client.batches.retrieve(batch_id)
            for file_id in (batch.output_file_id, batch.error_file_id):
                if not file_id:
                    continue
                content = await client.files.content(file_id)
                for raw in content.content.splitlines():
                    if raw.strip():
                        yield _outcome(json.loads(raw), secret)
        except BatchAPIError:
            raise
        except Exception as exc:
            raise self._fail(exc) from exc

    async def aclose(self) -> None:
        await self._provider.aclose()


def _state(batch: Batch, submitted: int = 0) -> BatchState:
    counts = batch.request_counts
    total = counts.total if counts is not None and counts.total else submitted
    completed = counts.completed if counts is not None else 0
    failed = counts.failed if counts is not None else 0
    failure = None
    if batch.status == "failed":
        reasons = (
            [e.message or e.code or "" for e in (batch.errors.data or [])] if batch.errors else []
        )
        failure = one_line("; ".join(r for r in reasons if r) or "the batch was rejected")
    return BatchState(
        id=batch.id,
        status=batch.status,
        ended=batch.status in ENDED,
        total=total,
        done=completed + failed,
        succeeded=completed,
        errored=failed,
        failure=failure,
    )


def usage_from(data: dict[str, Any]) -> Usage:
    """A Chat Completions ``usage`` object (as JSON) → Usage; cached tokens as reported."""
    details = data.get("prompt_tokens_details") or {}
    cached = details.get("cached_tokens")
    written = details.get("cache_write_tokens")
    prompt = int(data.get("prompt_tokens") or 0)
    output = data.get("completion_tokens")
    return Usage(
        input_tokens=prompt - int(cached or 0) - int(written or 0),
        cache_write_tokens=written,
        cache_read_tokens=cached,
        output_tokens=None if output is None else int(output),
        raw=data,
    )


def _outcome(line: dict[str, Any], secret: str | None) -> BatchOutcome:
    custom_id = str(line.get("custom_id"))
    response = line.get("response") or {}
    body = response.get("body") or {}
    error = line.get("error")
    if error is None and response.get("status_code") == 200 and body.get("choices"):
        choice = body["choices"][0]
        message = choice.get("message") or {}
        finish = choice.get("finish_reason")
        return BatchOutcome(
            custom_id,
            "succeeded",
            text=message.get("content") or "",
            usage=usage_from(body.get("usage") or {}),
            stop_reason=STOP_REASONS.get(finish, finish) if finish else None,
            response_id=body.get("id"),
        )
    if isinstance(error, dict) and error.get("code") in NOT_RUN:
        return BatchOutcome(custom_id, NOT_RUN[str(error["code"])])
    if not isinstance(error, dict):
        inner = body.get("error")
        error = inner if isinstance(inner, dict) else {}
    status = response.get("status_code")
    reason = error.get("message") or error.get("code") or f"HTTP {status}"
    code = error.get("code") or error.get("type")
    text = f"{code}: {reason}" if code and code != reason else str(reason)
    return BatchOutcome(custom_id, "errored", error=one_line(text, secret))
