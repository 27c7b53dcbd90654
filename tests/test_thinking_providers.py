"""Thinking through both providers' real SDKs, against loopback servers: the streams each
server shape sends, the request each model gets (checked against the model table's rules, as
the API enforces them), and parts mapped both ways."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from chat_tui.core.models import known_models, lookup_model
from chat_tui.core.thinking import ThinkingError, resolve
from chat_tui.providers.anthropic import AnthropicProvider
from chat_tui.providers.anthropic import build_params as anthropic_params
from chat_tui.providers.base import Provider, ProviderKind, ProviderSettings, make_provider
from chat_tui.providers.events import (
    THINKING_OFF,
    ChatRequest,
    DocumentPart,
    ErrorKind,
    Message,
    PartDone,
    ProviderError,
    ProviderEvent,
    RedactedThinkingPart,
    Stop,
    SystemBlock,
    TextDelta,
    TextPart,
    Thinking,
    ThinkingDelta,
    ThinkingMode,
    ThinkingPart,
    ToolResultPart,
    ToolUsePart,
    Usage,
    thinking_settings,
)
from chat_tui.providers.openai_compat import build_params as openai_params
from tests.loopback import SSE, LoopbackServer
from tests.loopback_thinking import (
    ThinkingLoopback,
    anthropic_thinking_sse,
    inline_think_sse,
    openai_reasoning_sse,
    redacted_data,
    sign,
    thinking_error,
)

THOUGHT = ["Hmm, ", "the user wants ", "a **haiku**.\n\n", "Count syllables: 5-7-5. é ✓  "]


def settings(server: LoopbackServer, kind: ProviderKind = "anthropic",
             model: str = "claude-haiku-4-5") -> ProviderSettings:  # fmt: skip
    base = server.base_url if kind == "anthropic" else server.openai_base_url
    return ProviderSettings(kind=kind, model=model, base_url=base, api_key="sk-test-SECRET",
                            max_retries=0, read_timeout=5.0)  # fmt: skip


def ask(model: str = "claude-haiku-4-5", thinking: Thinking = THINKING_OFF, *messages: Message,
        max_tokens: int = 4096) -> ChatRequest:  # fmt: skip
    msgs = messages or (Message.of("user", "hi", cache=True),)
    return ChatRequest(model, (SystemBlock("Be terse."),), msgs, max_tokens=max_tokens,
                       thinking=thinking)  # fmt: skip


async def collect(provider: Provider, request: ChatRequest) -> list[ProviderEvent]:
    return [event async for event in provider.stream(request)]


@pytest.fixture
async def server() -> AsyncIterator[ThinkingLoopback]:
    with ThinkingLoopback() as s:
        yield s


# -- streams ------------------------------------------------------------------------------------


async def test_anthropic_thinking_signature_and_redacted_blocks_come_whole(
    server: ThinkingLoopback,
) -> None:
    server.enqueue(SSE(anthropic_thinking_sse(THOUGHT, ["Five ", "seven ", "five."],
                                              redacted=True)))  # fmt: skip
    provider = make_provider(settings(server))
    try:
        events = await collect(provider, ask())
    finally:
        await provider.aclose()
    thinking = [e.text for e in events if isinstance(e, ThinkingDelta)]
    assert thinking == THOUGHT
    done = [e.part for e in events if isinstance(e, PartDone)]
    whole = "".join(THOUGHT)
    assert done == [
        ThinkingPart(whole, sign("claude-haiku-4-5", whole)),
        RedactedThinkingPart(redacted_data("claude-haiku-4-5")),
    ]
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Five seven five."
    # Order: all thinking (deltas, then the whole block) before the first answer token.
    kinds = [
        type(e).__name__ for e in events if isinstance(e, ThinkingDelta | PartDone | TextDelta)
    ]
    assert kinds.index("TextDelta") > max(i for i, k in enumerate(kinds) if k == "PartDone")
    assert isinstance(events[-1], Stop) and events[-1].reason == "end_turn"


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
async def test_openai_compatible_reasoning_fields(server: ThinkingLoopback, field: str) -> None:
    """llama.cpp / DeepSeek send reasoning_content, Ollama / vLLM reasoning."""
    server.enqueue(SSE(openai_reasoning_sse(THOUGHT, ["Answer", "."], field=field,
                                            reasoning_tokens=40)))  # fmt: skip
    provider = make_provider(settings(server, "openai", "qwen3:8b"))
    try:
        events = await collect(provider, ask("qwen3:8b"))
    finally:
        await provider.aclose()
    assert [e.text for e in events if isinstance(e, ThinkingDelta)] == THOUGHT
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Answer."
    usage = [e for e in events if isinstance(e, Usage) and e.output_tokens is not None]
    assert usage[-1].thinking_tokens == 40 and usage[-1].output_tokens == len(THOUGHT) + 2
    assert not [e for e in events if isinstance(e, PartDone)]  # nothing to send back


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 11])
async def test_inline_think_tags_split_across_chunks_at_any_byte(
    server: ThinkingLoopback, size: int
) -> None:
    content = "<think>Plan: say hi.\n<b>not a tag</b></think>\n\nHi <there>! </think>"
    server.enqueue(SSE(inline_think_sse(content, size)))
    provider = make_provider(settings(server, "ollama", "qwen3"))
    try:
        events = await collect(provider, ask("qwen3"))
    finally:
        await provider.aclose()
    thinking = "".join(e.text for e in events if isinstance(e, ThinkingDelta))
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert thinking == "Plan: say hi.\n<b>not a tag</b>"
    assert text == "Hi <there>! "  # a stray closing tag is dropped, never shown
    assert isinstance(events[-1], Stop)


async def test_compatible_servers_split_tags_but_openai_itself_does_not(
    server: ThinkingLoopback,
) -> None:
    """OpenAI's own models do not think inline: an answer about the tag stays as written."""
    server.enqueue(SSE(inline_think_sse("Use <think>x</think> tags.", 4)))
    s = ProviderSettings(kind="openai", model="gpt-5", base_url=None, api_key="k")
    from chat_tui.providers.openai_compat import is_openai_itself

    assert is_openai_itself(s)  # the rule the provider uses to skip the splitter
    provider = make_provider(settings(server, "openai", "gpt-5"))
    try:  # the loopback is not OpenAI itself: there, the tags are split
        events = await collect(provider, ask("gpt-5"))
    finally:
        await provider.aclose()
    assert (
        "".join(e.text for e in events if isinstance(e, TextDelta)) == "Use  tags."
    )  # mid-answer: spaces kept


