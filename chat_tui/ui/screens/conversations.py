"""Saved conversations: open (enter), rename (r), delete (d twice), close (escape)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label, Static

from chat_tui.ui.screens.prompt import PromptScreen

if TYPE_CHECKING:
    from chat_tui.core.storage import Store


def _ago(ts: float) -> str:
    delta = max(0.0, time.time() - ts)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if delta >= size:
            return f"{int(delta // size)}{unit} ago"
    return "just now"


class ConversationsScreen(ModalScreen[int | None]):
    """Returns the id of the conversation to open, or None."""

    DEFAULT_CSS = """
    ConversationsScreen { align: center middle; }
    ConversationsScreen > Vertical {
        width: 90%; max-width: 120; height: 80%;
        border: thick $accent; background: $surface; padding: 0 1;
    }
    ConversationsScreen DataTable { height: 1fr; }
    ConversationsScreen #conv-help { color: $text-muted; }
    ConversationsScreen #conv-status { color: $warning; height: auto; }
    """
    BINDINGS = [
        Binding("escape", "close", "Close", id="conversations.close"),
        Binding("enter", "open", "Open", id="conversations.open", priority=True),
        Binding("r", "rename", "Rename", id="conversations.rename"),
        Binding("d", "delete", "Delete", id="conversations.delete"),
    ]

    def __init__(self, store: Store, current: int | None = None) -> None:
        super().__init__()
        self.store = store
        self.current = current
        self._armed_delete: int | None = None

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Conversations")
            yield DataTable(cursor_type="row", zebra_stripes=True)
            yield Static("", id="conv-status")
            yield Static("enter open · r rename · d delete (press twice) · escape close",
                         id="conv-help")  # fmt: skip

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("Title", "Messages", "Document", "Updated")
        self._reload()
        table.focus()

    def _reload(self) -> None:
        table = self.query_one(DataTable)
        table.clear()
        for conv in self.store.list_conversations():
            marker = "● " if conv.id == self.current else ""
            table.add_row(
                Text(marker + conv.title),
                str(conv.message_count),
                Text(conv.document_name or "—"),
                _ago(conv.updated_at),
                key=str(conv.id),
            )
        if table.row_count == 0:
            self._status("No saved conversations yet.")

    def _selected(self) -> int | None:
        table = self.query_one(DataTable)
        if table.row_count == 0:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        return int(key.value) if key.value is not None else None

    def _status(self, line: str) -> None:
        self.query_one("#conv-status", Static).update(Text(line))

    def action_close(self) -> None:
        self.dismiss(None)

    def action_open(self) -> None:
        conv_id = self._selected()
        if conv_id is not None:
            self.dismiss(conv_id)

    def action_rename(self) -> None:
        conv_id = self._selected()
        if conv_id is None:
            return
        title = self.store.load_conversation(conv_id).title

        def done(new: str | None) -> None:
            if new:
                self.store.rename_conversation(conv_id, new)
                self._reload()

        self.app.push_screen(PromptScreen("Rename conversation", title), done)

    def action_delete(self) -> None:
        conv_id = self._selected()
        if conv_id is None:
            return
        if self._armed_delete != conv_id:
            self._armed_delete = conv_id
            self._status("Press d again to delete this conversation for good.")
            return
        self._armed_delete = None
        self.store.delete_conversation(conv_id)
        self._status("Deleted.")
        self._reload()
