"""The conversation database file: created owner-only, opened in WAL mode, and brought up to
date by named, append-only schema migrations.

The pattern follows simonw/llm's ``llm/migrations.py``: :data:`MIGRATIONS` is an ordered list
of functions; each is applied once, in its own transaction, and its name is recorded in the
``_migrations`` table together with ``applied_at``. An old database therefore opens after an
upgrade: only the migrations it has not seen yet run.

Rules for adding a migration:

* append a new ``mNNN_description`` function decorated with :func:`migration` at the end;
* never edit, rename, reorder or remove a migration that has shipped;
* use ``db.execute`` one statement at a time, never ``executescript`` (it would commit the
  surrounding transaction and break the all-or-nothing guarantee).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
import time
from collections.abc import Callable, Sequence
from pathlib import Path

Migration = Callable[[sqlite3.Connection], None]

MIGRATIONS: list[Migration] = []


def migration(fn: Migration) -> Migration:
    """Register ``fn`` as the next migration."""
    MIGRATIONS.append(fn)
    return fn


def ensure_migrations_table(db: sqlite3.Connection) -> None:
    db.execute(
        "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)"
    )


def applied_migrations(db: sqlite3.Connection) -> list[str]:
    """Names of the migrations already applied to ``db``, in the order they were applied."""
    ensure_migrations_table(db)
    rows = db.execute("SELECT name FROM _migrations ORDER BY applied_at, rowid").fetchall()
    return [str(row[0]) for row in rows]


def migrate(db: sqlite3.Connection, migrations: Sequence[Migration] | None = None) -> list[str]:
    """Apply every migration in ``migrations`` (default: all) not yet recorded in ``db``.

    ``db`` must be in autocommit mode (``isolation_level=None``): each migration runs inside
    its own ``BEGIN IMMEDIATE`` … ``COMMIT`` and is rolled back whole if it fails. The check for
    "already applied" is repeated inside the write lock, so two processes opening the same
    database at once cannot apply a migration twice. Returns the names applied now.
    """
    if db.isolation_level is not None:
        raise ValueError("migrate() needs a connection opened with isolation_level=None")
    already = set(applied_migrations(db))  # an up-to-date database takes no write lock
    done_now: list[str] = []
    for fn in MIGRATIONS if migrations is None else migrations:
        name = fn.__name__
        if name in already:
            continue
        db.execute("BEGIN IMMEDIATE")
        try:
            seen = db.execute("SELECT 1 FROM _migrations WHERE name = ?", (name,)).fetchone()
            if seen is None:
                fn(db)
                db.execute(
                    "INSERT INTO _migrations (name, applied_at) VALUES (?, ?)", (name, time.time())
                )
                done_now.append(name)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
    return done_now


def open_database(path: Path) -> sqlite3.Connection:
    """Open the database at ``path`` in autocommit mode, ready for use.

    A missing directory is created 0700 and a missing file 0600 *before* SQLite opens it;
    the umask is 0o077 while SQLite creates ``-wal`` and ``-shm`` (SQLite also gives those
    the database file's mode). Then: WAL, ``synchronous=NORMAL``, foreign keys, migrations.
    Raises ``OSError`` or ``sqlite3.Error``. The umask is process-wide: call this at start-up.
    """
    _make_private_dirs(path.parent)
    _create_private_file(path)
    old_umask = os.umask(0o077)
    try:
        conn = sqlite3.connect(path, timeout=5.0, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            migrate(conn)
        except BaseException:
            conn.close()
            raise
    finally:
        os.umask(old_umask)
    for suffix in ("-wal", "-shm"):
        _tighten(Path(f"{path}{suffix}"))
    return conn


def _make_private_dirs(directory: Path) -> None:
    """Create ``directory`` and any missing parents as 0700; existing ones are left alone."""
    missing: list[Path] = []
    while not directory.exists():
        missing.append(directory)
        directory = directory.parent
    for created in reversed(missing):
        try:
            os.mkdir(created, 0o700)
        except FileExistsError:
            continue
        os.chmod(created, 0o700)  # mkdir's mode is filtered by the umask


def _create_private_file(path: Path) -> None:
    """Create an empty 0600 file before SQLite sees it; tighten an existing one."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        _tighten(path)
        return
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


def _tighten(path: Path) -> None:
    """Make an existing regular file of ours owner-only; best effort."""
    with contextlib.suppress(OSError):
        st = path.stat()
        if stat.S_ISREG(st.st_mode) and st.st_mode & 0o077 and st.st_uid == os.getuid():
            os.chmod(path, 0o600)


@migration
def m001_initial(db: sqlite3.Connection) -> None:
    """Conversations, their messages, and one metrics row per assistant turn."""
    db.execute(
        """CREATE TABLE conversations (
            id INTEGER PRIMARY KEY,
            title TEXT NOT NULL,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        )"""
    )
    db.execute(
        """CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            conversation_id INTEGER NOT NULL
                REFERENCES conversations(id) ON DELETE CASCADE,
            role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
            text TEXT NOT NULL,
            status TEXT NOT NULL CHECK (
                status IN ('streaming', 'complete', 'stopped', 'interrupted', 'failed')
            ),
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            provider TEXT,
            model TEXT
        )"""
    )
    db.execute("CREATE INDEX messages_by_conversation ON messages (conversation_id, id)")
    # Normalised figures for display and sums, plus the provider's raw usage JSON so that
    # cost can be recomputed when prices change. There is deliberately no column for
    # credentials of any kind.
    db.execute(
        """CREATE TABLE turns (
            message_id INTEGER PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
            provider TEXT NOT NULL,
            model TEXT NOT NULL,
            base_url_host TEXT,
            ttft_s REAL,
            total_s REAL,
            tokens_per_s REAL,
            input_tokens INTEGER,
            cache_write_tokens INTEGER,
            cache_write_5m_tokens INTEGER,
            cache_write_1h_tokens INTEGER,
            cache_read_tokens INTEGER,
            output_tokens INTEGER,
            output_estimated INTEGER NOT NULL DEFAULT 0,
            cost_usd REAL,
            uncached_cost_usd REAL,
            raw_usage TEXT,
            recorded_at REAL NOT NULL
        )"""
    )


@migration
def m002_documents(db: sqlite3.Connection) -> None:
    """Reference documents, deduplicated by sha256; a conversation points at its current one
    and every message records the one that was current when it was written."""
    db.execute(
        """CREATE TABLE documents (
            sha256 TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            path TEXT,
            text TEXT NOT NULL,
            size_bytes INTEGER NOT NULL,
            encoding TEXT NOT NULL,
            loaded_at REAL NOT NULL
        )"""
    )
    db.execute(
        "ALTER TABLE conversations ADD COLUMN document_sha256 TEXT REFERENCES documents(sha256)"
    )
    db.execute("ALTER TABLE messages ADD COLUMN document_sha256 TEXT REFERENCES documents(sha256)")
    # Let garbage collection of unreferenced documents avoid scanning every row.
    db.execute("CREATE INDEX conversations_by_document ON conversations (document_sha256)")
    db.execute(
        "CREATE INDEX messages_by_document ON messages (document_sha256) "
        "WHERE document_sha256 IS NOT NULL"
    )


@migration
def m003_list_and_recovery_indexes(db: sqlite3.Connection) -> None:
    """The conversation list sorts by recency; crash recovery looks for 'streaming' rows."""
    db.execute("CREATE INDEX conversations_by_updated ON conversations (updated_at, id)")
    db.execute("CREATE INDEX messages_streaming ON messages (status) WHERE status = 'streaming'")


@migration
def m004_cache_doctor_and_requests(db: sqlite3.Connection) -> None:
    """What the cache doctor needs to compare a request with the one before it, even across
    runs: when each turn's request was sent (wall clock), the provider's response id, a JSON
    fingerprint of the prompt prefix (one hash per part), and the diagnosis. Requests that are
    not conversation turns (keep-warm pings, batch prewarms, batch requests) get a table of
    their own with the same figures and a ``kind``, so usage reports can show them apart."""
    doctor_columns = (
        "sent_at REAL",
        "response_id TEXT",
        "fingerprint TEXT",
        "cache_status TEXT",
        "cache_miss_reason TEXT",
        "cache_miss_detail TEXT",
        "cache_missed_tokens INTEGER",
        "server_cache_miss_reason TEXT",
    )
    for column in doctor_columns:
        db.execute(f"ALTER TABLE turns ADD COLUMN {column}")
    db.execute(
        f"""CREATE TABLE requests (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,
            conversation_id INTEGER REFERENCES conversations(id) ON DELETE SET NULL,
            batch_id TEXT,
            custom_id TEXT,
            provider TEXT NOT NULL,
            model TEXT NOT NULL,
            base_url_host TEXT,
            ttft_s REAL,
            total_s REAL,
            tokens_per_s REAL,
            input_tokens INTEGER,
            cache_write_tokens INTEGER,
            cache_write_5m_tokens INTEGER,
            cache_write_1h_tokens INTEGER,
            cache_read_tokens INTEGER,
            output_tokens INTEGER,
            output_estimated INTEGER NOT NULL DEFAULT 0,
            cost_usd REAL,
            uncached_cost_usd REAL,
            raw_usage TEXT,
            recorded_at REAL NOT NULL,
            {", ".join(doctor_columns)}
        )"""
    )
    db.execute("CREATE INDEX requests_by_kind ON requests (kind, recorded_at)")
    db.execute("CREATE INDEX turns_by_recorded ON turns (recorded_at)")


@migration
def m005_message_parts(db: sqlite3.Connection) -> None:
    """Typed message content: ``messages.parts`` holds the parts as versioned JSON (see
    ``core/parts.py``) beside the plain ``text`` column, which stays for search and export; NULL
    for older rows (their text is their one part). Thinking metrics and the stop reason go on
    every turn and request: time to the first answer token, time spent thinking, reasoning
    tokens (reported or estimated) and the normalised stop reason."""
    db.execute("ALTER TABLE messages ADD COLUMN parts TEXT")
    for table in ("turns", "requests"):
        for column in (
            "first_text_s REAL",
            "thinking_s REAL",
            "thinking_tokens INTEGER",
            "thinking_estimated INTEGER NOT NULL DEFAULT 0",
            "stop_reason TEXT",
        ):
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column}")