# -- the request each model gets ---------------------------------------------------------------

MODES: tuple[ThinkingMode, ...] = ("on", "low", "medium", "high")


@pytest.mark.parametrize("model", known_models("anthropic"))
@pytest.mark.parametrize("mode", MODES)
def test_every_anthropic_model_gets_a_request_its_api_accepts(
    model: str, mode: ThinkingMode
) -> None:
    info = lookup_model("anthropic", model)
    setting = resolve(mode, None, provider="anthropic", model=model, info=info, max_tokens=4096)
    params = anthropic_params(ask(model, setting))
    assert thinking_error(params) is None, params.get("thinking")
    assert info is not None
    if info.thinking == "budget":
        assert params["thinking"]["type"] == "enabled"
        assert 1024 <= params["thinking"]["budget_tokens"] < params["max_tokens"]
        assert "output_config" not in params
    elif info.thinking == "adaptive":
        assert params["thinking"]["type"] == "adaptive"
        assert "budget_tokens" not in params["thinking"]
        effort = params.get("output_config", {}).get("effort")
        assert effort == (None if mode == "on" else mode)
    else:
        assert "thinking" not in params  # the model does not think: nothing is sent
    # A model whose default display is "omitted" is asked for a summary, so there is text.
    shown = params.get("thinking", {}).get("display")
    assert shown == ("summarized" if info.thinking_display == "omitted" and
                     info.thinking != "none" else None)  # fmt: skip


