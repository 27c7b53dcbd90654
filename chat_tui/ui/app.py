"""The Textual application: registers themes, applies the keymap, opens the chat screen.
No HTTP code here: the screen drives a ChatSession.

:func:`make_app` is the one factory the CLI, the tests and the snapshot apps share. It does not
build the session: :attr:`ChatApp.session` does on first use, which the chat screen makes just
after its first frame, so that the core's imports (see :mod:`chat_tui.ui.screens.chat`) come
after the input is on screen. The commands' modules are imported when the palette opens.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from chat_tui.core.prefs import Prefs
from chat_tui.ui.screens.chat import ChatScreen
from chat_tui.ui.themes import load_themes, theme_dirs, theme_variable_defaults

if TYPE_CHECKING:
    from chat_tui.config import Settings
    from chat_tui.core.metrics import Clock
    from chat_tui.core.session import ChatSession
    from chat_tui.core.storage import Store
    from chat_tui.providers.events import CacheTTL

DEFAULT_THEME = "chat-tui-dark"


class ChatApp(App[int]):
    TITLE = "chat-tui"
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", id="quit", priority=True,
                tooltip="Quit; a streaming answer is saved as stopped"),
    ]  # fmt: skip

    def __init__(
        self,
        settings: Settings,
        session: ChatSession | Callable[[], ChatSession],
        *,
        prefs: Prefs | None = None,
        doc: str | Sequence[str] | None = None,
        resume: bool = False,
    ) -> None:
        """``session``: the session, or what builds it on first use (see :func:`make_app`)."""
        super().__init__()
        self.settings = settings
        self._session: ChatSession | None = None if callable(session) else session
        self._make_session: Callable[[], ChatSession] | None = (
            session if callable(session) else None
        )
        self.prefs = prefs or Prefs()
        self._doc = doc
        self._resume = resume
        self._theme_errors: list[str] = []
        self._register_themes()

    @property
    def session(self) -> ChatSession:
        """The chat session, built on first use."""
        if self._session is None:
            assert self._make_session is not None
            self._session = self._make_session()
        return self._session

    # -- themes and keys ---------------------------------------------------------------

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return {
            **super().get_theme_variable_defaults(),
            **theme_variable_defaults(self.current_theme),
        }

    def _register_themes(self) -> None:
        themes, errors = load_themes(theme_dirs())
        for theme in themes:
            self.register_theme(theme)
        self._theme_errors = errors
        wanted = self.settings.theme or self.prefs.theme or DEFAULT_THEME
        if wanted not in self.available_themes:
            self._theme_errors.append(f"unknown theme {wanted!r}; using {DEFAULT_THEME}")
            wanted = DEFAULT_THEME
        self.theme = wanted

    def watch_theme(self, theme: str) -> None:
        if self.prefs.theme != theme and self.is_running:
            self.prefs.theme = theme
            self.prefs.save()

    # -- start-up ----------------------------------------------------------------------

    def get_default_screen(self) -> Screen[None]:
        return ChatScreen(
            lambda: self.session,
            self.prefs,
            show_panel=self.settings.show_panel,
            doc=self._doc,
            resume=self._resume,
        )

    @property
    def chat(self) -> ChatScreen:
        screen = self.screen_stack[0]
        assert isinstance(screen, ChatScreen)
        return screen

    def on_mount(self) -> None:
        if self.settings.keymap:
            self.set_keymap(self.settings.keymap)
        if self._theme_errors:
            self.notify("; ".join(self._theme_errors), title="Themes", severity="warning")

    # -- commands ----------------------------------------------------------------------

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        from chat_tui.core.models import known_models
        from chat_tui.ui.thinking_commands import thinking_commands
        from chat_tui.ui.tool_commands import tool_commands

        yield from super().get_system_commands(screen)
        chat = self.chat
        yield SystemCommand("Model: other…", "Type the name of another model for this provider",
                            self.action_change_model)  # fmt: skip
        for name in known_models(self.session.provider.kind):
            if name != self.session.model:
                yield SystemCommand(f"Model: {name}", f"Switch to {name} (its cache starts cold)",
                                    partial(self._use_model, name))  # fmt: skip
        ttls: tuple[tuple[CacheTTL, str], ...] = (("5m", "5 minutes"), ("1h", "1 hour"))
        for ttl, label in ttls:
            yield SystemCommand(
                f"Cache TTL: {label}", f"Ask the provider to keep the cache for {label}",
                partial(self._set_ttl, ttl),
            )  # fmt: skip
        yield from thinking_commands(self)
        yield from tool_commands(self)
        yield SystemCommand("Toggle metrics panel", "Show or hide the side panel",
                            chat.action_toggle_panel)  # fmt: skip
        yield SystemCommand("Copy last answer", "Copy the last answer to the clipboard",
                            self.action_copy_last)  # fmt: skip
        yield SystemCommand("Export conversation as Markdown",
                            "Write the conversation to a .md file in the current folder",
                            self.action_export)  # fmt: skip
        yield SystemCommand("Conversations", "Open, rename or delete saved conversations",
                            chat.action_conversations)  # fmt: skip
        yield SystemCommand("New conversation", "Start afresh (the document stays loaded)",
                            chat.action_new_conversation)  # fmt: skip
        yield SystemCommand("Load document…", "Load a reference document as cached context",
                            chat.action_load_document)  # fmt: skip
        yield SystemCommand("Switch provider", "Cycle through the configured providers",
                            chat.action_toggle_provider)  # fmt: skip
        keep_warm = "off" if self.session.keep_warm.enabled else "on"
        yield SystemCommand(f"Keep-warm: turn {keep_warm}",
                            "While idle, re-read the cached prompt shortly before it expires",
                            chat.toggle_keep_warm)  # fmt: skip
        yield SystemCommand("Set spending budget…",
                            "Cap what this session may spend; over it, a turn is refused",
                            self.action_set_budget)  # fmt: skip
        yield SystemCommand("Monthly cost projection…",
                            "What this prompt costs a month at N requests a minute",
                            self.action_projection)  # fmt: skip
        yield SystemCommand("Usage", "Tokens, cache hit rate and cost: this conversation and "
                            "the last 7 days", self.action_usage)  # fmt: skip

    def _set_ttl(self, ttl: CacheTTL) -> None:
        self.session.set_ttl(ttl)
        self.notify(f"Cache TTL set to {ttl}: the next write asks for it")
        self.chat.refresh_panel()

    def _use_model(self, model: str) -> None:
        self.session.set_model(model)
        self.chat.pane.add_notice(f"Model: {model} (a new model starts with a cold cache)")
        self.chat.refresh_panel()

    def action_change_model(self) -> None:
        from chat_tui.ui.screens.prompt import PromptScreen

        def chosen(model: str | None) -> None:
            if model:
                self._use_model(model)

        self.push_screen(
            PromptScreen(f"Model for {self.session.provider.label}", self.session.model), chosen
        )

    def action_set_budget(self) -> None:
        from chat_tui.ui.screens.prompt import PromptScreen

        current = self.session.budget_usd

        def chosen(value: str | None) -> None:
            if value is None:
                return
            if value.lower() in ("none", "off", "0"):
                self.session.budget_usd = None
                self.notify("Spending budget removed.")
            else:
                try:
                    usd = float(value.lstrip("$"))
                    if usd < 0:
                        raise ValueError
                except ValueError:
                    self.notify(f"{value!r} is not an amount: type e.g. 2.50, or off",
                                severity="error")  # fmt: skip
                    return
                self.session.budget_usd = usd
                self.notify(f"Spending budget: ${usd:,.2f} for this session.")
            self.chat.refresh_panel()

        self.push_screen(
            PromptScreen(
                "Spending budget for this session in USD (off: no cap)",
                "" if current is None else f"{current:g}",
                placeholder="e.g. 2.50",
            ),
            chosen,
        )

    def action_projection(self) -> None:
        from chat_tui.ui.screens.projection import ProjectionScreen

        s = self.session
        prompt, cached, estimated = s.projection_inputs()
        self.push_screen(
            ProjectionScreen(
                s.model_info(), model=s.model, prompt_tokens=prompt, cached_tokens=cached,
                ttl=s.ttl, estimated=estimated,
            )
        )  # fmt: skip

    def action_usage(self) -> None:
        from chat_tui.ui.screens.usage import UsageScreen

        session = self.session
        status = getattr(session.observer, "status", None)  # telemetry, when it is on
        screen = UsageScreen(
            session.store, session.conversation.id, session.settings.model_overrides,
            telemetry_status=status() if callable(status) else None,
        )  # fmt: skip
        self.push_screen(screen)

    def action_copy_last(self) -> None:
        last = self.session.conversation.last
        if last is None or not last.answer:
            self.notify("No answer to copy yet.", severity="warning")
            return
        self.copy_to_clipboard(last.answer)
        self.notify(f"Copied {len(last.answer):,} characters.")

    def action_export(self) -> None:
        conv = self.session.conversation
        if not conv.exchanges:
            self.notify("Nothing to export yet.", severity="warning")
            return
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = Path.cwd() / f"chat-tui-{stamp}.md"
        try:
            path.write_text(conv.to_markdown(), encoding="utf-8")
        except OSError as exc:
            self.notify(f"Cannot write {path}: {exc.strerror}", severity="error")
            return
        self.notify(f"Exported to {path}")

    # -- shutdown ----------------------------------------------------------------------

    async def action_quit(self) -> None:
        """Stop a streaming answer first, so it is saved as stopped, then leave."""
        chat = self.chat
        worker = chat._turn
        if worker is not None and chat.streaming:
            worker.cancel()
            with contextlib.suppress(Exception):
                await worker.wait()
        self.exit(0)

    async def on_unmount(self) -> None:
        if self._session is not None:
            await self._session.aclose()
            self._session.close_store()


def make_app(
    settings: Settings,
    *,
    doc: str | None = None,
    resume: bool = False,
    upload: bool = False,
    clock: Clock = time.monotonic,
    wall: Clock = time.time,
    store: Store | None = None,
    prefs: Prefs | None = None,
) -> ChatApp:
    """Build the app: the one factory the CLI, the tests and the benchmarks use. The session
    is built on first use (just after the first frame); without a ``store``, the database in
    the data directory is opened when first needed (the chat screen's start-up work, right
    after that). ``upload``: documents go to the provider's Files API (``--upload``)."""
    path = settings.data_dir / "chat-tui.db"

    def open_store() -> Store:
        from chat_tui.core.storage import Store

        return Store.open(path)

    def make_session() -> ChatSession:
        from chat_tui.core.session import ChatSession

        session = ChatSession(
            settings, store=store, open_store=None if store is not None else open_store,
            clock=clock, wall=wall,
        )  # fmt: skip
        session.docs.upload_default = upload
        return session

    return ChatApp(settings, make_session, prefs=prefs or Prefs.load(), doc=doc, resume=resume)
