"""The key bar on the chat screen, through Pilot: the keys drawn (and how), a click or the mouse
pointer on a key, the Stop key during a turn, and no redraw (nor layout) when nothing changed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rich.segment import Segment
from textual.widgets import Tooltip

from chat_tui.ui.app import ChatApp
from chat_tui.ui.screens import chat as chat_screen
from chat_tui.ui.widgets.chat_input import ChatInput
from chat_tui.ui.widgets.key_bar import KeyBar
from tests.loopback import SSE, LoopbackServer
from tests.loopback_wire import anthropic_sse
from tests.test_app import build, send

SIZE = (140, 45)
KEYS = " ^t Provider  ^o Document  ^r Retry  ^n New  ^l Chats  ^b Panel  ^q Quit "


def bar_of(app: ChatApp) -> KeyBar:
    return app.chat.query_one(KeyBar)


def drawn(app: ChatApp) -> str:
    """The key bar's line as drawn."""
    return bar_of(app).render_line(0).text


def column(app: ChatApp, text: str) -> int:
    """The column of ``text`` (a key's label) in the drawn line."""
    return drawn(app).index(text)


def segment(app: ChatApp, text: str) -> Segment:
    """The drawn piece of the line that is ``text``."""
    return next(s for s in bar_of(app).render_line(0) if s.text == text)


def colours(piece: Segment) -> tuple[object, object]:
    assert piece.style is not None
    return piece.style.color, piece.style.bgcolor


async def shown(pilot: Any) -> KeyBar:
    """Wait for the key bar's first drawing."""
    bar = bar_of(pilot.app)
    for _ in range(100):
        if bar.redraws:
            break
        await pilot.pause(0.02)
    await pilot.app.workers.wait_for_complete()  # the SDK warm-up it starts
    await pilot.pause()
    return bar