def test_opus_4_7_adaptive_with_display_summarized_exactly() -> None:
    info = lookup_model("anthropic", "claude-opus-4-7")
    setting = resolve("high", 8000, provider="anthropic", model="claude-opus-4-7", info=info,
                      max_tokens=16000)  # fmt: skip
    params = anthropic_params(ask("claude-opus-4-7", setting, max_tokens=16000))
    assert params["thinking"] == {"type": "adaptive", "display": "summarized"}
    assert params["output_config"] == {"effort": "high"}  # the budget is not sent to it


def test_sonnet_4_5_budget_request_exactly() -> None:
    info = lookup_model("anthropic", "claude-sonnet-4-5")
    setting = resolve("on", 6000, provider="anthropic", model="claude-sonnet-4-5", info=info,
                      max_tokens=8000)  # fmt: skip
    params = anthropic_params(ask("claude-sonnet-4-5", setting, max_tokens=8000))
    assert params["thinking"] == {"type": "enabled", "budget_tokens": 6000}


def test_a_budget_not_below_max_tokens_is_refused_before_sending() -> None:
    info = lookup_model("anthropic", "claude-haiku-4-5")
    with pytest.raises(ThinkingError, match="must be below max_tokens"):
        resolve("on", 4096, provider="anthropic", model="claude-haiku-4-5", info=info,
                max_tokens=4096)  # fmt: skip
    with pytest.raises(ThinkingError, match="needs max_tokens above"):
        resolve("high", None, provider="anthropic", model="claude-haiku-4-5", info=info,
                max_tokens=1024)  # fmt: skip
    # A default budget too large for the limit shrinks to fit instead of failing.
    fitted = resolve("high", None, provider="anthropic", model="claude-haiku-4-5", info=info,
                     max_tokens=4096)  # fmt: skip
    assert fitted.budget == 2048


@pytest.mark.parametrize(
    ("model", "thinking", "message"),
    [
        ("claude-opus-4-7", Thinking("on", 2048, "budget"), '"enabled" is not supported'),
        ("claude-haiku-4-5", Thinking("on", None, "adaptive"), '"adaptive" is not supported'),
        ("claude-haiku-4-5", Thinking("on", 4096, "budget"), "greater than thinking.budget"),
        ("claude-3-5-haiku", Thinking("on", 2048, "budget"), "not supported"),
    ],
)
async def test_wrong_combinations_get_the_api_400(
    server: ThinkingLoopback, model: str, thinking: Thinking, message: str
) -> None:
    """What resolve() never builds, forced onto the wire: the server's 400, as a clear error."""
    provider = AnthropicProvider(settings(server, model=model))
    try:
        events = await collect(provider, ask(model, thinking))
    finally:
        await provider.aclose()
    error = events[-1]
    assert isinstance(error, ProviderError) and error.kind is ErrorKind.BAD_REQUEST
    assert error.status == 400 and message in error.message


@pytest.mark.parametrize(
    ("model", "mode", "effort"),
    [("gpt-5-mini", "low", "low"), ("gpt-5", "on", None), ("gpt-4.1-mini", "high", None)],
)
def test_openai_reasoning_effort_only_where_the_model_takes_it(
    model: str, mode: ThinkingMode, effort: str | None
) -> None:
    s = ProviderSettings(kind="openai", model=model, api_key="k")
    setting = resolve(mode, None, provider="openai", model=model,
                      info=lookup_model("openai", model), max_tokens=4096)  # fmt: skip
    params = openai_params(ask(model, setting), s)
    assert params.get("reasoning_effort") == effort


