"""AnthropicProvider against the real SDK, through the loopback server (no SDK mocks)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from chat_tui.providers.anthropic import AnthropicProvider, build_params
from chat_tui.providers.base import ProviderSettings
from chat_tui.providers.events import (
    CacheTTL,
    ChatRequest,
    ErrorKind,
    Message,
    ProviderError,
    ProviderEvent,
    ResponseInfo,
    Stop,
    SystemBlock,
    TextDelta,
    Usage,
)
from tests.loopback import SSE, Hang, LoopbackServer, Status, anthropic_sse, fixture

KEY = "sk-ant-test-0123456789-SECRET"
DOC = "The style guide. " * 400  # ~6800 chars ≈ 1700 tokens: above the 1024-token minimum


def settings(server: LoopbackServer | None, **changes: object) -> ProviderSettings:
    values: dict[str, object] = {
        "kind": "anthropic",
        "model": "claude-test",
        "base_url": server.base_url if server else None,
        "api_key": KEY,
        "max_retries": 0,
        "read_timeout": 5.0,
        "connect_timeout": 1.0,
    }
    values.update(changes)
    return ProviderSettings(**values)  # type: ignore[arg-type]


def request(*texts: str, ttl: CacheTTL = "5m") -> ChatRequest:
    """A conversation of alternating user/assistant texts; the last message is cache-marked."""
    messages = tuple(
        Message.of("user" if i % 2 == 0 else "assistant", text, cache=i == len(texts) - 1)
        for i, text in enumerate(texts)
    )
    system = (SystemBlock("You are terse."), SystemBlock(DOC, cache=True))
    return ChatRequest("claude-test", system, messages, max_tokens=256, cache_ttl=ttl)


@pytest.fixture
async def provider(loopback: LoopbackServer) -> AsyncIterator[AnthropicProvider]:
    p = AnthropicProvider(settings(loopback))
    yield p
    await p.aclose()


async def collect(
    provider: AnthropicProvider, req: ChatRequest | None = None
) -> list[ProviderEvent]:
    return [event async for event in provider.stream(req or request("hi"))]


def texts(events: list[ProviderEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def usage(events: list[ProviderEvent]) -> Usage:
    total = Usage()
    for event in events:
        if isinstance(event, Usage):
            total = total.merged(event)
    return total


def error(events: list[ProviderEvent]) -> ProviderError:
    assert isinstance(events[-1], ProviderError), events[-1]
    return events[-1]


# ---------------------------------------------------------------- event normalisation


async def test_cache_write_transcript(
    loopback: LoopbackServer, provider: AnthropicProvider
) -> None:
    loopback.enqueue(SSE(fixture("anthropic_1_cache_write.sse")))
    events = await collect(provider)
    assert [type(e) for e in events] == [
        ResponseInfo, Usage, TextDelta, TextDelta, TextDelta, Usage, Stop,
    ]  # fmt: skip
    assert texts(events) == "Hello! I have read the style guide."
    assert isinstance(events[0], ResponseInfo) and events[0].id and events[0].model
    first = events[1]
    assert isinstance(first, Usage)
    assert (first.input_tokens, first.cache_write_tokens, first.cache_read_tokens) == (21, 4312, 0)
    assert (first.cache_write_5m_tokens, first.cache_write_1h_tokens) == (0, 4312)
    assert first.output_tokens is None  # message_start's placeholder "1" is not a count
    total = usage(events)
    assert total.output_tokens == 12 and not total.output_estimated
    assert total.prompt_tokens == 21 + 4312
    assert events[-1] == Stop("end_turn")


async def test_cache_read_transcript(loopback: LoopbackServer, provider: AnthropicProvider) -> None:
    loopback.enqueue(SSE(fixture("anthropic_2_cache_read.sse")))
    events = await collect(provider)
    total = usage(events)
    assert (total.input_tokens, total.cache_read_tokens, total.cache_write_tokens) == (25, 4312, 0)
    assert total.output_tokens == 14
    assert texts(events) == "Yes, the system prompt came from the cache."


async def test_midstream_overload_keeps_partial_text(
    loopback: LoopbackServer, provider: AnthropicProvider
) -> None:
    loopback.enqueue(SSE(fixture("anthropic_3_midstream_error.sse")))
    events = await collect(provider)
    assert texts(events) == "Here is the first part of a long"
    assert events[-2] == Usage(output_tokens=8, output_estimated=True)  # 32 chars / 4
    assert error(events) == ProviderError(ErrorKind.OVERLOADED, "Overloaded", mid_stream=True)


async def test_other_error_event_is_stream_broken(
    loopback: LoopbackServer, provider: AnthropicProvider
) -> None:
    body = anthropic_sse(["a"], error_after=1).replace(b"overloaded_error", b"api_error")
    loopback.enqueue(SSE(body.replace(b'"Overloaded"', b'"Internal\\nerror"')))
    err = error(await collect(provider))
    assert (err.kind, err.message, err.mid_stream) == (
        ErrorKind.STREAM_BROKEN,
        "Internal error",
        True,
    )


async def test_empty_deltas_are_skipped(
    loopback: LoopbackServer, provider: AnthropicProvider
) -> None:
    loopback.enqueue(SSE(anthropic_sse(["", "a", "", "b"], stop_reason="max_tokens")))
    events = await collect(provider)
    assert [e for e in events if isinstance(e, TextDelta)] == [TextDelta("a"), TextDelta("b")]
    assert events[-1] == Stop("max_tokens")


# ---------------------------------------------------------------- the request on the wire


async def test_request_json(loopback: LoopbackServer, provider: AnthropicProvider) -> None:
    await collect(provider, request("first question", "an answer", "second question"))
    [sent] = loopback.requests
    assert (sent.method, sent.path) == ("POST", "/v1/messages")
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert "anthropic-version" in sent.headers
    body = sent.body
    assert body is not None
    assert (body["model"], body["max_tokens"], body["stream"]) == ("claude-test", 256, True)
    control = {"type": "ephemeral", "ttl": "5m"}
    assert body["system"] == [
        {"type": "text", "text": "You are terse."},
        {"type": "text", "text": DOC, "cache_control": control},
    ]
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "first question"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "an answer"}]},
        {
            "role": "user",
            "content": [{"type": "text", "text": "second question", "cache_control": control}],
        },
    ]
    assert "temperature" not in body


async def test_one_hour_ttl(loopback: LoopbackServer, provider: AnthropicProvider) -> None:
    events = await collect(provider, request("hello", ttl="1h"))
    body = loopback.requests[0].body
    assert body is not None
    assert body["system"][1]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
    total = usage(events)
    assert (
        total.cache_write_1h_tokens == total.cache_write_tokens and total.cache_write_5m_tokens == 0
    )


def test_at_most_four_breakpoints_latest_messages_first() -> None:
    system = (*(SystemBlock(f"block {i}", cache=True) for i in range(3)), SystemBlock(""))
    messages = tuple(
        Message.of("user" if i % 2 == 0 else "assistant", f"m{i}", cache=True) for i in range(5)
    )
    params = build_params(ChatRequest("m", system, messages))
    assert len(params["system"]) == 3  # the empty block is left out
    marked_system = [b["text"] for b in params["system"] if "cache_control" in b]
    marked_messages = [
        m["content"][0]["text"] for m in params["messages"] if "cache_control" in m["content"][0]
    ]
    assert marked_system == ["block 1", "block 2"]
    assert marked_messages == ["m3", "m4"]


async def test_many_marks_are_accepted_by_the_server(
    loopback: LoopbackServer, provider: AnthropicProvider
) -> None:
    messages = tuple(
        Message.of("user" if i % 2 == 0 else "assistant", f"m{i}", cache=True) for i in range(7)
    )
    req = ChatRequest("claude-test", (SystemBlock(DOC, cache=True),), messages)
    events = await collect(provider, req)
    assert isinstance(events[-1], Stop)  # the loopback rejects more than 4, as the API does


# ---------------------------------------------------------------- caching across turns


async def test_cache_write_then_read_over_three_turns(
    loopback: LoopbackServer, provider: AnthropicProvider
) -> None:
    turn1 = usage(await collect(provider, request("What does the guide say about commas?")))
    assert turn1.cache_read_tokens == 0 and turn1.cache_write_tokens
    assert turn1.cache_write_tokens > 1024 and turn1.input_tokens == 0  # all before the last mark

    history: tuple[str, ...] = ("What does the guide say about commas?", "Use them sparingly.")
    turn2 = usage(await collect(provider, request(*history, "And about dashes?")))
    assert turn2.cache_read_tokens == turn1.cache_write_tokens  # the document and turn 1
    assert turn2.cache_write_tokens and turn2.cache_write_tokens > 0  # the new history

    history += ("And about dashes?", "Prefer en dashes.")
    turn3 = usage(await collect(provider, request(*history, "Thanks!")))
    assert turn3.cache_read_tokens == turn1.cache_write_tokens + turn2.cache_write_tokens
    assert turn3.prompt_tokens and turn3.prompt_tokens > turn2.cache_read_tokens + 20


async def test_short_prompt_is_not_cached(
    loopback: LoopbackServer, provider: AnthropicProvider
) -> None:
    req = ChatRequest(
        "claude-test", (SystemBlock("short", cache=True),), (Message.of("user", "hi"),)
    )
    for _ in range(2):
        total = usage(await collect(provider, req))
        assert (total.cache_write_tokens, total.cache_read_tokens) == (0, 0)


# ---------------------------------------------------------------- faults


async def test_dropped_connection_mid_stream(
    loopback: LoopbackServer, provider: AnthropicProvider
) -> None:
    # events: message_start, content_block_start, ping, delta, delta | dropped
    loopback.enqueue(SSE(anthropic_sse(["Hel", "lo, ", "world"]), drop_after=5))
    events = await collect(provider)
    assert texts(events) == "Hello, "
    assert events[-2] == Usage(output_tokens=2, output_estimated=True)
    err = error(events)
    assert (err.kind, err.mid_stream) == (ErrorKind.STREAM_BROKEN, True)


async def test_stream_ending_without_message_stop(
    loopback: LoopbackServer, provider: AnthropicProvider
) -> None:
    body = anthropic_sse(["abc"])
    loopback.enqueue(SSE(body[: body.index(b"event: content_block_stop")]))
    events = await collect(provider)
    assert events[-2] == Usage(output_tokens=1, output_estimated=True)
    assert error(events).kind is ErrorKind.STREAM_BROKEN


async def test_garbage_in_the_stream_is_reported_not_raised(
    loopback: LoopbackServer, provider: AnthropicProvider
) -> None:
    body = anthropic_sse(["ok"])
    cut = body.index(b"event: content_block_stop")
    loopback.enqueue(SSE(body[:cut] + b"event: content_block_delta\ndata: {not json\n\n"))
    events = await collect(provider)
    assert texts(events) == "ok"
    err = error(events)
    assert (err.kind, err.mid_stream) == (ErrorKind.UNKNOWN, True)


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, ErrorKind.BAD_REQUEST),
        (404, ErrorKind.BAD_REQUEST),
        (413, ErrorKind.BAD_REQUEST),
        (403, ErrorKind.AUTH),
        (500, ErrorKind.SERVER),
        (529, ErrorKind.OVERLOADED),
    ],
)
async def test_status_errors(
    loopback: LoopbackServer, provider: AnthropicProvider, status: int, kind: ErrorKind
) -> None:
    loopback.enqueue(Status(status))
    events = await collect(provider)
    assert len(events) == 1  # no usage: nothing was streamed
    err = error(events)
    assert (err.kind, err.status, err.mid_stream) == (kind, status, False)
    assert err.message.startswith("loopback ")  # the provider's own text


async def test_rate_limited_with_retry_after(
    loopback: LoopbackServer, provider: AnthropicProvider
) -> None:
    loopback.enqueue(Status(429, headers={"retry-after": "7"}))
    err = error(await collect(provider))
    assert (err.kind, err.status, err.retry_after) == (ErrorKind.RATE_LIMITED, 429, 7.0)
    assert not err.mid_stream


async def test_sdk_retries_quickly_when_told(loopback: LoopbackServer) -> None:
    provider = AnthropicProvider(settings(loopback, max_retries=2))
    loopback.enqueue(*[Status(429, headers={"retry-after-ms": "1"})] * 2)
    events = await collect(provider)
    await provider.aclose()
    assert isinstance(events[-1], Stop) and len(loopback.requests) == 3


async def test_bad_request_message_is_one_line_and_never_shows_the_key(
    loopback: LoopbackServer, provider: AnthropicProvider
) -> None:
    message = f"prompt is too long:\n  212000 tokens > 200000 maximum (key {KEY})"
    loopback.enqueue(
        Status(
            400, {"type": "error", "error": {"type": "invalid_request_error", "message": message}}
        )
    )
    err = error(await collect(provider))
    assert err.kind is ErrorKind.BAD_REQUEST
    assert err.message == "prompt is too long: 212000 tokens > 200000 maximum (key ***)"


async def test_auth_error(loopback: LoopbackServer, provider: AnthropicProvider) -> None:
    body = {
        "type": "error",
        "error": {"type": "authentication_error", "message": f"invalid x-api-key {KEY}"},
    }
    loopback.enqueue(Status(401, body))
    err = error(await collect(provider))
    assert (err.kind, err.status) == (ErrorKind.AUTH, 401)
    assert KEY not in err.message and "invalid x-api-key" in err.message


async def test_connection_refused() -> None:
    with LoopbackServer() as closed:
        url = closed.base_url
    provider = AnthropicProvider(settings(None, base_url=url))
    events = [e async for e in provider.stream(request("hi"))]
    await provider.aclose()
    assert len(events) == 1
    err = error(events)
    assert (err.kind, err.mid_stream) == (ErrorKind.CONNECTION, False)
    assert url in err.message and KEY not in err.message


@pytest.mark.parametrize("send_headers", [False, True])
async def test_read_timeout(loopback: LoopbackServer, send_headers: bool) -> None:
    provider = AnthropicProvider(settings(loopback, read_timeout=0.3))
    loopback.enqueue(Hang(5, send_headers=send_headers))
    events = await collect(provider)
    await provider.aclose()
    err = error(events)
    assert (err.kind, err.mid_stream) == (ErrorKind.TIMEOUT, send_headers)
    assert "0.3s" in err.message
    assert loopback.wait_for_disconnect(2)


async def test_no_key_builds_no_client(loopback: LoopbackServer) -> None:
    provider = AnthropicProvider(settings(loopback, api_key=None, key_env="MY_KEY"))
    events = [e async for e in provider.stream(request("hi"))]
    assert events == [ProviderError(ErrorKind.NO_KEY, "no Anthropic API key: set MY_KEY")]
    assert provider._client is None and not loopback.requests
    assert await provider.count_tokens(request("hi")) is None
    await provider.aclose()


# ---------------------------------------------------------------- closing early


async def test_aclose_after_first_delta_closes_the_http_stream(
    loopback: LoopbackServer, provider: AnthropicProvider
) -> None:
    loopback.enqueue(SSE(anthropic_sse(["tok"] * 200), chunk_delay=0.01))
    stream = provider.stream(request("hi"))
    async for event in stream:
        if isinstance(event, TextDelta):
            break
    await stream.aclose()
    assert loopback.wait_for_disconnect(2)
    assert len(loopback.sent_log) < 200  # stopped before the end


async def test_cancelling_the_consumer_closes_the_http_stream(
    loopback: LoopbackServer, provider: AnthropicProvider
) -> None:
    loopback.enqueue(SSE(anthropic_sse(["tok"] * 200), chunk_delay=0.01))
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
    assert loopback.wait_for_disconnect(2)


# ---------------------------------------------------------------- count_tokens


async def test_count_tokens(loopback: LoopbackServer, provider: AnthropicProvider) -> None:
    count = await provider.count_tokens(request("hello"))
    assert count is not None and count > 1024
    sent = loopback.requests[-1]
    assert sent.path == "/v1/messages/count_tokens" and sent.body is not None
    assert "max_tokens" not in sent.body and sent.body["system"][1]["text"] == DOC
    loopback.enqueue(Status(500))
    assert await provider.count_tokens(request("hello")) is None


async def test_the_warm_up_stream_is_a_valid_messages_stream() -> None:
    """The canned stream ``preload_sdk`` rehearses goes through the same raw event path as a
    real answer (a broken rehearsal would be swallowed silently, so check it here)."""
    import anthropic
    import httpx2

    from chat_tui.providers import anthropic as anthropic_provider

    def reply(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(
            200, headers={"content-type": "text/event-stream"},
            content=anthropic_provider._REHEARSAL,
        )  # fmt: skip

    p = AnthropicProvider(settings(None, base_url="http://rehearsal.invalid"))
    p._client = anthropic.AsyncAnthropic(
        api_key=KEY, base_url="http://rehearsal.invalid", max_retries=0,
        http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(reply)),
    )  # fmt: skip
    events = await collect(p)
    await p.aclose()
    assert events[0] == ResponseInfo("msg_0", "rehearsal")
    assert texts(events) == "ok"
    assert events[-1] == Stop("end_turn")
    assert usage(events).output_tokens == 1
