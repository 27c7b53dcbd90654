"""The usage screen: opened from the command palette after real turns (Pilot), and a snapshot
of it over a database filled by hand."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from textual.widgets import Static

from chat_tui.config import Settings
from chat_tui.core.prefs import Prefs
from chat_tui.core.pricing import format_usd
from chat_tui.core.storage import Store
from chat_tui.ui.app import ChatApp, make_app
from chat_tui.ui.screens.usage import UsageScreen
from chat_tui.ui.widgets.chat_input import ChatInput
from tests.helpers import loopback_settings
from tests.loopback import LoopbackServer
from tests.usage_data import DAY2, fill

SIZE = (150, 40)


def shown(screen: UsageScreen, widget_id: str) -> str:
    """The text a Static of the screen shows, as a wide console would print it."""
    console = Console(width=300, record=True, color_system=None)
    console.print(screen.query_one(widget_id, Static).content)
    return console.export_text()


async def test_the_palette_opens_usage_for_this_conversation_and_the_week(
    loopback: LoopbackServer, tmp_path: Path
) -> None:
    settings = loopback_settings(loopback, data_dir=tmp_path / "data")
    app = make_app(settings, prefs=Prefs(path=tmp_path / "state.json"))
    async with app.run_test(size=SIZE) as pilot:
        for question in ("first question", "second question"):
            app.chat.query_one(ChatInput).load_text(question)
            await pilot.press("enter")
            await app.workers.wait_for_complete()
            await pilot.pause()
        assert len(app.session.turns) == 2
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"Usage")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, UsageScreen)
        conversation = shown(screen, "#usage-conversation")
        assert "This conversation, by model (today's prices)" in conversation
        row = next(line for line in conversation.splitlines() if "anthropic/claude-haiku" in line)
        cost = app.session.session_cost
        fields = row.split()
        assert fields[1] == "2"  # requests
        assert fields[-3:] == [format_usd(cost.usd), format_usd(cost.uncached_usd),
                               format_usd(cost.saving_usd)]  # fmt: skip
        week = shown(screen, "#usage-week")
        assert "The last 7 days, by day" in week and time.strftime("%Y-%m-%d") in week

        await pilot.press("g")
        assert "by model" in shown(screen, "#usage-week")
        await pilot.press("g", "g")
        assert "by conversation" in shown(screen, "#usage-week")
        await pilot.press("a")
        assert "(as billed)" in shown(screen, "#usage-conversation")
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, UsageScreen)


async def test_without_a_database_the_screen_says_so(tmp_path: Path) -> None:
    app = make_app(Settings(data_dir=tmp_path / "data"), prefs=Prefs(path=tmp_path / "s.json"))
    async with app.run_test(size=SIZE) as pilot:
        screen = UsageScreen(None, None)
        await app.push_screen(screen)
        await pilot.pause()
        assert "could not be opened" in shown(screen, "#usage-conversation")
        await app.push_screen(UsageScreen(Store.open(tmp_path / "empty.db"), None))
        await pilot.pause()
        assert "no requests yet" in shown(app.screen, "#usage-conversation")  # type: ignore[arg-type]
        assert "The last 7 days: no requests." in shown(app.screen, "#usage-week")  # type: ignore[arg-type]


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_snapshot(
    snap_compare: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, utc: None
) -> None:
    path = fill(tmp_path / "data" / "chat-tui.db", monkeypatch)
    with LoopbackServer(port=47813) as server:
        settings = loopback_settings(server, data_dir=tmp_path / "data")
        app = make_app(settings, clock=lambda: 1000.0, prefs=Prefs(path=tmp_path / "state.json"))

        async def run(pilot: Any) -> None:
            chat_app: ChatApp = pilot.app
            while not getattr(chat_app.screen_stack[0], "started", False):
                await pilot.pause(0.01)
            chat_app.chat.query_one(ChatInput).cursor_blink = False
            await pilot.pause(0.05)
            await chat_app.workers.wait_for_complete()
            await chat_app.push_screen(UsageScreen(Store.open(path), 1, now=lambda: DAY2 + 3600))
            await pilot.pause()

        assert snap_compare(app, terminal_size=SIZE, run_before=run)