def test_ollama_unknown_model_gets_the_effort_it_was_asked_for() -> None:
    s = ProviderSettings(kind="ollama", model="qwen3:8b", api_key="ollama")
    setting = resolve("medium", None, provider="ollama", model="qwen3:8b",
                      info=lookup_model("ollama", "qwen3:8b"), max_tokens=4096)  # fmt: skip
    assert openai_params(ask("qwen3:8b", setting), s)["reasoning_effort"] == "medium"
    off = resolve("off", None, provider="ollama", model="qwen3:8b", info=None, max_tokens=4096)
    assert "reasoning_effort" not in openai_params(ask("qwen3:8b", off), s)


# -- parts both ways ---------------------------------------------------------------------------

PARTS = (
    ThinkingPart("step 1\n\n  é ✓", "c2lnbmF0dXJl"),
    RedactedThinkingPart("EmwKAhgBEgy"),
    TextPart("Let me check."),
    ToolUsePart("toolu_1", "get_weather", '{"city": "Paris"}', {"city": "Paris"}),
)


def test_anthropic_maps_every_part_to_its_block() -> None:
    messages = (
        Message.of("user", "weather?"),
        Message("assistant", PARTS),
        Message("user", (ToolResultPart("toolu_1", "18 °C", is_error=False),
                         DocumentPart("notes.txt", "text/plain", text="Paris notes"),
                         DocumentPart("a.pdf", "application/pdf", data=b"%PDF-1.7"),
                         DocumentPart("b.pdf", "application/pdf", file_id="file_9")),
                cache=True),
    )  # fmt: skip
    params = anthropic_params(ask("claude-haiku-4-5", Thinking(), *messages))
    assistant, results = params["messages"][1]["content"], params["messages"][2]["content"]
    assert assistant == [
        {"type": "thinking", "thinking": "step 1\n\n  é ✓", "signature": "c2lnbmF0dXJl"},
        {"type": "redacted_thinking", "data": "EmwKAhgBEgy"},
        {"type": "text", "text": "Let me check."},
        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
    ]
    assert results[0] == {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18 °C",
                          "is_error": False}  # fmt: skip
    assert results[1]["source"] == {"type": "text", "media_type": "text/plain",
                                    "data": "Paris notes"}  # fmt: skip
    assert results[2]["source"] == {"type": "base64", "media_type": "application/pdf",
                                    "data": "JVBERi0xLjc="}  # fmt: skip
    assert results[3]["source"] == {"type": "file", "file_id": "file_9"}
    assert "cache_control" in results[-1] and results[3]["title"] == "b.pdf"


def test_cache_mark_skips_thinking_blocks() -> None:
    messages = (Message("assistant", (ThinkingPart("t", "sig"),), cache=True),)
    params = anthropic_params(ask("claude-haiku-4-5", Thinking(), *messages))
    assert params["messages"][0]["content"] == [{"type": "thinking", "thinking": "t",
                                                 "signature": "sig"}]  # fmt: skip


def test_unsigned_thinking_is_never_sent_to_anthropic() -> None:
    messages = (Message("assistant", (ThinkingPart("from qwen"), TextPart("hi"))),)
    params = anthropic_params(ask("claude-haiku-4-5", Thinking(), *messages))
    assert params["messages"][0]["content"] == [{"type": "text", "text": "hi"}]


