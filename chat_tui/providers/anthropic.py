"""Anthropic Messages API, streamed through the official SDK.

The SDK (and httpx2) are imported on first use, never at module import: startup time matters.

Error mapping (every failure ends the stream with one :class:`ProviderError`, nothing raises):

* no key                               → NO_KEY (the client is never built)
* refused / DNS / reset before headers → CONNECTION
* read timeout (before or mid-stream)  → TIMEOUT
* 401 / 403 → AUTH, 429 → RATE_LIMITED (+ retry_after), 529 or overloaded_error → OVERLOADED,
  other 4xx → BAD_REQUEST, other 5xx → SERVER (after the SDK's own retries)
* mid-stream ``event: error``: overloaded_error → OVERLOADED, anything else → STREAM_BROKEN
* connection dropped mid-stream, or the body ended before ``message_stop`` → STREAM_BROKEN

``mid_stream`` is True for every failure after the response headers arrived; such a failure is
preceded by a Usage with output tokens estimated from the text received (``output_estimated``).

Parts map to content blocks both ways: text, ``thinking`` (text + signature, byte-exact),
``redacted_thinking``, ``tool_use``, ``tool_result``, ``document``. Thinking blocks stream as
:class:`ThinkingDelta` for display, then come whole in a :class:`PartDone` at their
``content_block_stop``, with the signature, to be sent back unchanged in later turns. A
thinking block without a signature (reasoning from another provider) is never sent.
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Any

from chat_tui.providers._common import (
    estimated_usage,
    kind_for_status,
    one_line,
    rehearse,
    request_hooks,
    retry_after,
    transport_error,
)
from chat_tui.providers.base import ProviderSettings
from chat_tui.providers.events import (
    CacheDiagnosis,
    ChatRequest,
    DocumentPart,
    ErrorKind,
    Part,
    PartDone,
    ProviderError,
    ProviderEvent,
    RedactedThinkingPart,
    ResponseInfo,
    Stop,
    TextDelta,
    TextPart,
    Thinking,
    ThinkingDelta,
    ThinkingPart,
    ToolCallDelta,
    ToolCallStart,
    ToolResultPart,
    ToolUsePart,
    Usage,
    parse_arguments,
)

if TYPE_CHECKING:
    from anthropic import AsyncAnthropic
    from anthropic.types import Message as SDKMessage
    from anthropic.types import MessageDeltaUsage
    from anthropic.types import Usage as SDKUsage

MAX_BREAKPOINTS = 4  # the API rejects more cache_control blocks than this
DEFAULT_HOST = "api.anthropic.com"
# Hosts (base URLs) that answered a request with ``diagnostics`` with a 400 naming the field:
# proxies, Bedrock or Vertex gateways. They get requests without it from then on.
DIAGNOSTICS_REJECTED: set[str] = set()


class _DiagnosticsRejected(Exception):
    """The server refused the ``diagnostics`` field; the request goes again without it."""


def cache_marks(request: ChatRequest) -> tuple[set[int], set[int]]:
    """Indices of the system blocks and messages that get ``cache_control``.

    The API accepts at most four breakpoints. Tools, when sent, take one (on the last tool:
    they come first in the prefix). When more are marked, the latest messages keep theirs (at
    least two: the new one writes, the previous one is read back), then the latest system
    blocks, then older messages."""
    budget = MAX_BREAKPOINTS - (1 if request.tools else 0)
    system = [i for i, block in enumerate(request.system) if block.cache and block.text]
    messages = [i for i, message in enumerate(request.messages) if message.cache]
    keep_messages = messages[-max(2, budget - len(system)) :] if messages else []
    room = budget - len(keep_messages)
    keep_system = system[-room:] if room > 0 else []
    return set(keep_system), set(keep_messages)


def build_params(request: ChatRequest) -> dict[str, Any]:
    """The keyword arguments for ``messages.create`` / ``messages.count_tokens``.

    Every cache mark carries an explicit ttl ("5m" or "1h"): the API accepts both, and the
    request then says exactly what is billed. Empty system blocks are left out (the API rejects
    empty text blocks)."""
    control = {"type": "ephemeral", "ttl": request.cache_ttl}
    system_marks, message_marks = cache_marks(request)
    system: list[dict[str, Any]] = []
    documents: list[dict[str, Any]] = []  # sent as document blocks, first in the first message
    as_blocks = any(
        b.document is not None and (b.document.data is not None or b.document.file_id is not None)
        for b in request.system
    )
    for i, block in enumerate(request.system):
        if as_blocks and block.document is not None:
            documents.append(_document_block(block.document))
            if i in system_marks:
                documents[-1]["cache_control"] = control
        elif block.text:
            system.append({"type": "text", "text": block.text})
            if i in system_marks:
                system[-1]["cache_control"] = control
    messages: list[dict[str, Any]] = []
    for i, message in enumerate(request.messages):
        content = [b for part in message.parts if (b := part_block(part)) is not None]
        if not content:
            content = [{"type": "text", "text": ""}]
        if i in message_marks:
            # Thinking blocks cannot carry cache_control: mark the last block that can.
            for block in reversed(content):
                if block["type"] not in ("thinking", "redacted_thinking"):
                    block["cache_control"] = control
                    break
        messages.append({"role": message.role, "content": content})
    if documents and messages:
        messages[0]["content"] = [*documents, *messages[0]["content"]]
    params: dict[str, Any] = {
        "model": request.model,
        "max_tokens": request.max_tokens,
        "messages": messages,
    }
    if system:
        params["system"] = system
    if request.tools:
        params["tools"] = tool_params(request, control)
    params.update(thinking_params(request.thinking))
    return params


def tool_params(request: ChatRequest, control: dict[str, str]) -> list[dict[str, Any]]:
    """The ``tools`` list, in the request's (stable) order, with ``cache_control`` on the last
    tool: every tool definition is cached with the system prompt and document after it."""
    tools: list[dict[str, Any]] = [
        {"name": t.name, "description": t.description, "input_schema": t.input_schema}
        for t in request.tools
    ]
    tools[-1]["cache_control"] = control
    return tools


FILES_BETA = "files-api-2025-04-14"


def with_files_beta(params: dict[str, Any]) -> dict[str, Any]:
    """``params`` with the Files API beta header when a document refers to an uploaded file."""
    content = params["messages"][0]["content"] if params.get("messages") else []
    if any(b.get("type") == "document" and b["source"].get("type") == "file" for b in content):
        params["extra_headers"] = {"anthropic-beta": FILES_BETA}
    return params


def thinking_params(thinking: Thinking) -> dict[str, Any]:
    """``thinking`` (and ``output_config``) for the resolved setting; nothing when off."""
    if not thinking.enabled:
        return {}
    config: dict[str, Any]
    if thinking.style == "budget":
        config = {"type": "enabled", "budget_tokens": thinking.budget}
    else:
        config = {"type": "adaptive"}
    if thinking.display is not None:
        config["display"] = thinking.display
    params: dict[str, Any] = {"thinking": config}
    if thinking.style != "budget" and thinking.effort is not None:
        params["output_config"] = {"effort": thinking.effort}
    return params


def part_block(part: Part) -> dict[str, Any] | None:
    """The content block for one part; None for a part that must not be sent."""
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text} if part.text else None
    if isinstance(part, ThinkingPart):
        if not part.signature:
            return None  # unsigned reasoning (another provider's): the API would reject it
        return {"type": "thinking", "thinking": part.text, "signature": part.signature}
    if isinstance(part, RedactedThinkingPart):
        return {"type": "redacted_thinking", "data": part.data}
    if isinstance(part, ToolUsePart):
        return {"type": "tool_use", "id": part.id, "name": part.name, "input": part.input}
    if isinstance(part, ToolResultPart):
        return {"type": "tool_result", "tool_use_id": part.tool_use_id, "content": part.content,
                "is_error": part.is_error}  # fmt: skip
    return _document_block(part)


def _document_block(part: DocumentPart) -> dict[str, Any]:
    source: dict[str, Any]
    if part.file_id is not None:
        source = {"type": "file", "file_id": part.file_id}
    elif part.data is not None:
        data = base64.b64encode(part.data).decode("ascii")
        source = {"type": "base64", "media_type": part.media_type, "data": data}
    else:
        source = {"type": "text", "media_type": "text/plain", "data": part.text or ""}
    return {"type": "document", "source": source, "title": part.name}


def block_part(block: Any, arguments: str = "") -> Part | None:
    """The part for a finished response content block (an SDK model); None for text (streamed
    as deltas) and kinds chat-tui does not keep."""
    kind = getattr(block, "type", None)
    if kind == "thinking":
        return ThinkingPart(block.thinking, block.signature or "")
    if kind == "redacted_thinking":
        return RedactedThinkingPart(block.data)
    if kind == "tool_use":
        if not arguments:  # no input streamed: the block's own (empty) input
            parsed = block.input if isinstance(block.input, dict) else {}
            return ToolUsePart(block.id, block.name, json.dumps(parsed), dict(parsed))
        return ToolUsePart(block.id, block.name, arguments, parse_arguments(arguments) or {})
    return None


def _start_usage(usage: SDKUsage) -> Usage:
    split = usage.cache_creation
    return Usage(
        input_tokens=usage.input_tokens,
        cache_write_tokens=usage.cache_creation_input_tokens,
        cache_write_5m_tokens=split.ephemeral_5m_input_tokens if split else None,
        cache_write_1h_tokens=split.ephemeral_1h_input_tokens if split else None,
        cache_read_tokens=usage.cache_read_input_tokens,
        raw=usage.model_dump(exclude_none=True),
    )


def _start_events(message: SDKMessage) -> list[ProviderEvent]:
    """The response id and model, and the server's cache-miss reason when it gave one."""
    events: list[ProviderEvent] = [ResponseInfo(message.id or None, message.model or None)]
    reason = message.diagnostics.cache_miss_reason if message.diagnostics else None
    if reason is not None:
        events.append(
            CacheDiagnosis(reason.type, getattr(reason, "cache_missed_input_tokens", None))
        )
    events.append(_start_usage(message.usage))
    return events


