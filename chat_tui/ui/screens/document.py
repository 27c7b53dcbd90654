"""ctrl+o: the reference documents. The list of those loaded (delete removes one), a path
input with completion (tab or →) and a file tree to add one; the path is validated with the
core loader and errors are shown inline, one line."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.suggester import Suggester
from textual.widgets import DirectoryTree, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from chat_tui.errors import DocumentError

if TYPE_CHECKING:
    from chat_tui.core.document_set import Loaded
    from chat_tui.core.session import ChatSession
    from chat_tui.core.session_documents import DocumentInfo


class PathSuggester(Suggester):
    """Completes the last path component from the file system."""

    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=True)

    async def get_suggestion(self, value: str) -> str | None:
        if not value:
            return None
        expanded = os.path.expanduser(value)
        folder, stem = os.path.split(expanded)
        try:
            names = sorted(os.listdir(folder or "."))
        except OSError:
            return None
        for name in names:
            if name.startswith(stem) and name != stem and not name.startswith("."):
                full = os.path.join(folder, name)
                suffix = "/" if os.path.isdir(full) else ""
                return value + name[len(stem) :] + suffix
        return None


class DocumentScreen(ModalScreen[bool]):
    """The document set: the loaded documents (delete removes the highlighted one) and a path
    to add (a text file, a PDF or a folder). Closes after an add; returns True when the set
    changed. Loading errors are shown inline, one line, and the screen stays open."""

    DEFAULT_CSS = """
    DocumentScreen { align: center middle; }
    DocumentScreen > Vertical {
        width: 90%; max-width: 110; height: 80%;
        border: thick $accent; background: $surface; padding: 0 1;
    }
    DocumentScreen #doc-title { text-style: bold; margin-bottom: 1; }
    DocumentScreen #doc-list { height: auto; max-height: 10; margin-bottom: 1; }
    DocumentScreen #doc-error { color: $error; height: auto; }
    DocumentScreen DirectoryTree { height: 1fr; margin-top: 1; }
    DocumentScreen #doc-help { color: $text-muted; }
    """
    BINDINGS = [
        Binding("escape", "cancel", "Close", id="document.cancel"),
        Binding("tab", "complete", "Complete", show=False, id="document.complete"),
        Binding(
            "delete",
            "remove",
            "Remove document",
            id="document.remove",
            tooltip="Remove the highlighted document from the set",
        ),
    ]

    def __init__(self, session: ChatSession, start: Path | None = None) -> None:
        super().__init__()
        self.session = session
        self._start = start or Path.cwd()
        self.changed = False
        self.last_loaded: Loaded | None = None

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Reference documents (sent as cached context, in this order)",
                        id="doc-title")  # fmt: skip
            yield OptionList(id="doc-list")
            yield Input(
                placeholder="add: a text file, a PDF or a folder",
                suggester=PathSuggester(),
                id="doc-path",
            )
            yield Static("", id="doc-error")
            yield Static(
                "Enter adds · tab completes · delete removes the highlighted document · "
                "escape closes", id="doc-help",
            )  # fmt: skip
            yield DirectoryTree(self._start, id="doc-tree")

    def on_mount(self) -> None:
        self._fill()
        self.query_one(Input).focus()

    def _fill(self) -> None:
        docs = self.session.documents
        listing = self.query_one("#doc-list", OptionList)
        listing.clear_options()
        listing.display = bool(docs)
        for info in docs:
            listing.add_option(Option(Text(document_line(info))))
        total = self.session.docs.total
        if docs:
            listing.add_option(None)
            tilde = "" if all(i.counted for i in docs) else "~"
            listing.add_option(Option(Text(f"total  {tilde}{total:,} tokens"), disabled=True))

    def action_cancel(self) -> None:
        self.dismiss(self.changed)

    def action_remove(self) -> None:
        listing = self.query_one("#doc-list", OptionList)
        index = listing.highlighted
        if index is None or index >= len(self.session.documents):
            self._show_error("highlight a document in the list first (tab or click)")
            return
        removed = self.session.remove_document(index)
        self.changed = True
        self._show_error("")
        self._fill()
        self.notify(f"Removed {removed.name}", timeout=3)

    def action_complete(self) -> None:
        field = self.query_one(Input)
        if field.has_focus and field._suggestion:
            field.value = field._suggestion
            field.cursor_position = len(field.value)
        else:
            self.focus_next()

    @on(Input.Submitted, "#doc-path")
    def _submitted(self, event: Input.Submitted) -> None:
        self._try(Path(os.path.expanduser(event.value.strip())))

    @on(DirectoryTree.FileSelected)
    def _picked(self, event: DirectoryTree.FileSelected) -> None:
        self.query_one(Input).value = str(event.path)
        self._try(event.path)

    def _try(self, path: Path) -> None:
        if not str(path).strip() or str(path) == ".":
            self._show_error("type a path, or pick a file below")
            return
        try:
            self.last_loaded = self.session.add_documents(path)
        except DocumentError as exc:
            self._show_error(str(exc))
            return
        self.changed = True
        self.dismiss(True)

    def _show_error(self, line: str) -> None:
        self.query_one("#doc-error", Static).update(Text(line))


def document_line(info: DocumentInfo) -> str:
    """One row of the list: name, pages (a PDF), tokens (``~`` when estimated)."""
    doc = info.document
    pages = f" · {doc.pages} page{'s' * (doc.pages != 1)}" if doc.pages else ""
    tilde = "" if info.counted else "~"
    return f"{doc.name}{pages} · {tilde}{info.tokens:,} tokens"