def test_openai_maps_tool_parts_and_drops_reasoning() -> None:
    messages = (
        Message.of("user", "weather?"),
        Message("assistant", PARTS),
        Message("user", (ToolResultPart("toolu_1", "18 °C"), TextPart("and tomorrow?"))),
    )
    s = ProviderSettings(kind="openai", model="gpt-5", api_key="k")
    sent = openai_params(ask("gpt-5", Thinking(), *messages), s)["messages"][1:]
    assert sent == [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": "Let me check.",
         "tool_calls": [{"id": "toolu_1", "type": "function",
                         "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
        {"role": "tool", "tool_call_id": "toolu_1", "content": "18 °C"},  # right after the call
        {"role": "user", "content": "and tomorrow?"},
    ]  # fmt: skip
    assert "step 1" not in json.dumps(sent)  # reasoning is never sent back


async def test_streamed_tool_calls_become_parts(server: ThinkingLoopback) -> None:
    """Both providers hand a finished tool call over whole, arguments as received."""
    from tests.loopback_wire import _event

    def chunk(delta: dict[str, object], finish: str | None = None) -> bytes:
        return _event(None, {"id": "c", "object": "chat.completion.chunk", "created": 0,
                             "model": "m", "choices": [{"index": 0, "delta": delta,
                                                        "finish_reason": finish}]})  # fmt: skip

    call = {"index": 0, "id": "call_1", "type": "function",
            "function": {"name": "get_weather", "arguments": '{"ci'}}  # fmt: skip
    more = {"index": 0, "function": {"arguments": 'ty": "Paris"}'}}
    body = b"".join([chunk({"role": "assistant", "tool_calls": [call]}),
                     chunk({"tool_calls": [more]}), chunk({}, "tool_calls"),
                     _event(None, "[DONE]")])  # fmt: skip
    server.enqueue(SSE(body))
    provider = make_provider(settings(server, "openai", "gpt-5"))
    try:
        events = await collect(provider, ask("gpt-5"))
    finally:
        await provider.aclose()
    parts = [e.part for e in events if isinstance(e, PartDone)]
    assert parts == [ToolUsePart("call_1", "get_weather", '{"city": "Paris"}')]
    assert parts[0].input == {"city": "Paris"}
    assert isinstance(events[-1], Stop) and events[-1].reason == "tool_use"


async def test_anthropic_tool_use_block_keeps_its_arguments_text(server: ThinkingLoopback) -> None:
    from tests.loopback_wire import _event

    start = {"type": "message_start", "message": {
        "id": "msg_t", "type": "message", "role": "assistant", "model": "claude-haiku-4-5",
        "content": [], "stop_reason": None, "stop_sequence": None,
        "usage": {"input_tokens": 5, "output_tokens": 1}}}  # fmt: skip
    pieces = ['{"city"', ': "Paris"}']
    events = [_event("message_start", start),
              _event("content_block_start", {"type": "content_block_start", "index": 0,
                     "content_block": {"type": "tool_use", "id": "toolu_9",
                                       "name": "get_weather", "input": {}}})]  # fmt: skip
    events += [_event("content_block_delta", {"type": "content_block_delta", "index": 0,
                      "delta": {"type": "input_json_delta", "partial_json": p}})
               for p in pieces]  # fmt: skip
    events += [_event("content_block_stop", {"type": "content_block_stop", "index": 0}),
               _event("message_delta", {"type": "message_delta",
                      "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                      "usage": {"output_tokens": 9}}),
               _event("message_stop", {"type": "message_stop"})]  # fmt: skip
    server.enqueue(SSE(b"".join(events)))
    provider = make_provider(settings(server))
    try:
        got = await collect(provider, ask())
    finally:
        await provider.aclose()
    parts = [e.part for e in got if isinstance(e, PartDone)]
    assert parts == [ToolUsePart("toolu_9", "get_weather", '{"city": "Paris"}')]
    assert parts[0].input == {"city": "Paris"}
    assert isinstance(got[-1], Stop) and got[-1].reason == "tool_use"


def test_thinking_settings_of_a_request_are_one_stable_dict() -> None:
    """What the cache doctor hashes: off is one value whatever the budget, else every field."""
    assert Thinking().as_dict() == Thinking("off", 9000, "budget").as_dict() == {"mode": "off"}
    on = Thinking("on", 4096, "budget", None)
    assert on.as_dict() == {"mode": "on", "budget": 4096, "style": "budget", "display": None}
    assert thinking_settings(ask(thinking=on)) == on.as_dict()
    assert thinking_settings(ask(thinking=on)) != thinking_settings(
        ask(thinking=Thinking("high", 4096, "budget"))
    )
