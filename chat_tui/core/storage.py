"""The conversation repository: conversations, messages, per-turn metrics and documents.

Durability: WAL mode, ``synchronous=NORMAL``, one committed transaction per write. A commit is
in the ``-wal`` file when ``COMMIT`` returns, so it survives the process being killed (kill -9,
a crash, a closed terminal); only an OS crash or power loss can lose the last few commits.

Crash recovery: a message still ``streaming`` at open belongs to a process that died
mid-answer; :meth:`Store.open` marks it ``interrupted`` (count in :attr:`Store.recovered`). A
second instance streaming at that moment writes ``streaming`` back at its next checkpoint.

Privacy: the file and its ``-wal``/``-shm`` are 0600, a directory created for it 0700 (see
:func:`~chat_tui.core.migrations.open_database`). No column holds credentials; a base URL is
reduced to host[:port]. Threading: one connection, used from the event-loop thread only.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast
from urllib.parse import urlsplit

from chat_tui.core import parts as part_codec
from chat_tui.core.migrations import open_database
from chat_tui.errors import StorageError
from chat_tui.providers.events import Part, TextPart, parts_text

Role = Literal["user", "assistant"]
ROLES: tuple[str, ...] = ("user", "assistant")
STATUSES: tuple[str, ...] = ("streaming", "complete", "stopped", "interrupted", "failed")
# Requests that are not conversation turns, stored in the ``requests`` table.
# ``replaced``: a chat turn whose answer a retry replaced; it was billed, so it stays counted.
# "tool_round": a request of a turn with tool calls that was followed by another (the
# message's own turns row holds the turn's last request).
REQUEST_KINDS: tuple[str, ...] = ("keep_warm", "prewarm", "batch", "replaced", "tool_round")

_OPEN_HINT = "move it aside or set CHAT_TUI_DATA_DIR"
_WRITE_HINT = "check free disk space and the file's permissions"


@dataclass(frozen=True)
class StoredDocument:
    sha256: str
    name: str
    path: str | None
    text: str
    size_bytes: int
    encoding: str


@dataclass(frozen=True)
class TurnRecord:
    """One assistant turn's metrics. ``None`` means *not known*, never 0."""

    provider: str
    model: str
    base_url_host: str | None
    ttft_s: float | None
    total_s: float | None
    tokens_per_s: float | None
    input_tokens: int | None
    cache_write_tokens: int | None
    cache_write_5m_tokens: int | None
    cache_write_1h_tokens: int | None
    cache_read_tokens: int | None
    output_tokens: int | None
    output_estimated: bool
    cost_usd: float | None
    uncached_cost_usd: float | None
    raw_usage: dict[str, Any] | None
    # The cache doctor's record (migration m004): when the request left (wall clock), the
    # provider's response id, the prefix fingerprint (JSON of per-part hashes) and the verdict.
    sent_at: float | None = None
    response_id: str | None = None
    fingerprint: dict[str, Any] | None = None
    cache_status: str | None = None
    cache_miss_reason: str | None = None
    cache_miss_detail: str | None = None
    cache_missed_tokens: int | None = None
    server_cache_miss_reason: str | None = None
    # Thinking and the stop reason (migration m005).
    first_text_s: float | None = None
    thinking_s: float | None = None
    thinking_tokens: int | None = None
    thinking_estimated: bool = False
    stop_reason: str | None = None


@dataclass(frozen=True)
class StoredMessage:
    id: int
    role: Role
    text: str
    status: str
    created_at: float
    provider: str | None
    model: str | None
    metrics: TurnRecord | None
    # The conversation's document when this message was added (the one its turn used).
    document_sha256: str | None = None
    # The typed content (migration m005); None for rows written before it: their text is it.
    parts: list[Part] | None = None

    def content(self) -> list[Part]:
        """The message's parts: the stored ones, else its text as one part."""
        if self.parts is not None:
            return self.parts
        return [TextPart(self.text)] if self.text else []


@dataclass(frozen=True)
class ConversationSummary:
    id: int
    title: str
    created_at: float
    updated_at: float
    message_count: int
    document_name: str | None


@dataclass(frozen=True)
class StoredConversation:
    id: int
    title: str
    created_at: float
    updated_at: float
    document: StoredDocument | None
    messages: list[StoredMessage]


@dataclass(frozen=True)
class UsageRow:
    """One recorded model request for usage reports: a chat turn (``kind`` "chat") or a row
    of the ``requests`` table (its kind). ``at`` is when it was recorded (wall clock)."""

    kind: str
    at: float
    conversation_id: int | None
    conversation_title: str | None
    record: TurnRecord


