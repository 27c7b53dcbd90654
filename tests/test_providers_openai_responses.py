"""OpenAIResponsesProvider against the real openai SDK, through a loopback server that speaks
the Responses SSE protocol (no SDK mocks): the exact request, every event kind, faults, the
cache-diagnostics field and its 400 fallback."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import pytest

from chat_tui.providers import openai_responses
from chat_tui.providers.base import ProviderSettings
from chat_tui.providers.events import (
    ChatRequest,
    ErrorKind,
    Message,
    ProviderError,
    ProviderEvent,
    ResponseInfo,
    Stop,
    SystemBlock,
    TextDelta,
    ThinkingDelta,
    Usage,
)
from chat_tui.providers.openai_compat import OpenAICompatProvider
from chat_tui.providers.openai_responses import OpenAIResponsesProvider
from tests.loopback import SSE, Hang, Status, openai_sse
from tests.loopback_responses import ResponsesLoopback, responses_sse, usage_object

KEY = "sk-proj-test-0123456789-SECRET"
DOC = '<document name="guide.md">\n' + "The style guide. " * 400 + "\n</document>"


@pytest.fixture
def server() -> AsyncIterator[ResponsesLoopback]:
    with ResponsesLoopback() as s:
        yield s  # type: ignore[misc]


def settings(server: ResponsesLoopback, **changes: Any) -> ProviderSettings:
    values: dict[str, Any] = {
        "kind": "openai",
        "model": "gpt-test",
        "base_url": server.openai_base_url,
        "api_key": KEY,
        "max_retries": 0,
        "read_timeout": 5.0,
        "connect_timeout": 1.0,
        "api": "responses",
    }
    values.update(changes)
    return ProviderSettings(**values)


def request(
    *texts: str, model: str = "gpt-test", previous: str | None = None, max_tokens: int = 256
) -> ChatRequest:
    messages = tuple(
        Message.of("user" if i % 2 == 0 else "assistant", text, cache=i == len(texts) - 1)
        for i, text in enumerate(texts)
    )
    system = (SystemBlock("You are terse."), SystemBlock(DOC, cache=True))
    return ChatRequest(
        model, system, messages, max_tokens=max_tokens, cache_key="chat-tui-abc123",
        previous_response_id=previous,
    )  # fmt: skip


@pytest.fixture
async def provider(server: ResponsesLoopback) -> AsyncIterator[OpenAIResponsesProvider]:
    p = OpenAIResponsesProvider(settings(server))
    yield p
    await p.aclose()


async def collect(provider: OpenAICompatProvider, req: ChatRequest | None = None) -> list[Any]:
    return [event async for event in provider.stream(req or request("hi"))]


def merged(events: list[ProviderEvent]) -> Usage:
    total = Usage()
    for event in events:
        if isinstance(event, Usage):
            total = total.merged(event)
    return total


def texts(events: list[ProviderEvent], kind: type = TextDelta) -> list[str]:
    return [e.text for e in events if isinstance(e, kind)]


# ---------------------------------------------------------------- the request


async def test_exact_request(server: ResponsesLoopback) -> None:
    p = OpenAIResponsesProvider(settings(server, cache_retention="24h"))
    await collect(p, request("What is it?", "A guide.", "Thanks"))
    await p.aclose()
    [sent] = server.requests
    assert (sent.method, sent.path) == ("POST", "/v1/responses")
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.body == {
        "model": "gpt-test",
        "instructions": "You are terse.",
        "input": [
            {"role": "developer", "content": DOC},
            {"role": "user", "content": "What is it?"},
            {"role": "assistant", "content": "A guide."},
            {"role": "user", "content": "Thanks"},
        ],
        "stream": True,
        "store": False,
        "max_output_tokens": 256,
        "prompt_cache_key": "chat-tui-abc123",
        "prompt_cache_retention": "24h",
    }


@pytest.mark.parametrize("ttl", ["30m", "12h"])
async def test_option_ttl_goes_in_prompt_cache_options(server: ResponsesLoopback, ttl: str) -> None:
    """ "30m" / "12h" are prompt_cache_options.ttl (gpt-5.6+), beside the diagnostics id."""
    p = OpenAIResponsesProvider(settings(server, cache_retention=ttl))
    await collect(p, request("hi", previous="resp_prev"))
    await p.aclose()
    body = server.requests[0].body or {}
    assert "prompt_cache_retention" not in body
    assert body["prompt_cache_options"] == {"ttl": ttl, "comparison_response_id": "resp_prev"}


async def test_request_is_byte_stable_across_turns(server: ResponsesLoopback) -> None:
    """The same prefix gives the same bytes: what OpenAI's prefix cache needs."""
    p = OpenAIResponsesProvider(settings(server))
    await collect(p, request("one"))
    await collect(p, request("one", "You said: one", "two"))
    await p.aclose()
    first, second = (json.dumps(r.body["input"])[:-1] for r in server.requests if r.body)
    assert second.startswith(first)


