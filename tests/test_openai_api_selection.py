"""Which OpenAI API a provider speaks (base URL, ``api`` setting, ``--api``), the
``cache_retention`` setting, and the session's cache clock counting the retention requested:
end to end through ChatSession, the real SDK and the loopback server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from chat_tui.cli import build_parser
from chat_tui.cli.common import flags_of
from chat_tui.config import Settings, load_settings
from chat_tui.core.session import ChatSession
from chat_tui.errors import ConfigError
from chat_tui.providers.anthropic import AnthropicProvider
from chat_tui.providers.base import ProviderSettings, make_provider
from chat_tui.providers.openai_compat import OpenAICompatProvider
from chat_tui.providers.openai_responses import (
    OpenAIResponsesProvider,
    requested_cache_ttl_s,
    uses_responses_api,
)
from tests.helpers import FakeClock, loopback_settings
from tests.loopback_responses import ResponsesLoopback


@pytest.fixture
def server() -> Iterator[ResponsesLoopback]:
    with ResponsesLoopback() as s:
        yield s


@pytest.mark.parametrize(
    ("kind", "base_url", "api", "responses"),
    [
        ("openai", None, None, True),  # the default base URL is OpenAI's own
        ("openai", "https://api.openai.com/v1", None, True),
        ("openai", "http://localhost:8000/v1", None, False),  # vLLM and friends: Chat Completions
        ("openai", "http://localhost:8000/v1", "responses", True),  # unless asked
        ("openai", "https://api.openai.com/v1", "chat", False),
        ("ollama", "http://localhost:11434/v1", None, False),
        ("ollama", "http://localhost:11434/v1", "responses", True),
        ("anthropic", "https://api.anthropic.com", None, False),
    ],
)
def test_api_selection(kind: str, base_url: str | None, api: str | None, responses: bool) -> None:
    settings = ProviderSettings(kind=kind, model="m", base_url=base_url, api=api)  # type: ignore[arg-type]
    assert uses_responses_api(settings) is responses
    provider = make_provider(settings)
    expected = (
        AnthropicProvider
        if kind == "anthropic"
        else OpenAIResponsesProvider
        if responses
        else OpenAICompatProvider
    )
    assert type(provider) is expected


def test_settings_default_to_responses_only_for_openai_itself() -> None:
    assert uses_responses_api(Settings(openai_api_key="k").provider_settings("openai"))
    custom = Settings(openai_base_url="http://localhost:8000/v1").provider_settings("openai")
    assert not uses_responses_api(custom)
    assert not uses_responses_api(Settings().provider_settings("ollama"))


def _config(tmp_path: Path, text: str) -> Settings:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return load_settings(environ={"CHAT_TUI_CONFIG": str(path)}, cwd=tmp_path)


def test_config_file_api_and_retention(tmp_path: Path) -> None:
    settings = _config(
        tmp_path,
        'cache_retention = "24h"\n[providers.openai]\nbase_url = "http://localhost:8000/v1"\n'
        'api = "responses"\n[providers.ollama]\napi = "chat"\n',
    )
    openai = settings.provider_settings("openai")
    assert (openai.api, openai.cache_retention) == ("responses", "24h")
    assert uses_responses_api(openai) and requested_cache_ttl_s(openai) == 86400
    assert settings.provider_settings("ollama").api == "chat"
    assert settings.provider_settings("anthropic").cache_retention is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            'cache_retention = "1h"',
            'cache_retention must be one of "in_memory", "24h", "30m", "12h", not \'1h\'',
        ),
        ('[providers.openai]\napi = "grpc"', 'api must be "responses" or "chat", not \'grpc\''),
        ('[providers.anthropic]\napi = "chat"', "remove it; api is for openai and ollama"),
    ],
)
def test_bad_settings_are_one_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _config(tmp_path, text)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_env_and_flags(tmp_path: Path) -> None:
    env = {"OPENAI_API_KEY": "k", "CHAT_TUI_CACHE_RETENTION": "in_memory"}
    assert load_settings(environ=env, cwd=tmp_path).cache_retention == "in_memory"
    args = build_parser().parse_args(
        ["--provider", "openai", "--api", "chat", "--retention", "24h"]
    )
    settings = load_settings(flags_of(args), environ=env, cwd=tmp_path)
    openai = settings.provider_settings("openai")
    assert (openai.api, openai.cache_retention) == ("chat", "24h")
    assert not uses_responses_api(openai)
    assert requested_cache_ttl_s(openai) == 300  # Chat Completions: no retention is sent
    with pytest.raises(ConfigError, match="--api: only for the openai and ollama providers"):
        load_settings({"provider": "anthropic", "api": "chat"}, environ=env, cwd=tmp_path)


# ---------------------------------------------------------------- the session, end to end


def _doc(tmp_path: Path) -> Path:
    path = tmp_path / "spec.md"
    path.write_text("The widget protocol has rules. " * 800, encoding="utf-8")  # ~6200 tokens
    return path


async def _ask_twice(session: ChatSession, tmp_path: Path) -> None:
    session.use_provider("openai")
    session.load_document(_doc(tmp_path))
    received: list[str] = []
    first = await session.ask("What is a widget?", received.append)
    assert first.status == "complete", first.error
    assert "".join(received) == "You said: What is a widget?"
    second = await session.ask("And a gadget?", received.append)
    assert second.status == "complete"
    usage = second.metrics.usage
    assert (usage.cache_read_tokens or 0) > 5000  # the document came from OpenAI's cache


@pytest.mark.parametrize(
    ("retention", "ttl_s"),
    [("24h", 86400.0), ("12h", 43200.0), ("30m", 1800.0), ("in_memory", 300.0), (None, 300.0)],
)
async def test_cache_clock_counts_the_requested_retention(
    server: ResponsesLoopback,
    tmp_path: Path,
    retention: str | None,
    ttl_s: float,
) -> None:
    clock = FakeClock()
    settings = loopback_settings(server, apis={"openai": "responses"}, cache_retention=retention)
    session = ChatSession(settings, clock=clock)
    try:
        await _ask_twice(session, tmp_path)
        assert {r.path for r in server.requests} == {"/v1/responses"}
        bodies = [r.body or {} for r in server.requests]
        sent = [b.get("prompt_cache_retention") or b.get("prompt_cache_options", {}).get("ttl")
                for b in bodies]  # fmt: skip
        assert sent == [retention, retention]
        state = session.cache_state()
        assert state.status == "warm" and state.ttl_s == ttl_s
        clock.advance(600)  # ten minutes on: gone from memory, still there with a longer one
        assert session.cache_state().status == ("warm" if ttl_s > 600 else "expired")
    finally:
        await session.aclose()


async def test_compatible_server_keeps_chat_completions(
    server: ResponsesLoopback, tmp_path: Path
) -> None:
    """A custom base URL without ``api`` gets Chat Completions, and no retention is sent even
    when set (its clock stays at the conservative five minutes)."""
    session = ChatSession(loopback_settings(server, cache_retention="24h"), clock=FakeClock())
    try:
        await _ask_twice(session, tmp_path)
        assert {r.path for r in server.requests} == {"/v1/chat/completions"}
        assert all("prompt_cache_retention" not in (r.body or {}) for r in server.requests)
        assert session.cache_state().ttl_s == 300.0
    finally:
        await session.aclose()


async def test_responses_turn_is_stored_like_any_other(
    server: ResponsesLoopback, tmp_path: Path
) -> None:
    from chat_tui.core.storage import Store

    store = Store.open(tmp_path / "data" / "chat.db")
    session = ChatSession(loopback_settings(server, apis={"openai": "responses"}), store=store)
    try:
        session.use_provider("openai")
        result = await session.ask("hello there", lambda _: None)
        assert result.status == "complete"
        assert session.conversation.id is not None
        stored = store.load_conversation(session.conversation.id)
        assert [m.text for m in stored.messages] == ["hello there", "You said: hello there"]
        assert result.metrics.usage.input_tokens is not None
    finally:
        await session.aclose()
        store.close()


async def test_panel_says_what_the_requests_ask_for(
    server: ResponsesLoopback, tmp_path: Path
) -> None:
    """The panel names the retention sent to OpenAI (not Anthropic's 5m / 1h), and its
    countdown runs for it after a turn that read the cache."""

    from chat_tui.core.prefs import Prefs
    from chat_tui.ui.app import make_app
    from chat_tui.ui.widgets.chat_input import ChatInput

    settings = loopback_settings(
        server, provider="openai", apis={"openai": "responses"}, cache_retention="24h",
        data_dir=tmp_path / "data",
    )  # fmt: skip
    clock = FakeClock()
    app = make_app(settings, prefs=Prefs(path=tmp_path / "state.json"), clock=clock)
    async with app.run_test(size=(140, 45)) as pilot:
        app.session.load_document(_doc(tmp_path))
        for question in ("What is a widget?", "And a gadget?"):
            field = app.chat.query_one(ChatInput)
            field.focus()
            field.load_text(question)
            await pilot.press("enter")
            await app.workers.wait_for_complete()
            await pilot.pause()
        assert app.chat.panel.section_text("cache-ttl") == "requests ask for 24h retention"
        assert app.session.cache_state().ttl_s == 86400
    chat_only = ChatSession(loopback_settings(server, provider="openai"), clock=FakeClock())
    assert chat_only.cache_request_label == "automatic caching"
    assert ChatSession(loopback_settings(server)).cache_request_label == "5m"