@migration
def m006_batches(db: sqlite3.Connection) -> None:
    """Batches sent to the providers' batch APIs. A job is one ``chat-tui batch`` run: its
    input's hash, provider, model and TTL; it may be split into several provider batches
    (``batches``, keyed by the provider's id); ``batch_items`` holds each question, in input
    order, with its outcome once fetched. Billed usage goes to ``requests`` (kind 'batch'),
    which ``request_id`` points at; the prewarm request is a 'prewarm' row there."""
    db.execute(
        """CREATE TABLE batch_jobs (
            id INTEGER PRIMARY KEY,
            created_at REAL NOT NULL,
            provider TEXT NOT NULL,
            model TEXT NOT NULL,
            base_url_host TEXT,
            ttl TEXT NOT NULL,
            input_name TEXT NOT NULL,
            input_sha256 TEXT NOT NULL,
            documents TEXT,
            prefix_sha256 TEXT,
            prewarm_request_id INTEGER REFERENCES requests(id) ON DELETE SET NULL,
            retry_of INTEGER REFERENCES batch_jobs(id) ON DELETE SET NULL,
            out_path TEXT
        )"""
    )
    db.execute(
        """CREATE TABLE batches (
            id TEXT PRIMARY KEY,
            job_id INTEGER NOT NULL REFERENCES batch_jobs(id) ON DELETE CASCADE,
            part INTEGER NOT NULL,
            status TEXT NOT NULL,
            ended INTEGER NOT NULL DEFAULT 0,
            results_fetched INTEGER NOT NULL DEFAULT 0,
            request_count INTEGER NOT NULL,
            done_count INTEGER NOT NULL DEFAULT 0,
            created_at REAL NOT NULL,
            checked_at REAL
        )"""
    )
    db.execute("CREATE INDEX batches_by_job ON batches (job_id, part)")
    db.execute(
        """CREATE TABLE batch_items (
            job_id INTEGER NOT NULL REFERENCES batch_jobs(id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            custom_id TEXT NOT NULL,
            question TEXT NOT NULL,
            max_tokens INTEGER,
            batch_id TEXT REFERENCES batches(id),
            status TEXT NOT NULL DEFAULT 'pending',
            answer TEXT,
            error TEXT,
            stop_reason TEXT,
            request_id INTEGER REFERENCES requests(id) ON DELETE SET NULL,
            PRIMARY KEY (job_id, seq),
            UNIQUE (job_id, custom_id)
        )"""
    )


