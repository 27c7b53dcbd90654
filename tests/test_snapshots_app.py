"""Snapshots of the main screen: idle, after a streamed answer, and after a provider error.

The server listens on a fixed port and the app runs on a frozen clock, so the host, the
latencies and the countdown are the same on every run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chat_tui.config import Settings
from chat_tui.core.prefs import Prefs
from chat_tui.ui.app import ChatApp, make_app
from chat_tui.ui.widgets.chat_input import ChatInput
from tests.loopback import SSE, LoopbackServer, Status
from tests.loopback_wire import anthropic_sse

PORT = 47811
SIZE = (130, 42)
ANSWER = [
    "## Prompt caching\n\n",
    "The document is written to the cache on the **first** turn and read on later ones:\n\n",
    "- write: 1.25x the input price\n",
    "- read: 0.1x\n\n",
    "```python\n",
    "cost = tokens * price / 1_000_000\n",
    "```\n\n",
    "| turn | cache |\n|---|---|\n| 1 | write |\n| 2 | read |\n",
]


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer(port=PORT) as s:
        yield s


def _app(server: LoopbackServer, tmp_path: Path, doc: Path | None = None) -> ChatApp:
    settings = Settings(
        anthropic_api_key="sk-ant-test",
        anthropic_base_url=server.base_url,
        max_retries=0,
        data_dir=tmp_path / "data",
    )
    return make_app(
        settings,
        doc=str(doc) if doc else None,
        clock=lambda: 1000.0,
        prefs=Prefs(path=tmp_path / "state.json"),
    )


async def _ready(pilot: Any) -> None:
    app: ChatApp = pilot.app
    while not (app.screen_stack and getattr(app.screen_stack[0], "started", False)):
        await pilot.pause(0.01)
    app.chat.query_one(ChatInput).cursor_blink = False  # a blink would make frames differ
    await pilot.pause(0.05)  # the warm-up starts after the first refresh
    await app.workers.wait_for_complete()
    await pilot.pause()


async def _ask(pilot: Any, text: str) -> None:
    app: ChatApp = pilot.app
    app.chat.query_one(ChatInput).load_text(text)
    await pilot.press("enter")
    await app.workers.wait_for_complete()
    await pilot.pause()
    for answer in app.chat.pane.query("AssistantMessage"):
        answer.flush()  # type: ignore[attr-defined]
    await pilot.pause()


def test_idle(snap_compare: Any, server: LoopbackServer, tmp_path: Path) -> None:
    assert snap_compare(_app(server, tmp_path), terminal_size=SIZE, run_before=_ready)


def test_answer_streamed_with_a_cached_document(
    snap_compare: Any, server: LoopbackServer, tmp_path: Path
) -> None:
    doc = tmp_path / "caching-guide.md"
    doc.write_text("Prompt caching stores a prefix. " * 800, encoding="utf-8")

    async def run(pilot: Any) -> None:
        await _ready(pilot)  # the document's token count is a request too: queue after it
        server.enqueue(SSE(anthropic_sse(ANSWER, input_tokens=18, cache_write=6400)))
        await _ask(pilot, "How does caching change the cost?")

    assert snap_compare(_app(server, tmp_path, doc), terminal_size=SIZE, run_before=run)


def test_provider_error(snap_compare: Any, server: LoopbackServer, tmp_path: Path) -> None:
    server.enqueue(
        SSE(anthropic_sse(["The first part ", "of an answer ", "that breaks"]), drop_after=4),
    )
    server.enqueue(Status(529, {"type": "error", "error": {"type": "overloaded_error",
                                                            "message": "Overloaded"}}))  # fmt: skip

    async def run(pilot: Any) -> None:
        await _ready(pilot)
        await _ask(pilot, "Tell me something long")
        await _ask(pilot, "And again")

    assert snap_compare(_app(server, tmp_path), terminal_size=SIZE, run_before=run)


def test_monthly_projection_view(snap_compare: Any, server: LoopbackServer, tmp_path: Path) -> None:
    async def run(pilot: Any) -> None:
        await _ready(pilot)
        server.enqueue(SSE(anthropic_sse(["Noted."], input_tokens=18, cache_write=6400)))
        await _ask(pilot, "Remember this.")
        pilot.app.action_projection()
        await pilot.pause()
        screen = pilot.app.screen
        screen.query_one("#projection-rpm").value = "0.1"  # the cache expires between requests
        await pilot.pause()

    assert snap_compare(_app(server, tmp_path), terminal_size=SIZE, run_before=run)
