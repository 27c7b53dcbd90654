"""The production abacus: what the current prompt costs a month at N requests a minute, with
caching and without. The figures are :func:`chat_tui.core.advisor.project`'s; this screen
only edits its inputs and shows the table."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from chat_tui.core.advisor import Projection, project
from chat_tui.core.models import ModelInfo

FIELDS = (("rpm", "requests / minute", 1000.0), ("hours", "hours / day", 24.0),
          ("days", "days", 30.0))  # fmt: skip


class ProjectionScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    ProjectionScreen { align: center middle; }
    ProjectionScreen > Vertical {
        width: 76; height: auto; border: thick $accent; background: $surface; padding: 0 1;
    }
    ProjectionScreen Horizontal { height: auto; }
    ProjectionScreen .field { width: 1fr; height: auto; }
    ProjectionScreen Input { width: 1fr; }
    ProjectionScreen #projection-error { color: $error; height: auto; }
    ProjectionScreen #projection-hint { color: $text-muted; }
    """
    BINDINGS = [Binding("escape", "close", "Close", id="projection.close")]

    def __init__(
        self,
        info: ModelInfo | None,
        *,
        model: str,
        prompt_tokens: int,
        cached_tokens: int,
        ttl: str,
        estimated: bool,
    ) -> None:
        super().__init__()
        self._info = info
        self._model = model
        self._prompt = prompt_tokens
        self._cached = cached_tokens
        self._ttl = ttl
        self._estimated = estimated
        self.projection: Projection | None = None

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text("Monthly cost of this prompt at production traffic"))
            with Horizontal():
                for name, label, default in FIELDS:
                    with Vertical(classes="field"):
                        yield Label(Text(label))
                        yield Input(f"{default:g}", id=f"projection-{name}", type="number")
            yield Static(id="projection-table")
            yield Static(id="projection-error")
            where = "~estimated" if self._estimated else "as counted"
            yield Static(
                Text(f"prompt tokens {where}; output not included · escape closes"),
                id="projection-hint",
            )

    def on_mount(self) -> None:
        self.query_one("#projection-rpm", Input).focus()
        self._update()

    def action_close(self) -> None:
        self.dismiss(None)

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        self._update()

    def _value(self, name: str) -> float | None:
        text = self.query_one(f"#projection-{name}", Input).value.strip()
        try:
            return float(text)
        except ValueError:
            return None

    def _update(self) -> None:
        error = self.query_one("#projection-error", Static)
        rpm, hours, days = (self._value(name) for name, _, _ in FIELDS)
        if rpm is None or hours is None or days is None:
            error.update(Text("enter a number in each field"))
            return
        try:
            self.projection = project(
                self._info, model=self._model, prompt_tokens=self._prompt,
                cached_tokens=self._cached, rpm=rpm, hours_per_day=hours, days=days,
                ttl=self._ttl,
            )  # fmt: skip
        except ValueError as exc:
            error.update(Text(f"{exc}: correct the figure"))
            return
        error.update("")
        table = Table(show_header=False, box=None, padding=(0, 1))
        table.add_column(style="dim")
        table.add_column()
        for label, value in self.projection.rows():
            table.add_row(label, value)
        if self._info is None:
            table.add_row("", f"{self._model}'s price is unknown: add it under [models]")
        elif self.projection.below_minimum:
            table.add_row("", "the prompt is under the model's cache minimum: never cached")
        self.query_one("#projection-table", Static).update(table)
