"""The main screen: the message pane, the prompt input and the metrics side panel.

The screen drives a :class:`ChatSession` and shows what it reports; it never talks to a
provider. A turn runs in a worker; the stop key cancels that worker, which closes the HTTP
stream at once and keeps the partial answer.

Start-up time matters: the first frame (the input, the pane, the key bar) needs only Textual
and the widgets. The session, and with it the core (providers' vocabulary, metrics, pricing,
storage: ~80 ms of imports, most of it creating dataclasses), is built just after that frame
(:meth:`ChatScreen._start_up`), or by the first key that needs it; so the core's modules are
imported where they are first used, here and in the app. The screens it opens (conversations,
documents) are imported when first opened.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Header, Static
from textual.worker import Worker, WorkerState

from chat_tui.errors import BudgetError, ChatTuiError
from chat_tui.providers.base import REQUEST_SENT
from chat_tui.ui.widgets.chat_input import ChatInput
from chat_tui.ui.widgets.key_bar import KeyBar
from chat_tui.ui.widgets.message_pane import AssistantMessage, MessagePane
from chat_tui.ui.widgets.metrics_panel import MetricsPanel
from chat_tui.ui.widgets.thinking_block import ThinkingBlock, TurnView

if TYPE_CHECKING:
    from chat_tui.core.document_set import Loaded
    from chat_tui.core.metrics import TurnMetrics
    from chat_tui.core.prefs import Prefs
    from chat_tui.core.session import ChatSession, TurnResult
    from chat_tui.core.session_documents import DocumentInfo
    from chat_tui.ui.tool_view import TuiToolView
    from chat_tui.ui.widgets.panel_sections import PanelDocument

    TextSink = Callable[[str], None]
    TurnRunner = Callable[[TextSink, TextSink, TuiToolView], Awaitable[TurnResult | None]]

SETUP_HELP = """\
No provider is configured or reachable yet. Set one up, then restart chat-tui:

  Anthropic   export ANTHROPIC_API_KEY=sk-ant-…      (or put it in .env)
  OpenAI      export OPENAI_API_KEY=sk-…
  Ollama      ollama serve && ollama pull qwen2.5:3b  (OLLAMA_HOST if not on localhost:11434)
  vLLM, llama.cpp, LM Studio
              export OPENAI_BASE_URL=http://localhost:8000/v1

