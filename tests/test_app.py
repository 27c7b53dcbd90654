"""The whole app through Pilot: keys as a person presses them, against the loopback server."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input

from chat_tui.config import Settings
from chat_tui.core.prefs import Prefs
from chat_tui.core.storage import Store
from chat_tui.ui.app import ChatApp, make_app
from chat_tui.ui.screens.chat import ChatScreen
from chat_tui.ui.screens.conversations import ConversationsScreen
from chat_tui.ui.screens.document import DocumentScreen
from chat_tui.ui.widgets.chat_input import ChatInput
from chat_tui.ui.widgets.message_pane import AssistantMessage, Notice
from tests.helpers import FakeClock, loopback_settings
from tests.loopback import SSE, LoopbackServer, Status
from tests.loopback_wire import anthropic_sse

SIZE = (140, 45)


def build(server: LoopbackServer, tmp_path: Path, clock: Callable[[], float] | None = None,
          **kw: Any) -> ChatApp:  # fmt: skip
    settings = loopback_settings(server, data_dir=tmp_path / "data", **kw.pop("settings", {}))
    extra: dict[str, Any] = {"clock": clock} if clock else {}
    return make_app(settings, prefs=Prefs(path=tmp_path / "state.json"), **extra, **kw)


def chat(app: ChatApp) -> ChatScreen:
    return app.chat


def answers(app: ChatApp) -> list[AssistantMessage]:
    return list(app.chat.query(AssistantMessage))


async def send(pilot: Any, text: str) -> None:
    app: ChatApp = pilot.app
    field = app.chat.query_one(ChatInput)
    field.focus()
    field.load_text(text)
    await pilot.press("enter")
    await settle(pilot)


async def settle(pilot: Any) -> None:
    app: ChatApp = pilot.app
    await app.workers.wait_for_complete()
    await pilot.pause()


async def test_streams_an_answer_and_fills_the_panel(
    loopback: LoopbackServer, tmp_path: Path
) -> None:
    app = build(loopback, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "hello there")
        [answer] = answers(app)
        assert answer.text == "You said: hello there"
        assert answer.status == "complete"
        assert app.chat.query_one(ChatInput).text == ""  # the input was cleared
        assert app.session.turns[0].usage.output_tokens is not None
        panel_text = "\n".join(app.chat.panel.lines())
        assert "Anthropic" in panel_text and "claude-haiku-4-5" in panel_text
    store = Store.open(tmp_path / "data" / "chat-tui.db")
    conv = store.load_conversation(store.last_conversation_id() or 0)
    assert [m.text for m in conv.messages] == ["hello there", "You said: hello there"]
    store.close()


async def test_escape_stops_the_stream_and_keeps_the_partial_answer(
    loopback: LoopbackServer, tmp_path: Path
) -> None:
    loopback.enqueue(SSE(anthropic_sse([f"w{i} " for i in range(500)]), chunk_delay=0.01))
    app = build(loopback, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        field = app.chat.query_one(ChatInput)
        field.load_text("long please")
        await pilot.press("enter")
        for _ in range(200):
            await pilot.pause(0.02)
            ex = app.session.conversation.last
            if ex and ex.status == "streaming" and app.chat.streaming and answers(app)[0].text:
                break
        assert app.chat.streaming
        await pilot.press("escape")
        await settle(pilot)
        [answer] = answers(app)
        assert answer.status == "stopped"
        assert answer.text.startswith("w0 ") and answer.text.count("w") < 500
        assert loopback.wait_for_disconnect(5)
        assert app.session.conversation.last is not None
        assert app.session.conversation.last.status == "stopped"


async def test_provider_error_is_shown_in_the_pane_and_retry_works(
    loopback: LoopbackServer, tmp_path: Path
) -> None:
    loopback.enqueue(Status(401, {"type": "error", "error": {"type": "authentication_error",
                                                              "message": "invalid x-api-key"}}))  # fmt: skip
    app = build(loopback, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "what now")
        [failed] = answers(app)
        assert failed.status == "failed"
        assert failed.error is not None
        assert "Anthropic rejected the key" in failed.error and "ANTHROPIC_API_KEY" in failed.error
        assert "SECRET" not in failed.error
        assert app.is_running
        await pilot.press("ctrl+r")
        await settle(pilot)
        [answer] = answers(app)  # the failed answer was replaced
        assert answer.status == "complete" and answer.text == "You said: what now"
        assert app.chat.query_one(ChatInput).text == ""


async def test_ctrl_t_cycles_providers_and_the_conversation_carries_over(
    loopback: LoopbackServer, tmp_path: Path
) -> None:
    app = build(loopback, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "first")
        assert app.session.provider.kind == "anthropic"
        await pilot.press("ctrl+t")
        assert app.session.provider.kind == "openai"
        await send(pilot, "second")
        body = loopback.requests[-1].body
        assert loopback.requests[-1].path == "/v1/chat/completions"
        assert body is not None
        assert [m["role"] for m in body["messages"]] == ["system", "user", "assistant", "user"]
        await pilot.press("ctrl+t")
        assert app.session.provider.kind == "ollama"
        await pilot.press("ctrl+t")
        assert app.session.provider.kind == "anthropic"
        assert app.session.cache_state().status == "cold"


async def test_ctrl_o_loads_a_document_and_shows_errors_inline(
    loopback: LoopbackServer, tmp_path: Path
) -> None:
    doc = tmp_path / "my spec é.md"
    doc.write_text("Rule one. " * 3000, encoding="utf-8")
    app = build(loopback, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+o")
        await pilot.pause()
        assert isinstance(app.screen, DocumentScreen)
        field = app.screen.query_one(Input)
        field.value = str(tmp_path / "nope.md")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, DocumentScreen)  # still open, error inline
        assert "nope.md" in str(app.screen.query_one("#doc-error").render())
        empty = tmp_path / "empty"
        empty.mkdir()
        field.value = str(empty)
        await pilot.press("enter")
        await pilot.pause()
        assert "no text files" in str(app.screen.query_one("#doc-error").render())
        field.value = str(doc)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ChatScreen)
        assert app.session.document is not None
        assert app.session.document.document.name == "my spec é.md"
        await send(pilot, "what does it say?")
        body = loopback.requests[-1].body
        assert body is not None and "Rule one." in body["system"][1]["text"]
        assert app.session.cache_state().status == "warm"


async def test_escape_closes_the_document_screen(loopback: LoopbackServer, tmp_path: Path) -> None:
    app = build(loopback, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+o")
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, ChatScreen) and app.session.document is None


async def test_ctrl_n_starts_a_new_conversation(loopback: LoopbackServer, tmp_path: Path) -> None:
    app = build(loopback, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "one")
        first_id = app.session.conversation.id
        await pilot.press("ctrl+n")
        await settle(pilot)
        assert answers(app) == []
        assert app.session.conversation.exchanges == []
        await send(pilot, "two")
        assert app.session.conversation.id != first_id
        body = loopback.requests[-1].body
        assert body is not None and len(body["messages"]) == 1


async def test_prompt_history_with_up_and_down(loopback: LoopbackServer, tmp_path: Path) -> None:
    app = build(loopback, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "alpha")
        await send(pilot, "beta")
        field = app.chat.query_one(ChatInput)
        field.focus()
        await pilot.press("up")
        assert field.text == "beta"
        await pilot.press("up")
        assert field.text == "alpha"
        await pilot.press("down")
        assert field.text == "beta"
        await pilot.press("down")
        assert field.text == ""
    assert Prefs.load(tmp_path / "state.json").history == ["alpha", "beta"]


async def test_ctrl_j_inserts_a_newline_and_enter_sends(
    loopback: LoopbackServer, tmp_path: Path
) -> None:
    app = build(loopback, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("a", "ctrl+j", "b")
        assert app.chat.query_one(ChatInput).text == "a\nb"
        await pilot.press("enter")
        await settle(pilot)
        assert answers(app)[0].text == "You said: a\nb"


async def test_conversations_screen_opens_renames_and_deletes(
    loopback: LoopbackServer, tmp_path: Path
) -> None:
    app = build(loopback, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "first conversation")
        await pilot.press("ctrl+n")
        await settle(pilot)
        await send(pilot, "second conversation")
        await pilot.press("ctrl+l")
        await pilot.pause()
        assert isinstance(app.screen, ConversationsScreen)
        await pilot.press("down")  # the older one
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ChatScreen)
        assert app.session.conversation.title == "first conversation"
        assert [a.text for a in answers(app)] == ["You said: first conversation"]
        await pilot.press("ctrl+l")
        await pilot.pause()
        await pilot.press("d", "d")
        await pilot.pause()
        store = app.session.store
        assert store is not None and len(store.list_conversations()) == 1


async def test_continue_resumes_and_reports_interrupted_answers(
    loopback: LoopbackServer, tmp_path: Path
) -> None:
    store = Store.open(tmp_path / "data" / "chat-tui.db")
    conv = store.create_conversation("old chat")
    store.add_message(conv, "user", "a question")
    msg = store.add_message(conv, "assistant", "", "streaming")
    store.checkpoint(msg, "half an ans", "streaming")
    store.close()  # as if the process had been killed mid-answer
    app = build(loopback, tmp_path, resume=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        [answer] = answers(app)
        assert answer.text == "half an ans" and answer.status == "interrupted"
        notices = " ".join(w.text for w in app.chat.pane.query(Notice))
        assert "Recovered 1" in notices
        await send(pilot, "go on")
        body = loopback.requests[-1].body
        assert body is not None
        assert body["messages"][1]["content"][-1]["text"].startswith("half an ans")
        assert "cut off" in body["messages"][1]["content"][-1]["text"]


async def test_ctrl_b_toggles_the_panel(loopback: LoopbackServer, tmp_path: Path) -> None:
    app = build(loopback, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        assert app.chat.panel.display
        await pilot.press("ctrl+b")
        assert not app.chat.panel.display
        await pilot.press("ctrl+b")
        assert app.chat.panel.display


@pytest.mark.parametrize("width", [40, 60])
async def test_a_narrow_terminal_hides_the_panel_and_the_chat_still_works(
    loopback: LoopbackServer, tmp_path: Path, width: int
) -> None:
    """Below PANEL_MIN_TERMINAL_WIDTH the panel would squeeze the input to nothing (at 40
    columns drawing it crashed): it hides itself, says why when asked for, and comes back
    when the terminal is wide enough."""
    app = build(loopback, tmp_path)
    async with app.run_test(size=(width, 24)) as pilot:
        assert not app.chat.panel.display
        assert app.chat.query_one(ChatInput).size.width >= 20
        await send(pilot, "hello")
        assert answers(app)[-1].text == "You said: hello"
        await pilot.press("ctrl+b")  # asked for: it cannot fit, and says so
        await pilot.pause()
        assert not app.chat.panel.display
        assert any("74 columns wide" in str(n.message) for n in app._notifications)
        await pilot.resize_terminal(*SIZE)
        await pilot.pause()
        assert app.chat.panel.display  # room again: back
        await pilot.resize_terminal(width, 24)
        await pilot.pause()
        assert not app.chat.panel.display


async def test_a_panel_toggled_off_stays_off_when_the_terminal_widens(
    loopback: LoopbackServer, tmp_path: Path
) -> None:
    app = build(loopback, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+b")
        assert not app.chat.panel.display
        await pilot.resize_terminal(60, 24)
        await pilot.pause()
        await pilot.resize_terminal(*SIZE)
        await pilot.pause()
        assert not app.chat.panel.display
        # Toggled off, then asked for in a narrow terminal: shown once there is room.
        await pilot.resize_terminal(60, 24)
        await pilot.pause()
        await pilot.press("ctrl+b")
        await pilot.pause()
        assert not app.chat.panel.display
        await pilot.resize_terminal(*SIZE)
        await pilot.pause()
        assert app.chat.panel.display


async def test_countdown_runs_on_the_injected_clock(
    loopback: LoopbackServer, tmp_path: Path
) -> None:
    clock = FakeClock(5000.0)
    doc = tmp_path / "doc.md"
    doc.write_text("Cache me. " * 3000, encoding="utf-8")
    app = build(loopback, tmp_path, clock=clock, doc=str(doc))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        panel = app.chat.panel

        def line() -> str:
            panel.refresh_countdown()
            return panel.section_text("cache-state") or ""

        assert "cold" in line()
        await send(pilot, "q1")
        assert "warm" in line() and "05:00" in line()
        clock.now += 250
        assert "expiring" in line() and "00:50" in line()
        await send(pilot, "q2")  # a read restarts the clock
        assert app.session.turns[-1].usage.cache_read_tokens
        assert "warm" in line() and "05:00" in line()
        clock.now += 301
        assert "expired" in line()


async def test_model_output_is_never_markup_or_terminal_control(
    loopback: LoopbackServer, tmp_path: Path
) -> None:
    loopback.reply_text = "[bold red]x[/] \x1b]52;c;SGVsbG8=\x07 \x1b[2J \x1b]0;title\x07 done"
    app = build(loopback, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "be evil")
        [answer] = answers(app)
        assert "[bold red]x[/]" in answer.text
        assert "\x1b" not in answer.text and "\x07" not in answer.text
        assert app.session.conversation.last is not None
        assert "\x1b" not in app.session.conversation.last.answer


async def test_command_palette_sets_the_cache_ttl(loopback: LoopbackServer, tmp_path: Path) -> None:
    app = build(loopback, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"Cache TTL: 1 hour")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await settle(pilot)
        assert app.session.ttl == "1h"
        await send(pilot, "q")
        body = loopback.requests[-1].body
        assert body is not None
        assert body["messages"][-1]["content"][-1]["cache_control"]["ttl"] == "1h"


async def test_export_writes_inert_markdown(loopback: LoopbackServer, tmp_path: Path) -> None:
    loopback.reply_text = "evil \x1b]0;title\x07 answer"
    app = build(loopback, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "q")
        app.action_export()
        [path] = list(tmp_path.glob("chat-tui-*.md"))
        text = path.read_text(encoding="utf-8")
        assert "## You" in text and "evil" in text and "\x1b" not in text
        assert "SECRET" not in text


async def test_quit_while_streaming_saves_the_answer_as_stopped(
    loopback: LoopbackServer, tmp_path: Path
) -> None:
    loopback.enqueue(SSE(anthropic_sse([f"w{i} " for i in range(500)]), chunk_delay=0.01))
    app = build(loopback, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        app.chat.query_one(ChatInput).load_text("long")
        await pilot.press("enter")
        for _ in range(200):
            await pilot.pause(0.02)
            if answers(app) and answers(app)[0].text:
                break
        await pilot.press("ctrl+q")
        await pilot.pause()
    store = Store.open(tmp_path / "data" / "chat-tui.db")
    conv = store.load_conversation(store.last_conversation_id() or 0)
    assert conv.messages[1].status == "stopped" and conv.messages[1].text.startswith("w0")
    store.close()


async def test_no_provider_reachable_shows_the_setup_panel(tmp_path: Path) -> None:
    server = LoopbackServer().start()
    url = server.base_url
    server.stop()  # Ollama "is not running"
    settings = Settings(ollama_host=url, data_dir=tmp_path / "data", max_retries=0)
    app = make_app(settings, prefs=Prefs(path=tmp_path / "state.json"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        setup = app.chat.query("#setup")
        assert setup, "the setup help is missing"
        assert "ANTHROPIC_API_KEY" in str(setup.first().render())
        await send(pilot, "hello?")  # still usable: the error says what to do
        [answer] = answers(app)
        assert answer.status == "failed" and app.is_running
        assert not app.chat.query("#setup")  # asking put the help away


@pytest.mark.parametrize("key", ["ctrl+q"])
async def test_quit_key(loopback: LoopbackServer, tmp_path: Path, key: str) -> None:
    app = build(loopback, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(key)
        await pilot.pause()
    assert app.return_code == 0


async def test_the_key_is_never_written_anywhere(loopback: LoopbackServer, tmp_path: Path) -> None:
    loopback.enqueue(Status(401, {"type": "error", "error": {"type": "authentication_error",
                                                              "message": "bad key"}}))  # fmt: skip
    app = build(loopback, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "first")  # fails: the error line must not carry the key
        await pilot.press("ctrl+r")
        await settle(pilot)
        await send(pilot, "second")
        app.action_export()
        screen = app.export_screenshot()
        assert "SECRET" not in screen
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.suffix == ".md" for p in written) and any(p.name.endswith(".db") for p in written)
    for path in written:
        assert b"SECRET-KEY" not in path.read_bytes(), path
