"""A chat session: runs turns against the current provider and owns everything computed from
them: timing, usage, cost, the cache clock, and persistence. The TUI and ``chat-tui ask`` both
drive this class; neither talks to a provider directly.

A turn is a coroutine that reports text through a callback. Cancelling it (the stop key) closes
the provider's HTTP stream at once, keeps the partial answer and marks it stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from chat_tui.config import Settings
from chat_tui.core import advisor
from chat_tui.core.cache_doctor import Context, Diagnosis, Fingerprint, diagnose, fingerprint
from chat_tui.core.conversation import Conversation, Exchange, Status
from chat_tui.core.document_set import PAGE_IMAGE_TOKENS, Loaded
from chat_tui.core.documents import Document, estimate_tokens
from chat_tui.core.faults import describe, host_of
from chat_tui.core.keep_warm import KeepWarm
from chat_tui.core.mcp import McpManager, schema_tokens
from chat_tui.core.metrics import CacheClock, CacheKey, CacheState, Clock, TurnMetrics, TurnTimer
from chat_tui.core.models import ModelInfo, lookup_model
from chat_tui.core.observer import RequestObserver, observer_for, request_record
from chat_tui.core.parts import AnswerParts
from chat_tui.core.pricing import Cost
from chat_tui.core.sanitize import clean_text
from chat_tui.core.session_documents import DocumentInfo, DocumentShelf
from chat_tui.core.thinking import more_tokens, resolve, stop_note
from chat_tui.core.tool_rounds import run_rounds
from chat_tui.core.tool_turn import ToolView
from chat_tui.errors import BudgetError, ChatTuiError
from chat_tui.providers.base import (
    Provider,
    ProviderKind,
    ProviderSettings,
    make_provider,
    preload_sdk,
)
from chat_tui.providers.events import (
    TTL_SECONDS,
    CacheDiagnosis,
    CacheTTL,
    ChatRequest,
    ErrorKind,
    Part,
    PartDone,
    ProviderError,
    ResponseInfo,
    Stop,
    TextDelta,
    Thinking,
    ThinkingDelta,
    ThinkingMode,
    ToolCallDelta,
    ToolCallStart,
    ToolSpec,
    ToolUsePart,
    Usage,
    thinking_settings,
)

if TYPE_CHECKING:
    from chat_tui.core.storage import Store, StoredConversation, TurnRecord

CHECKPOINT_EVERY_S = 1.0
# The TTL advisor looks at this much history.
ADVISOR_WINDOW_S = 7 * 24 * 3600.0
ADVISOR_MAX_TURNS = 50

TextSink = Callable[[str], None]


@dataclass(frozen=True)
class TurnResult:
    status: Status
    metrics: TurnMetrics
    error: str | None = None
    error_kind: ErrorKind | None = None
    # The normalised stop reason (end_turn, max_tokens, refusal...) and the note it deserves
    # ("cut at the 80-token limit: ..."), None for a normal end.
    stop_reason: str | None = None
    stop_note: str | None = None
    # Every request of the turn (one per tool round), in order; ``metrics`` is the last.
    rounds: tuple[TurnMetrics, ...] = ()


class ChatSession:
    def __init__(
        self,
        settings: Settings,
        *,
        store: Store | None = None,
        open_store: Callable[[], Store] | None = None,
        clock: Clock = time.monotonic,
        wall: Clock = time.time,
        provider_factory: Callable[[ProviderSettings], Provider] = make_provider,
        retry_hint: str = "press ctrl+r to retry",
        budget_hint: str = "ctrl+p → Set spending budget",
    ) -> None:
        self.settings = settings
        self._store = store
        self._open_store = open_store  # the database, opened on first use (see ``store``)
        self.clock = clock
        self.wall = wall  # wall-clock seconds: what the cache doctor stores and compares
        self.budget_hint = budget_hint
        self.cache_clock = CacheClock(clock)
        self.retry_hint = retry_hint
        self._factory = provider_factory
        self._providers: dict[ProviderKind, Provider] = {}
        self._client_lock = asyncio.Lock()
        self.kinds: list[ProviderKind] = settings.configured_providers()
        self.provider: ProviderSettings = settings.provider_settings(settings.default_provider())
        self.ttl: CacheTTL = settings.cache_ttl
        self.thinking_mode: ThinkingMode = settings.thinking
        self.thinking_budget: int | None = settings.thinking_budget
        self._retry_max_tokens: int | None = None  # set by a retry after a max_tokens cut
        self.conversation = Conversation(system_prompt=settings.system_prompt)
        self.docs = DocumentShelf(self)
        self.turns: list[TurnMetrics] = []
        self.session_cost = Cost(0.0, 0.0)
        self.spent_usd = 0.0  # known costs this session (turns and pings): what the cap counts
        self.budget_usd: float | None = settings.budget_usd
        self.keep_warm = KeepWarm(
            settings.keep_warm, settings.keep_warm_max, settings.keep_warm_lead_s
        )
        self._inflight = 0  # requests running now (a turn, a keep-warm ping)
        # The cache doctor's memory: the last request to each (provider, host), and the
        # session's last request to any; the last request sent, for keep-warm pings.
        self._priors: dict[tuple[str, str], Fingerprint | None] = {}
        self._previous_any: Fingerprint | None = None
        self._last_request: tuple[ChatRequest, CacheKey, Fingerprint] | None = None
        self._sent_times: list[float] = []
        # One-line notices for the UI or CLI to show once (e.g. an uncappable price).
        self.notices: list[str] = []
        self._budget_warned = False
        self.observer: RequestObserver | None = observer_for(settings)  # telemetry, when on
        # MCP tools: servers start on the first call to start_tools (after the first frame).
        self.tools = McpManager(
            settings.mcp_servers, timeout=settings.tool_timeout,
            log_dir=settings.data_dir / "logs",
        )  # fmt: skip
        self.tools_enabled = settings.tools_enabled
        self.always_tools: set[str] = set()  # tools allowed for the whole session ("a")
        self._tools_start: asyncio.Task[None] | None = None
        self._base: list[Part] = []  # the turn's parts before the current round

    # -- the database --------------------------------------------------------------------

    @property
    def store(self) -> Store | None:
        """The conversation database. Given an ``open_store``, it is opened on first use, not
        when the session is built: the TUI draws its first screen before it needs the
        database. A database that cannot be opened is said once (``notices``); the session
        then goes on without saving."""
        if self._open_store is not None:
            opener, self._open_store = self._open_store, None
            try:
                self._store = opener()
            except ChatTuiError as exc:
                self.notices.append(f"{exc} (conversations will not be saved)")
        return self._store

    def close_store(self) -> None:
        """Close the database if it was opened (never opening it to close it)."""
        self._open_store = None
        store, self._store = self._store, None
        if store is not None:
            store.close()

    # -- provider, model, TTL ----------------------------------------------------------

    @property
    def model(self) -> str:
        return self.provider.model

    def model_info(self) -> ModelInfo | None:
        return lookup_model(self.provider.kind, self.model, self.settings.model_overrides)

    def cycle_provider(self) -> ProviderSettings:
        """Switch to the next configured provider; the conversation carries over."""
        kinds = self.kinds
        nxt = (
            kinds[(kinds.index(self.provider.kind) + 1) % len(kinds)]
            if (self.provider.kind in kinds)
            else kinds[0]
        )
        return self.use_provider(nxt)

    def use_provider(self, kind: ProviderKind, model: str | None = None) -> ProviderSettings:
        self.provider = self.settings.provider_settings(kind, model)
        self._refresh_document_warnings()
        return self.provider

    def set_model(self, model: str) -> None:
        self.provider = replace(self.provider, model=model)
        self._refresh_document_warnings()

    def set_ttl(self, ttl: CacheTTL) -> None:
        self.ttl = ttl

    def set_thinking(self, mode: ThinkingMode, budget: int | None = None) -> Thinking:
        """Change the thinking setting (and the budget, when given); returns what the next
        request to the current model asks for. Raises ThinkingError for a budget the API
        would reject, leaving the setting as it was."""
        chosen = self.thinking_budget if budget is None else budget
        setting = self._thinking_for(mode, chosen, self.settings.max_tokens)
        self.thinking_mode, self.thinking_budget = mode, chosen
        return setting

    def thinking(self, max_tokens: int | None = None) -> Thinking:
        """The thinking settings of the next request to the current model."""
        limit = self.settings.max_tokens if max_tokens is None else max_tokens
        return self._thinking_for(self.thinking_mode, self.thinking_budget, limit)

    def _thinking_for(self, mode: ThinkingMode, budget: int | None, max_tokens: int) -> Thinking:
        p = self.provider
        return resolve(
            mode, budget, provider=p.kind, model=p.model, info=self.model_info(),
            max_tokens=max_tokens,
        )  # fmt: skip

    async def provider_client(self) -> Provider:
        """The provider for the current settings. Building it imports the SDK, which takes
        a second or more: it happens in a thread so the UI keeps drawing. The warm-up at
        start and a first question may ask at once: the lock builds one client."""
        async with self._client_lock:
            kind = self.provider.kind
            current = self._providers.get(kind)
            if current is not None and current.settings.base_url == self.provider.base_url:
                current.settings = self.provider  # same client, maybe another model
                return current
            if current is not None:
                await current.aclose()
            await asyncio.to_thread(preload_sdk, kind)
            client = self._factory(self.provider)
            await asyncio.to_thread(client.prepare)
            self._providers[kind] = client
            return client

    # -- tools ---------------------------------------------------------------------------

    async def start_tools(self) -> None:
        """Start the MCP servers (once; later calls wait for the same start). Never raises:
        a server that fails is a status line."""
        if not self.tools_enabled or not self.tools.configured:
            return
        if self._tools_start is None:
            self._tools_start = asyncio.ensure_future(self.tools.start())
        await asyncio.shield(self._tools_start)
        self._refresh_document_warnings()

    def tool_specs(self) -> tuple[ToolSpec, ...]:
        """The tools the next request offers: none when tools are off."""
        return self.tools.specs() if self.tools_enabled else ()

    def tool_tokens(self) -> int:
        return schema_tokens(self.tool_specs())

    def set_tools_enabled(self, enabled: bool) -> None:
        self.tools_enabled = enabled
        self._refresh_document_warnings()

    async def aclose(self) -> None:
        with contextlib.suppress(Exception):
            await self.tools.aclose()
        for client in self._providers.values():
            with contextlib.suppress(Exception):
                await client.aclose()
        self._providers.clear()
        await self.docs.aclose()

    # -- cache clock ---------------------------------------------------------------------

    def cache_key(self) -> CacheKey:
        p = self.provider
        return CacheKey(p.kind, p.base_url or "", p.model, self.conversation.prefix_hash())

    def cache_state(self) -> CacheState:
        return self.cache_clock.state(self.cache_key())

    @property
    def cache_request_label(self) -> str:
        """What the requests ask of the provider's cache, for the panel: the Anthropic TTL;
        for OpenAI the retention sent (Responses API), else its automatic caching."""
        if self.provider.kind == "anthropic":
            return self.ttl
        from chat_tui.providers.openai_responses import requested_retention

        retention = requested_retention(self.provider)
        return f"{retention} retention" if retention else "automatic caching"

    @property
    def cache_reported(self) -> bool:
        """Ollama reports no cached tokens: its cache state is unknown, not cold."""
        return self.provider.kind != "ollama"

    # -- the reference document ----------------------------------------------------------

    @property
    def document(self) -> DocumentInfo | None:
        """The last document loaded (None: none); ``docs.items`` has them all."""
        return self.docs.items[-1] if self.docs.items else None

    @property
    def documents(self) -> list[DocumentInfo]:
        return self.docs.items

    def load_document(self, path: str | Path, *, upload: bool = False) -> DocumentInfo:
        """Load a file or folder and add it to the document set. Raises DocumentError."""
        self.add_documents(path, upload=upload)
        assert self.document is not None
        return self.document

    def add_documents(self, path: str | Path, *, upload: bool = False) -> Loaded:
        """Load a file or folder into the set; ``.summary`` says what a folder gave."""
        return self.docs.add(path, upload=upload)

    def set_document(self, doc: Document) -> DocumentInfo:
        self.docs.set([doc])
        assert self.document is not None
        return self.document

    def remove_document(self, index: int) -> Document:
        return self.docs.remove(index)

    def clear_document(self) -> None:
        self.docs.clear()

    async def count_document_tokens(self) -> DocumentInfo | None:
        """Replace the local estimates with the provider's counts where it has them."""
        await self.docs.count()
        return self.document

    def _refresh_document_warnings(self) -> None:
        self.docs.refresh()

    def _persist_document(self) -> None:
        self.docs.persist()

    # -- conversations -------------------------------------------------------------------

    def new_conversation(self) -> None:
        """Start afresh, keeping the provider, model and document."""
        docs = self.conversation.documents
        self.conversation = Conversation(system_prompt=self.settings.system_prompt, documents=docs)
        self.turns = []
        self.session_cost = Cost(0.0, 0.0)

    def resume(self, conv_id: int) -> list[str]:
        """Load a stored conversation. Returns one-line notices (e.g. the document changed)."""
        assert self.store is not None
        stored = self.store.load_conversation(conv_id)
        self.conversation = _conversation_from(stored, self.settings.system_prompt)
        self.turns = []
        cost, uncached = self.store.session_totals(conv_id)
        self.session_cost = Cost(cost, uncached)
        from chat_tui.core.document_store import load_documents

        return self.docs.restore(load_documents(self.store, conv_id))

    def _ensure_stored(self) -> None:
        if self.store is None or self.conversation.id is not None:
            return
        self.conversation.id = self.store.create_conversation(self.conversation.title)
        self._persist_document()

    # -- a turn ----------------------------------------------------------------------------

    async def ask(
        self, text: str, on_text: TextSink, on_thinking: TextSink | None = None,
        tools: ToolView | None = None,
    ) -> TurnResult:  # fmt: skip
        """Ask a new question. The question is stored before anything is sent. Answer text
        goes to ``on_text``, reasoning (sanitised) to ``on_thinking``. Raises BudgetError,
        before anything is stored or sent, when the turn could pass the spending budget."""
        self.preflight(text)
        exchange = self.conversation.ask(text)
        self._ensure_stored()
        if self.store is not None and self.conversation.id is not None:
            exchange.user_id = self.store.add_message(self.conversation.id, "user", text)
        result = await self._run(exchange, on_text, on_thinking, tools)
        if self.docs.stale_file(result.status, result.error_kind, result.error):
            # An uploaded file the server no longer has: check the ids again (uploading
            # what is gone) and ask once more; a turn never fails over a stale id.
            return await self.retry(on_text, on_thinking, tools) or result
        return result

    async def retry(
        self, on_text: TextSink, on_thinking: TextSink | None = None,
        tools: ToolView | None = None,
    ) -> TurnResult | None:  # fmt: skip
        """Re-ask the last question, replacing its answer. None when there is nothing to retry.
        An answer cut at the token limit is retried with twice the limit."""
        exchange = self.conversation.last
        if exchange is None or exchange.status in ("pending", "streaming"):
            return None
        self.preflight(None)
        if self.store is not None and exchange.answer_id is not None:
            self.store.delete_message(exchange.answer_id, keep_usage=True)
        if exchange.stop_reason == "max_tokens":
            used = (self.turns[-1].max_tokens if self.turns else None) or self.settings.max_tokens
            self._retry_max_tokens = more_tokens(used)
        exchange.parts, exchange.status, exchange.note, exchange.answer_id = (
            [],
            "pending",
            None,
            None,
        )
        exchange.stop_reason = None
        return await self._run(exchange, on_text, on_thinking, tools)

    def _turn_max_tokens(self) -> int:
        limit, self._retry_max_tokens = self._retry_max_tokens, None
        return limit or self.settings.max_tokens

    async def _run(
        self, exchange: Exchange, on_text: TextSink, on_thinking: TextSink | None = None,
        view: ToolView | None = None,
    ) -> TurnResult:  # fmt: skip
        """Run the turn: its requests, one a round while the model calls tools
        (``core/tool_rounds.py``)."""
        await self.start_tools()
        return await run_rounds(self, exchange, on_text, on_thinking, view)

    async def _round(
        self, exchange: Exchange, on_text: TextSink, on_thinking: TextSink | None,
        view: ToolView | None, max_tokens: int,
    ) -> TurnResult:  # fmt: skip
        """One request of the turn and its stream."""
        provider = self.provider
        try:
            await self.docs.before_turn()  # limits, Files API ids
            request = self._request(max_tokens=max_tokens)
        except ChatTuiError as exc:  # a thinking setting or document the API would reject
            exchange.status, exchange.note = "failed", str(exc)
            raise
        prior = self._prior(provider.kind, host_of(provider.base_url))
        if prior is not None and prior.response_id:  # for the provider's own diagnostics
            request = replace(request, previous_response_id=prior.response_id)
        key = self.cache_key()
        conv_id = self.conversation.id
        if self.store is not None and conv_id is not None and exchange.answer_id is None:
            exchange.answer_id = self.store.add_message(
                conv_id, "assistant", "", "streaming", provider=provider.kind, model=provider.model
            )
        exchange.status = "streaming"
        exchange.provider, exchange.model = provider.kind, provider.model
        parts = AnswerParts()
        usage = Usage()
        stop: Stop | None = None
        error: ProviderError | None = None
        info = ResponseInfo()
        server: CacheDiagnosis | None = None
        timer = TurnTimer(self.clock)
        status: Status = "failed"
        started = self.clock()
        self._inflight += 1
        self.keep_warm.new_stretch()
        sent_at = self.wall()
        try:
            client = await self.provider_client()
            # First-token latency runs from just before the request is sent.
            started = last_checkpoint = timer.start()
            sent_at = self.wall()
            async with contextlib.aclosing(client.stream(request)) as events:
                async for event in events:
                    if isinstance(event, TextDelta | ThinkingDelta):
                        text = clean_text(event.text)
                        if not text:
                            continue
                        if isinstance(event, TextDelta):
                            parts.text(text)
                            timer.on_text(text)
                            on_text(text)
                        else:
                            parts.thinking(text)
                            timer.on_thinking(text)
                            if on_thinking is not None:
                                on_thinking(text)
                        now = self.clock()
                        if now - last_checkpoint >= CHECKPOINT_EVERY_S:
                            last_checkpoint = now
                            self._checkpoint(exchange, parts, "streaming")
                    elif isinstance(event, PartDone):
                        parts.done(event.part)
                        if view is not None and isinstance(event.part, ToolUsePart):
                            view.call_ended(event.part)
                    elif isinstance(event, ToolCallStart | ToolCallDelta):
                        timer.on_tool_call()
                        if view is not None:
                            if isinstance(event, ToolCallStart):
                                view.call_started(event)
                            else:
                                view.call_arguments(event)
                    elif isinstance(event, Usage):
                        usage = usage.merged(event)
                    elif isinstance(event, Stop):
                        stop = event
                    elif isinstance(event, ProviderError):
                        error = event
                    elif isinstance(event, ResponseInfo):
                        info = event
                    elif isinstance(event, CacheDiagnosis):
                        server = event
            if error is not None:
                status = "interrupted" if parts.parts() or error.mid_stream else "failed"
            elif stop is not None:
                status = "complete"
            else:
                status = "interrupted"
                error = ProviderError(
                    ErrorKind.STREAM_BROKEN, "the stream ended early", mid_stream=True
                )
        except asyncio.CancelledError:
            status = "stopped"
            raise
        finally:
            self._inflight -= 1
            timer.finish()
            exchange.stop_reason = stop.reason if stop is not None and error is None else None
            checked = self._after_request(request, key, sent_at, prior, usage, info, server)
            result = self._finish(
                exchange, parts, status, usage, error, timer, key, started, checked, max_tokens
            )
            if self.observer is not None:
                answer = parts.answer_text()
                self.observer(request_record(result, provider, request, stop, info, answer))
        return result

    # -- the cache doctor ------------------------------------------------------------------

    def _request(
        self, next_question: str | None = None, *, max_tokens: int | None = None
    ) -> ChatRequest:
        """The request for the last exchange, or the one asking ``next_question`` would send.
        Raises ChatTuiError for a thinking setting the API would reject."""
        limit = max_tokens or self.settings.max_tokens
        conv = self.conversation
        if next_question is not None:
            conv = replace(conv, exchanges=[*conv.exchanges, Exchange(user=next_question)])
        return conv.build_request(
            self.provider.model, ttl=self.ttl, max_tokens=limit, provider=self.provider.kind,
            thinking=self.thinking(limit), tools=self.tool_specs(),
        )  # fmt: skip

    @property
    def automatic_cache(self) -> bool:
        """True for servers that cache prefixes themselves (no breakpoints, no write fee)."""
        return self.provider.kind != "anthropic"

    def _prior(self, provider: str, host: str) -> Fingerprint | None:
        """The last request to this provider and host: this session's, else the latest one
        stored (so a new ``ask`` run compares with the previous run)."""
        key = (provider, host)
        if key not in self._priors:
            found = None
            if self.store is not None:
                last = self.store.last_request_to(provider, host)
                if last is not None and last[0].fingerprint is not None:
                    found = Fingerprint.from_json(last[0].fingerprint)
            self._priors[key] = found
        return self._priors[key]

    def _fingerprint(self, request: ChatRequest, sent_at: float) -> Fingerprint:
        ttl_s = _cache_ttl_s(self.provider, request.cache_ttl, Usage())  # as requested
        return fingerprint(
            request, provider=self.provider.kind, host=host_of(self.provider.base_url),
            sent_at=sent_at, ttl_s=ttl_s, thinking=thinking_settings(request),
            tools=[t.as_dict() for t in request.tools] or None,
        )  # fmt: skip

    def _after_request(
        self,
        request: ChatRequest,
        key: CacheKey,
        sent_at: float,
        prior: Fingerprint | None,
        usage: Usage,
        info: ResponseInfo,
        server: CacheDiagnosis | None,
    ) -> tuple[Diagnosis, Fingerprint] | None:
        """Diagnose the request's cache outcome and remember its fingerprint as the next one's
        prior; returns both. Nothing to diagnose when no response came (no prompt figures).
        The fingerprint is taken here, after the response, to keep hashing off the path to the
        first token."""
        if usage.input_tokens is None:
            return None
        sent = self._fingerprint(request, sent_at)
        model = self.model_info()
        ctx = Context(
            reported=self.cache_reported, automatic=self.automatic_cache, info=model,
            ttl=request.cache_ttl, previous_any=self._previous_any, server=server,
        )  # fmt: skip
        diagnosis = diagnose(sent, prior, usage, ctx)
        if _writes_unreported(usage):
            cached = usage.prompt_tokens  # cached automatically, writes not reported
        else:
            cached = (usage.cache_read_tokens or 0) + (usage.cache_write_tokens or 0)
        done = replace(
            sent, cached_tokens=cached, prompt_tokens=usage.prompt_tokens, response_id=info.id
        )
        self._priors[(done.provider, done.host)] = done
        self._previous_any = done
        self._last_request = (request, key, done)
        self._sent_times.append(done.sent_at)
        return diagnosis, done

    def _start_clock(self, key: CacheKey, usage: Usage, started: float, *, complete: bool) -> None:
        """A write or read restarts the TTL. A server that caches automatically but reports
        no writes holds the prefix after a complete turn all the same: warm, assumed."""
        ttl_s = _cache_ttl_s(self.provider, self.ttl, usage)
        if (usage.cache_write_tokens or 0) + (usage.cache_read_tokens or 0) > 0:
            self.cache_clock.record(key, ttl_s, started)
        elif complete and _writes_unreported(usage):
            self.cache_clock.record(key, ttl_s, started, assumed=True)

    # -- advice: budget, TTL ----------------------------------------------------------------

    def estimate_usd(self, request: ChatRequest) -> float | None:
        """The most ``request`` can cost: the prompt by its expected cache class, the answer
        at ``max_tokens``."""
        if self.provider.kind == "ollama":
            return 0.0
        text = "".join(b.text for b in request.system) + "".join(m.text for m in request.messages)
        prompt = estimate_tokens(text) + schema_tokens(request.tools)
        if self.provider.kind == "anthropic":  # PDF pages are also read as images
            prompt += sum(PAGE_IMAGE_TOKENS * (d.pages or 0) for d in self.conversation.documents
                          if d.data is not None)  # fmt: skip
        prior = self._prior(self.provider.kind, host_of(self.provider.base_url))
        warm = self.cache_state().status in ("warm", "expiring")
        read = (prior.cached_tokens or 0) if warm and prior is not None else 0
        return advisor.estimate_request_usd(
            self.model_info(), prompt_tokens=prompt, read_tokens=read,
            write_tokens=0 if self.automatic_cache else prompt - read,
            max_tokens=request.max_tokens, ttl=request.cache_ttl,
            automatic=self.automatic_cache,
        )  # fmt: skip

    def preflight(self, text: str | None) -> None:
        """Raise BudgetError when asking ``text`` (None: retrying the last question) could
        pass the spending budget. Cheap: the UI calls it before showing anything."""
        if self.budget_usd is not None:
            self.check_budget(self._request(text))

    def check_budget(self, request: ChatRequest) -> advisor.BudgetCheck:
        """Raise BudgetError when ``request`` could pass the cap; otherwise the check (which
        may carry a one-time warning that the price is unknown)."""
        check = advisor.check_budget(
            self.budget_usd, self.spent_usd, self.estimate_usd(request), hint=self.budget_hint
        )
        if not check.allowed:
            raise BudgetError(check.message or "over budget")
        if check.message and not self._budget_warned:  # an unknown price: said once
            self._budget_warned = True
            self.notices.append(f"budget: {check.message}")
        return check

    def budget_status(self) -> tuple[str, bool] | None:
        """(line, warn) for the panel; None without a cap."""
        if self.budget_usd is None:
            return None
        if self.model_info() is None and self.provider.kind != "ollama":
            return f"cannot cap: {self.model}'s price is unknown", True
        spent, cap = self.spent_usd, self.budget_usd
        return advisor.budget_line(cap, spent), spent >= advisor.BUDGET_WARN_FRACTION * cap

    def ttl_advice(self) -> advisor.TtlAdvice | None:
        """Whether the other TTL would have been cheaper for this user's gaps between turns
        (this session plus recent stored history), for the current prompt prefix."""
        if self.automatic_cache or not self.turns:
            return None
        last = self.turns[-1].usage
        prefix = (last.cache_read_tokens or 0) + (last.cache_write_tokens or 0)
        times = set(self._sent_times)
        if self.store is not None:
            since = self.wall() - ADVISOR_WINDOW_S
            times |= set(self.store.recent_turn_times(since, provider=self.provider.kind))
        recent = sorted(times)[-ADVISOR_MAX_TURNS:]
        return advisor.advise_ttl(recent, prefix, self.model_info(), self.ttl)

    def projection_inputs(self) -> tuple[int, int, bool]:
        """(prompt tokens, cacheable tokens, estimated) of the current prompt, for the monthly
        projection: the last turn's figures, else the system prompt and document."""
        if self.turns and self.turns[-1].usage.prompt_tokens is not None:
            u = self.turns[-1].usage
            prompt = u.prompt_tokens or 0
            cached = (u.cache_read_tokens or 0) + (u.cache_write_tokens or 0)
            if self.automatic_cache:
                cached = prompt
            return prompt, min(cached, prompt) or prompt, False
        prefix = estimate_tokens(self.conversation.system_prompt)
        counted = False
        if self.docs.items:
            prefix += self.docs.total
            counted = all(i.counted for i in self.docs.items)
        return prefix, prefix, not counted

    # -- keep-warm --------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        """True while a turn or a ping is running."""
        return self._inflight > 0

    def keep_warm_due(self) -> bool:
        if self._last_request is None or self._last_request[1] != self.cache_key():
            return False
        return self.keep_warm.due(self.cache_state(), busy=self.busy)

    async def keep_warm_ping(self) -> bool:
        """Send one keep-warm ping now (the last request again, ``max_tokens`` 1). Never
        raises for a provider fault: a failure is one line and ends this stretch's pings.
        Returns True when the ping read the cache."""
        if self._last_request is None:
            return False
        request, key, prior = self._last_request
        request = replace(request, max_tokens=1, previous_response_id=None)
        kw = self.keep_warm
        try:
            self.check_budget(request)
        except BudgetError:
            kw.stopped = "stopped: the next ping could pass the spending budget"
            kw.last_line = kw.stopped
            return False
        usage = Usage()
        error: ProviderError | None = None
        timer = TurnTimer(self.clock)
        self._inflight += 1
        try:
            client = await self.provider_client()
            started = timer.start()
            sent_at = self.wall()
            async with contextlib.aclosing(client.stream(request)) as events:
                async for event in events:
                    if isinstance(event, Usage):
                        usage = usage.merged(event)
                    elif isinstance(event, ProviderError):
                        error = event
        finally:
            self._inflight -= 1
            timer.finish()
        if error is not None:
            kw.fail(describe(error, self.provider, retry_hint="it stops until the next turn"))
            return False
        provider = self.provider
        info = self.model_info()
        metrics = TurnMetrics.from_turn(provider.kind, provider.model, timer, usage, info, self.ttl)
        read = usage.cache_read_tokens or 0
        rewrite = advisor.estimate_request_usd(
            info, prompt_tokens=read, read_tokens=0, write_tokens=read, max_tokens=0,
            ttl=self.ttl, automatic=self.automatic_cache,
        )  # fmt: skip
        kw.record(metrics.cost.usd, rewrite)
        self.session_cost = self.session_cost + metrics.cost
        self.spent_usd += metrics.cost.usd or 0.0
        self._start_clock(key, usage, started, complete=True)
        pinged = replace(prior, sent_at=sent_at)
        self._priors[(pinged.provider, pinged.host)] = pinged
        self._last_request = (self._last_request[0], key, pinged)
        if self.store is not None:
            self.store.record_request(
                "keep_warm", _turn_record(replace(metrics, fingerprint=pinged), provider),
                conversation_id=self.conversation.id,
            )  # fmt: skip
        if self.observer is not None:
            done = TurnResult("complete", metrics)
            self.observer(request_record(done, provider, request, None, None, "", kind="keep_warm"))
        return read > 0

    def _checkpoint(self, exchange: Exchange, parts: AnswerParts, status: Status) -> None:
        exchange.parts = [*self._base, *parts.parts()]
        if self.store is not None and exchange.answer_id is not None:
            self.store.checkpoint(exchange.answer_id, exchange.parts, status)

    def _finish(
        self,
        exchange: Exchange,
        parts: AnswerParts,
        status: Status,
        usage: Usage,
        error: ProviderError | None,
        timer: TurnTimer,
        key: CacheKey,
        started: float,
        checked: tuple[Diagnosis, Fingerprint] | None,
        max_tokens: int = 0,
    ) -> TurnResult:
        text = parts.output_text()  # thinking is billed as output
        if usage.output_tokens is None and text:
            usage = usage.merged(Usage(output_tokens=estimate_tokens(text), output_estimated=True))
        elif usage.output_tokens is None and error is not None:
            usage = usage.merged(Usage(output_tokens=0, output_estimated=True))
        provider = self.provider
        metrics = TurnMetrics.from_turn(
            provider.kind, provider.model, timer, usage, self.model_info(), self.ttl,
            thinking_estimate=estimate_tokens(parts.thinking_text()),
            stop_reason=exchange.stop_reason,
            max_tokens=max_tokens or self.settings.max_tokens,
        )  # fmt: skip
        if checked is not None:
            metrics = replace(metrics, diagnosis=checked[0], fingerprint=checked[1])
        cost = metrics.cost
        message = None
        if error is not None:
            received = usage.output_tokens or 0
            message = describe(
                error, provider, received_tokens=received, retry_hint=self.retry_hint
            )
        exchange.status = status
        exchange.note = message
        self._checkpoint(exchange, parts, status)
        if self.store is not None and exchange.answer_id is not None:
            self.store.record_turn(exchange.answer_id, _turn_record(metrics, provider))
        self._start_clock(key, usage, started, complete=status == "complete")
        self.turns.append(metrics)
        self.session_cost = self.session_cost + cost
        self.spent_usd += cost.usd or 0.0
        exchange.thinking_s = metrics.thinking_s
        note = stop_note(
            exchange.stop_reason, max_tokens or self.settings.max_tokens, answered=parts.answered,
            thought=parts.thought, retry_hint=self._more_hint(),
        )  # fmt: skip
        return TurnResult(
            status, metrics, message, error.kind if error else None, exchange.stop_reason, note
        )

    def _more_hint(self) -> str:
        if self.retry_hint.startswith("press ctrl+r"):
            return "ctrl+r retries with more"
        return "raise --max-tokens and " + self.retry_hint