async def test_no_retention_no_key_for_compatible_kinds(server: ResponsesLoopback) -> None:
    """Retention unset: the field is absent (the server's default applies). A compatible
    server reached through api = "responses" gets no prompt_cache_key (as Chat Completions)."""
    p = OpenAIResponsesProvider(settings(server, kind="ollama", api_key="ollama"))
    await collect(p)
    await p.aclose()
    body = server.requests[0].body or {}
    assert "prompt_cache_retention" not in body and "prompt_cache_key" not in body
    assert body["store"] is False


@pytest.mark.parametrize(
    ("model", "summary"), [("gpt-5-mini", True), ("o4-mini", True), ("gpt-4.1-mini", False)]
)
async def test_reasoning_summaries_asked_of_reasoning_models_only(
    server: ResponsesLoopback, model: str, summary: bool
) -> None:
    p = OpenAIResponsesProvider(settings(server, model=model))
    await collect(p, request("hi", model=model))
    await p.aclose()
    body = server.requests[0].body or {}
    assert body.get("reasoning") == ({"summary": "auto"} if summary else None)


# ---------------------------------------------------------------- events


async def test_text_reasoning_and_usage(
    server: ResponsesLoopback, provider: OpenAIResponsesProvider
) -> None:
    usage = usage_object(4096, 9, cached=2048, cache_write=1024, reasoning=5)
    server.enqueue(
        SSE(responses_sse(["Hel", "lo"], reasoning=["Think", "ing."], usage=usage, model="gpt-x"))
    )
    events = await collect(provider)
    assert events[0] == ResponseInfo("resp_loopback", "gpt-x")
    assert [type(e) for e in events[1:]] == [
        ThinkingDelta, ThinkingDelta, TextDelta, TextDelta, Usage, Stop,
    ]  # fmt: skip
    assert texts(events, ThinkingDelta) == ["Think", "ing."]
    assert texts(events) == ["Hel", "lo"]
    total = merged(events)
    assert (total.input_tokens, total.cache_write_tokens, total.cache_read_tokens) == (
        1024, 1024, 2048,
    )  # fmt: skip
    assert total.prompt_tokens == 4096 and total.output_tokens == 9
    assert not total.output_estimated
    assert total.raw is not None
    assert total.raw["output_tokens_details"] == {"reasoning_tokens": 5}
    assert events[-1] == Stop("end_turn")


async def test_usage_without_details_is_unknown(
    server: ResponsesLoopback, provider: OpenAIResponsesProvider
) -> None:
    """A compatible server without input_tokens_details: cached is unknown (None), not 0;
    an older model without cache_write_tokens: writes unknown, reads known."""
    server.enqueue(
        SSE(responses_sse(["a"], usage=usage_object(30, 1, cached=None))),
        SSE(responses_sse(["a"], usage=usage_object(30, 1, cached=16, cache_write=None))),
    )
    first = merged(await collect(provider))
    assert (first.input_tokens, first.cache_read_tokens, first.cache_write_tokens) == (
        30,
        None,
        None,
    )
    second = merged(await collect(provider))
    assert (second.input_tokens, second.cache_read_tokens, second.cache_write_tokens) == (
        14, 16, None,
    )  # fmt: skip


async def test_function_call_events_do_not_break_the_answer(
    server: ResponsesLoopback, provider: OpenAIResponsesProvider
) -> None:
    """Tool-call arguments are not mapped yet (no neutral tool events exist): they are skipped."""
    server.enqueue(SSE(responses_sse(["Checking."], function_call='{"q": "widgets"}')))
    events = await collect(provider)
    assert texts(events) == ["Checking."] and events[-1] == Stop("end_turn")


async def test_refusal_streams_as_text(
    server: ResponsesLoopback, provider: OpenAIResponsesProvider
) -> None:
    server.enqueue(SSE(responses_sse(["I can't ", "help."], refusal=True)))
    events = await collect(provider)
    assert texts(events) == ["I can't ", "help."] and events[-1] == Stop("refusal")