async def test_the_chat_screen_s_keys_and_the_palette_hint_at_the_right(
    loopback: LoopbackServer, tmp_path: Path
) -> None:
    app = build(loopback, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        bar = await shown(pilot)
        line = drawn(app)
        assert line.startswith(KEYS)
        assert line.endswith("▏^p palette ") and len(line) == SIZE[0]
        assert "Stop" not in line  # shown only while an answer streams
        assert bar.region.y == SIZE[1] - 1 and bar.region.height == 1  # the bottom line


async def test_at_80_columns_the_keys_close_up_to_fit(
    loopback: LoopbackServer, tmp_path: Path
) -> None:
    app = build(loopback, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await shown(pilot)
        compact = "^t Provider ^o Document ^r Retry ^n New ^l Chats ^b Panel ^q Quit "
        assert drawn(app) == compact.ljust(80 - 12) + "▏^p palette "
        await pilot.click(KeyBar, offset=(column(app, "Quit"), 0))
        await pilot.pause()
        assert app.return_code == 0


async def test_a_narrower_terminal_cuts_the_keys_not_the_palette_hint(
    loopback: LoopbackServer, tmp_path: Path
) -> None:
    app = build(loopback, tmp_path)
    async with app.run_test(size=(60, 24)) as pilot:
        await shown(pilot)
        line = drawn(app)
        assert line.startswith("^t Provider ^o Document ") and len(line) == 60
        assert line.endswith("^n New ^l Chats▏^p palette ") and "Quit" not in line
        await pilot.click(KeyBar, offset=(column(app, "^l"), 0))  # the cut key still works
        await pilot.pause()
        from chat_tui.ui.screens.conversations import ConversationsScreen

        assert isinstance(app.screen, ConversationsScreen)


async def test_a_disabled_key_is_drawn_dimmed_and_a_click_on_it_does_nothing(
    loopback: LoopbackServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = build(loopback, tmp_path)
    bells: list[None] = []
    monkeypatch.setattr(app, "bell", lambda: bells.append(None))
    async with app.run_test(size=SIZE) as pilot:
        await shown(pilot)
        # Retry with nothing to retry: shown, disabled (check_action returns None), dimmed.
        retry, panel = segment(app, "Retry "), segment(app, "Panel ")
        assert retry.style is not None and retry.style.dim
        assert panel.style is not None and not panel.style.dim
        await pilot.click(KeyBar, offset=(column(app, "^r"), 0))
        await pilot.pause()
        assert bells == [None] and not app.session.turns and not app.chat.streaming
        await send(pilot, "hello")  # now there is a question to ask again
        retry = segment(app, "Retry ")
        assert retry.style is not None and not retry.style.dim


async def test_a_click_on_a_key_runs_its_action(loopback: LoopbackServer, tmp_path: Path) -> None:
    app = build(loopback, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await shown(pilot)
        assert app.chat.panel.display
        await pilot.click(KeyBar, offset=(column(app, "^b Panel") + 5, 0))  # on the label
        await pilot.pause()
        assert not app.chat.panel.display
        await pilot.click(KeyBar, offset=(column(app, " ^b"), 0))  # on the key's left padding
        await pilot.pause()
        assert app.chat.panel.display
        await pilot.click(KeyBar, offset=(100, 0))  # between the keys and the palette hint
        await pilot.pause()
        assert app.chat.panel.display and app.screen is app.chat


async def test_the_key_under_the_mouse_is_highlighted_with_its_tooltip(
    loopback: LoopbackServer, tmp_path: Path
) -> None:
    app = build(loopback, tmp_path)
    app.TOOLTIP_DELAY = 0.1
    async with app.run_test(size=SIZE, tooltips=True) as pilot:
        bar = await shown(pilot)
        plain = colours(segment(app, "Panel "))
        await pilot.hover(KeyBar, offset=(column(app, "Panel"), 0))
        await pilot.pause(0.2)
        assert bar.tooltip == "Show or hide the metrics panel"
        tooltip = app.chat.get_child_by_type(Tooltip)
        assert tooltip.display and "metrics panel" in str(tooltip.render())
        assert colours(segment(app, "Panel ")) != plain  # the key under the mouse, lit
        assert colours(segment(app, "Chats ")) == colours(segment(app, "Document "))
        await pilot.hover(KeyBar, offset=(column(app, "^l"), 0))  # the next key
        await pilot.pause(0.2)
        assert bar.tooltip == "Saved conversations: open, rename, delete"
        assert colours(segment(app, "Chats ")) != plain == colours(segment(app, "Panel "))
        await pilot.hover(KeyBar, offset=(column(app, "palette"), 0))
        await pilot.pause(0.2)
        assert bar.tooltip == "Open the command palette"
        await pilot.hover(KeyBar, offset=(100, 0))  # no key there
        await pilot.pause(0.2)
        assert bar.tooltip is None and colours(segment(app, "Panel ")) == plain


async def test_the_stop_key_is_drawn_after_the_hold_and_gone_after_the_turn(
    loopback: LoopbackServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(chat_screen, "STOP_KEY_DELAY_S", 1.0)
    loopback.enqueue(SSE(anthropic_sse([f"w{i} " for i in range(400)]), chunk_delay=0.01))
    app = build(loopback, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        bar = await shown(pilot)
        app.chat.query_one(ChatInput).load_text("a long one")
        app.simulate_key("enter")  # (Pilot's press would wait for the app to idle)
        await pilot.pause(0.2)
        # Streaming: the Stop key works already, but its label waits for the hold's end.
        assert app.chat.streaming and "Stop" in [k.description for k in bar.shown_keys().keys]
        assert "Stop" not in drawn(app)
        for _ in range(100):
            await pilot.pause(0.05)
            if "Stop" in drawn(app):
                break
        assert app.chat.streaming and " esc Stop " in drawn(app)
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.session.turns and "Stop" not in drawn(app) and drawn(app).startswith(KEYS)


async def test_no_redraw_when_nothing_changed_and_no_layout_when_something_did(
    loopback: LoopbackServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = build(loopback, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        bar = await shown(pilot)
        before, redraws = drawn(app), bar.redraws
        for _ in range(5):
            app.chat.refresh_bindings()
            await pilot.pause()
        assert bar.redraws == redraws and drawn(app) == before
        layouts: list[object] = []
        layout = app.chat._refresh_layout
        monkeypatch.setattr(app.chat, "_refresh_layout", lambda *a, **k: (layouts.append(a),
                                                                          layout(*a, **k)))  # fmt: skip
        check = app.chat.check_action
        monkeypatch.setattr(app.chat, "check_action", lambda action, parameters: (
            None if action == "toggle_panel" else check(action, parameters)))  # fmt: skip
        for _ in range(3):  # a burst of signals: one check, one redraw
            app.chat.refresh_bindings()
        await pilot.pause()
        await pilot.pause()
        assert bar.redraws == redraws + 1 and not layouts
        panel = segment(app, "Panel ")
        assert panel.style is not None and panel.style.dim
