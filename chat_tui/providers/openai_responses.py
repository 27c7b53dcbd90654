"""OpenAI's Responses API, streamed through the official SDK (``client.responses.create``):
where OpenAI's own caching controls live (retention, cache diagnostics, exact cache-write
counts) and where reasoning models stream a summary of their reasoning.

Chosen by :func:`uses_responses_api`: for kind "openai" at api.openai.com, or wherever the
provider's ``api`` setting says "responses"; every other server keeps Chat Completions
(:mod:`chat_tui.providers.openai_compat`, whose client, key check and error mapping this module
shares). The SDK is imported on first use, never at module import.

Request: the first system block (the instruction) goes in ``instructions``; later system blocks
(the documents) follow as ``developer`` input items, then the conversation: always in that
order, so the prefix OpenAI caches stays byte-stable. ``store: false``: chat-tui keeps its own
history and sends it whole each turn, so nothing needs keeping on OpenAI's side.
``prompt_cache_key`` (kind "openai"); the ``cache_retention`` setting as
``prompt_cache_retention`` ("in_memory", "24h") or ``prompt_cache_options.ttl`` ("30m", "12h").

Two optional fields chat-tui adds on its own, which a server may refuse with a 400 naming
them: ``prompt_cache_options.comparison_response_id`` (cache diagnostics against the previous
response) and ``reasoning`` (``summary: "auto"``, for reasoning models only). The request is
sent again without the refused field, and the provider remembers the refusal for that host
and model: a turn never fails over them. The user's own settings are never dropped: a
retention the model does not take fails with the server's message.

Events: ``response.created`` → :class:`ResponseInfo`; ``response.output_text.delta`` (and
``response.refusal.delta``) → :class:`TextDelta`; ``response.reasoning_summary_text.delta`` →
:class:`ThinkingDelta`; the response's ``prompt_cache_diagnostics`` → :class:`CacheDiagnosis`;
``response.completed`` → :class:`Usage` and :class:`Stop`; ``response.incomplete`` →
``Stop("max_tokens")`` for ``max_output_tokens``, ``Stop("refusal")`` for ``content_filter``,
else a :class:`ProviderError`; ``response.failed`` and ``error`` → :class:`ProviderError`.
Tools go out as ``function`` tools in the request's stable order; a function call streams as
``response.output_item.added`` (→ :class:`ToolCallStart`), ``response.function_call_arguments.delta``
(→ :class:`ToolCallDelta`) and ``response.output_item.done`` (→ :class:`PartDone` with the call);
a response that made calls stops with ``tool_use``. Calls and results go back as
``function_call`` and ``function_call_output`` input items.
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, Iterator
from typing import TYPE_CHECKING, Any

from chat_tui.providers._common import estimated_usage, one_line, rehearse
from chat_tui.providers.base import CacheRetention, ProviderSettings
from chat_tui.providers.events import (
    CacheDiagnosis,
    ChatRequest,
    ErrorKind,
    Message,
    PartDone,
    ProviderError,
    ProviderEvent,
    ResponseInfo,
    Stop,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    ToolCallStart,
    ToolResultPart,
    ToolUsePart,
    Usage,
    parse_arguments,
)
from chat_tui.providers.openai_compat import OpenAICompatProvider, is_openai_itself

if TYPE_CHECKING:
    from openai import AsyncOpenAI, BadRequestError
    from openai.types.responses import Response, ResponseUsage

# How long the cache clock counts for each retention: in memory, OpenAI keeps a prefix 5-10
# minutes after its last use (the clock shows the conservative end); "24h" keeps it up to a
# day; "30m" and "12h" (prompt_cache_options.ttl) are minimum lifetimes.
RETENTION_SECONDS: dict[str, float] = {
    "in_memory": 300.0, "24h": 86400.0, "30m": 1800.0, "12h": 43200.0,
}  # fmt: skip
CACHE_OPTION_TTLS = ("30m", "12h")  # sent as prompt_cache_options.ttl, not as retention
DEFAULT_CACHE_TTL_S = 300.0  # nothing requested: the server's default, counted conservatively

# Optional request fields chat-tui adds on its own (never the user's settings), and the names
# a 400 refusing each of them would cite.
OPTIONAL_FIELDS: dict[str, tuple[str, ...]] = {
    "comparison_response_id": ("comparison_response_id", "prompt_cache_options"),
    "reasoning": ("reasoning",),
}
# The SDK documents `reasoning` for "gpt-5 and o-series models only".
_REASONING_MODEL = re.compile(r"^(?:o\d|gpt-5)", re.IGNORECASE)
# response.failed / error codes that are the server's fault (retrying may help).
_TRANSIENT_CODES = {None, "", "server_error", "vector_store_timeout"}


def uses_responses_api(settings: ProviderSettings) -> bool:
    """True when ``settings`` speak the Responses API: the ``api`` setting where given, else
    only OpenAI's own API (compatible servers keep Chat Completions)."""
    if settings.kind == "anthropic":
        return False
    if settings.api is not None:
        return settings.api == "responses"
    return is_openai_itself(settings)