Then: chat-tui --provider anthropic|openai|ollama, or ctrl+t to switch here."""

KEEP_WARM_TICK_S = 1.0
# How long after Enter the key bar waits to show the Stop key. Redrawing the key bar lays the
# whole screen out again: done at once, it delayed the request and the first token (see
# benchmarks/profile_enter.py). The key works at once; only its label waits.
STOP_KEY_DELAY_S = 0.3
# A new question's messages are mounted once its request is on the wire (see _start); at the
# latest this long after Enter (a request still waiting for the SDK or for MCP servers to
# start, or a large body uploading).
SHOW_QUESTION_AFTER_S = 0.1
# Below this terminal width the metrics panel (44 columns) hides itself, so that the chat keeps
# 30 columns; it comes back when the terminal is wide enough again (unless toggled off).
PANEL_MIN_TERMINAL_WIDTH = 74
WARM_UP_AFTER_S = 1.0  # the SDK warm-up starts when the key bar is drawn, or by then
# The core, imported just after the first frame a few modules at a time (each import pulls in
# what it needs first), with the event loop free between them: keys typed meanwhile echo.
CORE_MODULES = (
    "chat_tui.providers.events", "chat_tui.core.pricing", "chat_tui.core.models",
    "chat_tui.core.metrics", "chat_tui.core.documents", "chat_tui.core.conversation",
    "chat_tui.core.cache_doctor", "chat_tui.core.mcp", "chat_tui.core.session",
    "chat_tui.ui.widgets.panel_sections", "chat_tui.ui.tool_view",
)  # fmt: skip


class ChatScreen(Screen[None]):
    # One grid, no containers: every frame draws each widget on the screen (a container too),
    # and a message posted by the input reached the screen through each container's pump.
    DEFAULT_CSS = """
    ChatScreen { layout: grid; grid-size: 2 2; grid-columns: 1fr 44; grid-rows: 1fr auto; }
    ChatScreen.-no-panel { grid-size: 1 2; grid-columns: 1fr; }
    ChatScreen MetricsPanel { width: 44; row-span: 2; border-left: vkey $panel; }
    ChatScreen UserMessage { border-left: thick $role-user; }
    ChatScreen AssistantMessage { border-left: thick $role-assistant 60%; }
    ChatScreen ThinkingBlock { border-left: thick $role-assistant 20%; }
    ChatScreen #setup {
        margin: 1 2; padding: 1 2; border: round $warning; color: $text; height: auto;
    }
    """
    BINDINGS = [
        Binding("ctrl+t", "toggle_provider", "Provider", id="toggle_provider",
                tooltip="Switch to the next configured provider"),
        Binding("ctrl+o", "load_document", "Document", id="load_document",
                tooltip="Load a reference document as cached context"),
        Binding("escape", "stop", "Stop", id="stop", tooltip="Stop generating; keep the partial answer"),
        Binding("ctrl+r", "retry", "Retry", id="retry", tooltip="Ask the last question again"),
        Binding("ctrl+n", "new_conversation", "New", id="new_conversation",
                tooltip="Start a new conversation"),
        Binding("ctrl+l", "conversations", "Chats", id="conversations",
                tooltip="Saved conversations: open, rename, delete"),
        Binding("ctrl+b", "toggle_panel", "Panel", id="toggle_panel",
                tooltip="Show or hide the metrics panel"),
        Binding("end", "follow", "Follow", show=False, id="follow"),
    ]  # fmt: skip

    def __init__(
        self,
        session: Callable[[], ChatSession],
        prefs: Prefs,
        *,
        show_panel: bool = True,
        doc: str | Sequence[str] | None = None,
        resume: bool = False,
    ) -> None:
        super().__init__()
        self._session_of = session  # builds the session (the app's, built once)
        self._session: ChatSession | None = None
        self.prefs = prefs
        self._show_panel = show_panel
        self._doc = doc
        self._resume = resume
        self.started = False  # set once the start-up work (session, resume, document) is done
        self._turn: Worker[None] | None = None
        self._answer: AssistantMessage | None = None
        self._keep_warm_timer: Timer | None = None
        self._show_timer: Timer | None = None  # shows a question's messages at the latest
        self._view: TurnView | None = None  # the turn's answer and its thinking block
        self._tool_view: TuiToolView | None = None  # the turn's tool calls
        self._rounds: tuple[TurnMetrics, ...] = ()  # the last turn's requests
        self._setup: Static | None = None  # the set-up help, while shown
        self._warm_up_started = False
        self._docs_read: Callable[[], None] | None = None  # says --doc's documents are read
        self._mounted_at = float("inf")  # keys typed before then go to the input (on_key)

    @property
    def session(self) -> ChatSession:
        """The chat session: built just after the first frame, or by the first key that
        needs it, whichever comes first."""
        if self._session is None:
            self._session = self._session_of()
            if self._doc:  # read after the first frame: a question asked sooner waits for them
                self._docs_read = self._session.docs.reading()
        return self._session

    # -- layout ------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        yield MessagePane(id="pane")
        panel = MetricsPanel(id="panel")  # filled once the session is built
        panel.display = self._show_panel and self.app.size.width >= PANEL_MIN_TERMINAL_WIDTH
        self.set_class(not panel.display, "-no-panel")
        yield panel  # the grid's right column, both rows
        yield ChatInput(history=self.prefs.history, id="input")
        yield KeyBar()

    @property
    def pane(self) -> MessagePane:
        return self.query_one(MessagePane)

    @property
    def panel(self) -> MetricsPanel:
        return self.query_one(MetricsPanel)

    def on_mount(self, event: events.Mount) -> None:
        self._mounted_at = event.time
        self.query_one(ChatInput).focus()
        self.call_after_refresh(self._start_up)
        # Once the key bar is drawn (the whole first screen): import the SDK off the event
        # loop. Its thread competes with the first frames for the GIL; at the latest
        # WARM_UP_AFTER_S after the start, in case the key bar waits (a terminal without
        # focus does not draw it).
        self.set_timer(WARM_UP_AFTER_S, self._first_warm_up)

    def on_key(self, event: events.Key) -> None:
        """Keys typed before this screen was mounted (before the first frame) were sent to
        it, nothing having the focus, and Textual would drop them: they go to the input, as
        typed (Enter included)."""
        if event.time < self._mounted_at:
            event.stop()
            self.query_one(ChatInput).post_message(events.Key(event.key, event.character))

    async def _start_up(self) -> None:
        """What the first frame need not wait for: the session (the core's imports), the
        panel's lines, ``--continue``'s conversation, the database (opened on first use, here
        unless a question came first), the notices, ``--doc`` documents, the set-up check, MCP
        servers and keep-warm."""
        for name in CORE_MODULES:
            if self._session is not None:  # built already, by a key that needed it
                break
            importlib.import_module(name)
            await asyncio.sleep(0)
        session, pane = self.session, self.pane
        self.panel.watch_cache(session.cache_state)
        self.refresh_panel()  # the whole panel at once, before --continue's conversation loads
        if self._resume:
            await self._continue_last()
        store = session.store
        for line in session.notices:  # e.g. a database that cannot be opened
            pane.add_notice(line, severity="warning")
        session.notices.clear()
        if store is not None and store.recovered:
            pane.add_notice(
                f"Recovered {store.recovered} answer(s) cut off when chat-tui last stopped; "
                "they are marked interrupted", severity="warning",
            )  # fmt: skip
        if self._doc:
            self.load_documents([self._doc] if isinstance(self._doc, str) else list(self._doc))
        self.refresh_panel()
        self.probe_setup()
        from chat_tui.ui.tool_commands import start_tools

        start_tools(self)  # MCP servers
        if session.keep_warm.enabled:
            self.start_keep_warm()
        self.started = True

    async def _continue_last(self) -> None:
        """``--continue``: open the last saved conversation (not when a question typed before
        the start-up was done already began a new one)."""
        store = self.session.store
        last = store.last_conversation_id() if store is not None else None
        if last is None:
            self.pane.add_notice("No saved conversation to continue: starting a new one.")
        elif self._turn is not None:
            self.pane.add_notice("Not continuing the last conversation: a question came first.")
        else:
            await self.open_conversation(last)

    @work(group="documents", exit_on_error=False)
    async def load_documents(self, paths: list[str]) -> None:
        """``--doc`` paths, read in a thread (a long PDF's text extraction takes a while) so the
        first frame does not wait; added to the set in order."""
        try:
            for path in paths:
                try:
                    loaded = await asyncio.to_thread(self.session.docs.read, path)
                    self.session.docs.add_loaded(loaded)
                except ChatTuiError as exc:
                    self.pane.add_notice(str(exc), severity="error")
                else:
                    self._document_loaded(loaded, count=False)
        finally:
            if self._docs_read is not None:  # a question waiting for them goes now
                self._docs_read()
                self._docs_read = None
        self.count_tokens()  # once, for the whole set

    def _document_loaded(self, loaded: Loaded | None, *, count: bool = True) -> None:
        """Say what was loaded (a folder: what it took and skipped), then the warnings."""
        if loaded is not None and loaded.documents:
            docs = loaded.documents
            what = loaded.summary or docs[0].name
            from chat_tui.core.document_set import estimate_document_tokens

            tokens = sum(estimate_document_tokens(d, self.session.provider.kind) for d in docs)
            self.pane.add_notice(
                f"Loaded {what} ({tokens:,} tokens, estimated) as cached context: the "
                "cache is cold until the next turn writes it"
            )
        for info in self.session.documents:
            for warning in info.warnings:
                self.pane.add_notice(warning, severity="warning")
        self.refresh_panel()
        if count:
            self.count_tokens()

    @property
    def streaming(self) -> bool:
        return self._turn is not None and self._turn.state in (
            WorkerState.PENDING, WorkerState.RUNNING
        )  # fmt: skip

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "stop":
            return self.streaming  # shown only while streaming
        if action == "retry":
            if self._session is None:  # not built yet: nothing asked
                return None
            last = self.session.conversation.last
            return (not self.streaming and last is not None) or None
        return True

    # -- panel -------------------------------------------------------------------------

    def refresh_panel(self) -> None:
        from chat_tui.core.faults import host_of
        from chat_tui.ui.tool_commands import panel_tools
        from chat_tui.ui.widgets.panel_sections import PanelData

        s = self.session
        docs = panel_documents(s.documents)
        doc = docs[-1] if docs else None
        self.panel.update_data(
            PanelData(
                provider_label=s.provider.label,
                model=s.model,
                host=host_of(s.provider.base_url),
                document=doc,
                documents=docs,
                last=s.turns[-1] if s.turns else None,
                session_cost=s.session_cost,
                ttft_history=tuple(t.ttft_s for t in s.turns),
                cache_reported=s.cache_reported,
                ttl_label=s.cache_request_label,
                advice=advice.line() if (advice := s.ttl_advice()) else None,
                keep_warm=s.keep_warm.summary()
                if s.keep_warm.enabled or s.keep_warm.pings
                else None,
                keep_warm_last=s.keep_warm.last_line,
                budget=s.budget_status(),
                tools=panel_tools(s),
                rounds=self._rounds,
            )
        )
        if self.sub_title != s.conversation.title:
            self.sub_title = s.conversation.title
        self.refresh_bindings()

    # -- turns -------------------------------------------------------------------------

    @on(ChatInput.Submitted)
    def _submitted(self, event: ChatInput.Submitted) -> None:
        if self.streaming:
            self.notify("An answer is still streaming: wait, or press escape to stop it.",
                        severity="warning")  # fmt: skip
            return  # the text stays in the input
        text = event.text
        if not self._within_budget(text):
            return  # the text stays in the input
        event.input.load_text("")
        self.prefs.remember_prompt(text)
        self._start(lambda sink, think, tools: self.session.ask(text, sink, think, tools),
                    question=text)  # fmt: skip
        self._remove_setup()

    def _within_budget(self, text: str | None) -> bool:
        """Refuse, in one line and before anything is shown or sent, a turn that could pass
        the spending budget (``text`` None: a retry of the last question). Building that
        request can also refuse a setting the API would reject: that line has no budget title."""
        try:
            self.session.preflight(text)
        except ChatTuiError as exc:
            title = "Budget" if isinstance(exc, BudgetError) else ""
            self.notify(str(exc), title=title, severity="error", timeout=8)
            self.refresh_panel()
            return False
        return True

    def _start(self, runner: TurnRunner, question: str | None = None) -> None:
        # The turn's worker first: its first step stores the question and sends the request.
        # The new messages below are mounted once that request is on the wire (_sent): mounted
        # at once, they ran inside the SDK's write, between the headers and the body, and held
        # the request back by their mount (benchmarks/README.md, "Enter → request").
        self._turn = self.run_worker(
            self._run_turn(runner), group="turn", exclusive=True, exit_on_error=False
        )
        pane = self.pane
        pane.hold()
        self._show_timer = self.set_timer(SHOW_QUESTION_AFTER_S, self._sent)
        if question is not None:
            pane.add_user(question)
        answer = self._answer = pane.start_assistant()
        self._view = TurnView(pane, answer, pinned=self.session.settings.thinking_open,
                              clock=self.session.clock)  # fmt: skip
        from chat_tui.ui.tool_view import TuiToolView

        self._tool_view = TuiToolView(pane, self._view)
        self._rounds = ()
        self.query_one(KeyBar).hold(STOP_KEY_DELAY_S)
        self.refresh_bindings()

    def _sent(self) -> None:
        """The turn's request is on the wire (or the wait is over): show the new messages,
        then write the history file."""
        if self._show_timer is not None:
            self._show_timer.stop()
            self._show_timer = None
        if self.pane.held:
            self.pane.release()
            self.prefs.save()

    async def _run_turn(self, runner: TurnRunner) -> None:
        view, tools = self._view, self._tool_view  # set by _start before this first runs
        assert view is not None and tools is not None
        REQUEST_SENT.set(self._sent)  # in this worker's context only
        try:
            result = await runner(view.text, view.thinking, tools)
        except asyncio.CancelledError:
            self._sent()
            answer = self._answer = view.answer
            tools.stopped()
            view.end()
            last = self.session.turns[-1] if self.session.turns else None
            tokens = last.usage.output_tokens if last else None
            answer.finish("stopped", note=f"stopped after {tokens or 0:,} tokens")
            self.query_one(KeyBar).release()
            self.refresh_panel()
            raise
        except ChatTuiError as exc:
            answer = self._answer = view.answer
            answer.finish("failed", error=str(exc))
        except Exception as exc:  # a bug must not take the conversation down
            answer = self._answer = view.answer
            answer.finish("failed", error=f"unexpected error: {exc.__class__.__name__}: {exc}")
        else:
            answer = self._answer = view.answer
            if result is not None:
                self._rounds = result.rounds
                if result.status == "stopped":
                    tools.stopped()
                self._show_result(answer, result)
        self._sent()
        view.end()
        for notice in self.session.notices:
            self.pane.add_notice(notice, severity="warning")
        self.session.notices.clear()
        self.query_one(KeyBar).release()  # a short turn's end shows its keys at once
        # The panel a frame later: the answer's last words are drawn first (redrawing the
        # panel made that frame ~8 ms longer)
        self.call_after_refresh(self.refresh_panel)

    def _show_result(self, answer: AssistantMessage, result: TurnResult) -> None:
        if result.status == "complete":
            d = result.metrics.diagnosis
            # A dim line under the answer when the cache missed (wrote what it could have read),
            # and why; a prompt too short to cache is said in the panel only, not every turn.
            cache = f"cache {d.line()}" if d and d.status in ("partial", "write") else None
            notes = [n for n in (result.stop_note, cache) if n]
            answer.finish("complete", note=" · ".join(notes) or None)
        elif result.status == "interrupted":
            tokens = result.metrics.usage.output_tokens or 0
            answer.finish("interrupted", note=f"interrupted — {tokens:,} tokens received",
                          error=result.error)  # fmt: skip
        elif result.status == "stopped":
            answer.finish("stopped", note=result.stop_note)
        else:
            answer.finish("failed", error=result.error)

    # -- actions -----------------------------------------------------------------------

    def action_stop(self) -> None:
        if self._turn is not None and self.streaming:
            self._turn.cancel()

    async def action_retry(self) -> None:
        if self.streaming or self.session.conversation.last is None:
            return
        if not self._within_budget(None):
            return
        if self._answer is not None:
            await self._answer.remove()
            self._answer = None
        if self._view is not None:
            await self._view.remove()
        if self._tool_view is not None:
            await self._tool_view.remove()
        self._start(self.session.retry)

    def action_toggle_provider(self) -> None:
        if self.streaming:
            self.notify("Stop the answer first (escape), then switch.", severity="warning")
            return
        if len(self.session.kinds) < 2:
            self.notify(
                f"Only {self.session.provider.label} is configured: set ANTHROPIC_API_KEY, "
                "OPENAI_API_KEY / OPENAI_BASE_URL or OLLAMA_HOST to switch.",
                severity="warning",
            )
            return
        p = self.session.cycle_provider()
        from chat_tui.core.faults import host_of

        self.pane.add_notice(f"Switched to {p.label} · {p.model} · {host_of(p.base_url)}")
        self.refresh_panel()
        self.warm_up()

    def action_load_document(self) -> None:
        def closed(changed: bool | None) -> None:
            if changed:
                self._document_loaded(screen.last_loaded)

        from chat_tui.ui.screens.document import DocumentScreen

        screen = DocumentScreen(self.session)
        self.app.push_screen(screen, closed)

    async def action_new_conversation(self) -> None:
        self.action_stop()
        self.session.new_conversation()
        self._answer = self._view = None
        await self.pane.clear_messages()
        self.refresh_panel()
        self.query_one(ChatInput).focus()

    def action_conversations(self) -> None:
        from chat_tui.ui.screens.conversations import ConversationsScreen

        store = self.session.store
        if store is None:
            self.notify("Conversations are not being saved (the database could not be opened).",
                        severity="warning")  # fmt: skip
            return

        async def chosen(conv_id: int | None) -> None:
            if conv_id is not None:
                await self.open_conversation(conv_id)

        self.app.push_screen(ConversationsScreen(store, self.session.conversation.id), chosen)

    def action_toggle_panel(self) -> None:
        width = self.size.width or self.app.size.width
        if not self.panel.display and width < PANEL_MIN_TERMINAL_WIDTH:
            self._show_panel = True  # asked for: shown once there is room
            self.notify(f"The panel needs a terminal {PANEL_MIN_TERMINAL_WIDTH} columns wide "
                        f"(this one has {width}): it shows again once the terminal is that wide.",
                        severity="warning")  # fmt: skip
            return
        self._show_panel = not self.panel.display
        self._fit_panel(width)

    def on_resize(self, event: events.Resize) -> None:
        self._fit_panel(event.size.width)

    def _fit_panel(self, width: int) -> None:
        """Show the panel when it is on and the terminal has room for it and the chat."""
        shown = self._show_panel and width >= PANEL_MIN_TERMINAL_WIDTH
        if self.panel.display != shown:
            self.panel.display = shown
            self.set_class(not shown, "-no-panel")

    def action_follow(self) -> None:
        self.pane.scroll_to_latest()

    async def open_conversation(self, conv_id: int) -> None:
        self.action_stop()
        try:
            notices = self.session.resume(conv_id)
        except ChatTuiError as exc:
            self.notify(str(exc), severity="error")
            return
        from chat_tui.core.thinking import stop_note
        from chat_tui.ui.tool_view import add_saved_calls

        pane = self.pane
        await pane.clear_messages()
        self._answer = None
        self._view = None
        pinned = self.session.settings.thinking_open
        for ex in self.session.conversation.exchanges:
            pane.add_user(ex.user)
            block = None
            if ex.thinking:
                block = ThinkingBlock(pinned=pinned, flush_interval=pane.flush_interval)
                block.load_thinking(ex.thinking, ex.thinking_s)
                pane.add_block(block)
            add_saved_calls(pane, ex.parts)
            if ex.answer_id is not None or ex.answer:
                note = "interrupted — resumed from the last checkpoint" if (
                    ex.status == "interrupted") else stop_note(
                    ex.stop_reason, None, answered=bool(ex.answer), thought=bool(ex.thinking),
                    retry_hint="ctrl+r retries with more")  # fmt: skip
                self._answer = pane.add_assistant(ex.answer, status=ex.status, note=note)
                self._view = TurnView(pane, self._answer)
                self._view.block = block
        for line in notices:
            pane.add_notice(line, severity="warning")
        pane.scroll_to_latest()
        self.refresh_panel()

    # -- keep-warm ---------------------------------------------------------------------

    def start_keep_warm(self) -> None:
        """Check once a second, while idle, whether the cache needs a ping (cheap: a clock
        read and a few comparisons)."""
        if self._keep_warm_timer is None:
            self._keep_warm_timer = self.set_interval(KEEP_WARM_TICK_S, self.keep_warm_tick)

    def keep_warm_tick(self) -> None:
        if not self.streaming and self.session.keep_warm_due():
            self.keep_warm_ping()

    @work(group="keep-warm", exclusive=True, exit_on_error=False)
    async def keep_warm_ping(self) -> None:
        await self.session.keep_warm_ping()
        self.refresh_panel()

    def toggle_keep_warm(self) -> None:
        kw = self.session.keep_warm
        kw.enabled = not kw.enabled
        kw.new_stretch()
        if kw.enabled:
            self.start_keep_warm()
        self.notify(
            f"Keep-warm {'on' if kw.enabled else 'off'}"
            + (f": a ping {kw.lead_s:g} s before the cache expires, at most {kw.max_pings} "
               "per idle stretch" if kw.enabled else "")
        )  # fmt: skip
        self.refresh_panel()

    # -- background work ---------------------------------------------------------------

    @on(KeyBar.Drawn)
    def _first_warm_up(self) -> None:
        if not self._warm_up_started:
            self._warm_up_started = True
            self.warm_up()

    @work(group="warm", exclusive=True, exit_on_error=False)
    async def warm_up(self) -> None:
        """Import the provider SDK and build its client off the event loop, so the first
        question does not pay for it. The SDK leaves a large heap of long-lived objects:
        freezing it keeps the cycle collector's full passes (tens of milliseconds, felt as
        stalls in a streaming answer) from scanning it again and again. The Markdown renderers
        (Rich Markdown, markdown-it, Pygments: tens of milliseconds) load here too, so neither
        the first frame nor the first answer waits for them.

        The command line paused the cycle collector for the start (see :mod:`chat_tui.cli`):
        it resumes here, once what the start built is frozen, whatever the warm-up met. While
        it was paused, every object is in its youngest generation: a collection now would scan
        the whole heap on the event loop (~150 ms, felt by a first answer already streaming) to
        free ~5,000 objects (measured), so the start's heap is frozen as it is."""
        try:
            await asyncio.to_thread(importlib.import_module, "chat_tui.ui.widgets.markdown_render")
            await self.session.provider_client()
        finally:
            if gc.isenabled():  # a later warm-up (a provider switch): little is unfrozen
                gc.collect()
            gc.freeze()
            gc.enable()

    @work(group="count", exclusive=True, exit_on_error=False)
    async def count_tokens(self) -> None:
        await self.session.count_document_tokens()
        self.refresh_panel()

    @work(group="probe", exclusive=True, exit_on_error=False)
    async def probe_setup(self) -> None:
        """Ollama is the fallback when nothing else is configured: when it is not running
        either, say how to set a provider up."""
        if self.session.provider.kind != "ollama":
            return
        from chat_tui.core.faults import host_of

        host = host_of(self.session.provider.base_url)
        name, _, port = host.rpartition(":")
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(name, int(port)), 0.5)
            writer.close()
        except (OSError, TimeoutError, ValueError):
            self._setup = Static(Text(SETUP_HELP), id="setup")
            await self.pane.mount(self._setup)

    def _remove_setup(self) -> None:
        setup, self._setup = self._setup, None
        if setup is not None:
            setup.remove()


def panel_documents(items: list[DocumentInfo]) -> tuple[PanelDocument, ...]:
    """The panel's entries: each document, a folder's files as one entry."""
    from chat_tui.ui.widgets.panel_sections import PanelDocument

    entries: list[PanelDocument] = []
    folders: dict[str, int] = {}
    for info in items:
        d = info.document
        if d.source:
            if d.source in folders:
                i = folders[d.source]
                e = entries[i]
                entries[i] = PanelDocument(
                    e.name, e.size_bytes + d.size_bytes, e.tokens + info.tokens,
                    e.counted and info.counted, e.warnings + tuple(info.warnings),
                    files=(e.files or 0) + 1,
                )  # fmt: skip
                continue
            folders[d.source] = len(entries)
            entries.append(PanelDocument(f"{d.source}/", d.size_bytes, info.tokens, info.counted,
                                         tuple(info.warnings), files=1))  # fmt: skip
            continue
        entries.append(PanelDocument(d.name, d.size_bytes, info.tokens, info.counted,
                                     tuple(info.warnings), pages=d.pages))  # fmt: skip
    return tuple(entries)