def _names_diagnostics(exc: Exception) -> bool:
    """True for a 400/422 whose message names the ``diagnostics`` field."""
    import anthropic

    if not isinstance(exc, anthropic.APIStatusError) or exc.status_code not in (400, 422):
        return False
    return "diagnostics" in f"{exc.api_message or ''} {exc.message}".lower()


def _delta_usage(usage: MessageDeltaUsage) -> Usage:
    # Cumulative counts: output_tokens always; the prompt figures only when the API repeats them.
    return Usage(
        input_tokens=usage.input_tokens,
        cache_write_tokens=usage.cache_creation_input_tokens,
        cache_read_tokens=usage.cache_read_input_tokens,
        output_tokens=usage.output_tokens,
    )


_REHEARSAL = b"".join(
    b"event: %s\ndata: %s\n\n" % (name.encode(), data.encode())
    for name, data in (
        ("message_start", '{"type":"message_start","message":{"id":"msg_0","type":"message",'
         '"role":"assistant","model":"rehearsal","content":[],"stop_reason":null,'
         '"stop_sequence":null,"usage":{"input_tokens":1,"cache_creation_input_tokens":0,'
         '"cache_read_input_tokens":0,"output_tokens":1}}}'),
        ("content_block_start", '{"type":"content_block_start","index":0,'
         '"content_block":{"type":"text","text":""}}'),
        ("content_block_delta", '{"type":"content_block_delta","index":0,'
         '"delta":{"type":"text_delta","text":"ok"}}'),
        ("content_block_stop", '{"type":"content_block_stop","index":0}'),
        ("message_delta", '{"type":"message_delta","delta":{"stop_reason":"end_turn",'
         '"stop_sequence":null},"usage":{"output_tokens":1}}'),
        ("message_stop", '{"type":"message_stop"}'),
    )
)  # fmt: skip