def requested_retention(settings: ProviderSettings) -> CacheRetention | None:
    """The ``prompt_cache_retention`` the requests carry, or None when none is sent."""
    return settings.cache_retention if uses_responses_api(settings) else None


def requested_cache_ttl_s(settings: ProviderSettings) -> float:
    """How long the cache clock counts after a turn that wrote or read OpenAI's cache."""
    retention = requested_retention(settings)
    return RETENTION_SECONDS[retention] if retention else DEFAULT_CACHE_TTL_S


def wants_reasoning_summary(model: str) -> bool:
    return bool(_REASONING_MODEL.match(model))


def build_params(
    request: ChatRequest, settings: ProviderSettings, *, omit: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """The keyword arguments for ``responses.create``, without the optional fields in ``omit``."""
    system = [block.text for block in request.system if block.text]
    items: list[dict[str, str]] = [{"role": "developer", "content": text} for text in system[1:]]
    for message in request.messages:
        items += input_items(message)
    params: dict[str, Any] = {"model": request.model}
    if system:
        params["instructions"] = system[0]
    params |= {
        "input": items,
        "stream": True,
        "store": False,
        "max_output_tokens": request.max_tokens,
    }
    if settings.kind == "openai" and request.cache_key:
        params["prompt_cache_key"] = request.cache_key
    options: dict[str, str] = {}
    if settings.cache_retention in CACHE_OPTION_TTLS:
        options["ttl"] = settings.cache_retention
    elif settings.cache_retention:
        params["prompt_cache_retention"] = settings.cache_retention
    if request.previous_response_id and "comparison_response_id" not in omit:
        options["comparison_response_id"] = request.previous_response_id
    if options:
        params["prompt_cache_options"] = options
    if wants_reasoning_summary(request.model) and "reasoning" not in omit:
        params["reasoning"] = {"summary": "auto"}
    if request.tools:
        params["tools"] = [
            {"type": "function", "name": t.name, "description": t.description,
             "parameters": t.input_schema}
            for t in request.tools
        ]  # fmt: skip
    return params


def input_items(message: Message) -> list[dict[str, str]]:
    """One message as input items: tool results first (they answer the previous message's
    calls), then its text, then its tool calls."""
    results = [
        {"type": "function_call_output", "call_id": p.tool_use_id, "output": p.content}
        for p in message.parts
        if isinstance(p, ToolResultPart)
    ]
    calls = [
        {"type": "function_call", "call_id": p.id, "name": p.name, "arguments": p.arguments}
        for p in message.parts
        if isinstance(p, ToolUsePart)
    ]
    text = message.text
    said = [{"role": message.role, "content": text}] if text or not (results or calls) else []
    return results + said + calls


def refused_field(exc: BadRequestError, params: dict[str, Any]) -> str | None:
    """The optional field in ``params`` that a 400 names, if any."""
    said = f"{exc.param or ''} {exc.message}"
    body = exc.body
    if isinstance(body, dict):
        said += f" {body.get('param') or ''} {body.get('message') or ''}"
    sent = {**params, **params.get("prompt_cache_options", {})}
    for name, cited in OPTIONAL_FIELDS.items():
        if name in sent and any(word in said for word in cited):
            if name == "comparison_response_id" and "ttl" in said:
                continue  # the user's prompt_cache_options.ttl was refused, not ours
            return name
    return None


def _usage(usage: ResponseUsage) -> Usage:
    """Split the prompt into uncached / written / read. A figure the server leaves out stays
    None (not 0): compatible servers may send no ``input_tokens_details``."""
    details = getattr(usage, "input_tokens_details", None)
    cached = getattr(details, "cached_tokens", None)
    written = getattr(details, "cache_write_tokens", None)
    total = getattr(usage, "input_tokens", None)
    return Usage(
        input_tokens=None if total is None else total - (cached or 0) - (written or 0),
        cache_write_tokens=written,
        cache_read_tokens=cached,
        output_tokens=getattr(usage, "output_tokens", None),
        raw=usage.model_dump(exclude_none=True, warnings=False),
    )


def _diagnosis(response: Response) -> CacheDiagnosis | None:
    """The server's cache verdict against the compared response; None for a hit or none."""
    diagnostics = getattr(response, "prompt_cache_diagnostics", None)
    kind = getattr(diagnostics, "type", None)
    if kind is None or kind == "cache_hit":
        return None
    if kind == "cache_miss":
        reason = getattr(diagnostics, "reason", None) or kind
        return CacheDiagnosis(str(reason), getattr(diagnostics, "cache_missed_tokens", None))
    return CacheDiagnosis(str(kind))  # comparison_response_not_found, unavailable


def _failure(code: str | None, message: str, secret: str | None) -> ProviderError:
    """A ``response.failed`` or ``error`` event: the server's message on one line."""
    if code == "rate_limit_exceeded":
        kind = ErrorKind.RATE_LIMITED
    elif code in _TRANSIENT_CODES:
        kind = ErrorKind.STREAM_BROKEN
    else:  # invalid_prompt, image and policy errors: retrying the same prompt will not help
        kind = ErrorKind.BAD_REQUEST
    text = one_line(message or code or "the response failed", secret)
    return ProviderError(kind, text, mid_stream=True)


class _EventMapper:
    """Turns the SDK's Responses stream events into neutral events; remembers the terminal."""

    def __init__(self, secret: str | None) -> None:
        self.secret = secret
        self.chars = 0
        self.usage_reported = False
        self.refused = False
        self.diagnosed = False
        self.terminal: Stop | ProviderError | None = None
        self.called = False  # the response made a function call

    def feed(self, event: Any) -> Iterator[ProviderEvent]:
        kind = getattr(event, "type", None)
        response = getattr(event, "response", None)
        diagnosis = _diagnosis(response) if response is not None else None
        if diagnosis is not None and not self.diagnosed:
            self.diagnosed = True
            yield diagnosis
        if kind == "response.created":
            yield ResponseInfo(getattr(response, "id", None), getattr(response, "model", None))
        elif kind in ("response.output_text.delta", "response.refusal.delta"):
            self.refused = self.refused or kind == "response.refusal.delta"
            if event.delta:
                self.chars += len(event.delta)
                yield TextDelta(event.delta)
        elif kind == "response.reasoning_summary_text.delta":
            if event.delta:
                yield ThinkingDelta(event.delta)
        elif kind == "response.function_call_arguments.delta":
            if event.delta:
                yield ToolCallDelta(event.output_index, event.delta)
        elif kind in ("response.output_item.added", "response.output_item.done"):
            item = event.item
            if getattr(item, "type", None) == "function_call":
                if kind == "response.output_item.added":
                    yield ToolCallStart(event.output_index, item.call_id, item.name)
                else:
                    self.called = True
                    arguments = item.arguments or ""
                    parsed = parse_arguments(arguments) or {}
                    yield PartDone(ToolUsePart(item.call_id, item.name, arguments, parsed))
        elif kind in ("response.completed", "response.incomplete", "response.failed"):
            yield from self._usage(response)
            self.terminal = self.terminal or self._end(kind, response)
        elif kind == "error":
            self.terminal = self.terminal or _failure(event.code, event.message, self.secret)

    def _usage(self, response: Response | None) -> Iterator[Usage]:
        usage = getattr(response, "usage", None)
        if usage is not None:
            self.usage_reported = getattr(usage, "output_tokens", None) is not None
            yield _usage(usage)

    def _end(self, kind: str, response: Response | None) -> Stop | ProviderError:
        if kind == "response.completed":
            return Stop("refusal" if self.refused else "tool_use" if self.called else "end_turn")
        if kind == "response.failed":
            error = getattr(response, "error", None)
            code, message = getattr(error, "code", None), getattr(error, "message", "")
            return _failure(code, message or "", self.secret)
        details = getattr(response, "incomplete_details", None)
        reason = getattr(details, "reason", None)
        if reason == "max_output_tokens":
            return Stop("max_tokens")
        if reason == "content_filter":
            return Stop("refusal")
        return ProviderError(
            ErrorKind.STREAM_BROKEN,
            f"the response is incomplete: {reason or 'no reason given'}",
            mid_stream=True,
        )


def rehearsal_body(*, lenient: bool = False) -> bytes:
    """A canned Responses stream with every event kind a reasoning model's answer brings
    (each kind's first parse is what the warm-up saves the first real answer). The SDK first
    validates an event strictly; an event that does not validate (a compatible server's
    sparser objects) falls back to a discriminated-union build that costs a second or more
    the first time: ``lenient`` adds one such event, to pay that here too."""
    import json

    msg = {"id": "m", "type": "message", "role": "assistant", "status": "in_progress",
           "content": []}  # fmt: skip
    rs = {"id": "r", "type": "reasoning", "summary": []}
    text = {"type": "output_text", "text": "ok", "annotations": []}
    summary = {"type": "summary_text", "text": "ok"}
    usage = {"input_tokens": 1, "input_tokens_details": {"cached_tokens": 0,
             "cache_write_tokens": 0}, "output_tokens": 1,
             "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 2}  # fmt: skip

    def response(status: str, **extra: Any) -> dict[str, Any]:
        # Every field OpenAI sends, nulls included: the SDK resolves each field's type on
        # first sight, and a discriminated union costs tens of milliseconds the first time.
        return {"id": "resp_rehearsal", "object": "response", "created_at": 0,
                "model": "rehearsal", "status": status, "output": [], "background": False,
                "error": None, "incomplete_details": None, "instructions": "x",
                "max_output_tokens": 1, "max_tool_calls": None, "parallel_tool_calls": True,
                "previous_response_id": None, "prompt_cache_key": "k",
                "prompt_cache_retention": "24h", "prompt_cache_diagnostics": None,
                "prompt_cache_options": None, "reasoning": {"effort": None, "summary": None},
                "safety_identifier": None, "service_tier": "default", "store": False,
                "temperature": 1.0, "text": {"format": {"type": "text"}, "verbosity": "medium"},
                "tool_choice": "auto", "tools": [], "top_logprobs": 0, "top_p": 1.0,
                "truncation": "disabled", "usage": None, "user": None, "metadata": {},
                **extra}  # fmt: skip

    rs_done = {**rs, "summary": [summary]}
    msg_done = {**msg, "status": "completed", "content": [text]}
    at: dict[str, Any] = {"item_id": "m", "output_index": 1, "content_index": 0}
    rat: dict[str, Any] = {"item_id": "r", "output_index": 0, "summary_index": 0}
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": response("in_progress")},
        {"type": "response.in_progress", "response": response("in_progress")},
        {"type": "response.output_item.added", "output_index": 0, "item": rs},
        {"type": "response.reasoning_summary_part.added", **rat, "part": summary},
        {"type": "response.reasoning_summary_text.delta", **rat, "delta": "ok"},
        {"type": "response.reasoning_summary_text.done", **rat, "text": "ok"},
        {"type": "response.reasoning_summary_part.done", **rat, "part": summary},
        {"type": "response.output_item.done", "output_index": 0, "item": rs_done},
        {"type": "response.output_item.added", "output_index": 1, "item": msg},
        {"type": "response.content_part.added", **at, "part": text},
        {"type": "response.output_text.delta", **at, "delta": "ok", "logprobs": []},
        {"type": "response.output_text.done", **at, "text": "ok", "logprobs": []},
        {"type": "response.content_part.done", **at, "part": text},
        {"type": "response.output_item.done", "output_index": 1, "item": msg_done},
        {
            "type": "response.completed",
            "response": response("completed", usage=usage, output=[rs_done, msg_done]),
        },
    ]
    if lenient:  # a response object without the fields OpenAI always sends
        sparse = {"id": "resp_rehearsal", "object": "response", "status": "in_progress"}
        events[2:2] = [
            {"type": "response.in_progress", "response": sparse},
            {"type": "response.output_item.added", "output_index": 9, "item": {"type": "message"}},
        ]
    return b"".join(
        b"event: %s\ndata: %s\n\n"
        % (e["type"].encode(), json.dumps({**e, "sequence_number": i}).encode())
        for i, e in enumerate(events)
    )


_rehearsed: set[bool] = set()


def preload_responses(*, lenient: bool = False) -> None:
    """Run one canned Responses stream through the SDK in memory (once per process and
    kind), so the first real request does not pay the Responses event models' first-use
    set-up. ``lenient``: also the SDK's path for objects that do not validate (compatible
    servers). Blocking: call it from a worker thread."""
    if lenient in _rehearsed:
        return
    _rehearsed.add(lenient)
    import openai

    async def run(http: Any) -> None:
        client = openai.AsyncOpenAI(
            api_key="rehearsal", base_url="http://rehearsal.invalid/v1", max_retries=0,
            http_client=http,
        )  # fmt: skip
        stream = await client.responses.create(model="rehearsal", input="hi", stream=True)
        async for event in stream:
            list(_EventMapper(None).feed(event))

    rehearse(rehearsal_body(lenient=lenient), run)


class OpenAIResponsesProvider(OpenAICompatProvider):
    """The Responses API on the Chat Completions provider's client, key check and errors."""

    def __init__(self, settings: ProviderSettings) -> None:
        super().__init__(settings)
        # (host, model) → optional fields that server refused for that model.
        self.refused: dict[tuple[str, str], set[str]] = {}

    def prepare(self) -> None:
        super().prepare()
        preload_responses(lenient=not is_openai_itself(self.settings))

    async def stream(self, request: ChatRequest) -> AsyncGenerator[ProviderEvent, None]:
        if not self.settings.api_key and is_openai_itself(self.settings):
            env = self.settings.key_env or "OPENAI_API_KEY"
            yield ProviderError(ErrorKind.NO_KEY, f"no OpenAI API key: set {env}")
            return
        client = self._get_client()
        mapper = _EventMapper(self.settings.api_key)
        started = False
        error: ProviderError | None = None
        try:
            stream = await self._create(client, request)
            started = True
            async with stream:
                async for event in stream:
                    for out in mapper.feed(event):
                        yield out
        except Exception as exc:  # every provider or network fault becomes a ProviderError
            error = self._map_error(exc, started=started)
        # Read to the end (the connection goes back to the pool); the first terminal wins.
        terminal = mapper.terminal or error
        if terminal is None:
            terminal = ProviderError(
                ErrorKind.STREAM_BROKEN, "the stream ended without a finish reason", mid_stream=True
            )
        if started and not mapper.usage_reported:
            yield estimated_usage(mapper.chars)
        yield terminal

    async def _create(self, client: AsyncOpenAI, request: ChatRequest) -> Any:
        """``responses.create``, sent again without each optional field a 400 refuses."""
        import openai

        refused = self.refused.setdefault((self._where, request.model), set())
        while True:
            params = build_params(request, self.settings, omit=frozenset(refused))
            try:
                return await client.responses.create(**params)
            except openai.BadRequestError as exc:
                field = refused_field(exc, params)
                if field is None:
                    raise
                refused.add(field)

    async def count_tokens(self, request: ChatRequest) -> int | None:
        """OpenAI's input-token count for the request (``responses.input_tokens.count``);
        None for other servers, without a key, or when the call fails."""
        if self.settings.kind != "openai" or not self.settings.api_key:
            return None
        params = build_params(request, self.settings, omit=frozenset(OPTIONAL_FIELDS))
        try:
            counted = await self._get_client().responses.input_tokens.count(
                model=request.model, instructions=params.get("instructions"), input=params["input"]
            )
        except Exception:
            return None
        return counted.input_tokens