@pytest.mark.parametrize(
    ("reason", "end"),
    [
        ("max_output_tokens", Stop("max_tokens")),
        ("content_filter", Stop("refusal")),
        (
            "max_messages",
            ProviderError(
                ErrorKind.STREAM_BROKEN, "the response is incomplete: max_messages", mid_stream=True
            ),
        ),
    ],
)
async def test_incomplete(
    server: ResponsesLoopback, provider: OpenAIResponsesProvider, reason: str, end: object
) -> None:
    server.enqueue(SSE(responses_sse(["cut"], end="incomplete", incomplete=reason)))
    events = await collect(provider)
    assert texts(events) == ["cut"] and merged(events).output_tokens == 1
    assert events[-1] == end


async def test_max_output_tokens_cut_by_the_server(server: ResponsesLoopback) -> None:
    p = OpenAIResponsesProvider(settings(server))
    events = await collect(p, request("a long question indeed", max_tokens=2))
    await p.aclose()
    assert "".join(texts(events)) == "You said: "[:8] and events[-1] == Stop("max_tokens")


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("server_error", ErrorKind.STREAM_BROKEN),
        ("rate_limit_exceeded", ErrorKind.RATE_LIMITED),
        ("invalid_prompt", ErrorKind.BAD_REQUEST),
    ],
)
async def test_response_failed(
    server: ResponsesLoopback, provider: OpenAIResponsesProvider, code: str, kind: ErrorKind
) -> None:
    error = {"code": code, "message": f"The model failed:\n{code} ({KEY})"}
    server.enqueue(SSE(responses_sse(["par", "tial"], end="failed", error=error)))
    events = await collect(provider)
    assert texts(events) == ["par", "tial"]
    assert events[-1] == ProviderError(kind, f"The model failed: {code} (***)", mid_stream=True)


async def test_error_event_mid_stream(
    server: ResponsesLoopback, provider: OpenAIResponsesProvider
) -> None:
    error_event = {"code": None, "message": "The server had an error.", "param": None}
    server.enqueue(SSE(responses_sse(["a", "b", "c"], error_event=error_event, error_after=2)))
    events = await collect(provider)
    assert texts(events) == ["a", "b"]
    assert merged(events).output_estimated  # no usage came: estimated from the text
    assert events[-1] == ProviderError(
        ErrorKind.STREAM_BROKEN, "The server had an error.", mid_stream=True
    )


async def test_dropped_connection_mid_stream(
    server: ResponsesLoopback, provider: OpenAIResponsesProvider
) -> None:
    server.enqueue(
        SSE(responses_sse(["one ", "two ", "three"]), drop_after=6)
    )  # created … "one ", "two "
    events = await collect(provider)
    assert texts(events) == ["one ", "two "]  # what arrived is kept
    last = events[-1]
    assert isinstance(last, ProviderError) and last.mid_stream
    assert last.kind == ErrorKind.STREAM_BROKEN and last.message.startswith("the stream broke")
    assert merged(events).output_estimated


async def test_stream_that_ends_without_a_terminal_event(
    server: ResponsesLoopback, provider: OpenAIResponsesProvider
) -> None:
    body = responses_sse(["x"])
    server.enqueue(SSE(body[: body.index(b"event: response.completed")]))
    events = await collect(provider)
    assert events[-1] == ProviderError(
        ErrorKind.STREAM_BROKEN, "the stream ended without a finish reason", mid_stream=True
    )


@pytest.mark.parametrize("code", [401, 429, 500])
async def test_status_errors_read_as_for_chat_completions(
    server: ResponsesLoopback, code: int
) -> None:
    """Same mapping and one-line messages as the Chat Completions provider."""
    headers = {"retry-after": "7"}
    server.enqueue(Status(code, headers=headers), Status(code, headers=headers))
    responses = OpenAIResponsesProvider(settings(server))
    chat = OpenAICompatProvider(settings(server, api="chat"))
    got, want = (await collect(responses))[-1], (await collect(chat))[-1]
    await responses.aclose()
    await chat.aclose()
    assert got == want and isinstance(got, ProviderError) and got.status == code


async def test_no_key_for_openai_itself() -> None:
    p = OpenAIResponsesProvider(ProviderSettings(kind="openai", model="gpt-test"))
    events = await collect(p)
    assert events == [ProviderError(ErrorKind.NO_KEY, "no OpenAI API key: set OPENAI_API_KEY")]


