"""Snapshot of the main screen after a thinking turn: the folded thinking block above the
answer, and the panel's thinking rows (first text, thinking time and tokens, ``~`` estimated).
A fixed port and a frozen clock keep the host and the figures the same on every run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chat_tui.config import Settings
from chat_tui.core.prefs import Prefs
from chat_tui.ui.app import ChatApp, make_app
from tests.loopback import SSE
from tests.loopback_thinking import ThinkingLoopback, anthropic_thinking_sse
from tests.test_snapshots_app import SIZE, _ask, _ready

PORT = 47813
THOUGHT = ["The user wants the ", "cost with caching. ", "Write 1.25x, read 0.1x: ",
           "say it plainly."]  # fmt: skip
ANSWER = ["The first turn **writes** the cache (1.25x); ", "later turns read it at 0.1x."]


@pytest.fixture
def server() -> Iterator[ThinkingLoopback]:
    with ThinkingLoopback(port=PORT) as s:
        yield s


def _app(server: ThinkingLoopback, tmp_path: Path) -> ChatApp:
    settings = Settings(
        anthropic_api_key="sk-ant-test",
        anthropic_base_url=server.base_url,
        max_retries=0,
        data_dir=tmp_path / "data",
        thinking="on",
    )
    return make_app(settings, clock=lambda: 1000.0, prefs=Prefs(path=tmp_path / "state.json"))


def test_thinking_turn_folded_with_panel_figures(
    snap_compare: Any, server: ThinkingLoopback, tmp_path: Path
) -> None:
    async def run(pilot: Any) -> None:
        await _ready(pilot)
        server.enqueue(SSE(anthropic_thinking_sse(THOUGHT, ANSWER, output_tokens=120)))
        await _ask(pilot, "What does caching cost?")

    assert snap_compare(_app(server, tmp_path), terminal_size=SIZE, run_before=run)
