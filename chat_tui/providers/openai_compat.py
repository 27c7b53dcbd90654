"""OpenAI Chat Completions, streamed through the official SDK: OpenAI itself, Ollama, and any
OpenAI-compatible server (vLLM, llama.cpp, LM Studio...) reached through ``base_url``.

The SDK (and httpx2) are imported on first use, never at module import.

Request shape: the system blocks are joined into one leading ``system`` message (stable, so
the server's automatic prefix cache can match it); ``stream_options.include_usage`` asks for a
final usage chunk. The token limit goes out as ``max_completion_tokens`` to OpenAI itself (its
reasoning models reject ``max_tokens``) and as ``max_tokens`` everywhere else (what compatible
servers understand). ``prompt_cache_key`` is sent only for kind "openai".

Parts: user text (and text documents, inline) go out as ``content``; tool calls as the
assistant's ``tool_calls`` and tool results as ``tool`` messages; reasoning is never sent back.
Reasoning streams in from ``delta.reasoning_content`` (llama.cpp, DeepSeek), ``delta.reasoning``
(Ollama, vLLM) or inline ``<think>…</think>`` in the content (split by ``think_tags``; not on
OpenAI itself); ``reasoning_effort`` goes out when the resolved thinking setting has one.

Error mapping is the Anthropic module's: status codes by :func:`kind_for_status`; before the
response began, a network fault is CONNECTION (TIMEOUT for a timeout); after it began, a
``data: {"error": ...}`` event or a dropped connection is STREAM_BROKEN with ``mid_stream``.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncGenerator, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from chat_tui.providers._common import estimated_usage, openai_error, rehearse, request_hooks
from chat_tui.providers.base import ProviderSettings
from chat_tui.providers.events import (
    ChatRequest,
    DocumentPart,
    ErrorKind,
    Message,
    PartDone,
    ProviderError,
    ProviderEvent,
    ResponseInfo,
    Stop,
    TextDelta,
    TextPart,
    ThinkingDelta,
    ToolCallDelta,
    ToolCallStart,
    ToolResultPart,
    ToolUsePart,
    Usage,
    parse_arguments,
)
from chat_tui.providers.think_tags import ThinkTagSplitter

if TYPE_CHECKING:
    from openai import AsyncOpenAI
    from openai.types import CompletionUsage

OPENAI_HOST = "api.openai.com"
OLLAMA_BASE_URL = "http://localhost:11434/v1"
PLACEHOLDER_KEY = "ollama"  # compatible servers ignore the key; the SDK insists on one
STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "content_filter": "refusal",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
}


def is_openai_itself(settings: ProviderSettings) -> bool:
    """True when the requests go to OpenAI's own API (not a compatible server)."""
    if settings.kind != "openai":
        return False
    host = urlsplit(settings.base_url).hostname if settings.base_url else OPENAI_HOST
    return host == OPENAI_HOST


def build_params(request: ChatRequest, settings: ProviderSettings) -> dict[str, Any]:
    """The keyword arguments for ``chat.completions.create``."""
    messages: list[dict[str, Any]] = []
    system = "\n\n".join(block.text for block in request.system if block.text)
    if system:
        messages.append({"role": "system", "content": system})
    for message in request.messages:
        messages += message_dicts(message)
    limit = "max_completion_tokens" if is_openai_itself(settings) else "max_tokens"
    params: dict[str, Any] = {
        "model": request.model,
        "messages": messages,
        "stream": True,
        "stream_options": {"include_usage": True},
        limit: request.max_tokens,
    }
    if settings.kind == "openai" and request.cache_key:
        params["prompt_cache_key"] = request.cache_key
    thinking = request.thinking
    if thinking.enabled and thinking.style == "effort" and thinking.effort is not None:
        params["reasoning_effort"] = thinking.effort
    if request.tools:  # as functions, in the request's stable order (the prefix cache sees them)
        params["tools"] = [
            {"type": "function", "function": {"name": t.name, "description": t.description,
                                              "parameters": t.input_schema}}
            for t in request.tools
        ]  # fmt: skip
    return params