@migration
def m008_documents(db: sqlite3.Connection) -> None:
    """Document sets and uploads. A conversation has an ordered list of documents
    (``conversation_documents``: its name and path as loaded); a PDF is stored with its bytes
    (``data``), media type and page count beside the text extracted. ``uploads`` remembers
    each document uploaded to a provider's Files API, by sha256 and host, with its expiry.
    Conversations that had one document get it as their set."""
    db.execute("ALTER TABLE documents ADD COLUMN media_type TEXT NOT NULL DEFAULT 'text/plain'")
    db.execute("ALTER TABLE documents ADD COLUMN data BLOB")
    db.execute("ALTER TABLE documents ADD COLUMN pages INTEGER")
    db.execute(
        """CREATE TABLE conversation_documents (
            conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            sha256 TEXT NOT NULL REFERENCES documents(sha256),
            name TEXT NOT NULL,
            path TEXT,
            source TEXT NOT NULL DEFAULT '',
            PRIMARY KEY (conversation_id, seq)
        )"""
    )
    db.execute("CREATE INDEX conversation_documents_by_sha ON conversation_documents (sha256)")
    db.execute(
        "INSERT INTO conversation_documents (conversation_id, seq, sha256, name, path)"
        " SELECT c.id, 0, d.sha256, d.name, d.path FROM conversations c"
        " JOIN documents d ON d.sha256 = c.document_sha256"
    )
    db.execute(
        """CREATE TABLE uploads (
            host TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            file_id TEXT NOT NULL,
            filename TEXT NOT NULL,
            size_bytes INTEGER NOT NULL,
            uploaded_at REAL NOT NULL,
            expires_at REAL,
            PRIMARY KEY (host, sha256)
        )"""
    )