def preload_sdk() -> None:
    """Import the SDK and run one canned stream through it in memory, so the first real
    request pays neither the import (1-2 s) nor the SDK's first-use set-up (~150 ms of
    pydantic schema building). Blocking: call it from a worker thread once the UI is up."""
    import anthropic

    async def run(http: Any) -> None:
        client = anthropic.AsyncAnthropic(
            api_key="rehearsal", base_url="http://rehearsal.invalid", max_retries=0,
            http_client=http,
        )  # fmt: skip
        stream = await client.messages.create(
            model="rehearsal", max_tokens=1, messages=[{"role": "user", "content": "hi"}],
            stream=True,
        )  # fmt: skip
        async with stream:
            async for _ in stream:
                pass

    rehearse(_REHEARSAL, run)


class _Blocks:
    """The response's content blocks as they stream, kept just enough to hand back whole
    the parts chat-tui stores: thinking (text + signature), redacted thinking, tool calls (the
    arguments exactly as received). ``chars`` counts the text and thinking received, for the
    output estimate when a stream breaks."""

    def __init__(self) -> None:
        self._open: dict[int, tuple[Any, list[str], list[str]]] = {}  # block, pieces, signature
        self.chars = 0

    def start(self, index: int, block: Any) -> None:
        if block.type in ("thinking", "redacted_thinking", "tool_use"):
            pieces = [block.thinking] if block.type == "thinking" and block.thinking else []
            signature = [block.signature] if block.type == "thinking" and block.signature else []
            self._open[index] = (block, pieces, signature)

    def add(self, index: int, piece: str) -> None:
        """Thinking text or tool-call JSON for block ``index``."""
        if index in self._open:
            self._open[index][1].append(piece)

    def sign(self, index: int, signature: str) -> None:
        if index in self._open:
            self._open[index][2].append(signature)

    def finish(self, index: int) -> Part | None:
        if index not in self._open:
            return None
        block, pieces, signature = self._open.pop(index)
        if block.type == "thinking":
            return ThinkingPart("".join(pieces), "".join(signature))
        return block_part(block, "".join(pieces))  # redacted thinking, a tool call