def message_dicts(message: Message) -> list[dict[str, Any]]:
    """One message as Chat Completions messages: tool calls become the assistant's
    ``tool_calls``; tool results become ``tool`` messages, placed first (they must follow the
    assistant message that made the calls), then any text of the same turn; thinking is
    dropped."""
    out: list[dict[str, Any]] = []
    content: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    for part in message.parts:
        if isinstance(part, TextPart) and part.text:
            content.append({"type": "text", "text": part.text})
        elif isinstance(part, DocumentPart):
            content.append(_document_content(part))
        elif isinstance(part, ToolUsePart):
            calls.append({"id": part.id, "type": "function",
                          "function": {"name": part.name, "arguments": part.arguments}})  # fmt: skip
        elif isinstance(part, ToolResultPart):
            out.append({"role": "tool", "tool_call_id": part.tool_use_id, "content": part.content})
    entry: dict[str, Any] = {"role": message.role}
    if all(c["type"] == "text" for c in content):
        entry["content"] = "".join(c["text"] for c in content)  # the plain form every server reads
    else:
        entry["content"] = content
    if calls:
        entry["tool_calls"] = calls
        if not entry["content"]:
            entry["content"] = None
    if entry["content"] or calls or not out:
        out.append(entry)
    return out


def _document_content(part: DocumentPart) -> dict[str, Any]:
    if part.file_id is not None:
        return {"type": "file", "file": {"file_id": part.file_id}}
    if part.data is not None:
        data = base64.b64encode(part.data).decode("ascii")
        url = f"data:{part.media_type};base64,{data}"
        return {"type": "file", "file": {"filename": part.name, "file_data": url}}
    text = f'<document name="{part.name}">\n{part.text or ""}\n</document>'
    return {"type": "text", "text": text}


def _usage(usage: CompletionUsage) -> Usage:
    """``cached_tokens`` is None, not 0, when the server does not report it (Ollama)."""
    details = usage.prompt_tokens_details
    cached = details.cached_tokens if details is not None else None
    written = details.cache_write_tokens if details is not None else None
    completion = usage.completion_tokens_details
    return Usage(
        input_tokens=usage.prompt_tokens - (cached or 0) - (written or 0),
        cache_write_tokens=written,
        cache_read_tokens=cached,
        output_tokens=usage.completion_tokens,
        thinking_tokens=completion.reasoning_tokens if completion is not None else None,
        raw=usage.model_dump(exclude_none=True),
    )


class _ToolCalls:
    """Streamed tool calls, gathered by index: id and name come once, arguments in pieces."""

    def __init__(self) -> None:
        self._calls: dict[int, list[str]] = {}
        self._started: set[int] = set()

    def add(self, deltas: Any) -> list[ToolCallStart | ToolCallDelta]:
        """Gather ``delta.tool_calls``; the events to show: a start once a call's name is
        known, then its argument pieces (held back until the start has gone out)."""
        events: list[ToolCallStart | ToolCallDelta] = []
        for call in deltas or ():
            index = call.index
            entry = self._calls.setdefault(index, ["", "", ""])
            if call.id:
                entry[0] = call.id
            function = call.function
            if function is not None:
                entry[1] += function.name or ""
                entry[2] += function.arguments or ""
            if index not in self._started and entry[1]:
                self._started.add(index)
                events.append(ToolCallStart(index, entry[0], entry[1]))
                if entry[2]:
                    events.append(ToolCallDelta(index, entry[2]))
            elif index in self._started and function is not None and function.arguments:
                events.append(ToolCallDelta(index, function.arguments))
        return events

    def parts(self) -> list[ToolUsePart]:
        out = []
        for index in sorted(self._calls):
            call_id, name, arguments = self._calls[index]
            call_id = call_id or f"call_{index}"  # some local servers send no id
            out.append(ToolUsePart(call_id, name, arguments, parse_arguments(arguments) or {}))
        self._calls.clear()
        self._started.clear()
        return out


_REHEARSAL = b"".join(
    b"data: %s\n\n" % data.encode()
    for data in (
        '{"id":"c","object":"chat.completion.chunk","created":0,"model":"rehearsal",'
        '"choices":[{"index":0,"delta":{"role":"assistant","content":"ok"},"finish_reason":null}]}',
        '{"id":"c","object":"chat.completion.chunk","created":0,"model":"rehearsal",'
        '"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}',
        '{"id":"c","object":"chat.completion.chunk","created":0,"model":"rehearsal","choices":[],'
        '"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2,'
        '"prompt_tokens_details":{"cached_tokens":0}}}',
        "[DONE]",
    )
)


def preload_sdk() -> None:
    """Import the SDK and run one canned stream through it in memory, so the first real
    request pays neither the import nor the SDK's first-use set-up. Blocking: call it from a
    worker thread once the UI is up."""
    import openai

    async def run(http: Any) -> None:
        client = openai.AsyncOpenAI(
            api_key="rehearsal", base_url="http://rehearsal.invalid/v1", max_retries=0,
            http_client=http,
        )  # fmt: skip
        stream = await client.chat.completions.create(
            model="rehearsal", messages=[{"role": "user", "content": "hi"}], stream=True,
            stream_options={"include_usage": True},
        )  # fmt: skip
        async for _ in stream:
            pass

    rehearse(_REHEARSAL, run)


