"""The thinking setting in every source (config file, environment, flags, palette), and the
one-line errors for values that cannot work."""

from __future__ import annotations

from pathlib import Path

import pytest

from chat_tui.cli import main
from chat_tui.config import load_settings
from chat_tui.core.prefs import Prefs
from chat_tui.errors import ConfigError
from chat_tui.ui.app import make_app
from chat_tui.ui.widgets.message_pane import Notice
from chat_tui.ui.widgets.thinking_block import ThinkingBlock
from tests.helpers import loopback_settings
from tests.loopback_thinking import ThinkingLoopback


def _config(tmp_path: Path, text: str) -> dict[str, str]:
    path = tmp_path / "cfg.toml"
    path.write_text(text, encoding="utf-8")
    return {"CHAT_TUI_CONFIG": str(path)}


def test_file_then_env_then_flags(tmp_path: Path) -> None:
    env = _config(
        tmp_path, 'thinking = "low"\nthinking_budget = 3000\n[ui]\nthinking_open = true\n'
    )
    s = load_settings(environ=env, cwd=tmp_path)
    assert (s.thinking, s.thinking_budget, s.thinking_open) == ("low", 3000, True)
    s = load_settings(environ={**env, "CHAT_TUI_THINKING": "high"}, cwd=tmp_path)
    assert s.thinking == "high"
    s = load_settings({"thinking": "off"}, environ={**env, "CHAT_TUI_THINKING": "high"},
                      cwd=tmp_path)  # fmt: skip
    assert s.thinking == "off"
    s = load_settings({"thinking_budget": 5000}, environ={}, cwd=tmp_path)
    assert (s.thinking, s.thinking_budget) == ("on", 5000)  # a budget alone turns thinking on


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('thinking = "max"', "thinking must be one of off, on, low, medium, high, not 'max'"),
        ("thinking_budget = 500", "the thinking budget must be at least 1,024 tokens"),
        ('thinking_budget = "lots"', "a whole number of tokens, not 'lots'"),
        (
            '[ui]\nthinking_open = true\n[models.x]\ninput = 1\noutput = 1\nthinking = "deep"',
            "expected one of budget, adaptive, effort, none, got 'deep'",
        ),
    ],
)
def test_bad_values_are_one_line_errors(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(environ=_config(tmp_path, text), cwd=tmp_path)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_bad_flag_exits_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["ask", "hi", "--thinking-budget", "100", "--provider", "ollama"])
    _, err = capsys.readouterr()
    assert code != 0 and "--thinking-budget" in err and "1,024" in err
    assert len(err.strip().splitlines()) == 1


async def test_palette_sets_thinking_and_the_next_request_uses_it(tmp_path: Path) -> None:
    with ThinkingLoopback() as server:
        settings = loopback_settings(server, data_dir=tmp_path / "data")
        app = make_app(settings, prefs=Prefs(path=tmp_path / "state.json"))
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("ctrl+p")
            await pilot.pause()
            await pilot.press(*"Thinking: high")
            await pilot.pause(0.3)
            await pilot.press("enter")
            await pilot.pause()
            assert app.session.thinking_mode == "high"
            notices = [n.text for n in app.chat.query(Notice)]
            assert "Thinking high: up to 16,384 tokens on claude-haiku-4-5" not in notices
            assert any(n.startswith("Thinking high: up to 2,048 tokens") for n in notices)
            field = app.chat.query_one("#input")
            field.focus()
            field.load_text("hi")  # type: ignore[attr-defined]
            await pilot.press("enter")
            await app.workers.wait_for_complete()
            await pilot.pause()
            body = server.requests[-1].body or {}
            assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
            assert len(list(app.chat.query(ThinkingBlock))) == 1


async def test_palette_budget_prompt_rejects_nonsense_and_sets_a_budget(tmp_path: Path) -> None:
    with ThinkingLoopback() as server:
        settings = loopback_settings(server, data_dir=tmp_path / "data")
        app = make_app(settings, prefs=Prefs(path=tmp_path / "state.json"))
        async with app.run_test(size=(120, 40)) as pilot:
            for value in ("lots", "3000"):
                await pilot.press("ctrl+p")
                await pilot.pause()
                await pilot.press(*"Thinking: budget")
                await pilot.pause(0.3)
                await pilot.press("enter")
                await pilot.pause()
                await pilot.press(*value, "enter")
                await pilot.pause()
                if value == "lots":
                    assert app.session.thinking_budget is None  # refused, unchanged
            assert (app.session.thinking_mode, app.session.thinking_budget) == ("on", 3000)
