"""Helpers shared by the provider modules: error classification, one-line messages, estimates.
SDKs are imported only inside the functions that need them, never at module import."""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Awaitable, Callable, Mapping
from time import time
from typing import Any

from chat_tui.providers.base import REQUEST_SENT
from chat_tui.providers.events import ErrorKind, ProviderError, Usage

MAX_MESSAGE = 300


async def _trace_when_sent(request: Any) -> None:
    """httpx request hook: in a task that asked (``REQUEST_SENT`` set, see providers/base.py),
    report when the request's body is written, from httpcore's ``trace`` extension."""
    notify = REQUEST_SENT.get()
    if notify is None:
        return

    async def trace(event: str, info: dict[str, Any]) -> None:
        if event.endswith("send_request_body.complete"):  # http11. / http2.
            notify()

    request.extensions["trace"] = trace


def request_hooks() -> dict[str, list[Callable[[Any], Awaitable[None]]]]:
    """``event_hooks`` for an SDK's httpx client: see ``REQUEST_SENT``."""
    return {"request": [_trace_when_sent]}


def one_line(text: object, secret: str | None = None, limit: int = MAX_MESSAGE) -> str:
    """``text`` on one line, at most ``limit`` characters, with ``secret`` blanked out."""
    line = " ".join(str(text).split())
    if secret:
        line = line.replace(secret, "***")
    return line if len(line) <= limit else line[: limit - 1] + "…"


def kind_for_status(status: int, error_type: str | None = None) -> ErrorKind:
    """The error kind for an HTTP status (and the body's ``error.type``, when it says more)."""
    if error_type == "overloaded_error" or status == 529:
        return ErrorKind.OVERLOADED
    if status in (401, 403):
        return ErrorKind.AUTH
    if status == 429:
        return ErrorKind.RATE_LIMITED
    if status == 408:
        return ErrorKind.TIMEOUT
    if 400 <= status < 500:
        return ErrorKind.BAD_REQUEST
    if status >= 500:
        return ErrorKind.SERVER
    return ErrorKind.UNKNOWN


def retry_after(headers: Mapping[str, str] | None) -> float | None:
    """The server's retry hint in seconds, from ``retry-after-ms`` or ``retry-after``."""
    if not headers:
        return None
    try:
        if (ms := headers.get("retry-after-ms")) is not None:
            return max(0.0, float(ms) / 1000)
    except ValueError:
        pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime  # rare: an HTTP date

    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time())
    except (TypeError, ValueError, IndexError):
        return None


def estimate_tokens(chars: int) -> int:
    """A rough token count for ``chars`` characters of English text."""
    return math.ceil(chars / 4)


def estimated_usage(chars: int) -> Usage:
    return Usage(output_tokens=estimate_tokens(chars), output_estimated=True)


def transport_error(
    exc: BaseException,
    *,
    started: bool,
    timed_out: bool,
    read_timeout: float,
    where: str,
    secret: str | None = None,
) -> ProviderError:
    """A ProviderError for a network failure: a timeout, a refused or dropped connection.
    ``started``: the response had begun (headers received), so this is a mid-stream failure."""
    cause = exc.__cause__ or exc
    detail = one_line(cause, secret) or type(cause).__name__
    if timed_out:
        message = f"no data from {where} for {read_timeout:g}s"
        if started:
            message = "the stream stalled: " + message
        return ProviderError(ErrorKind.TIMEOUT, message, mid_stream=started)
    if started:
        return ProviderError(
            ErrorKind.STREAM_BROKEN, f"the stream broke: {detail}", mid_stream=True
        )
    return ProviderError(ErrorKind.CONNECTION, f"cannot connect to {where}: {detail}")


def rehearse(body: bytes, run: Callable[[Any], Awaitable[None]]) -> None:
    """Run ``run(http_client)`` once against an in-memory server (no network) that answers
    every request with the SSE ``body``: it imports the SDK and warms its first-use set-up
    (pydantic schemas, streaming helpers). Blocking; call it from a worker thread. A failed
    rehearsal is ignored: it must never break the app."""
    import httpx2

    def reply(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    async def main() -> None:
        async with httpx2.AsyncClient(transport=httpx2.MockTransport(reply)) as http:
            await run(http)

    with contextlib.suppress(Exception):
        asyncio.run(main())


def openai_error(
    exc: Exception, *, started: bool, where: str, read_timeout: float, secret: str | None
) -> ProviderError:
    """A ProviderError for anything the OpenAI SDK raised (Chat Completions and Responses):
    status codes by :func:`kind_for_status`; network faults by :func:`transport_error`; a
    ``data: {"error": ...}`` event inside the stream as STREAM_BROKEN."""
    import httpx2
    import openai

    if isinstance(exc, openai.APIConnectionError | httpx2.TransportError):
        timed_out = isinstance(exc, openai.APITimeoutError | httpx2.TimeoutException)
        return transport_error(
            exc,
            started=started,
            timed_out=timed_out,
            read_timeout=read_timeout,
            where=where,
            secret=secret,
        )
    if isinstance(exc, openai.APIStatusError):
        body = exc.body
        text = body.get("message") if isinstance(body, dict) else body
        return ProviderError(
            kind_for_status(exc.status_code, exc.type),
            one_line(text if isinstance(text, str) and text else exc.message, secret),
            status=exc.status_code,
            retry_after=retry_after(exc.response.headers),
            mid_stream=started,
        )
    if isinstance(exc, openai.APIError):  # a `data: {"error": ...}` event inside the stream
        kind = ErrorKind.STREAM_BROKEN if started else ErrorKind.UNKNOWN
        return ProviderError(kind, one_line(exc.message, secret), mid_stream=started)
    name = type(exc).__name__
    return ProviderError(ErrorKind.UNKNOWN, one_line(f"{name}: {exc}", secret), mid_stream=started)
