"""Thinking through the session: real SDKs against the rule-enforcing loopback server, real
storage. Thinking blocks go back byte-exact, are stripped on a model or provider switch, come
back from SQLite on resume; timings, token counts, stop reasons and their notes."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from chat_tui.cli import EXIT_OK, main
from chat_tui.core.metrics import TurnTimer
from chat_tui.core.sanitize import clean_text
from chat_tui.core.session import ChatSession
from chat_tui.core.storage import Store
from chat_tui.core.thinking import ThinkingError
from chat_tui.providers.events import RedactedThinkingPart, TextPart, ThinkingPart
from tests.helpers import FakeClock, loopback_settings
from tests.loopback import SSE
from tests.loopback_thinking import (
    ThinkingLoopback,
    anthropic_thinking_sse,
    openai_reasoning_sse,
    redacted_data,
    sent_thinking,
    sign,
)
from tests.loopback_wire import anthropic_sse, openai_sse

HAIKU = "claude-haiku-4-5"


@pytest.fixture
def server() -> Iterator[ThinkingLoopback]:
    with ThinkingLoopback() as s:
        yield s


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(tmp_path / "data" / "chat.db")
    yield s
    s.close()


def session_for(server: ThinkingLoopback, store: Store | None = None, **changes: object
                ) -> ChatSession:  # fmt: skip
    settings = loopback_settings(server, **{"thinking": "on", **changes})
    return ChatSession(settings, store=store)


async def test_thinking_goes_back_byte_exact_and_is_stripped_when_the_model_changes(
    server: ThinkingLoopback, store: Store
) -> None:
    session = session_for(server, store)
    text: list[str] = []
    thoughts: list[str] = []
    first = await session.ask("hi", text.append, thoughts.append)
    assert first.status == "complete", first.error
    raw = server.thinking_text
    assert "".join(thoughts) == clean_text(raw)  # shown sanitised...
    ex = session.conversation.exchanges[0]
    assert ex.parts == [  # ...kept exactly as received, with the signature
        ThinkingPart(raw, sign(HAIKU, raw)),
        RedactedThinkingPart(redacted_data(HAIKU)),
        TextPart("Hello."),
    ]
    assert "".join(text) == ex.answer == "Hello."

    second = await session.ask("again", text.append, thoughts.append)
    assert second.status == "complete", second.error  # the server verified the signatures
    body = server.requests[-1].body or {}
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert sent_thinking(body) == [
        {"type": "thinking", "thinking": raw, "signature": sign(HAIKU, raw)},
        {"type": "redacted_thinking", "data": redacted_data(HAIKU)},
    ]

    session.set_model("claude-opus-4-6")  # a signature is only valid for its model
    third = await session.ask("third", text.append)
    assert third.status == "complete", third.error
    assert sent_thinking(server.requests[-1].body or {}) == []
    assert (server.requests[-1].body or {})["thinking"] == {"type": "adaptive"}  # no budget

    session.set_model(HAIKU)  # back: haiku's own blocks go back again, opus' do not
    fourth = await session.ask("fourth", text.append)
    assert fourth.status == "complete", fourth.error
    blocks = sent_thinking(server.requests[-1].body or {})
    assert [b["type"] for b in blocks] == ["thinking", "redacted_thinking"] * 2

    session.use_provider("openai", "gpt-5-mini")  # reasoning never goes to another provider
    fifth = await session.ask("fifth", text.append)
    assert fifth.status == "complete", fifth.error
    assert "Let me think" not in json.dumps(server.requests[-1].body)
    assert "reasoning_effort" not in (server.requests[-1].body or {})  # "on": model's default

    # A resumed conversation sends valid history: the blocks come back from SQLite unchanged.
    conv_id = session.conversation.id
    assert conv_id is not None
    later = session_for(server, store)
    later.resume(conv_id)
    sixth = await later.ask("sixth", text.append)
    assert sixth.status == "complete", sixth.error
    blocks = sent_thinking(server.requests[-1].body or {})
    assert blocks[0] == {"type": "thinking", "thinking": raw, "signature": sign(HAIKU, raw)}
    assert len(blocks) == 6  # turns 1, 2, 4 by haiku; 3 (opus 4.6) and 5 (gpt) stripped


async def test_thinking_metrics_are_timed_counted_and_stored(
    server: ThinkingLoopback, store: Store
) -> None:
    session = session_for(server, store)
    result = await session.ask("hi", lambda t: None)
    m = result.metrics
    assert m.ttft_s is not None and m.first_text_s is not None and m.thinking_s is not None
    assert m.ttft_s <= m.first_text_s  # the first token of any kind was thinking
    assert m.thinking_estimated and m.thinking_tokens == pytest.approx(
        len(server.thinking_text) / 4, abs=6
    )  # Anthropic reports no separate count: estimated, marked ~
    assert m.stop_reason == "end_turn" and result.stop_note is None
    stored = store.load_conversation(session.conversation.id or 0).messages[-1]
    assert stored.metrics is not None
    assert stored.metrics.thinking_tokens == m.thinking_tokens
    assert stored.metrics.thinking_estimated and stored.metrics.stop_reason == "end_turn"
    assert stored.metrics.first_text_s == pytest.approx(m.first_text_s)
    assert stored.parts is not None and isinstance(stored.parts[0], ThinkingPart)


async def test_reported_reasoning_tokens_are_used_and_priced_as_output(
    server: ThinkingLoopback,
) -> None:
    server.enqueue(SSE(openai_reasoning_sse(["a", "b", "c"], ["ok"], reasoning_tokens=300)))
    session = session_for(server, provider="openai", models={"anthropic": HAIKU,
                          "openai": "gpt-5-mini", "ollama": "qwen3"})  # fmt: skip
    result = await session.ask("hi", lambda t: None)
    m = result.metrics
    assert m.thinking_tokens == 300 and not m.thinking_estimated
    assert m.usage.output_tokens == 4
    assert m.cost.usd == pytest.approx((25 * 0.25 + 4 * 2.0) / 1e6)  # output price for all 4


def test_timer_splits_first_token_first_text_and_thinking_time() -> None:
    clock = FakeClock(0.0)
    timer = TurnTimer(clock)
    timer.start()
    clock.advance(0.5)
    timer.on_thinking("hmm")
    clock.advance(4.0)
    timer.on_thinking("so")
    clock.advance(0.2)
    timer.on_text("Answer")
    clock.advance(1.0)
    timer.on_thinking("late")  # ignored for first_text; extends the thinking span
    timer.finish()
    assert timer.ttft_s == pytest.approx(0.5)
    assert timer.first_text_s == pytest.approx(4.7)
    assert timer.thinking_s == pytest.approx(5.2)
    plain = TurnTimer(clock)
    plain.start()
    clock.advance(0.3)
    plain.on_text("x")
    assert plain.thinking_s is None and plain.first_text_s == plain.ttft_s == pytest.approx(0.3)


async def test_cut_while_thinking_says_so_and_retry_asks_for_more(
    server: ThinkingLoopback, store: Store
) -> None:
    server.enqueue(SSE(anthropic_thinking_sse(["Long ", "thought"], [], stop_reason="max_tokens")))
    session = session_for(server, store)
    result = await session.ask("hard question", lambda t: None)
    assert result.stop_reason == "max_tokens"
    assert result.stop_note == (
        "cut while still thinking, at the 4,096-token limit: ctrl+r retries with more (max_tokens)"
    )
    stored = store.load_conversation(session.conversation.id or 0).messages[-1]
    assert stored.metrics is not None and stored.metrics.stop_reason == "max_tokens"
    retried = await session.retry(lambda t: None)
    assert retried is not None and retried.status == "complete", retried.error
    assert (server.requests[-1].body or {})["max_tokens"] == 8192
    assert retried.metrics.max_tokens == 8192
    again = await session.ask("next", lambda t: None)  # the next question is back to normal
    assert again.status == "complete" and (server.requests[-1].body or {})["max_tokens"] == 4096


async def test_openai_length_and_anthropic_refusal_are_surfaced(server: ThinkingLoopback) -> None:
    server.enqueue(SSE(openai_sse(["Half an ", "answer"], finish_reason="length")))
    session = session_for(server, provider="openai", thinking="off")
    cut = await session.ask("q", lambda t: None)
    assert cut.status == "complete" and cut.stop_reason == "max_tokens"
    assert cut.stop_note == "cut at the 4,096-token limit: ctrl+r retries with more (max_tokens)"
    server.enqueue(SSE(anthropic_sse(["I can't help with that."], stop_reason="refusal")))
    session.use_provider("anthropic")
    refused = await session.ask("q2", lambda t: None)
    assert refused.stop_reason == "refusal"
    assert refused.stop_note == "the model declined to answer (refusal)"


def test_set_thinking_refuses_what_the_api_would_reject(server: ThinkingLoopback) -> None:
    session = session_for(server, max_tokens=2000)
    with pytest.raises(ThinkingError, match="must be below max_tokens"):
        session.set_thinking("on", 4000)
    assert session.thinking_budget is None  # unchanged
    setting = session.set_thinking("high", 1500)
    assert setting.budget == 1500 and session.thinking_mode == "high"


# -- ask ----------------------------------------------------------------------------------------


@pytest.fixture
def ask_env(server: ThinkingLoopback, monkeypatch: pytest.MonkeyPatch) -> ThinkingLoopback:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-key")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
    return server


def test_ask_prints_only_the_answer_and_thinking_on_stderr_with_show_thinking(
    ask_env: ThinkingLoopback, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["ask", "hi", "--thinking", "low", "--show-thinking", "--json"])
    out, err = capsys.readouterr()
    assert code == EXIT_OK
    assert out == "Hello.\n"
    assert clean_text(ask_env.thinking_text).strip() in err
    assert "\x1b[2m" not in err  # stderr is not a terminal here: no dimming
    data = json.loads(err.strip().splitlines()[-1])
    assert data["stop_reason"] == "end_turn"
    assert isinstance(data["first_text_ms"], int) and isinstance(data["thinking_ms"], int)
    assert data["first_text_ms"] >= data["ttft_ms"]
    assert data["thinking_tokens"] > 0 and data["thinking_estimated"] is True
    assert (ask_env.requests[-1].body or {})["thinking"]["budget_tokens"] == 2048


def test_ask_without_show_thinking_keeps_stderr_quiet_and_reports_a_cut(
    ask_env: ThinkingLoopback, capsys: pytest.CaptureFixture[str]
) -> None:
    ask_env.enqueue(SSE(anthropic_thinking_sse(["deep"], ["Partial"], stop_reason="max_tokens")))
    code = main(["ask", "hi", "--thinking", "on", "--max-tokens", "3000", "--json"])
    out, err = capsys.readouterr()
    assert out == "Partial\n" and "deep" not in err
    assert "cut at the 3,000-token limit: raise --max-tokens and run the command again" in err
    assert json.loads(err.strip().splitlines()[-1])["stop_reason"] == "max_tokens"
    assert code == EXIT_OK


def test_ask_with_a_budget_the_api_would_reject_fails_in_one_line(
    ask_env: ThinkingLoopback, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["ask", "hi", "--thinking-budget", "5000", "--max-tokens", "4096"])
    out, err = capsys.readouterr()
    assert code != EXIT_OK and out == ""
    assert len(err.strip().splitlines()) == 1 and "must be below max_tokens" in err
    assert not ask_env.requests  # nothing was sent


def test_plain_summary_line_shows_the_thinking_figures(
    ask_env: ThinkingLoopback, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ask", "hi", "--thinking", "on"]) == EXIT_OK
    out, err = capsys.readouterr()
    line = err.strip().splitlines()[-1]
    assert out == "Hello.\n"
    assert re.search(r"first text \d+ ms · thinking \d+ ms", line)
    assert re.search(r"out \d+ \(thinking \d+~\)", line)  # estimated, marked like out
