"""The batch repository, on the conversation database (tables from migration ``m006_batches``).

A *job* is one ``chat-tui batch`` run, numbered locally (``batch 3``); it is sent as one or more
provider batches (split at the providers' limits), each known by the provider's id. Its
questions are ``batch_items`` in input order; an item's outcome is written once (idempotent:
an item that is no longer ``pending`` is never overwritten). The usage and cost of a billed
request live in the ``requests`` table (kind ``batch``), like every other request.

Every write is one committed transaction (see :mod:`chat_tui.core.storage`): a batch id is
stored before polling starts, so a closed terminal or a killed process loses nothing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from chat_tui.core.storage import Store
from chat_tui.providers.batch_base import BatchOutcome, BatchState
from chat_tui.providers.events import Usage

ITEM_STATUSES = ("pending", "succeeded", "errored", "canceled", "expired")


@dataclass(frozen=True)
class StoredBatch:
    id: str
    part: int
    status: str
    ended: bool
    results_fetched: bool
    request_count: int
    done_count: int
    created_at: float


@dataclass(frozen=True)
class StoredItem:
    seq: int
    custom_id: str
    question: str
    max_tokens: int | None
    batch_id: str | None
    status: str
    answer: str | None
    error: str | None
    stop_reason: str | None
    usage: Usage | None
    cost_usd: float | None


@dataclass(frozen=True)
class StoredJob:
    id: int
    created_at: float
    provider: str
    model: str
    base_url_host: str | None
    ttl: str
    input_name: str
    input_sha256: str
    documents: list[str]
    prefix_sha256: str | None
    retry_of: int | None
    out_path: str | None
    prewarm_usage: Usage | None
    prewarm_cost_usd: float | None
    batches: list[StoredBatch]
    items: list[StoredItem]

    @property
    def ended(self) -> bool:
        return bool(self.batches) and all(b.ended for b in self.batches)

    @property
    def fetched(self) -> bool:
        return self.ended and all(b.results_fetched for b in self.batches)


@dataclass(frozen=True)
class JobSummary:
    id: int
    created_at: float
    provider: str
    model: str
    input_name: str
    batch_ids: list[str]
    total: int
    counts: dict[str, int]
    ended: bool


_USAGE_COLUMNS = (
    "input_tokens",
    "cache_write_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "cache_read_tokens",
    "output_tokens",
)
_USAGE_SELECT = ", ".join(f"r.{c}" for c in _USAGE_COLUMNS)


class BatchStore:
    def __init__(self, store: Store) -> None:
        self.store = store

    def create_job(
        self,
        *,
        provider: str,
        model: str,
        base_url_host: str | None,
        ttl: str,
        input_name: str,
        input_sha256: str,
        documents: Sequence[str],
        prefix_sha256: str | None,
        items: Sequence[tuple[str, str, int | None]],
        retry_of: int | None = None,
        out_path: str | None = None,
    ) -> int:
        """Store a job and its questions (``custom_id, question, max_tokens``, in order)."""
        with self.store.writing() as db:
            cur = db.execute(
                "INSERT INTO batch_jobs (created_at, provider, model, base_url_host, ttl,"
                " input_name, input_sha256, documents, prefix_sha256, retry_of, out_path)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    time.time(), provider, model, base_url_host, ttl, input_name, input_sha256,
                    json.dumps(list(documents)), prefix_sha256, retry_of, out_path,
                ),
            )  # fmt: skip
            job_id = cast(int, cur.lastrowid)
            db.executemany(
                "INSERT INTO batch_items (job_id, seq, custom_id, question, max_tokens)"
                " VALUES (?, ?, ?, ?, ?)",
                [(job_id, seq, cid, q, mt) for seq, (cid, q, mt) in enumerate(items)],
            )
        return job_id

    def set_prewarm(self, job_id: int, request_id: int) -> None:
        with self.store.writing() as db:
            db.execute(
                "UPDATE batch_jobs SET prewarm_request_id = ? WHERE id = ?", (request_id, job_id)
            )

    def add_batch(
        self, job_id: int, part: int, state: BatchState, custom_ids: Sequence[str]
    ) -> None:
        """Record a submitted provider batch and which questions went into it."""
        with self.store.writing() as db:
            db.execute(
                "INSERT INTO batches (id, job_id, part, status, ended, request_count, done_count,"
                " created_at, checked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    state.id, job_id, part, state.status, int(state.ended), len(custom_ids),
                    state.done, time.time(), time.time(),
                ),
            )  # fmt: skip
            db.executemany(
                "UPDATE batch_items SET batch_id = ? WHERE job_id = ? AND custom_id = ?",
                [(state.id, job_id, cid) for cid in custom_ids],
            )

    def update_batch(self, state: BatchState) -> None:
        with self.store.writing() as db:
            db.execute(
                "UPDATE batches SET status = ?, ended = ?, done_count = ?, checked_at = ?"
                " WHERE id = ?",
                (state.status, int(state.ended), state.done, time.time(), state.id),
            )

    def mark_fetched(self, batch_id: str, leftover: str, reason: str | None) -> int:
        """The batch's results are all stored: items it returned nothing for get ``leftover``
        (with ``reason``). Returns how many such items there were."""
        with self.store.writing() as db:
            cur = db.execute(
                "UPDATE batch_items SET status = ?, error = ?"
                " WHERE batch_id = ? AND status = 'pending'",
                (leftover, reason, batch_id),
            )
            db.execute("UPDATE batches SET results_fetched = 1 WHERE id = ?", (batch_id,))
            return cur.rowcount

    def mark_unsubmitted(self, job_id: int, reason: str) -> int:
        """Questions that never reached the provider: errored, so ``--only-failed`` resends them."""
        with self.store.writing() as db:
            cur = db.execute(
                "UPDATE batch_items SET status = 'errored', error = ?"
                " WHERE job_id = ? AND batch_id IS NULL AND status = 'pending'",
                (reason, job_id),
            )
            return cur.rowcount

    def pending_ids(self, job_id: int) -> set[str]:
        """The custom ids of the job's questions that have no outcome yet."""
        with self.store.reading() as db:
            rows = db.execute(
                "SELECT custom_id FROM batch_items WHERE job_id = ? AND status = 'pending'",
                (job_id,),
            ).fetchall()
        return {str(r[0]) for r in rows}

    def usage_rows(self, batch_id: str) -> dict[str, int]:
        """Usage rows already recorded for the batch's requests, by custom id: a fetch cut
        short between recording a request's usage and its outcome must not bill it twice."""
        with self.store.reading() as db:
            rows = db.execute(
                "SELECT custom_id, MIN(id) FROM requests WHERE kind = 'batch' AND batch_id = ?"
                " GROUP BY custom_id",
                (batch_id,),
            ).fetchall()
        return {str(cid): int(rid) for cid, rid in rows}

    def record_outcomes(
        self, job_id: int, outcomes: Sequence[tuple[BatchOutcome, int | None]]
    ) -> int:
        """Store results (each with its usage row id, if billed) in one transaction. An item
        that already has an outcome is left as it is. Returns how many were stored."""
        stored = 0
        with self.store.writing() as db:
            for outcome, request_id in outcomes:
                cur = db.execute(
                    "UPDATE batch_items SET status = ?, answer = ?, error = ?, stop_reason = ?,"
                    " request_id = ? WHERE job_id = ? AND custom_id = ? AND status = 'pending'",
                    (
                        outcome.status, outcome.text if outcome.status == "succeeded" else None,
                        outcome.error, outcome.stop_reason, request_id, job_id,
                        outcome.custom_id,
                    ),
                )  # fmt: skip
                stored += cur.rowcount
        return stored

    def record_outcome(self, job_id: int, outcome: BatchOutcome, request_id: int | None) -> bool:
        """Store one result; False when it was stored already or is not one of the job's."""
        return self.record_outcomes(job_id, [(outcome, request_id)]) > 0

    def delete_job(self, job_id: int) -> None:
        """Forget a job nothing of which reached the provider."""
        with self.store.writing() as db:
            db.execute("DELETE FROM batch_items WHERE job_id = ?", (job_id,))
            db.execute("DELETE FROM batches WHERE job_id = ?", (job_id,))
            db.execute("DELETE FROM batch_jobs WHERE id = ?", (job_id,))

    def find_job(self, ref: str) -> int | None:
        """The job for a local number (``3``) or a provider batch id (``msgbatch_...``)."""
        with self.store.reading() as db:
            if ref.isdigit():
                row = db.execute("SELECT id FROM batch_jobs WHERE id = ?", (int(ref),)).fetchone()
            else:
                row = db.execute("SELECT job_id FROM batches WHERE id = ?", (ref,)).fetchone()
        return None if row is None else int(row[0])

    def job(self, job_id: int) -> StoredJob:
        with self.store.reading() as db:
            head = db.execute(
                "SELECT j.id, j.created_at, j.provider, j.model, j.base_url_host, j.ttl,"
                " j.input_name, j.input_sha256, j.documents, j.prefix_sha256, j.retry_of,"
                f" j.out_path, r.id, {_USAGE_SELECT}, r.cost_usd"
                " FROM batch_jobs j LEFT JOIN requests r ON r.id = j.prewarm_request_id"
                " WHERE j.id = ?",
                (job_id,),
            ).fetchone()
            if head is None:
                raise KeyError(job_id)
            batches = db.execute(
                "SELECT id, part, status, ended, results_fetched, request_count, done_count,"
                " created_at FROM batches WHERE job_id = ? ORDER BY part",
                (job_id,),
            ).fetchall()
            items = db.execute(
                "SELECT i.seq, i.custom_id, i.question, i.max_tokens, i.batch_id, i.status,"
                f" i.answer, i.error, i.stop_reason, r.id, {_USAGE_SELECT}, r.cost_usd"
                " FROM batch_items i LEFT JOIN requests r ON r.id = i.request_id"
                " WHERE i.job_id = ? ORDER BY i.seq",
                (job_id,),
            ).fetchall()
        prewarm = _usage(head[13:19]) if head[12] is not None else None
        return StoredJob(
            id=head[0],
            created_at=head[1],
            provider=head[2],
            model=head[3],
            base_url_host=head[4],
            ttl=head[5],
            input_name=head[6],
            input_sha256=head[7],
            documents=json.loads(head[8] or "[]"),
            prefix_sha256=head[9],
            retry_of=head[10],
            out_path=head[11],
            prewarm_usage=prewarm,
            prewarm_cost_usd=head[19],
            batches=[
                StoredBatch(r[0], r[1], r[2], bool(r[3]), bool(r[4]), r[5], r[6], r[7])
                for r in batches
            ],
            items=[
                StoredItem(
                    seq=r[0],
                    custom_id=r[1],
                    question=r[2],
                    max_tokens=r[3],
                    batch_id=r[4],
                    status=r[5],
                    answer=r[6],
                    error=r[7],
                    stop_reason=r[8],
                    usage=_usage(r[10:16]) if r[9] is not None else None,
                    cost_usd=r[16],
                )
                for r in items
            ],
        )

    def list_jobs(self, limit: int = 50) -> list[JobSummary]:
        """The latest ``limit`` jobs, newest first, with their counts by status."""
        with self.store.reading() as db:
            jobs = db.execute(
                "SELECT id, created_at, provider, model, input_name FROM batch_jobs"
                " ORDER BY id DESC LIMIT ?",
                (limit,),
            ).fetchall()
            out = []
            for job_id, created, provider, model, name in jobs:
                ids = db.execute(
                    "SELECT id, ended FROM batches WHERE job_id = ? ORDER BY part", (job_id,)
                ).fetchall()
                counts = dict(
                    db.execute(
                        "SELECT status, COUNT(*) FROM batch_items WHERE job_id = ? GROUP BY status",
                        (job_id,),
                    ).fetchall()
                )
                total = sum(counts.values())
                ended = bool(ids) and all(e for _, e in ids)
                out.append(
                    JobSummary(
                        job_id, created, provider, model, name, [i for i, _ in ids], total,
                        counts, ended,
                    )
                )  # fmt: skip
        return out


def _usage(row: Sequence[Any]) -> Usage:
    values = dict(zip(_USAGE_COLUMNS, row, strict=True))
    return Usage(**values)
