"""Enter → the request on the wire: what must come first (the question stored) and what must
not (the new messages' mount and layout, the history file, the key bar's redraw); and the key
bar, which redraws only when its keys change, and the SDK warm-up, which waits for it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from chat_tui.core.prefs import Prefs
from chat_tui.core.session import ChatSession
from chat_tui.core.storage import Store
from chat_tui.providers.base import (
    REQUEST_SENT,
    Provider,
    ProviderKind,
    ProviderSettings,
    make_provider,
)
from chat_tui.providers.events import ChatRequest, Message, ProviderEvent, TextDelta
from chat_tui.ui.app import ChatApp
from chat_tui.ui.screens import chat as chat_screen
from chat_tui.ui.screens.chat import STOP_KEY_DELAY_S
from chat_tui.ui.widgets.chat_input import ChatInput
from chat_tui.ui.widgets.key_bar import KeyBar
from chat_tui.ui.widgets.message_pane import AssistantMessage, UserMessage
from tests.helpers import loopback_settings
from tests.loopback import SSE, LoopbackServer
from tests.loopback_wire import anthropic_sse

SIZE = (140, 45)


@dataclass
class Seen:
    """What was true when the provider was asked to send a request, and when it was built."""

    at_send: list[dict[str, Any]] = field(default_factory=list)
    key_bar_redraws_at_build: list[int] = field(default_factory=list)
    held_at_first_event: list[bool] = field(default_factory=list)


class Watching:
    """The real provider, with a look around at the moment it is asked to send."""

    def __init__(self, inner: Provider, look: Any, first_event: Any = None) -> None:
        self.inner = inner
        self.settings = inner.settings
        self._look = look
        self._first_event = first_event

    def prepare(self) -> None:
        self.inner.prepare()

    async def count_tokens(self, request: ChatRequest) -> int | None:
        return await self.inner.count_tokens(request)

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def stream(self, request: ChatRequest) -> AsyncGenerator[ProviderEvent, None]:
        self._look()
        first = True
        async for event in self.inner.stream(request):
            if first and self._first_event is not None:
                self._first_event()
            first = False
            yield event


def build(server: LoopbackServer, tmp_path: Path, seen: Seen) -> ChatApp:
    settings = loopback_settings(server, data_dir=tmp_path / "data")
    db = tmp_path / "data" / "chat-tui.db"
    store = Store.open(db)
    prefs = Prefs(path=tmp_path / "state.json")
    app: ChatApp | None = None

    def look() -> None:
        assert app is not None
        reader = Store.open(db)  # another process opening the database now
        try:
            last = reader.last_conversation_id()
            stored = [m.text for m in reader.load_conversation(last).messages] if last else []
        finally:
            reader.close()
        history = prefs.path
        assert history is not None
        saved = json.loads(history.read_text())["history"] if history.exists() else []
        pane = app.chat.pane
        seen.at_send.append({
            "stored": stored,
            "history_file": saved,
            "users_mounted": sum(m.is_mounted for m in pane.query(UserMessage)),
            "held": pane.held,
            "stop_key_shown": "Stop" in key_labels(app),
        })  # fmt: skip

    def factory(ps: ProviderSettings) -> Provider:
        assert app is not None
        seen.key_bar_redraws_at_build.append(app.chat.query_one(KeyBar).redraws)

        def first_event() -> None:
            assert app is not None
            seen.held_at_first_event.append(app.chat.pane.held)

        return Watching(make_provider(ps), look, first_event)

    session = ChatSession(settings, store=store, provider_factory=factory)
    app = ChatApp(settings, session, prefs=prefs)
    return app


def key_labels(app: ChatApp) -> list[str]:
    """The keys the key bar draws (their descriptions), the palette's hint excepted."""
    return [k.description for k in app.chat.query_one(KeyBar).shown.keys]


async def warmed(pilot: Any, seen: Seen) -> None:
    """Wait for the SDK warm-up (it starts once the key bar is drawn) to build the client."""
    app: ChatApp = pilot.app
    for _ in range(200):
        if seen.key_bar_redraws_at_build:
            break
        await pilot.pause(0.05)
    await app.workers.wait_for_complete()
    await pilot.pause()


async def ask(pilot: Any, text: str) -> None:
    app: ChatApp = pilot.app
    field = app.chat.query_one(ChatInput)
    field.load_text(text)
    await pilot.press("enter")
    await app.workers.wait_for_complete()
    await pilot.pause()


