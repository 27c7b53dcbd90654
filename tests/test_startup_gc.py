"""The cycle collector is paused for the start (it cost ~100 ms of CPU before the first frame)
and always resumed: by a command before its work, by the TUI once its first screen is drawn
(the warm-up freezes what the start built), and by ``main`` on every way out."""

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
