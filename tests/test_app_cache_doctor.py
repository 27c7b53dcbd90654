"""The cache doctor in the TUI, through Pilot: the panel's verdict and the pane's dim note, the
spending budget, keep-warm pings on an injected clock, and the monthly projection view."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.widgets import Input

from chat_tui.core.prefs import Prefs
from chat_tui.ui.app import ChatApp, make_app
from chat_tui.ui.screens.projection import ProjectionScreen
from chat_tui.ui.widgets.chat_input import ChatInput
from chat_tui.ui.widgets.message_pane import AssistantMessage
from tests.helpers import FakeClock, loopback_settings
from tests.loopback import LoopbackServer

SIZE = (140, 45)


class Clocks:
    def __init__(self) -> None:
        self.mono = FakeClock(5000.0)
        self.wall = FakeClock(1_800_000_000.0)

    def advance(self, seconds: float) -> None:
        self.mono.advance(seconds)
        self.wall.advance(seconds)


def build(server: LoopbackServer, tmp_path: Path, clocks: Clocks, *, doc: bool = True,
          **settings: Any) -> ChatApp:  # fmt: skip
    path = tmp_path / "spec.md"
    path.write_text("The widget protocol has rules. " * 800, encoding="utf-8")
    return make_app(
        loopback_settings(server, data_dir=tmp_path / "data", provider="anthropic", **settings),
        doc=str(path) if doc else None, clock=clocks.mono, wall=clocks.wall,
        prefs=Prefs(path=tmp_path / "state.json"),
    )  # fmt: skip


async def settle(pilot: Any) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def send(pilot: Any, text: str) -> None:
    field = pilot.app.chat.query_one(ChatInput)
    field.focus()
    field.load_text(text)
    await pilot.press("enter")
    await settle(pilot)


def panel_text(app: ChatApp) -> str:
    return "\n".join(app.chat.panel.lines())


async def palette(pilot: Any, command: str) -> None:
    await pilot.press("ctrl+p")
    await pilot.pause()
    await pilot.press(*command)
    await pilot.pause(0.3)
    await pilot.press("enter")
    await settle(pilot)


async def test_the_panel_and_the_pane_say_why_the_cache_missed(
    loopback: LoopbackServer, tmp_path: Path
) -> None:
    clocks = Clocks()
    loopback.clock = clocks.mono
    app = build(loopback, tmp_path, clocks)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await send(pilot, "q1")
        assert "miss: first use: writing" in panel_text(app)
        first = list(app.chat.query(AssistantMessage))[-1]
        assert first.note is not None and first.note.startswith("cache miss: first use")

        await send(pilot, "q2")
        assert "hit: read" in panel_text(app)
        assert list(app.chat.query(AssistantMessage))[-1].note is None  # hits add no line

        clocks.advance(372)
        await send(pilot, "q3")
        text = panel_text(app)
        assert "miss: TTL expired (idle 6m 12s > 5m) · rewrite cost $" in text
        last = list(app.chat.query(AssistantMessage))[-1]
        assert last.note is not None and "TTL expired (idle 6m 12s > 5m)" in last.note


async def test_a_turn_over_budget_is_refused_and_the_question_kept(
    loopback: LoopbackServer, tmp_path: Path
) -> None:
    app = build(loopback, tmp_path, Clocks(), budget_usd=0.0001)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        counted = len(loopback.requests)  # the document's token count
        await send(pilot, "what is a widget?")
        assert app.chat.query_one(ChatInput).text == "what is a widget?"
        assert list(app.chat.query(AssistantMessage)) == []
        assert len(loopback.requests) == counted  # nothing was sent
        assert any("session budget has" in str(n.message) for n in app._notifications)

        await palette(pilot, "Set spending budget")
        assert isinstance(app.screen.query_one(Input), Input)
        await pilot.press(*"5")
        await pilot.press("enter")
        await settle(pilot)
        assert app.session.budget_usd == 5.0
        await pilot.press("enter")  # the kept question, sent again
        await settle(pilot)
        assert len(list(app.chat.query(AssistantMessage))) == 1
        assert "budget" in panel_text(app) and "of $5.00" in panel_text(app)


async def test_keep_warm_pings_on_the_injected_clock(
    loopback: LoopbackServer, tmp_path: Path
) -> None:
    clocks = Clocks()
    loopback.clock = clocks.mono
    app = build(loopback, tmp_path, clocks)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await palette(pilot, "Keep-warm: turn on")
        assert app.session.keep_warm.enabled
        await send(pilot, "q1")
        posts = len(loopback.requests)
        clocks.advance(200)
        app.chat.keep_warm_tick()  # what the one-second timer calls
        await settle(pilot)
        assert len(loopback.requests) == posts  # 100 s left: too early
        clocks.advance(75)
        app.chat.keep_warm_tick()
        await settle(pilot)
        assert len(loopback.requests) == posts + 1
        assert loopback.requests[-1].body is not None
        assert loopback.requests[-1].body["max_tokens"] == 1
        text = panel_text(app)
        assert "keep-warm" in text and "1 pings" in text and "ping 1/6" in text
        assert len(list(app.chat.query(AssistantMessage))) == 1  # a ping is not a turn
        await palette(pilot, "Keep-warm: turn off")
        assert not app.session.keep_warm.enabled


async def test_the_projection_view_recomputes_as_the_rate_is_edited(
    loopback: LoopbackServer, tmp_path: Path
) -> None:
    app = build(loopback, tmp_path, Clocks())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await send(pilot, "q1")
        await palette(pilot, "Monthly cost projection")
        screen = app.screen
        assert isinstance(screen, ProjectionScreen)
        p = screen.projection
        assert p is not None and p.rpm == 1000 and p.cost.uncached_usd
        prompt = app.session.turns[-1].usage.prompt_tokens
        assert p.prompt_tokens == prompt
        assert p.cost.uncached_usd == (prompt or 0) * 1.0 * 1000 * 60 * 24 * 30 / 1e6
        rpm = screen.query_one("#projection-rpm", Input)
        rpm.value = "0.1"
        await pilot.pause()
        slow = screen.projection
        assert slow is not None and slow.rpm == 0.1
        assert slow.cost.saving_usd is not None and slow.cost.saving_usd < 0  # every turn writes
        assert "a 1h TTL would keep it" in dict(slow.rows())["note"]
        rpm.value = "lots"
        await pilot.pause()
        error = str(screen.query_one("#projection-error").render())
        assert error == "enter a number in each field"
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, ProjectionScreen)
