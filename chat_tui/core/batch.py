"""Batches: many questions about the same documents, on the providers' batch engines, at half
price (Anthropic Message Batches, the OpenAI Batch API).

Every request is built like a chat's first question (:mod:`chat_tui.core.batch_requests`), so
all of them, and the prewarm request, share one cached prefix: the system prompt, then the
documents, with the cache breakpoint after them.

The flow: :meth:`BatchEngine.prewarm` writes the shared prefix to the cache with one ordinary
request (batch cache hits are best-effort; a warm 1-hour cache makes them likely);
:meth:`~BatchEngine.submit` splits the requests at the provider's limits and records the job
before anything else can fail; :meth:`~BatchEngine.wait` polls (2 s, backing off to 60 s; a
network error is retried at the next poll, the batch ids are already stored);
:meth:`~BatchEngine.fetch_results` stores each result once (idempotent) and its usage.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from chat_tui.core.batch_input import Question
from chat_tui.core.batch_requests import (
    LIMITS,
    BatchError,
    BatchLimits,
    batch_request,
    line_size,
    prefix_conversation,
    split_sizes,
)
from chat_tui.core.batch_store import BatchStore, StoredJob
from chat_tui.core.documents import Document, estimate_tokens
from chat_tui.core.faults import describe, host_of
from chat_tui.core.models import lookup_model
from chat_tui.core.pricing import ZERO_COST, Cost, batch_cost, turn_cost
from chat_tui.core.storage import Store, TurnRecord
from chat_tui.providers.base import Provider, ProviderSettings, make_provider
from chat_tui.providers.batch_base import (
    BatchAPIError,
    BatchClient,
    BatchOutcome,
    BatchState,
    make_batch_client,
)
from chat_tui.providers.events import (
    CacheTTL,
    ErrorKind,
    ProviderError,
    ResponseInfo,
    Usage,
)

__all__ = [
    "LIMITS",
    "BatchEngine",
    "BatchError",
    "BatchLimits",
    "BatchSpec",
    "Prewarm",
    "Progress",
    "batch_request",
    "prefix_conversation",
    "request_record",
]

FIRST_POLL_S = 2.0
MAX_POLL_S = 60.0
BACKOFF = 1.5
PREWARM_QUESTION = "Reply with OK."
PREWARM_MAX_TOKENS = 4
FLUSH_EVERY = 500  # results stored per transaction (each usage row is its own)
RETRY_HINT = "run the command again"
NOT_RUN_REASONS = {
    "expired": "the batch's 24-hour window ended before this request ran",
    "canceled": "the batch was canceled before this request ran",
}

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]


@dataclass(frozen=True)
class BatchSpec:
    questions: Sequence[Question]
    provider: ProviderSettings
    ttl: CacheTTL
    max_tokens: int
    system_prompt: str
    input_name: str
    input_sha256: str
    documents: tuple[Document, ...] = ()
    retry_of: int | None = None
    out_path: str | None = None  # where the results go, kept for `batch results`


@dataclass(frozen=True)
class Prewarm:
    """The prewarm request: its usage and cost (at the interactive price), or why it was not
    sent (``skipped``) or failed (``error``)."""

    usage: Usage | None = None
    cost: Cost = ZERO_COST
    request_id: int | None = None
    skipped: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class Progress:
    job_id: int
    total: int
    done: int
    succeeded: int | None  # None until every batch of the job reports it
    errored: int | None
    ended: bool
    elapsed_s: float
    next_poll_s: float | None = None
    retrying: str | None = None  # the last poll's network error, retried at the next poll


# -- requests ----------------------------------------------------------------------------


def request_record(
    provider: ProviderSettings, model: str, usage: Usage, cost: Cost, response_id: str | None
) -> TurnRecord:
    return TurnRecord(
        provider=provider.kind,
        model=model,
        base_url_host=host_of(provider.base_url),
        ttft_s=None,
        total_s=None,
        tokens_per_s=None,
        input_tokens=usage.input_tokens,
        cache_write_tokens=usage.cache_write_tokens,
        cache_write_5m_tokens=usage.cache_write_5m_tokens,
        cache_write_1h_tokens=usage.cache_write_1h_tokens,
        cache_read_tokens=usage.cache_read_tokens,
        output_tokens=usage.output_tokens,
        output_estimated=usage.output_estimated,
        cost_usd=cost.usd,
        uncached_cost_usd=cost.uncached_usd,
        raw_usage=usage.raw,
        sent_at=time.time(),
        response_id=response_id,
    )


# -- the engine ----------------------------------------------------------------------------


class BatchEngine:
    def __init__(
        self,
        store: Store,
        *,
        model_overrides: Mapping[str, Mapping[str, Any]] | None = None,
        client_factory: Callable[[ProviderSettings], BatchClient] = make_batch_client,
        provider_factory: Callable[[ProviderSettings], Provider] = make_provider,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = time.monotonic,
        limits: Mapping[str, BatchLimits] | None = None,
    ) -> None:
        self.store = store
        self.batches = BatchStore(store)
        self.model_overrides = model_overrides
        self._client_factory = client_factory
        self._provider_factory = provider_factory
        self._sleep = sleep
        self._clock = clock
        self.limits = dict(limits or LIMITS)
        self._clients: dict[tuple[str, str | None], BatchClient] = {}

    def client(self, provider: ProviderSettings) -> BatchClient:
        key = (provider.kind, provider.base_url)
        if key not in self._clients:
            self._clients[key] = self._client_factory(provider)
        return self._clients[key]

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()

    def _fail(self, exc: BatchAPIError, provider: ProviderSettings, what: str) -> BatchError:
        return BatchError(f"{what}: {describe(exc.error, provider, retry_hint=RETRY_HINT)}")

    # -- prewarm

    async def prewarm(self, spec: BatchSpec) -> Prewarm:
        """Write the shared prefix to the cache with one ordinary request, and record it."""
        if not spec.documents:
            return Prewarm(skipped="no document: the questions share no long prefix to cache")
        p = spec.provider
        info = lookup_model(p.kind, p.model, self.model_overrides)
        prefix = prefix_conversation(spec.system_prompt, spec.documents)
        request = batch_request(
            prefix, PREWARM_QUESTION, model=p.model, ttl=spec.ttl,
            max_tokens=PREWARM_MAX_TOKENS, kind=p.kind,
        )  # fmt: skip
        tokens = sum(estimate_tokens(block.text) for block in request.system)
        if info is not None and info.min_cache_tokens and tokens < info.min_cache_tokens:
            return Prewarm(
                skipped=f"the shared prefix is about {tokens:,} tokens, below the"
                f" {info.min_cache_tokens:,} that {p.model} caches: nothing would be cached"
            )
        provider = self._provider_factory(p)
        usage, error, response_id = Usage(), None, None
        try:
            async for event in provider.stream(request):
                if isinstance(event, Usage):
                    usage = usage.merged(event)
                elif isinstance(event, ResponseInfo):
                    response_id = event.id
                elif isinstance(event, ProviderError):
                    error = event
        finally:
            await provider.aclose()
        if error is not None and usage.input_tokens is None:
            line = describe(error, p, retry_hint=RETRY_HINT)
            if error.kind not in (ErrorKind.AUTH, ErrorKind.NO_KEY):
                line += " (or pass --no-prewarm to send the batch without it)"
            return Prewarm(error=line)
        cost = turn_cost(info, usage, spec.ttl)
        record = request_record(p, p.model, usage, cost, response_id)
        request_id = self.store.record_request("prewarm", record)
        return Prewarm(usage, cost, request_id)

    # -- submit

    async def submit(
        self,
        spec: BatchSpec,
        prewarm: Prewarm | None = None,
        *,
        on_submitted: Callable[[int, BatchState], None] | None = None,
    ) -> int:
        """Send the questions as one or more batches; returns the job's number. The job is
        stored before the first call; a batch's id as soon as the provider returns it (then
        ``on_submitted(job, state)`` is called)."""
        p = spec.provider
        if p.kind not in self.limits:
            raise BatchError(f"{p.label} has no batch API: use --provider anthropic or openai")
        if not spec.questions:
            raise BatchError("no questions to send")
        client = self.client(p)
        prefix = prefix_conversation(spec.system_prompt, spec.documents)

        def line(q: Question) -> dict[str, Any]:
            return client.request_line(q.id, batch_request(
                prefix, q.text, model=p.model, ttl=spec.ttl,
                max_tokens=q.max_tokens or spec.max_tokens, kind=p.kind,
            ))  # fmt: skip

        # Lines are built again per batch rather than all kept: each carries the documents,
        # and thousands of copies of a long document would not fit in memory.
        sizes = [(q.id, line_size(line(q))) for q in spec.questions]
        parts = split_sizes(sizes, self.limits[p.kind])
        job_id = self.batches.create_job(
            provider=p.kind,
            model=p.model,
            base_url_host=host_of(p.base_url),
            ttl=spec.ttl,
            input_name=spec.input_name,
            input_sha256=spec.input_sha256,
            documents=[d.name for d in spec.documents],
            prefix_sha256=prefix.prefix_hash(),
            items=[(q.id, q.text, q.max_tokens) for q in spec.questions],
            retry_of=spec.retry_of,
            out_path=spec.out_path,
        )
        if prewarm is not None and prewarm.request_id is not None:
            self.batches.set_prewarm(job_id, prewarm.request_id)
        for number, part in enumerate(parts):
            questions = [spec.questions[i] for i in part]
            try:
                state = await client.submit([line(q) for q in questions])
            except BatchAPIError as exc:
                if number == 0:
                    self.batches.delete_job(job_id)
                    raise self._fail(exc, p, "cannot submit the batch") from exc
                self.batches.mark_unsubmitted(job_id, f"not submitted: {exc.error.message}")
                raise BatchError(
                    f"part {number + 1} of {len(parts)} was not submitted ({exc.error.message});"
                    f" the first {number} run as batch {job_id}: fetch them with"
                    f" `chat-tui batch results {job_id}`, then resend the rest with"
                    f" --only-failed {job_id}"
                ) from exc
            except BaseException:  # interrupted (Ctrl-C) while sending
                if number == 0:
                    self.batches.delete_job(job_id)
                else:
                    self.batches.mark_unsubmitted(job_id, "not submitted: interrupted")
                raise
            self.batches.add_batch(job_id, number, state, [q.id for q in questions])
            if on_submitted is not None:
                on_submitted(job_id, state)
        return job_id

    # -- poll

    async def refresh(self, job: StoredJob, provider: ProviderSettings) -> list[BatchState]:
        """One status call for each batch of the job that has not ended; stored."""
        client = self.client(provider)
        return await self._each_open(job, provider, client.retrieve, "cannot check batch")

    async def _each_open(
        self,
        job: StoredJob,
        provider: ProviderSettings,
        call: Callable[[str], Awaitable[BatchState]],
        failure: str,
    ) -> list[BatchState]:
        """``call`` for each batch of the job that has not ended; each new state stored."""
        states = []
        for b in job.batches:
            if b.ended:
                continue
            try:
                state = await call(b.id)
            except BatchAPIError as exc:
                raise self._fail(exc, provider, f"{failure} {b.id}") from exc
            self.batches.update_batch(state)
            states.append(state)
        return states

    async def wait(
        self,
        job_id: int,
        provider: ProviderSettings,
        *,
        poll: float | None = None,
        on_progress: Callable[[Progress], None] | None = None,
    ) -> Progress:
        """Poll until every batch of the job has ended. ``poll`` fixes the interval; by default
        it starts at 2 s and backs off to 60 s. Network and provider-load errors are retried at
        the next poll; any other error raises BatchError (the job stays stored)."""
        job = self.batches.job(job_id)
        client = self.client(provider)
        states = {
            b.id: BatchState(b.id, b.status, b.ended, b.request_count, b.done_count)
            for b in job.batches
        }
        started = self._clock()
        interval = poll if poll is not None else FIRST_POLL_S
        while True:
            retrying = None
            for batch_id, old in states.items():
                if old.ended:
                    continue
                try:
                    state = await client.retrieve(batch_id)
                except BatchAPIError as exc:
                    if not exc.transient:
                        raise self._fail(exc, provider, f"cannot check batch {batch_id}") from exc
                    retrying = exc.error.message
                    continue
                self.batches.update_batch(state)
                # OpenAI reports a total of 0 while it validates the input: we know better.
                states[batch_id] = replace(state, total=max(state.total, old.total))
            progress = _progress(job_id, list(states.values()), self._clock() - started)
            if not progress.ended:
                progress = replace(progress, next_poll_s=interval, retrying=retrying)
            if on_progress is not None:
                on_progress(progress)
            if progress.ended:
                return progress
            await self._sleep(interval)
            if poll is None:
                interval = min(MAX_POLL_S, interval * BACKOFF)

    # -- results

    async def fetch_results(self, job_id: int, provider: ProviderSettings) -> StoredJob:
        """Store the results of every ended batch of the job not fetched yet, once each."""
        job = self.batches.job(job_id)
        info = lookup_model(job.provider, job.model, self.model_overrides)
        client = self.client(provider)
        for b in job.batches:
            if not b.ended or b.results_fetched:
                continue
            pending = self.batches.pending_ids(job_id)
            billed = self.batches.usage_rows(b.id)
            done: list[tuple[BatchOutcome, int | None]] = []
            try:
                async for outcome in client.results(b.id):
                    if outcome.custom_id not in pending:
                        continue  # stored by an earlier run, or not ours
                    pending.discard(outcome.custom_id)
                    request_id = billed.get(outcome.custom_id)
                    if (
                        request_id is None
                        and outcome.status == "succeeded"
                        and outcome.usage is not None
                    ):
                        cost = batch_cost(info, outcome.usage, job.ttl)
                        record = request_record(
                            provider, job.model, outcome.usage, cost, outcome.response_id
                        )
                        request_id = self.store.record_request(
                            "batch", record, batch_id=b.id, custom_id=outcome.custom_id
                        )
                    if outcome.error is None and outcome.status in NOT_RUN_REASONS:
                        outcome = replace(outcome, error=NOT_RUN_REASONS[outcome.status])
                    done.append((outcome, request_id))
                    if len(done) >= FLUSH_EVERY:
                        self.batches.record_outcomes(job_id, done)
                        done = []
                leftover, reason = await self._leftover(client, b.id, b.status)
            except BatchAPIError as exc:
                raise self._fail(exc, provider, f"cannot read the results of {b.id}") from exc
            finally:  # what arrived is kept, whatever stopped the stream
                self.batches.record_outcomes(job_id, done)
            self.batches.mark_fetched(b.id, leftover, reason)
        return self.batches.job(job_id)

    async def _leftover(self, client: BatchClient, batch_id: str, status: str) -> tuple[str, str]:
        """What a request the provider returned no result for became, and why."""
        if status == "expired":
            return "expired", NOT_RUN_REASONS["expired"]
        if status in ("cancelled", "canceled"):
            return "canceled", NOT_RUN_REASONS["canceled"]
        if status == "failed":
            state = await client.retrieve(batch_id)
            return "errored", f"the provider rejected the batch: {state.failure or 'no reason'}"
        return "errored", "the provider returned no result for this request"

    async def cancel(self, job_id: int, provider: ProviderSettings) -> list[BatchState]:
        """Ask the provider to cancel every batch of the job that has not ended."""
        job = self.batches.job(job_id)
        client = self.client(provider)
        return await self._each_open(job, provider, client.cancel, "cannot cancel")


def _progress(job_id: int, states: list[BatchState], elapsed: float) -> Progress:
    def total(values: list[int | None]) -> int | None:
        return None if any(v is None for v in values) else sum(v or 0 for v in values)

    return Progress(
        job_id=job_id,
        total=sum(s.total for s in states),
        done=sum(s.done for s in states),
        succeeded=total([s.succeeded for s in states]),
        errored=total([s.errored for s in states]),
        ended=all(s.ended for s in states),
        elapsed_s=elapsed,
    )