_TURN_FIELDS: tuple[str, ...] = tuple(TurnRecord.__dataclass_fields__)
_TURN_COLUMNS = ", ".join(_TURN_FIELDS)
_TURN_SELECT = ", ".join(f"t.{name}" for name in _TURN_FIELDS)
_JSON_FIELDS = ("raw_usage", "fingerprint")
_DOC_COLUMNS = "d.sha256, d.name, d.path, d.text, d.size_bytes, d.encoding"


class Store:
    """The conversation repository. Create with :meth:`open`; every write commits."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self.path = path
        self.recovered = 0  # messages marked 'interrupted' by open()

    @classmethod
    def open(cls, path: Path) -> Store:
        """Open (creating if needed) the database at ``path``, upgrade its schema and mark
        messages left ``streaming`` by a killed process as ``interrupted``."""
        path = Path(path).expanduser()
        try:
            conn = open_database(path)
            store = cls(conn, path)
            try:  # also proves the file is writable: an UPDATE fails on a read-only db
                with store._transaction():
                    store.recovered = store._mark_streaming_interrupted()
            except BaseException:
                conn.close()
                raise
        except (OSError, sqlite3.Error) as exc:
            raise StorageError(
                f"cannot open the conversation database {path}: {_reason(exc)}; {_OPEN_HINT}"
            ) from exc
        return store

    def close(self) -> None:
        """Close the connection; SQLite folds the WAL back into the database file."""
        with contextlib.suppress(sqlite3.Error):
            self._conn.execute("PRAGMA optimize")
        self._conn.close()  # closing twice is harmless

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- conversations -------------------------------------------------------------------

    def create_conversation(self, title: str = "New conversation") -> int:
        now = time.time()
        with self._writing() as db:
            cur = db.execute(
                "INSERT INTO conversations (title, created_at, updated_at) VALUES (?, ?, ?)",
                (title, now, now),
            )
            return cast(int, cur.lastrowid)

    def rename_conversation(self, conv_id: int, title: str) -> None:
        with self._writing() as db:
            cur = db.execute(
                "UPDATE conversations SET title = ?, updated_at = ? WHERE id = ?",
                (title, time.time(), conv_id),
            )
            _require(cur.rowcount, conv_id)

    def delete_conversation(self, conv_id: int) -> None:
        """Delete a conversation, its messages and turns, and documents nothing else uses.
        Deleting a conversation that does not exist does nothing."""
        with self._writing() as db:
            db.execute("DELETE FROM conversations WHERE id = ?", (conv_id,))
            _collect_documents(db)

    def list_conversations(self, limit: int = 200) -> list[ConversationSummary]:
        """The ``limit`` most recently updated conversations, newest first."""
        with self._guard() as db:
            rows = db.execute(
                "SELECT c.id, c.title, c.created_at, c.updated_at,"
                " (SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id), d.name"
                " FROM conversations c LEFT JOIN documents d ON d.sha256 = c.document_sha256"
                " ORDER BY c.updated_at DESC, c.id DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [ConversationSummary(*row) for row in rows]

    def last_conversation_id(self) -> int | None:
        """The most recently updated conversation, the one to resume; None if there is none."""
        with self._guard() as db:
            row = db.execute(
                "SELECT id FROM conversations ORDER BY updated_at DESC, id DESC LIMIT 1"
            ).fetchone()
        return None if row is None else int(row[0])

    def load_conversation(self, conv_id: int) -> StoredConversation:
        """The conversation with its document and every message and turn: two queries."""
        with self._guard() as db:
            head = db.execute(
                f"SELECT c.id, c.title, c.created_at, c.updated_at, {_DOC_COLUMNS}"
                " FROM conversations c LEFT JOIN documents d ON d.sha256 = c.document_sha256"
                " WHERE c.id = ?",
                (conv_id,),
            ).fetchone()
            _require(head is not None, conv_id)
            rows = db.execute(
                "SELECT m.id, m.role, m.text, m.status, m.created_at, m.provider, m.model,"
                f" m.document_sha256, m.parts, t.message_id, {_TURN_SELECT}"
                " FROM messages m LEFT JOIN turns t ON t.message_id = m.id"
                " WHERE m.conversation_id = ? ORDER BY m.id",
                (conv_id,),
            ).fetchall()
        document = None if head[4] is None else StoredDocument(*head[4:10])
        messages = [_message(row) for row in rows]
        return StoredConversation(head[0], head[1], head[2], head[3], document, messages)

    def set_document(self, conv_id: int, doc: StoredDocument | None) -> None:
        """Point the conversation at ``doc`` (None: no document). Documents are deduplicated
        by sha256: when the text is already stored, the first name and path are kept."""
        now = time.time()
        with self._writing() as db:
            if doc is not None:
                db.execute(
                    "INSERT OR IGNORE INTO documents"
                    " (sha256, name, path, text, size_bytes, encoding, loaded_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (doc.sha256, doc.name, doc.path, doc.text, doc.size_bytes, doc.encoding, now),
                )
            cur = db.execute(
                "UPDATE conversations SET document_sha256 = ?, updated_at = ? WHERE id = ?",
                (None if doc is None else doc.sha256, now, conv_id),
            )
            _require(cur.rowcount, conv_id)
            _collect_documents(db)

    # -- messages ------------------------------------------------------------------------

    def add_message(
        self,
        conv_id: int,
        role: str,
        text: str,
        status: str = "complete",
        *,
        provider: str | None = None,
        model: str | None = None,
        parts: Sequence[Part] | None = None,
    ) -> int:
        """Store a message (committed before this returns) and return its id. The message
        records the conversation's current document. With ``parts``, they are its content
        (and ``text`` should be their text, for search and export)."""
        _check(role, ROLES, "role")
        _check(status, STATUSES, "status")
        now = time.time()
        encoded = None if parts is None else part_codec.dumps(list(parts))
        with self._writing() as db:
            cur = db.execute("UPDATE conversations SET updated_at = ? WHERE id = ?", (now, conv_id))
            _require(cur.rowcount, conv_id)
            cur = db.execute(
                "INSERT INTO messages (conversation_id, role, text, status, created_at,"
                " updated_at, provider, model, parts, document_sha256) VALUES"
                " (?, ?, ?, ?, ?, ?, ?, ?, ?, (SELECT document_sha256 FROM conversations"
                " WHERE id = ?))",
                (conv_id, role, text, status, now, now, provider, model, encoded, conv_id),
            )
            return cast(int, cur.lastrowid)

    def checkpoint(
        self,
        message_id: int,
        text: str | Sequence[Part],
        status: str = "streaming",
    ) -> None:
        """Save a streaming answer so far, as plain text or as parts (their text goes to the
        text column): one UPDATE and a commit. A message that no longer exists (its
        conversation was deleted mid-stream) is ignored."""
        _check(status, STATUSES, "status")
        if isinstance(text, str):
            plain, encoded = text, None
        else:
            plain, encoded = parts_text(list(text)), part_codec.dumps(list(text))
        with self._writing() as db:
            db.execute(
                "UPDATE messages SET text = ?, parts = ?, status = ?, updated_at = ? WHERE id = ?",
                (plain, encoded, status, time.time(), message_id),
            )

    def record_turn(self, message_id: int, record: TurnRecord) -> None:
        """Store (or replace) the metrics of the turn that produced ``message_id``. A message
        that no longer exists is ignored. ``base_url_host`` is reduced to host[:port]."""
        values = _turn_values(record)
        marks = ", ".join("?" * len(values))
        with self._writing() as db:
            db.execute(
                f"INSERT OR REPLACE INTO turns (message_id, recorded_at, {_TURN_COLUMNS})"
                f" SELECT id, ?, {marks} FROM messages WHERE id = ?",
                (time.time(), *values, message_id),
            )

    def record_request(
        self,
        kind: str,
        record: TurnRecord,
        *,
        conversation_id: int | None = None,
        batch_id: str | None = None,
        custom_id: str | None = None,
    ) -> int:
        """Store a request that is not a conversation turn (``kind`` in REQUEST_KINDS): a
        keep-warm ping, a batch prewarm, one request of a batch. Returns its row id."""
        _check(kind, REQUEST_KINDS, "request kind")
        values = _turn_values(record)
        marks = ", ".join("?" * len(values))
        with self._writing() as db:
            cur = db.execute(
                "INSERT INTO requests (kind, conversation_id, batch_id, custom_id, recorded_at,"
                f" {_TURN_COLUMNS}) VALUES (?, ?, ?, ?, ?, {marks})",
                (kind, conversation_id, batch_id, custom_id, time.time(), *values),
            )
            return cast(int, cur.lastrowid)

    def writing(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        """One write transaction, committed on exit, for repositories built on this store
        (batches); an sqlite3 error becomes a one-line StorageError."""
        return self._writing()

    def reading(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        """Read access for repositories built on this store; errors as for :meth:`writing`."""
        return self._guard()

    def last_request_to(
        self, provider: str, base_url_host: str | None
    ) -> tuple[TurnRecord, int | None] | None:
        """The latest recorded request (turn or not) to this provider and host that has a
        fingerprint, with its conversation id: what the cache doctor compares a new request
        with, even from an earlier run. None when there is none."""
        host = _host_only(base_url_host)
        query = (
            f"SELECT {_TURN_SELECT}, m.conversation_id FROM turns t"
            " JOIN messages m ON m.id = t.message_id"
            " WHERE t.provider = ? AND t.base_url_host IS ? AND t.fingerprint IS NOT NULL"
            " UNION ALL"
            f" SELECT {_TURN_SELECT}, t.conversation_id FROM requests t"
            " WHERE t.provider = ? AND t.base_url_host IS ? AND t.fingerprint IS NOT NULL"
            " ORDER BY sent_at DESC LIMIT 1"
        )
        with self._guard() as db:
            row = db.execute(query, (provider, host, provider, host)).fetchone()
        if row is None:
            return None
        return _turn_record(row[: len(_TURN_FIELDS)]), row[len(_TURN_FIELDS)]

    def recent_turn_times(self, since: float, provider: str | None = None) -> list[float]:
        """Wall-clock send times of chat turns since ``since``, oldest first (for the TTL
        advisor's gaps between turns)."""
        query = "SELECT sent_at FROM turns WHERE sent_at IS NOT NULL AND sent_at >= ?"
        params: list[Any] = [since]
        if provider is not None:
            query += " AND provider = ?"
            params.append(provider)
        with self._guard() as db:
            rows = db.execute(query + " ORDER BY sent_at", params).fetchall()
        return [float(r[0]) for r in rows]

    def delete_message(self, message_id: int, *, keep_usage: bool = False) -> None:
        """Delete one message and its turn (e.g. a retry replacing an answer). With
        ``keep_usage``, the turn's figures move to the ``requests`` table as kind
        ``replaced`` first: the request was billed, so usage history still counts it."""
        with self._writing() as db:
            if keep_usage:
                db.execute(
                    "INSERT INTO requests (kind, conversation_id, recorded_at,"
                    f" {_TURN_COLUMNS}) SELECT 'replaced', m.conversation_id, t.recorded_at,"
                    f" {_TURN_SELECT} FROM turns t JOIN messages m ON m.id = t.message_id"
                    " WHERE t.message_id = ?",
                    (message_id,),
                )
            db.execute("DELETE FROM messages WHERE id = ?", (message_id,))
            _collect_documents(db)

    def session_totals(self, conv_id: int) -> tuple[float | None, float | None]:
        """(cost, uncached cost) in USD summed over the conversation's recorded turns (and
        the earlier requests of turns with tool rounds).

        Each figure is None as soon as one turn's figure is unknown: a partial sum would
        understate the total. With no recorded turns both are 0.0.
        """
        with self._guard() as db:
            turns, n_cost, cost, n_uncached, uncached = db.execute(
                "SELECT COUNT(*), COUNT(c), TOTAL(c), COUNT(u), TOTAL(u) FROM ("
                " SELECT t.cost_usd AS c, t.uncached_cost_usd AS u"
                " FROM turns t JOIN messages m ON m.id = t.message_id"
                " WHERE m.conversation_id = ?"
                " UNION ALL SELECT cost_usd, uncached_cost_usd FROM requests"
                " WHERE kind = 'tool_round' AND conversation_id = ?)",
                (conv_id, conv_id),
            ).fetchone()
        return (cost if n_cost == turns else None, uncached if n_uncached == turns else None)

    def usage_rows(
        self, since: float | None = None, conversation_id: int | None = None
    ) -> list[UsageRow]:
        """Every chat turn and other request recorded since ``since`` (all when None), in one
        conversation when ``conversation_id`` is given; oldest first."""
        where, params = "t.recorded_at >= ?", [since if since is not None else float("-inf")]
        if conversation_id is not None:
            where += " AND c.id = ?"
            params.append(conversation_id)
        query = (
            f"SELECT 'chat', t.recorded_at, m.conversation_id, c.title, {_TURN_SELECT}"
            " FROM turns t JOIN messages m ON m.id = t.message_id"
            f" LEFT JOIN conversations c ON c.id = m.conversation_id WHERE {where}"
            " UNION ALL"
            f" SELECT t.kind, t.recorded_at, t.conversation_id, c.title, {_TURN_SELECT}"
            f" FROM requests t LEFT JOIN conversations c ON c.id = t.conversation_id WHERE {where}"
            " ORDER BY 2"
        )
        with self._guard() as db:
            rows = db.execute(query, params * 2).fetchall()
        return [UsageRow(r[0], r[1], r[2], r[3], _turn_record(r[4:])) for r in rows]

    def recover_interrupted(self) -> int:
        """Mark every message still ``streaming`` as ``interrupted``; return how many."""
        with self._writing():
            return self._mark_streaming_interrupted()

    # -- internals -----------------------------------------------------------------------

    def _mark_streaming_interrupted(self) -> int:
        cur = self._conn.execute(
            "UPDATE messages SET status = 'interrupted' WHERE status = 'streaming'"
        )
        return cur.rowcount

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
            self._conn.execute("COMMIT")
        except BaseException:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            raise

    @contextlib.contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        with self._guard("write to", _WRITE_HINT), self._transaction() as db:
            yield db

    @contextlib.contextmanager
    def _guard(self, verb: str = "read", hint: str = _OPEN_HINT) -> Iterator[sqlite3.Connection]:
        """Turn any sqlite3 error into a one-line :class:`StorageError`."""
        try:
            yield self._conn
        except sqlite3.Error as exc:
            reason = _reason(exc)
            raise StorageError(
                f"cannot {verb} the conversation database {self.path}: {reason}; {hint}"
            ) from exc


def _turn_values(record: TurnRecord) -> list[Any]:
    """A record as column values, in ``_TURN_FIELDS`` order."""
    values = [getattr(record, name) for name in _TURN_FIELDS]
    values[_TURN_FIELDS.index("base_url_host")] = _host_only(record.base_url_host)
    values[_TURN_FIELDS.index("output_estimated")] = int(record.output_estimated)
    values[_TURN_FIELDS.index("thinking_estimated")] = int(record.thinking_estimated)
    for name in _JSON_FIELDS:
        value = getattr(record, name)
        values[_TURN_FIELDS.index(name)] = (
            None if value is None else json.dumps(value, sort_keys=True, default=str)
        )
    return values


def _turn_record(row: Sequence[Any]) -> TurnRecord:
    turn = dict(zip(_TURN_FIELDS, row, strict=True))
    turn["output_estimated"] = bool(turn["output_estimated"])
    turn["thinking_estimated"] = bool(turn["thinking_estimated"])
    for name in _JSON_FIELDS:
        raw = turn[name]
        turn[name] = None if raw is None else json.loads(raw)
    return TurnRecord(**turn)


def _message(row: tuple[Any, ...]) -> StoredMessage:
    metrics = None
    if row[9] is not None:
        metrics = _turn_record(row[10:])
    role = cast(Role, row[1])
    parts = part_codec.loads(row[8])
    return StoredMessage(
        row[0], role, row[2], row[3], row[4], row[5], row[6], metrics, row[7], parts
    )


def _collect_documents(db: sqlite3.Connection) -> None:
    """Delete documents that no conversation and no message refers to."""
    db.execute(
        "DELETE FROM documents WHERE"
        " NOT EXISTS (SELECT 1 FROM conversations c WHERE c.document_sha256 = documents.sha256)"
        " AND NOT EXISTS (SELECT 1 FROM conversation_documents s"
        " WHERE s.sha256 = documents.sha256)"
        " AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.document_sha256 = documents.sha256)"
    )


def _host_only(value: str | None) -> str | None:
    """``https://user:secret@host:8080/v1`` → ``host:8080``: never store credentials."""
    if value is None or ("/" not in value and "@" not in value):
        return value
    netloc = urlsplit(value if "//" in value else f"//{value}").netloc
    return netloc.rpartition("@")[2] or None


def _check(value: str, allowed: tuple[str, ...], what: str) -> None:
    if value not in allowed:
        raise ValueError(f"unknown message {what} {value!r}; expected one of {allowed}")


def _require(found: int, conv_id: int) -> None:
    if not found:
        raise StorageError(f"conversation {conv_id} does not exist; pick another one")


def _reason(exc: BaseException) -> str:
    text = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return " ".join(text.split()) or type(exc).__name__