async def test_the_question_is_stored_before_the_request_leaves_and_the_rest_after(
    loopback: LoopbackServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The messages wait for httpcore to report the request's body written: mounted at Enter,
    # they ran inside the SDK's write, between its headers and its body. (The fallback timer
    # is out of the way here: the report alone releases them.)
    monkeypatch.setattr(chat_screen, "SHOW_QUESTION_AFTER_S", 60.0)
    seen = Seen()
    app = build(loopback, tmp_path, seen)
    async with app.run_test(size=SIZE) as pilot:
        await warmed(pilot, seen)
        await ask(pilot, "first question")
        await ask(pilot, "second question")
        first, second = seen.at_send
        # Durable before the request leaves: a process opening the database then (that is,
        # after a crash then) finds the question, waiting for its answer.
        # (with the answer's row, empty, marked streaming: a crash leaves it "interrupted")
        assert first["stored"] == ["first question", ""]
        assert second["stored"][-2:] == ["second question", ""]
        # Not in the way: the new messages are mounted, the history file written and the key
        # bar redrawn only after the request has left.
        assert first["users_mounted"] == 0 and second["users_mounted"] == 1
        assert first["held"] and second["held"]  # held while the request is sent...
        assert seen.held_at_first_event == [False, False]  # ...shown before the answer
        assert first["history_file"] == [] and second["history_file"] == ["first question"]
        assert not first["stop_key_shown"]
        # ...and nothing is lost: all of it happened by the end of the turn.
        assert [m.text for m in app.chat.query(UserMessage)] == ["first question",
                                                                 "second question"]  # fmt: skip
        assert [a.text for a in app.chat.query(AssistantMessage)] == [
            "You said: first question", "You said: second question"]  # fmt: skip
        assert json.loads((tmp_path / "state.json").read_text())["history"] == [
            "first question", "second question"]  # fmt: skip


async def test_a_crash_after_the_request_left_keeps_the_question(
    loopback: LoopbackServer, tmp_path: Path
) -> None:
    """What a process that dies just after sending leaves behind: the question in the database
    (with no answer: it reopens as a failed turn, ready for ctrl+r) and nothing else missing
    but its line in the ↑ history, which is written after the request."""
    seen = Seen()
    app = build(loopback, tmp_path, seen)
    async with app.run_test(size=SIZE) as pilot:
        await warmed(pilot, seen)
        await ask(pilot, "will it survive?")
    [at_send] = seen.at_send
    assert at_send["stored"] == ["will it survive?", ""]  # what a restart would find
    assert at_send["history_file"] == []  # the one thing a crash at that moment loses
    reopened = ChatSession(loopback_settings(loopback, data_dir=tmp_path / "data"),
                           store=Store.open(tmp_path / "data" / "chat-tui.db"))  # fmt: skip
    assert reopened.store is not None
    conv_id = reopened.store.last_conversation_id()
    assert conv_id is not None
    reopened.resume(conv_id)
    assert [e.user for e in reopened.conversation.exchanges] == ["will it survive?"]
    reopened.store.close()


async def test_the_stop_key_appears_after_a_delay(
    loopback: LoopbackServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Long enough to look before it ends (Pilot's key presses wait for the app to idle).
    monkeypatch.setattr(chat_screen, "STOP_KEY_DELAY_S", 3.0)
    seen = Seen()
    app = build(loopback, tmp_path, seen)
    async with app.run_test(size=SIZE) as pilot:
        await warmed(pilot, seen)
        loopback.enqueue(SSE(anthropic_sse([f"w{i} " for i in range(2000)]), chunk_delay=0.01))
        app.chat.query_one(ChatInput).load_text("a long one")
        await pilot.press("enter")
        await pilot.pause(0.1)
        assert app.chat.streaming and "Stop" not in key_labels(app)
        for _ in range(200):
            await pilot.pause(0.05)
            if "Stop" in key_labels(app):
                break
        assert "Stop" in key_labels(app)
        await pilot.press("escape")
        await app.workers.wait_for_complete()
        await pilot.pause(0.2)
        assert app.chat.query(AssistantMessage).last().status == "stopped"
        assert "Stop" not in key_labels(app)


async def test_escape_stops_before_the_stop_key_is_drawn(
    loopback: LoopbackServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loopback.enqueue(SSE(anthropic_sse([f"w{i} " for i in range(400)]), chunk_delay=0.01))
    seen = Seen()
    app = build(loopback, tmp_path, seen)
    async with app.run_test(size=SIZE) as pilot:
        await warmed(pilot, seen)
        monkeypatch.setattr(chat_screen, "STOP_KEY_DELAY_S", 5.0)
        app.chat.query_one(ChatInput).load_text("stop me quickly")
        await pilot.press("enter")
        await pilot.pause(0.05)
        await pilot.press("escape")
        await app.workers.wait_for_complete()
        await pilot.pause()
        [answer] = app.chat.query(AssistantMessage)
        assert answer.status == "stopped"


async def test_the_key_bar_redraws_only_when_its_keys_change(
    loopback: LoopbackServer, tmp_path: Path
) -> None:
    seen = Seen()
    app = build(loopback, tmp_path, seen)
    async with app.run_test(size=SIZE) as pilot:
        await warmed(pilot, seen)
        await pilot.pause()
        bar = app.chat.query_one(KeyBar)
        shown = bar.shown
        assert bar.redraws == 1 and "Provider" in key_labels(app)
        for _ in range(5):  # signals with nothing changed: no redraw
            app.chat.refresh_bindings()
            await pilot.pause()
        assert bar.redraws == 1 and bar.shown is shown
        await ask(pilot, "hello")  # Retry becomes available: a redraw
        await pilot.pause(STOP_KEY_DELAY_S + 0.1)
        assert bar.redraws >= 2
        retry = next(k for k in bar.shown.keys if k.description == "Retry")
        assert retry.enabled


async def test_the_sdk_warm_up_waits_for_the_key_bar(
    loopback: LoopbackServer, tmp_path: Path
) -> None:
    seen = Seen()
    app = build(loopback, tmp_path, seen)
    async with app.run_test(size=SIZE) as pilot:
        await warmed(pilot, seen)
        # The client was built by the warm-up (before any question), after the keys were drawn.
        assert seen.key_bar_redraws_at_build == [1]
        await ask(pilot, "no import now")
        assert len(seen.key_bar_redraws_at_build) == 1  # the question reused that client


@pytest.mark.parametrize(("kind", "model"), [("anthropic", "claude-haiku-4-5"),
                                             ("openai", "gpt-4.1-mini")])  # fmt: skip
async def test_the_request_hook_reports_each_request_once_its_body_is_written(
    loopback: LoopbackServer, kind: ProviderKind, model: str
) -> None:
    """REQUEST_SENT, set in a task, is called once a request (from httpcore's trace: its body
    written), before any of the answer; a task that did not set it is not told."""
    provider = make_provider(loopback_settings(loopback).provider_settings(kind, model))
    order: list[str] = []

    async def turn(question: str) -> None:
        request = ChatRequest(model, (), (Message.of("user", question),), max_tokens=64)
        texts = [e async for e in provider.stream(request) if isinstance(e, TextDelta)]
        order.append(f"answer {question}: {''.join(t.text for t in texts)}")

    async def asking() -> None:
        REQUEST_SENT.set(lambda: order.append("sent"))
        await turn("one")
        await turn("two")

    await asyncio.create_task(asking())
    await turn("three")  # this task never set it
    await provider.aclose()
    assert order == ["sent", "answer one: You said: one", "sent", "answer two: You said: two",
                     "answer three: You said: three"]  # fmt: skip


async def test_a_question_whose_request_is_slow_to_leave_is_shown_anyway(
    loopback: LoopbackServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request that does not leave (here: a provider that never sends) does not keep the
    question off the screen: it is shown after SHOW_QUESTION_AFTER_S, and the turn stops."""
    monkeypatch.setattr(chat_screen, "SHOW_QUESTION_AFTER_S", 0.05)
    seen = Seen()
    app = build(loopback, tmp_path, seen)
    never = asyncio.Event()

    async def stuck(request: ChatRequest) -> AsyncGenerator[ProviderEvent, None]:
        await never.wait()
        yield TextDelta("never")

    async with app.run_test(size=SIZE) as pilot:
        await warmed(pilot, seen)
        monkeypatch.setattr(await app.session.provider_client(), "stream", stuck)
        app.chat.query_one(ChatInput).load_text("are you there?")
        await pilot.press("enter")
        for _ in range(100):
            if app.chat.query(UserMessage):
                break
            await pilot.pause(0.02)
        assert [m.text for m in app.chat.query(UserMessage)] == ["are you there?"]
        assert app.chat.streaming
        await pilot.press("escape")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.chat.query(AssistantMessage).last().status == "stopped"