def _cache_ttl_s(provider: ProviderSettings, ttl: CacheTTL, usage: Usage) -> float:
    """How long the cache written or read by this turn lives: the TTL the provider reports
    having written (Anthropic splits writes into 5-minute and 1-hour), else the one asked for;
    for OpenAI, the retention the request carried (Responses API; else a conservative 5 min)."""
    if provider.kind != "anthropic":
        from chat_tui.providers.openai_responses import requested_cache_ttl_s  # not at start-up

        return requested_cache_ttl_s(provider)
    if usage.cache_write_1h_tokens:
        return float(TTL_SECONDS["1h"])
    if usage.cache_write_5m_tokens:
        return float(TTL_SECONDS["5m"])
    return float(TTL_SECONDS[ttl])


def _writes_unreported(usage: Usage) -> bool:
    """True for a server that caches prefixes automatically and reports reads but not writes:
    the prompt is cached after the turn all the same."""
    return usage.cache_write_tokens is None and usage.cache_read_tokens is not None


def _turn_record(metrics: TurnMetrics, provider: ProviderSettings) -> TurnRecord:
    from chat_tui.core.storage import TurnRecord

    u = metrics.usage
    d, sent = metrics.diagnosis, metrics.fingerprint
    return TurnRecord(
        provider=metrics.provider,
        model=metrics.model,
        base_url_host=host_of(provider.base_url),
        ttft_s=metrics.ttft_s,
        total_s=metrics.total_s,
        tokens_per_s=metrics.tokens_per_s,
        input_tokens=u.input_tokens,
        cache_write_tokens=u.cache_write_tokens,
        cache_write_5m_tokens=u.cache_write_5m_tokens,
        cache_write_1h_tokens=u.cache_write_1h_tokens,
        cache_read_tokens=u.cache_read_tokens,
        output_tokens=u.output_tokens,
        output_estimated=u.output_estimated,
        cost_usd=metrics.cost.usd,
        uncached_cost_usd=metrics.cost.uncached_usd,
        raw_usage=u.raw,
        sent_at=sent.sent_at if sent else None,
        response_id=sent.response_id if sent else None,
        fingerprint=sent.to_json() if sent else None,
        cache_status=d.status if d else None,
        cache_miss_reason=d.reason if d else None,
        cache_miss_detail=d.line() if d else None,
        cache_missed_tokens=d.missed_tokens if d else None,
        server_cache_miss_reason=d.server_reason if d else None,
        first_text_s=metrics.first_text_s,
        thinking_s=metrics.thinking_s,
        thinking_tokens=metrics.thinking_tokens,
        thinking_estimated=metrics.thinking_estimated,
        stop_reason=metrics.stop_reason,
    )


def _conversation_from(stored: StoredConversation, system_prompt: str) -> Conversation:
    conv = Conversation(system_prompt=system_prompt, title=stored.title, id=stored.id)
    pending: Exchange | None = None
    for msg in stored.messages:
        if msg.role == "user":
            pending = Exchange(user=msg.text, status="failed", user_id=msg.id)
            conv.exchanges.append(pending)
        elif pending is not None:
            pending.parts = msg.content()
            pending.status = _status(msg.status)
            pending.answer_id = msg.id
            pending.provider, pending.model = msg.provider, msg.model
            if msg.metrics is not None:
                pending.stop_reason, pending.thinking_s = (
                    msg.metrics.stop_reason,
                    msg.metrics.thinking_s,
                )
            pending = None
    return conv


def _status(stored: str) -> Status:
    """A stored status as the conversation knows it; a leftover 'streaming' was cut off."""
    known: tuple[Status, ...] = ("complete", "stopped", "interrupted", "failed")
    return next((s for s in known if s == stored), "interrupted")