class AnthropicProvider:
    def __init__(self, settings: ProviderSettings) -> None:
        self.settings = settings
        self._client: AsyncAnthropic | None = None

    @property
    def _where(self) -> str:
        return self.settings.base_url or DEFAULT_HOST

    def _no_key(self) -> ProviderError:
        env = self.settings.key_env or "ANTHROPIC_API_KEY"
        return ProviderError(ErrorKind.NO_KEY, f"no Anthropic API key: set {env}")

    def prepare(self) -> None:
        """Build the HTTP client ahead of the first request (imports, TLS context: tens of
        milliseconds). Call it from a worker thread."""
        if self.settings.api_key:
            self._get_client()

    def _get_client(self) -> AsyncAnthropic:
        if self._client is None:
            import anthropic
            import httpx2

            s = self.settings
            self._client = anthropic.AsyncAnthropic(
                api_key=s.api_key,
                base_url=s.base_url,
                max_retries=s.max_retries,
                timeout=httpx2.Timeout(s.read_timeout, connect=s.connect_timeout),
                http_client=anthropic.DefaultAsyncHttpxClient(event_hooks=request_hooks()),
            )
        return self._client

    async def stream(self, request: ChatRequest) -> AsyncGenerator[ProviderEvent, None]:
        """Stream one response. With ``previous_response_id`` the request asks for the
        server's cache diagnostics; a host that rejects that field gets the request again
        without it, and never again: a turn never fails over diagnostics."""
        if not self.settings.api_key:
            yield self._no_key()
            return
        params = with_files_beta(build_params(request))
        host = self._where
        if request.previous_response_id and host not in DIAGNOSTICS_REJECTED:
            params["diagnostics"] = {"previous_message_id": request.previous_response_id}
        try:
            # aclosing: closing this stream (the stop key) closes the HTTP stream at once.
            async with contextlib.aclosing(self._stream(params)) as events:
                async for event in events:
                    yield event
        except _DiagnosticsRejected:
            DIAGNOSTICS_REJECTED.add(host)
            params.pop("diagnostics")
            async with contextlib.aclosing(self._stream(params)) as events:
                async for event in events:
                    yield event

    async def _stream(self, params: dict[str, Any]) -> AsyncGenerator[ProviderEvent, None]:
        """The raw event stream (``messages.create(stream=True)``), not the SDK's
        ``messages.stream()`` helper: the helper builds a snapshot event with the whole text so
        far beside every delta, which measured twice the CPU a token (10,000 tokens: 2.2 s
        against 1.0 s). The few things chat-tui needs whole, it keeps itself (:class:`_Blocks`)."""
        client = self._get_client()
        blocks = _Blocks()
        output_reported = started = finished = False
        stop_reason: str | None = None
        error: ProviderError | None = None
        try:
            stream = await client.messages.create(stream=True, **params)
            started = True
            async with stream:
                async for event in stream:
                    if event.type == "content_block_delta":
                        delta = event.delta
                        if delta.type == "text_delta":
                            if delta.text:
                                blocks.chars += len(delta.text)
                                yield TextDelta(delta.text)
                        elif delta.type == "thinking_delta":
                            if delta.thinking:
                                blocks.chars += len(delta.thinking)
                                blocks.add(event.index, delta.thinking)
                                yield ThinkingDelta(delta.thinking)
                        elif delta.type == "input_json_delta":
                            if delta.partial_json:
                                blocks.add(event.index, delta.partial_json)
                                yield ToolCallDelta(event.index, delta.partial_json)
                        elif delta.type == "signature_delta":
                            blocks.sign(event.index, delta.signature)
                    elif event.type == "content_block_start":
                        block = event.content_block
                        blocks.start(event.index, block)
                        if block.type == "tool_use":
                            yield ToolCallStart(event.index, block.id, block.name)
                    elif event.type == "content_block_stop":
                        part = blocks.finish(event.index)
                        if part is not None:
                            yield PartDone(part)
                    elif event.type == "message_start":
                        for start_event in _start_events(event.message):
                            yield start_event
                    elif event.type == "message_delta":
                        stop_reason = event.delta.stop_reason or stop_reason
                        output_reported = True
                        yield _delta_usage(event.usage)
                    elif event.type == "message_stop":
                        finished = True
        except Exception as exc:  # every provider or network fault becomes a ProviderError
            if not started and "diagnostics" in params and _names_diagnostics(exc):
                raise _DiagnosticsRejected from exc
            error = self._map_error(exc, started=started)
        if error is None and not finished:
            error = ProviderError(
                ErrorKind.STREAM_BROKEN, "the stream ended before message_stop", mid_stream=True
            )
        if started and not output_reported:
            yield estimated_usage(blocks.chars)
        yield error if error is not None else Stop(stop_reason or "end_turn")

    def _map_error(self, exc: Exception, *, started: bool) -> ProviderError:
        import anthropic
        import httpx2

        secret = self.settings.api_key
        if isinstance(exc, anthropic.APIStatusError):
            message = one_line(exc.api_message or exc.message, secret)
            if exc.status_code == 200 or started:  # an `event: error` inside the stream
                kind = ErrorKind.OVERLOADED if exc.type == "overloaded_error" else None
                return ProviderError(
                    kind or ErrorKind.STREAM_BROKEN, message, status=None, mid_stream=True
                )
            return ProviderError(
                kind_for_status(exc.status_code, exc.type),
                message,
                status=exc.status_code,
                retry_after=retry_after(exc.response.headers),
            )
        if isinstance(exc, anthropic.APIConnectionError | httpx2.TransportError):
            timed_out = isinstance(exc, anthropic.APITimeoutError | httpx2.TimeoutException)
            return transport_error(
                exc,
                started=started,
                timed_out=timed_out,
                read_timeout=self.settings.read_timeout,
                where=self._where,
                secret=secret,
            )
        name = type(exc).__name__
        return ProviderError(
            ErrorKind.UNKNOWN, one_line(f"{name}: {exc}", secret), mid_stream=started
        )

    async def count_tokens(self, request: ChatRequest) -> int | None:
        if not self.settings.api_key:
            return None
        params = with_files_beta(build_params(request))
        params.pop("max_tokens")
        try:
            result = await self._get_client().messages.count_tokens(**params)
        except Exception:
            return None
        return result.input_tokens

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()