def _reasoning(delta: Any) -> str | None:
    """Reasoning text in a delta: ``reasoning_content`` (llama.cpp, DeepSeek) or ``reasoning``
    (Ollama, vLLM); extra fields the SDK keeps as attributes."""
    for name in ("reasoning_content", "reasoning"):
        value = getattr(delta, name, None)
        if isinstance(value, str) and value:
            return value
    return None


def _content_events(pieces: Sequence[tuple[str, str]]) -> list[TextDelta | ThinkingDelta]:
    return [TextDelta(t) if kind == "text" else ThinkingDelta(t) for kind, t in pieces if t]


class OpenAICompatProvider:
    def __init__(self, settings: ProviderSettings) -> None:
        self.settings = settings
        self._client: AsyncOpenAI | None = None

    @property
    def _base_url(self) -> str | None:
        if self.settings.base_url:
            return self.settings.base_url
        return OLLAMA_BASE_URL if self.settings.kind == "ollama" else None

    @property
    def _where(self) -> str:
        return self._base_url or OPENAI_HOST

    def prepare(self) -> None:
        """Build the HTTP client ahead of the first request (imports, TLS context: tens of
        milliseconds). Call it from a worker thread."""
        if self.settings.api_key or not is_openai_itself(self.settings):
            self._get_client()

    def _get_client(self) -> AsyncOpenAI:
        if self._client is None:
            import httpx2
            import openai

            s = self.settings
            self._client = openai.AsyncOpenAI(
                api_key=s.api_key or PLACEHOLDER_KEY,
                base_url=self._base_url,
                max_retries=s.max_retries,
                timeout=httpx2.Timeout(s.read_timeout, connect=s.connect_timeout),
                http_client=openai.DefaultAsyncHttpxClient(event_hooks=request_hooks()),
            )
        return self._client

    async def stream(self, request: ChatRequest) -> AsyncGenerator[ProviderEvent, None]:
        # OpenAI itself needs a key; local and compatible servers usually do not (a 401 says so).
        if not self.settings.api_key and is_openai_itself(self.settings):
            env = self.settings.key_env or "OPENAI_API_KEY"
            yield ProviderError(ErrorKind.NO_KEY, f"no OpenAI API key: set {env}")
            return
        client = self._get_client()
        chars = 0
        tags = None if is_openai_itself(self.settings) else ThinkTagSplitter()
        calls = _ToolCalls()
        started = output_reported = told = False
        finish: str | None = None
        error: ProviderError | None = None
        try:
            stream = await client.chat.completions.create(**build_params(request, self.settings))
            started = True
            async with stream:
                async for chunk in stream:
                    if not told:
                        told = True
                        yield ResponseInfo(chunk.id or None, chunk.model or None)
                    if chunk.usage is not None:
                        output_reported = chunk.usage.completion_tokens is not None
                        yield _usage(chunk.usage)
                    if not chunk.choices:
                        continue
                    choice = chunk.choices[0]
                    delta = choice.delta
                    if delta is not None:
                        reasoning = _reasoning(delta)
                        if reasoning:
                            chars += len(reasoning)
                            yield ThinkingDelta(reasoning)
                        if delta.content:
                            chars += len(delta.content)
                            pieces = tags.feed(delta.content) if tags else [("text", delta.content)]
                            for event in _content_events(pieces):
                                yield event
                        if delta.tool_calls:
                            for call_event in calls.add(delta.tool_calls):
                                yield call_event
                    finish = choice.finish_reason or finish
        except Exception as exc:  # every provider or network fault becomes a ProviderError
            error = self._map_error(exc, started=started)
        for event in _content_events(tags.close() if tags else []):
            yield event
        for part in calls.parts():
            yield PartDone(part)
        if error is None and finish is None and not output_reported:
            error = ProviderError(
                ErrorKind.STREAM_BROKEN, "the stream ended without a finish reason", mid_stream=True
            )
        if started and not output_reported:
            yield estimated_usage(chars)
        if error is not None:
            yield error
        else:
            yield Stop(STOP_REASONS.get(finish or "stop", finish or "end_turn"))

    def _map_error(self, exc: Exception, *, started: bool) -> ProviderError:
        s = self.settings
        return openai_error(
            exc, started=started, where=self._where, read_timeout=s.read_timeout, secret=s.api_key
        )

    async def count_tokens(self, request: ChatRequest) -> int | None:
        return None  # Chat Completions has no token-counting endpoint

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()