async def test_both_protocols_give_the_same_events(server: ResponsesLoopback) -> None:
    chunks = ["The ", "answer ", "is 42."]
    server.enqueue(
        SSE(openai_sse(chunks, prompt_tokens=2100, cached_tokens=1920)),
        SSE(responses_sse(chunks, usage=usage_object(2100, 3, cached=1920, cache_write=None))),
    )
    chat = OpenAICompatProvider(settings(server, api="chat"))
    responses = OpenAIResponsesProvider(settings(server))
    a, b = await collect(chat), await collect(responses)
    await chat.aclose()
    await responses.aclose()
    assert isinstance(a[0], ResponseInfo) and isinstance(b[0], ResponseInfo)  # ids to keep
    assert [type(e) for e in a] == [type(e) for e in b]
    assert texts(a) == texts(b) and a[-1] == b[-1] == Stop("end_turn")
    assert merged(a) == merged(b)


@pytest.mark.parametrize("send_headers", [False, True])
async def test_read_timeout(server: ResponsesLoopback, send_headers: bool) -> None:
    p = OpenAIResponsesProvider(settings(server, read_timeout=0.3))
    server.enqueue(Hang(5, send_headers=send_headers))
    events = await collect(p)
    await p.aclose()
    last = events[-1]
    assert isinstance(last, ProviderError)
    assert (last.kind, last.mid_stream) == (ErrorKind.TIMEOUT, send_headers)
    assert server.wait_for_disconnect(2)


async def test_connection_refused() -> None:
    with ResponsesLoopback() as closed:
        url = closed.openai_base_url
    p = OpenAIResponsesProvider(settings(closed, base_url=url))
    events = await collect(p)
    await p.aclose()
    [only] = events
    assert isinstance(only, ProviderError) and only.kind == ErrorKind.CONNECTION
    assert url in only.message and not only.mid_stream


async def test_stop_closes_the_http_stream(
    server: ResponsesLoopback, provider: OpenAIResponsesProvider
) -> None:
    """Cancelling the consumer (the stop key) closes the connection at once: billing stops."""
    server.enqueue(SSE(responses_sse(["tok"] * 200), chunk_delay=0.01))
    first = asyncio.Event()

    async def consume() -> None:
        async for event in provider.stream(request("hi")):
            if isinstance(event, TextDelta):
                first.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first.wait(), 2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert server.wait_for_disconnect(2)
    assert len(server.sent_log) < 200


# ---------------------------------------------------------------- token count, warm-up


async def test_count_tokens(server: ResponsesLoopback, provider: OpenAIResponsesProvider) -> None:
    counted = await provider.count_tokens(request("How long?"))
    assert counted is not None and counted > len(DOC) // 4
    sent = server.requests[0]
    assert sent.path == "/v1/responses/input_tokens"
    assert sent.body is not None and sent.body["instructions"] == "You are terse."
    assert "prompt_cache_options" not in sent.body and "stream" not in sent.body


async def test_count_tokens_none_for_compatible_servers(server: ResponsesLoopback) -> None:
    p = OpenAIResponsesProvider(settings(server, kind="ollama", api_key="ollama"))
    assert await p.count_tokens(request("x")) is None
    assert server.requests == []


@pytest.mark.parametrize("lenient", [False, True])
async def test_the_warm_up_stream_is_a_valid_responses_stream(lenient: bool) -> None:
    """The canned stream ``prepare`` rehearses parses through the SDK into the events a real
    answer gives (a broken rehearsal would be swallowed silently, so check it here)."""

    def reply(request: httpx2.Request) -> httpx2.Response:
        body = openai_responses.rehearsal_body(lenient=lenient)
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    import openai

    p = OpenAIResponsesProvider(ProviderSettings(kind="openai", model="r", api_key="k"))
    p._client = openai.AsyncOpenAI(
        api_key="k", base_url="http://rehearsal.invalid/v1", max_retries=0,
        http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(reply)),
    )  # fmt: skip
    events = await collect(p)
    await p.aclose()
    assert events[0] == ResponseInfo("resp_rehearsal", "rehearsal")
    assert texts(events) == ["ok"] and texts(events, ThinkingDelta) == ["ok"]
    assert events[-1] == Stop("end_turn")
    assert merged(events).output_tokens == 1
