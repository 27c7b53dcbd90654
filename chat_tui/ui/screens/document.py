"""ctrl+o: load a reference document. A path input with completion (tab or →) and a file
tree; the path is validated with the core loader and errors are shown inline, one line."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.suggester import Suggester
from textual.widgets import DirectoryTree, Input, Label, Static

from chat_tui.errors import DocumentError


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


class DocumentScreen(ModalScreen[Path | None]):
    """Returns the path that loaded, or None when cancelled. ``load`` does the loading (and
    raises DocumentError), so the screen closes only on success."""

    DEFAULT_CSS = """
    DocumentScreen { align: center middle; }
    DocumentScreen > Vertical {
        width: 90%; max-width: 110; height: 80%;
        border: thick $accent; background: $surface; padding: 0 1;
    }
    DocumentScreen #doc-title { text-style: bold; margin-bottom: 1; }
    DocumentScreen #doc-error { color: $error; height: auto; }
    DocumentScreen DirectoryTree { height: 1fr; margin-top: 1; }
    DocumentScreen #doc-help { color: $text-muted; }
    """
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="document.cancel"),
        Binding("tab", "complete", "Complete", show=False, id="document.complete"),
    ]

    def __init__(self, load: Callable[[Path], object], start: Path | None = None) -> None:
        super().__init__()
        self._load = load
        self._start = start or Path.cwd()

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Load a reference document (sent as cached system context)", id="doc-title")
            yield Input(
                placeholder="path to a text file: spec, manual, chapter…",
                suggester=PathSuggester(),
                id="doc-path",
            )
            yield Static("", id="doc-error")
            yield Static("Enter loads · tab completes · escape cancels", id="doc-help")
            yield DirectoryTree(self._start, id="doc-tree")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def action_cancel(self) -> None:
        self.dismiss(None)

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
            self._load(path)
        except DocumentError as exc:
            self._show_error(str(exc))
            return
        self.dismiss(path)

    def _show_error(self, line: str) -> None:
        self.query_one("#doc-error", Static).update(Text(line))
