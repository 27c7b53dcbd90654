"""The command palette's thinking entries: the setting (off, on, an effort), the budget, and
folding the last thinking block."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import TYPE_CHECKING

from textual.app import SystemCommand

from chat_tui.core.thinking import check_budget, describe
from chat_tui.errors import ChatTuiError
from chat_tui.providers.events import THINKING_MODES, ThinkingMode
from chat_tui.ui.screens.prompt import PromptScreen
from chat_tui.ui.widgets.thinking_block import ThinkingBlock

if TYPE_CHECKING:
    from chat_tui.ui.app import ChatApp

HELP: dict[str, str] = {
    "off": "Answer at once, without thinking first",
    "on": "Think first, at the model's default effort",
    "low": "Think briefly first",
    "medium": "Think first, at medium effort",
    "high": "Think hard first (slower, more output tokens)",
}


def thinking_commands(app: ChatApp) -> Iterator[SystemCommand]:
    current = app.session.thinking_mode
    for mode in THINKING_MODES:
        if mode != current:
            yield SystemCommand(f"Thinking: {mode}", HELP[mode], partial(set_thinking, app, mode))
    yield SystemCommand(
        "Thinking: budget…", "Tokens the model may spend thinking (models that take a budget)",
        partial(ask_budget, app),
    )  # fmt: skip
    yield SystemCommand(
        "Thinking: fold / unfold the last block", "Show or hide the last answer's thinking",
        partial(toggle_last_block, app),
    )  # fmt: skip


def set_thinking(app: ChatApp, mode: ThinkingMode, budget: int | None = None) -> None:
    session = app.session
    try:
        setting = session.set_thinking(mode, budget)
    except ChatTuiError as exc:
        app.notify(str(exc), severity="error")
        return
    line = describe(setting, session.model)
    if setting.enabled and session.turns:
        line += " (the cached conversation is read again once: the setting changed)"
    app.chat.pane.add_notice(line)
    app.chat.refresh_panel()


def ask_budget(app: ChatApp) -> None:
    def chosen(value: str | None) -> None:
        if not value:
            return
        try:
            budget = check_budget(int(value.replace(",", "").replace("_", "")), "budget")
        except ValueError:
            app.notify(f"{value!r} is not a number of tokens: type e.g. 8000", severity="error")
            return
        except ChatTuiError as exc:
            app.notify(str(exc), severity="error")
            return
        mode = app.session.thinking_mode
        set_thinking(app, "on" if mode == "off" else mode, budget)

    current = app.session.thinking_budget
    app.push_screen(
        PromptScreen("Thinking budget in tokens (at least 1,024)",
                     "" if current is None else str(current), "8000"),
        chosen,
    )  # fmt: skip


def toggle_last_block(app: ChatApp) -> None:
    blocks = list(app.chat.pane.query(ThinkingBlock))
    if not blocks:
        app.notify("No thinking to show yet.", severity="warning")
        return
    blocks[-1].action_fold()
