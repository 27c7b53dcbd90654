"""OpenAICompatProvider (OpenAI, Ollama, compatible servers) against the real SDK, through the
loopback server (no SDK mocks)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from chat_tui.providers.base import ProviderKind, ProviderSettings, make_provider
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
    Usage,
)
from chat_tui.providers.openai_compat import OpenAICompatProvider, is_openai_itself
from tests.loopback import SSE, Hang, LoopbackServer, Status, fixture, openai_sse

KEY = "sk-proj-test-0123456789-SECRET"
DOC = "The style guide. " * 400  # ~6800 chars ≈ 1700 tokens


def settings(
    server: LoopbackServer | None, kind: ProviderKind = "openai", **changes: object
) -> ProviderSettings:
    values: dict[str, object] = {
        "kind": kind,
        "model": "gpt-test",
        "base_url": server.openai_base_url if server else None,
        "api_key": KEY if kind == "openai" else None,
        "max_retries": 0,
        "read_timeout": 5.0,
        "connect_timeout": 1.0,
    }
    values.update(changes)
    return ProviderSettings(**values)  # type: ignore[arg-type]


def request(*texts: str, cache_key: str | None = "conv-1", max_tokens: int = 256) -> ChatRequest:
    messages = tuple(
        Message.of("user" if i % 2 == 0 else "assistant", text, cache=i == len(texts) - 1)
        for i, text in enumerate(texts)
    )
    system = (SystemBlock("You are terse."), SystemBlock(DOC, cache=True))
    return ChatRequest("gpt-test", system, messages, max_tokens=max_tokens, cache_key=cache_key)


@pytest.fixture
async def provider(loopback: LoopbackServer) -> AsyncIterator[OpenAICompatProvider]:
    p = OpenAICompatProvider(settings(loopback))
    yield p
    await p.aclose()


@pytest.fixture
async def ollama(loopback: LoopbackServer) -> AsyncIterator[OpenAICompatProvider]:
    p = OpenAICompatProvider(settings(loopback, "ollama"))
    yield p
    await p.aclose()


async def collect(
    provider: OpenAICompatProvider, req: ChatRequest | None = None
) -> list[ProviderEvent]:
    return [event async for event in provider.stream(req or request("hi"))]


def texts(events: list[ProviderEvent]) -> list[str]:
    return [e.text for e in events if isinstance(e, TextDelta)]


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


async def test_openai_transcript(loopback: LoopbackServer, provider: OpenAICompatProvider) -> None:
    loopback.enqueue(SSE(fixture("openai_chat_include_usage.sse")))
    events = await collect(provider)
    # the role-only first chunk tells the response id; it and the empty finish chunk yield
    # no text
    assert [type(e) for e in events] == [ResponseInfo, TextDelta, TextDelta, TextDelta, Usage, Stop]
    assert isinstance(events[0], ResponseInfo) and events[0].id
    assert texts(events) == ["Hello", " from the", " cache!"]
    total = usage(events)
    assert (total.input_tokens, total.cache_read_tokens, total.cache_write_tokens) == (
        86,
        1920,
        None,
    )
    assert total.prompt_tokens == 2006 and total.output_tokens == 5
    assert events[-1] == Stop("end_turn")


async def test_ollama_transcript_cached_is_unknown(
    loopback: LoopbackServer, ollama: OpenAICompatProvider
) -> None:
    loopback.enqueue(SSE(fixture("ollama_v1_chat_include_usage.sse")))
    events = await collect(ollama)
    assert texts(events) == ["Hi", " there!"]  # the empty content on the last chunk is skipped
    total = usage(events)
    assert total.cache_read_tokens is None  # not reported: unknown, not 0
    assert (total.input_tokens, total.output_tokens, total.output_estimated) == (2051, 4, False)
    assert events[-1] == Stop("end_turn")


@pytest.mark.parametrize(
    ("finish", "reason"),
    [
        ("length", "max_tokens"),
        ("content_filter", "refusal"),
        ("tool_calls", "tool_use"),
        ("odd", "odd"),
    ],
)
async def test_finish_reasons(
    loopback: LoopbackServer, provider: OpenAICompatProvider, finish: str, reason: str
) -> None:
    loopback.enqueue(SSE(openai_sse(["a"], finish_reason=finish)))
    assert (await collect(provider))[-1] == Stop(reason)


async def test_cache_write_tokens_when_reported(
    loopback: LoopbackServer, provider: OpenAICompatProvider
) -> None:
    body = openai_sse(["a"], prompt_tokens=3000, cached_tokens=1024)
    loopback.enqueue(SSE(body.replace(b'"audio_tokens":0', b'"cache_write_tokens":1900')))
    total = usage(await collect(provider))
    assert (total.input_tokens, total.cache_read_tokens, total.cache_write_tokens) == (
        76,
        1024,
        1900,
    )


async def test_no_usage_chunk_estimates_output(
    loopback: LoopbackServer, provider: OpenAICompatProvider
) -> None:
    loopback.enqueue(SSE(openai_sse(["Hello", " world"], include_usage=False)))
    events = await collect(provider)
    assert events[-2:] == [Usage(output_tokens=3, output_estimated=True), Stop("end_turn")]


# ---------------------------------------------------------------- the request on the wire


async def test_request_json_openai(
    loopback: LoopbackServer, provider: OpenAICompatProvider
) -> None:
    await collect(provider, request("first", "answer", "second"))
    [sent] = loopback.requests
    assert (sent.method, sent.path) == ("POST", "/v1/chat/completions")
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.body == {
        "model": "gpt-test",
        "messages": [
            {"role": "system", "content": "You are terse.\n\n" + DOC},
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "answer"},
            {"role": "user", "content": "second"},
        ],
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": 256,  # a compatible server: max_tokens, not max_completion_tokens
        "prompt_cache_key": "conv-1",
    }


async def test_request_json_ollama(loopback: LoopbackServer, ollama: OpenAICompatProvider) -> None:
    await collect(ollama, request("hi"))
    sent = loopback.requests[0]
    assert sent.headers["authorization"] == "Bearer ollama"  # the SDK needs some key
    assert sent.body is not None
    assert "prompt_cache_key" not in sent.body and sent.body["max_tokens"] == 256
    assert sent.body["messages"][0]["role"] == "system"


def test_max_completion_tokens_only_for_openai_itself() -> None:
    assert is_openai_itself(settings(None))
    assert is_openai_itself(settings(None, base_url="https://api.openai.com/v1"))
    assert not is_openai_itself(settings(None, base_url="http://localhost:8000/v1"))
    assert not is_openai_itself(settings(None, "ollama"))
    from chat_tui.providers.openai_compat import build_params

    params = build_params(request("hi"), settings(None))
    assert params["max_completion_tokens"] == 256 and "max_tokens" not in params


def test_make_provider_builds_the_right_class() -> None:
    assert isinstance(make_provider(settings(None, "ollama")), OpenAICompatProvider)


# ---------------------------------------------------------------- automatic prefix caching


async def test_prefix_cache_over_three_turns(
    loopback: LoopbackServer, provider: OpenAICompatProvider
) -> None:
    turn1 = usage(await collect(provider, request("What about commas?")))
    assert turn1.cache_read_tokens == 0
    history = ("What about commas?", "Sparingly.")
    turn2 = usage(await collect(provider, request(*history, "And dashes?")))
    assert turn2.cache_read_tokens and turn2.cache_read_tokens >= 1024
    assert turn2.cache_read_tokens % 128 == 0
    turn3 = usage(await collect(provider, request(*history, "And dashes?", "En dashes.", "Ok")))
    assert turn3.cache_read_tokens and turn3.cache_read_tokens >= turn2.cache_read_tokens
    assert turn3.input_tokens == (turn3.prompt_tokens or 0) - turn3.cache_read_tokens


async def test_ollama_like_server_reports_no_cache(
    loopback: LoopbackServer, ollama: OpenAICompatProvider
) -> None:
    loopback.openai_prompt_details = False
    for _ in range(2):
        total = usage(await collect(ollama, request("hi")))
        assert total.cache_read_tokens is None and total.input_tokens == total.prompt_tokens


# ---------------------------------------------------------------- faults


async def test_error_event_mid_stream(
    loopback: LoopbackServer, provider: OpenAICompatProvider
) -> None:
    loopback.enqueue(SSE(openai_sse(["Hel", "lo", "!"], error_after=2)))
    events = await collect(provider)
    assert texts(events) == ["Hel", "lo"]
    assert events[-2] == Usage(output_tokens=2, output_estimated=True)
    err = error(events)
    assert (err.kind, err.mid_stream) == (ErrorKind.STREAM_BROKEN, True)
    assert err.message == "The server had an error while processing your request."


async def test_dropped_connection_mid_stream(
    loopback: LoopbackServer, provider: OpenAICompatProvider
) -> None:
    loopback.enqueue(SSE(openai_sse(["Hel", "lo", "!"]), drop_after=3))  # role chunk + 2 texts
    events = await collect(provider)
    assert texts(events) == ["Hel", "lo"]
    assert events[-2] == Usage(output_tokens=2, output_estimated=True)
    err = error(events)
    assert (err.kind, err.mid_stream) == (ErrorKind.STREAM_BROKEN, True)


async def test_stream_ending_without_finish_reason(
    loopback: LoopbackServer, provider: OpenAICompatProvider
) -> None:
    body = openai_sse(["abc"], include_usage=False)
    finish_chunk = body.rindex(b"data:", 0, body.index(b'"delta":{}'))
    loopback.enqueue(SSE(body[:finish_chunk]))  # cut before the finish chunk, cleanly
    events = await collect(provider)
    assert texts(events) == ["abc"]
    assert error(events).kind is ErrorKind.STREAM_BROKEN


async def test_garbage_in_the_stream_is_reported_not_raised(
    loopback: LoopbackServer, provider: OpenAICompatProvider
) -> None:
    body = openai_sse(["ok"])
    loopback.enqueue(SSE(body[: body.index(b"data:", 10)] + b"data: {not json\n\n"))
    events = await collect(provider)
    assert texts(events) == []
    err = error(events)
    assert (err.kind, err.mid_stream) == (ErrorKind.UNKNOWN, True)


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, ErrorKind.BAD_REQUEST),
        (404, ErrorKind.BAD_REQUEST),
        (403, ErrorKind.AUTH),
        (500, ErrorKind.SERVER),
        (503, ErrorKind.SERVER),
    ],
)
async def test_status_errors(
    loopback: LoopbackServer, provider: OpenAICompatProvider, status: int, kind: ErrorKind
) -> None:
    loopback.enqueue(Status(status))
    events = await collect(provider)
    assert len(events) == 1
    err = error(events)
    assert (err.kind, err.status, err.mid_stream) == (kind, status, False)
    assert err.message.startswith("loopback ")


async def test_rate_limited(loopback: LoopbackServer, provider: OpenAICompatProvider) -> None:
    loopback.enqueue(Status(429, headers={"retry-after-ms": "2500"}))
    err = error(await collect(provider))
    assert (err.kind, err.status, err.retry_after) == (ErrorKind.RATE_LIMITED, 429, 2.5)


async def test_ollama_model_not_found(
    loopback: LoopbackServer, ollama: OpenAICompatProvider
) -> None:
    message = 'model "llama9" not found, try pulling it first'
    loopback.enqueue(Status(404, {"error": {"message": message, "type": "api_error"}}))
    err = error(await collect(ollama))
    assert (err.kind, err.message) == (ErrorKind.BAD_REQUEST, message)


async def test_plain_string_error_body(
    loopback: LoopbackServer, ollama: OpenAICompatProvider
) -> None:
    loopback.enqueue(Status(400, {"error": "invalid\nrequest"}))
    assert error(await collect(ollama)).message == "invalid request"


async def test_auth_error_never_shows_the_key(
    loopback: LoopbackServer, provider: OpenAICompatProvider
) -> None:
    body = {
        "error": {"message": f"Incorrect API key provided: {KEY}.", "type": "invalid_request_error"}
    }
    loopback.enqueue(Status(401, body))
    err = error(await collect(provider))
    assert (err.kind, err.message) == (ErrorKind.AUTH, "Incorrect API key provided: ***.")


async def test_connection_refused() -> None:
    with LoopbackServer() as closed:
        url = closed.openai_base_url
    provider = OpenAICompatProvider(settings(None, base_url=url))
    events = [e async for e in provider.stream(request("hi"))]
    await provider.aclose()
    assert len(events) == 1
    err = error(events)
    assert (err.kind, err.mid_stream) == (ErrorKind.CONNECTION, False) and url in err.message


@pytest.mark.parametrize("send_headers", [False, True])
async def test_read_timeout(loopback: LoopbackServer, send_headers: bool) -> None:
    provider = OpenAICompatProvider(settings(loopback, read_timeout=0.3))
    loopback.enqueue(Hang(5, send_headers=send_headers))
    events = await collect(provider)
    await provider.aclose()
    err = error(events)
    assert (err.kind, err.mid_stream) == (ErrorKind.TIMEOUT, send_headers)
    assert loopback.wait_for_disconnect(2)


async def test_openai_without_key_is_no_key() -> None:
    provider = OpenAICompatProvider(settings(None, api_key=None))
    events = [e async for e in provider.stream(request("hi"))]
    assert events == [ProviderError(ErrorKind.NO_KEY, "no OpenAI API key: set OPENAI_API_KEY")]
    assert provider._client is None
    assert await provider.count_tokens(request("hi")) is None
    await provider.aclose()


async def test_compatible_server_without_key_is_tried(loopback: LoopbackServer) -> None:
    provider = OpenAICompatProvider(settings(loopback, api_key=None))
    events = [e async for e in provider.stream(request("hi"))]
    await provider.aclose()
    assert isinstance(events[-1], Stop)


# ---------------------------------------------------------------- closing early


async def test_aclose_after_first_delta_closes_the_http_stream(
    loopback: LoopbackServer, provider: OpenAICompatProvider
) -> None:
    loopback.enqueue(SSE(openai_sse(["tok"] * 200), chunk_delay=0.01))
    stream = provider.stream(request("hi"))
    async for event in stream:
        if isinstance(event, TextDelta):
            break
    await stream.aclose()
    assert loopback.wait_for_disconnect(2)
    assert len(loopback.sent_log) < 200  # stopped before the end


async def test_cancelling_the_consumer_closes_the_http_stream(
    loopback: LoopbackServer, provider: OpenAICompatProvider
) -> None:
    loopback.enqueue(SSE(openai_sse(["tok"] * 200), chunk_delay=0.01))
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
