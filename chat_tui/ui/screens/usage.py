"""Usage: the ``chat-tui usage`` table for the current conversation and for the last 7 days.

``g`` changes the grouping of the 7-day table (day, model, provider, conversation), ``a``
switches between today's prices and the costs stored when each request ran, ``escape``
closes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from rich.console import RenderableType
from rich.measure import Measurement
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import ScrollableContainer, Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from chat_tui.core.usage import GROUP_BYS, build_report, window_start
from chat_tui.core.usage_table import usage_renderable

if TYPE_CHECKING:
    from chat_tui.core.storage import Store

WINDOW_DAYS = 7


class UsageScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    UsageScreen { align: center middle; }
    UsageScreen > Vertical {
        width: 96%; height: 90%;
        border: thick $accent; background: $surface; padding: 0 1;
    }
    UsageScreen ScrollableContainer { height: 1fr; }
    UsageScreen .usage-table { margin: 1 0 0 0; }
    UsageScreen #usage-help, UsageScreen #usage-telemetry { color: $text-muted; }
    """
    BINDINGS = [
        Binding("escape", "close", "Close", id="usage.close"),
        Binding("g", "regroup", "Group by", id="usage.regroup"),
        Binding("a", "billed", "As billed", id="usage.as_billed"),
    ]

    def __init__(
        self,
        store: Store | None,
        conversation_id: int | None,
        overrides: Mapping[str, Mapping[str, Any]] | None = None,
        *,
        now: Callable[[], float] = time.time,
        telemetry_status: str | None = None,
    ) -> None:
        super().__init__()
        self.store = store
        self.conversation_id = conversation_id
        self.overrides = overrides
        self.now = now
        self.by_index = 0  # GROUP_BYS[0]: by day
        self.as_billed = False
        self.telemetry_status = telemetry_status

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Usage")
            with ScrollableContainer():
                yield Static("", id="usage-conversation", classes="usage-table")
                yield Static("", id="usage-week", classes="usage-table")
            if self.telemetry_status:
                yield Static(Text(self.telemetry_status), id="usage-telemetry")
            yield Static(
                "g group the 7-day table by day / model / provider / conversation · "
                "a today's prices / as billed · escape close",
                id="usage-help",
            )

    def on_mount(self) -> None:
        self.refresh_tables()
        self.query_one(ScrollableContainer).focus()  # arrows and shift+arrows scroll

    def _show(self, widget_id: str, content: RenderableType) -> None:
        """Show ``content`` at its natural width: a wide table scrolls sideways rather than
        being squeezed into cut columns."""
        static = self.query_one(widget_id, Static)
        console = self.app.console
        wide = console.options.update_width(10_000)
        static.styles.width = Measurement.get(console, wide, content).maximum
        static.update(content)

    def refresh_tables(self) -> None:
        if self.store is None:
            message = "Usage needs the conversation database, which could not be opened."
            self._show("#usage-conversation", Text(message))
            self._show("#usage-week", Text(""))
            return
        basis = "as billed" if self.as_billed else "today's prices"
        if self.conversation_id is None:
            self._show("#usage-conversation", Text("This conversation: no requests yet."))
        else:
            rows = self.store.usage_rows(conversation_id=self.conversation_id)
            report = build_report(rows, "model", overrides=self.overrides, as_billed=self.as_billed)
            self._show(
                "#usage-conversation",
                usage_renderable(report, title=f"This conversation, by model ({basis})")
                if rows
                else Text("This conversation: no requests yet."),
            )
        by = GROUP_BYS[self.by_index]
        since = window_start(WINDOW_DAYS, self.now())
        rows = self.store.usage_rows(since)
        report = build_report(
            rows, by, overrides=self.overrides, as_billed=self.as_billed, since=since
        )
        self._show(
            "#usage-week",
            usage_renderable(report, title=f"The last {WINDOW_DAYS} days, by {by} ({basis})")
            if rows
            else Text(f"The last {WINDOW_DAYS} days: no requests."),
        )

    def action_close(self) -> None:
        self.dismiss(None)

    def action_regroup(self) -> None:
        self.by_index = (self.by_index + 1) % len(GROUP_BYS)
        self.refresh_tables()

    def action_billed(self) -> None:
        self.as_billed = not self.as_billed
        self.refresh_tables()
