"""What the first frame does not wait for, and what must still hold.

The cycle collector is paused for the start (it cost ~100 ms of CPU before the first frame) and
always resumed: by a command before its work, by the TUI once its first screen is drawn (the
warm-up freezes what the start built), and by ``main`` on every way out. The database is opened
right after the first frame (or by a question typed before that), never lost: a database that
cannot be opened is said in the pane and the chat goes on without saving."""

from __future__ import annotations

import argparse
import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from chat_tui import cli
from chat_tui.cli import EXIT_USAGE, main
from chat_tui.config import Settings
from chat_tui.core.prefs import Prefs
from chat_tui.core.storage import Store
from chat_tui.ui.app import make_app
from chat_tui.ui.widgets.chat_input import ChatInput
from chat_tui.ui.widgets.message_pane import AssistantMessage, Notice
from tests.helpers import loopback_settings
from tests.loopback import LoopbackServer


@pytest.fixture(autouse=True)
def collector_restored() -> Iterator[None]:
    """Whatever a test does, the next one starts with the collector on and nothing frozen."""
    yield
    gc.enable()
    gc.unfreeze()


def test_a_command_runs_with_the_collector_on_and_main_leaves_it_on(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: list[bool] = []
    cost = cli._module("cost")
    real_run = cost.run

    def run(args: argparse.Namespace, settings: Settings) -> int:
        seen.append(gc.isenabled())
        return int(real_run(args, settings))

    monkeypatch.setattr(cost, "run", run)
    assert main(["cost", "--prompt-tokens", "50000", "--model", "claude-sonnet-4-5"]) == 0
    assert seen == [True]
    assert "$" in capsys.readouterr().out
    assert gc.isenabled()


def test_every_way_out_of_main_resumes_the_collector(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):  # argparse's own exit
        main(["--version"])
    assert gc.isenabled()
    bad = tmp_path / "config.toml"
    bad.write_text("this is not toml = [", encoding="utf-8")
    monkeypatch.setenv("CHAT_TUI_CONFIG", str(bad))
    gc.disable()
    assert main([]) == EXIT_USAGE  # a broken config: one line, before any screen
    assert "chat-tui:" in capsys.readouterr().err
    assert gc.isenabled()


async def test_the_tui_resumes_the_collector_once_its_first_screen_is_drawn(
    loopback: LoopbackServer, tmp_path: Path
) -> None:
    settings = loopback_settings(loopback, data_dir=tmp_path / "data")
    app = make_app(
        settings, store=Store.open(tmp_path / "data" / "chat-tui.db"),
        prefs=Prefs(path=tmp_path / "state.json"),
    )  # fmt: skip
    gc.disable()  # as main() leaves it for the start
    async with app.run_test(size=(140, 45)) as pilot:
        for _ in range(200):  # the warm-up starts when the key bar is drawn
            if gc.isenabled():
                break
            await pilot.pause(0.05)
        assert gc.isenabled()
        assert gc.get_freeze_count() > 0  # what the start built is out of the collector's way
        assert app.chat._warm_up_started


def test_the_tui_starts_with_the_collector_paused(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[bool] = []

    def run_tui(args: argparse.Namespace, settings: Settings) -> int:
        seen.append(gc.isenabled())  # what make_app and the first frame run with
        return 0

    monkeypatch.setattr(cli, "_run_tui", run_tui)
    assert main([]) == 0
    assert seen == [False]
    assert gc.isenabled()


# The core modules the first frame must not wait for: together ~80 ms of imports, most of it
# creating their dataclasses (benchmarks/README.md, "Start-up: where the time went").
CORE = ("chat_tui.providers.events", "chat_tui.core.session", "chat_tui.core.metrics",
        "chat_tui.core.pricing", "chat_tui.core.conversation", "chat_tui.core.storage",
        "chat_tui.ui.widgets.panel_sections")  # fmt: skip

FIRST_FRAME_PROBE = """
import json, sys
from chat_tui.cli import build_parser
from chat_tui.config import load_settings
from chat_tui.ui.app import ChatApp, make_app
from chat_tui.ui.screens.chat import ChatScreen

build_parser()
frames, seen = [], {}
real_display, real_start_up = ChatApp._display, ChatScreen._start_up

def display(self, screen, update):
    frames.append(len(frames))
    real_display(self, screen, update)

async def start_up(self):
    seen["frames"] = len(frames)
    seen["imported"] = sorted(m for m in sys.argv[1:] if m in sys.modules)
    await real_start_up(self)
    seen["after"] = sorted(m for m in sys.argv[1:] if m in sys.modules)
    seen["panel"] = self.panel.lines()
    seen["title"] = self.sub_title
    self.app.exit()

ChatApp._display, ChatScreen._start_up = display, start_up
make_app(load_settings({})).run(headless=True, size=(140, 45))
print(json.dumps(seen))
"""


def test_the_first_frame_is_drawn_before_the_core_is_imported(tmp_path: Path) -> None:
    """The input, pane and key bar need Textual and the widgets only; the session (and the
    core with it) is built just after that frame, and then fills the panel and the title."""
    import json
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC", "OPENAI"))}
    env.update(ANTHROPIC_API_KEY="sk-ant-test-not-a-real-key", CHAT_TUI_CONFIG_DIR=str(tmp_path),
               CHAT_TUI_DATA_DIR=str(tmp_path), CHAT_TUI_STATE_DIR=str(tmp_path))  # fmt: skip
    out = subprocess.run([sys.executable, "-c", FIRST_FRAME_PROBE, *CORE], capture_output=True,
                         text=True, check=True, env=env, timeout=60)  # fmt: skip
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["frames"] >= 1  # drawn...
    assert seen["imported"] == []  # ...before any of the core was imported
    assert seen["after"] == sorted(CORE)  # then the session: the core, the panel's lines
    assert any("claude-haiku-4-5" in line for line in seen["panel"])
    assert seen["title"] == "New conversation"


async def test_the_database_opens_after_the_first_frame_and_keeps_the_question(
    loopback: LoopbackServer, tmp_path: Path
) -> None:
    settings = loopback_settings(loopback, data_dir=tmp_path / "data")
    app = make_app(settings, prefs=Prefs(path=tmp_path / "state.json"))
    assert app.session._store is None  # built, not opened
    async with app.run_test(size=(140, 45)) as pilot:
        for _ in range(100):
            if app.chat.started:
                break
            await pilot.pause(0.02)
        assert app.session._store is not None  # opened by the start-up work
        app.chat.query_one(ChatInput).load_text("kept?")
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
    reopened = Store.open(tmp_path / "data" / "chat-tui.db")
    try:
        conv = reopened.load_conversation(reopened.last_conversation_id() or 0)
        assert [m.text for m in conv.messages] == ["kept?", "You said: kept?"]
    finally:
        reopened.close()


async def test_a_database_that_cannot_be_opened_is_said_and_the_chat_goes_on(
    loopback: LoopbackServer, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "chat-tui.db").write_bytes(b"this is not a database" * 100)
    app = make_app(loopback_settings(loopback, data_dir=data),
                   prefs=Prefs(path=tmp_path / "state.json"))  # fmt: skip
    async with app.run_test(size=(140, 45)) as pilot:
        for _ in range(100):
            if app.chat.started:
                break
            await pilot.pause(0.02)
        notices = [str(n.render()) for n in app.chat.query(Notice)]
        assert any("cannot open the conversation database" in n and "will not be saved" in n
                   for n in notices)  # fmt: skip
        app.chat.query_one(ChatInput).load_text("still answered")
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        [answer] = app.chat.query(AssistantMessage)
        assert answer.text == "You said: still answered"


async def test_keys_typed_before_the_chat_screen_was_mounted_go_to_the_input(
    loopback: LoopbackServer, tmp_path: Path
) -> None:
    """Keys typed before the first frame reach the screen itself (nothing has the focus yet:
    Textual sends them there) and Textual would drop them; the chat screen passes them to the
    input, in order (tried in tmux too: keys sent 0.2 s after the spawn show in the input)."""
    from textual import events

    app = make_app(loopback_settings(loopback, data_dir=tmp_path / "data"),
                   prefs=Prefs(path=tmp_path / "state.json"))  # fmt: skip
    async with app.run_test(size=(140, 45)) as pilot:
        screen = app.chat
        for char in "hi!":
            early = events.Key(char, char)
            early.time = 0.0  # typed before the screen was mounted, and routed as Textual's
            screen._forward_event(early)  # App.on_event routes a key when nothing has focus
        await pilot.pause()
        await pilot.pause()
        assert screen.query_one(ChatInput).text == "hi!"
