from __future__ import annotations

import hashlib
import itertools
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from chat_tui.core.storage import Store, StoredDocument, TurnRecord
from chat_tui.errors import StorageError


def make_doc(name: str, text: str, path: str | None = None) -> StoredDocument:
    data = text.encode()
    return StoredDocument(hashlib.sha256(data).hexdigest(), name, path, text, len(data), "utf-8")


def make_turn(**changes: object) -> TurnRecord:
    record = TurnRecord(
        provider="anthropic",
        model="claude-sonnet-4-5",
        base_url_host="api.anthropic.com",
        ttft_s=0.42,
        total_s=3.5,
        tokens_per_s=61.2,
        input_tokens=12,
        cache_write_tokens=2048,
        cache_write_5m_tokens=2048,
        cache_write_1h_tokens=0,
        cache_read_tokens=0,
        output_tokens=200,
        output_estimated=False,
        cost_usd=0.0123,
        uncached_cost_usd=0.0101,
        raw_usage={"input_tokens": 12, "cache_creation": {"ephemeral_5m_input_tokens": 2048}},
    )
    return replace(record, **changes)  # type: ignore[arg-type]


def raw(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "chat-tui.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    s = Store.open(db_path)
    yield s
    s.close()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """A strictly increasing time.time(), so recency ordering never ties."""
    ticks = itertools.count(1_700_000_000)
    monkeypatch.setattr(time, "time", lambda: float(next(ticks)))


# -- round trips -------------------------------------------------------------------------


def test_round_trip_of_a_whole_turn(db_path: Path) -> None:
    doc = make_doc("notes.md", "# Notes\nhello", "/home/u/notes.md")
    record = make_turn()
    with Store.open(db_path) as store:
        conv = store.create_conversation("First chat")
        store.set_document(conv, doc)
        user = store.add_message(conv, "user", "What is in the notes?")
        answer = store.add_message(
            conv, "assistant", "", "streaming", provider="anthropic", model="claude-sonnet-4-5"
        )
        store.checkpoint(answer, "It says")
        store.checkpoint(answer, "It says hello.", "complete")
        store.record_turn(answer, record)

    with Store.open(db_path) as store:
        assert store.recovered == 0
        loaded = store.load_conversation(conv)
    assert (loaded.id, loaded.title) == (conv, "First chat")
    assert loaded.created_at <= loaded.updated_at
    assert loaded.document == doc
    first, second = loaded.messages
    assert (first.id, first.role, first.status) == (user, "user", "complete")
    assert first.text == "What is in the notes?"
    assert first.metrics is None
    assert (second.id, second.role, second.status) == (answer, "assistant", "complete")
    assert second.text == "It says hello."
    assert (second.provider, second.model) == ("anthropic", "claude-sonnet-4-5")
    assert second.metrics == record
    assert second.document_sha256 == doc.sha256


def test_turn_with_unknown_figures_round_trips(store: Store) -> None:
    conv = store.create_conversation()
    answer = store.add_message(conv, "assistant", "hi")
    record = make_turn(
        provider="ollama",
        model="llama3",
        base_url_host="localhost:11434",
        ttft_s=None,
        input_tokens=None,
        cache_write_tokens=None,
        cache_write_5m_tokens=None,
        cache_write_1h_tokens=None,
        cache_read_tokens=None,
        output_estimated=True,
        cost_usd=None,
        uncached_cost_usd=None,
        raw_usage=None,
    )
    store.record_turn(answer, record)
    assert store.load_conversation(conv).messages[0].metrics == record


def test_record_turn_again_replaces_the_metrics(store: Store) -> None:
    conv = store.create_conversation()
    answer = store.add_message(conv, "assistant", "hi")
    store.record_turn(answer, make_turn(output_tokens=5))
    store.record_turn(answer, make_turn(output_tokens=7))
    metrics = store.load_conversation(conv).messages[0].metrics
    assert metrics is not None and metrics.output_tokens == 7


def test_base_url_host_is_reduced_to_host_and_port(store: Store) -> None:
    conv = store.create_conversation()
    answer = store.add_message(conv, "assistant", "hi")
    store.record_turn(answer, make_turn(base_url_host="https://me:s3cret@llm.local:8080/v1"))
    metrics = store.load_conversation(conv).messages[0].metrics
    assert metrics is not None and metrics.base_url_host == "llm.local:8080"


def test_titles_are_stored_as_given_and_renamed(store: Store) -> None:
    conv = store.create_conversation("  Ünïcode — title\t")
    assert store.load_conversation(conv).title == "  Ünïcode — title\t"
    store.rename_conversation(conv, "Renamed")
    assert store.load_conversation(conv).title == "Renamed"
    assert store.create_conversation() != conv
    assert store.list_conversations()[0].title == "New conversation"


# -- conversation list -------------------------------------------------------------------


@pytest.mark.usefixtures("clock")
def test_list_is_newest_updated_first(store: Store) -> None:
    assert store.list_conversations() == []
    assert store.last_conversation_id() is None
    a = store.create_conversation("a")
    b = store.create_conversation("b")
    c = store.create_conversation("c")
    assert [s.id for s in store.list_conversations()] == [c, b, a]
    store.add_message(a, "user", "bump")
    assert [s.id for s in store.list_conversations()] == [a, c, b]
    store.rename_conversation(b, "b2")
    assert [s.id for s in store.list_conversations()] == [b, a, c]
    assert [s.id for s in store.list_conversations(limit=2)] == [b, a]
    assert store.last_conversation_id() == b


def test_summary_counts_messages_and_names_the_document(store: Store) -> None:
    conv = store.create_conversation("with doc")
    store.add_message(conv, "user", "q")
    store.add_message(conv, "assistant", "a")
    store.set_document(conv, make_doc("spec.txt", "the spec"))
    (summary,) = store.list_conversations()
    assert (summary.id, summary.title, summary.message_count) == (conv, "with doc", 2)
    assert summary.document_name == "spec.txt"


# -- documents ---------------------------------------------------------------------------


def test_changing_the_document_moves_the_pointer_and_messages_remember_theirs(
    store: Store, db_path: Path
) -> None:
    old, new = make_doc("v1.md", "version one"), make_doc("v2.md", "version two")
    conv = store.create_conversation()
    store.set_document(conv, old)
    m1 = store.add_message(conv, "user", "about v1")
    store.set_document(conv, new)
    m2 = store.add_message(conv, "user", "about v2")
    loaded = store.load_conversation(conv)
    assert loaded.document == new
    assert {m.id: m.document_sha256 for m in loaded.messages} == {m1: old.sha256, m2: new.sha256}
    store.set_document(conv, None)
    assert store.load_conversation(conv).document is None
    store.add_message(conv, "user", "no doc")
    assert store.load_conversation(conv).messages[-1].document_sha256 is None
    # Both texts are still referenced by the messages that used them.
    assert count(db_path, "documents") == 2
    store.delete_message(m1)
    assert count(db_path, "documents") == 1


def test_documents_are_deduplicated_by_sha256(store: Store, db_path: Path) -> None:
    doc = make_doc("a.md", "shared text")
    a, b = store.create_conversation(), store.create_conversation()
    store.set_document(a, doc)
    store.set_document(b, replace(doc, name="copy.md"))
    assert count(db_path, "documents") == 1
    # The first name is kept for the shared text.
    b_doc = store.load_conversation(b).document
    assert b_doc is not None and b_doc.name == "a.md"


# -- deletion ----------------------------------------------------------------------------


def count(path: Path, table: str) -> int:
    with raw(path) as db:
        return int(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


def test_delete_conversation_cascades_and_collects_documents(store: Store, db_path: Path) -> None:
    shared, own = make_doc("shared.md", "shared"), make_doc("own.md", "own")
    keep, gone = store.create_conversation("keep"), store.create_conversation("gone")
    store.set_document(keep, shared)
    store.set_document(gone, shared)
    store.add_message(gone, "user", "q")
    store.set_document(gone, own)
    answer = store.add_message(gone, "assistant", "a")
    store.record_turn(answer, make_turn())
    store.add_message(keep, "user", "still here")

    store.delete_conversation(gone)
    assert [s.id for s in store.list_conversations()] == [keep]
    assert count(db_path, "messages") == 1
    assert count(db_path, "turns") == 0
    with raw(db_path) as db:
        shas = {row[0] for row in db.execute("SELECT sha256 FROM documents")}
    assert shas == {shared.sha256}
    store.delete_conversation(gone)  # deleting twice is harmless
    with pytest.raises(StorageError, match="does not exist"):
        store.load_conversation(gone)


def test_delete_message_removes_its_turn(store: Store, db_path: Path) -> None:
    conv = store.create_conversation()
    store.add_message(conv, "user", "q")
    answer = store.add_message(conv, "assistant", "first try")
    store.record_turn(answer, make_turn(cost_usd=1.0))
    store.delete_message(answer)
    retry = store.add_message(conv, "assistant", "second try")
    store.record_turn(retry, make_turn(cost_usd=0.5))
    assert [m.text for m in store.load_conversation(conv).messages] == ["q", "second try"]
    assert count(db_path, "turns") == 1
    assert store.session_totals(conv)[0] == pytest.approx(0.5)


def test_writes_for_a_deleted_message_are_ignored(store: Store) -> None:
    conv = store.create_conversation()
    answer = store.add_message(conv, "assistant", "", "streaming")
    store.delete_conversation(conv)
    store.checkpoint(answer, "late text", "stopped")
    store.record_turn(answer, make_turn())
    assert store.list_conversations() == []


# -- costs -------------------------------------------------------------------------------


def totals(store: Store, conv: int) -> tuple[object, object]:
    return store.session_totals(conv)


def test_session_totals(store: Store) -> None:
    conv = store.create_conversation()
    assert store.session_totals(conv) == (0.0, 0.0)
    for cost, uncached in [(0.01, 0.02), (0.03, 0.05)]:
        store.record_turn(
            store.add_message(conv, "assistant", "a"),
            make_turn(cost_usd=cost, uncached_cost_usd=uncached),
        )
    assert totals(store, conv) == (pytest.approx(0.04), pytest.approx(0.07))
    store.add_message(conv, "assistant", "no turn recorded: not counted")
    assert totals(store, conv) == (pytest.approx(0.04), pytest.approx(0.07))
    # One turn with an unknown cost makes the total unknown.
    store.record_turn(store.add_message(conv, "assistant", "a"), make_turn(cost_usd=None))
    assert totals(store, conv) == (None, pytest.approx(0.07 + 0.0101))
    assert store.session_totals(store.create_conversation()) == (0.0, 0.0)


# -- crash recovery ----------------------------------------------------------------------

CRASH_SCRIPT = """
import os, signal, sys
from pathlib import Path
from chat_tui.core.storage import Store

store = Store.open(Path(sys.argv[1]))
conv = store.create_conversation("crash")
store.add_message(conv, "user", "question")
answer = store.add_message(conv, "assistant", "", "streaming")
store.checkpoint(answer, "partial")
store.checkpoint(answer, "partial answer")
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_kill_9_mid_stream_keeps_the_checkpoint_and_marks_it_interrupted(db_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", CRASH_SCRIPT, str(db_path)], capture_output=True, timeout=60
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
    assert Path(f"{db_path}-wal").exists()  # the commits are in the WAL, never checkpointed

    with Store.open(db_path) as store:
        assert store.recovered == 1
        conv = store.last_conversation_id()
        assert conv is not None
        user, answer = store.load_conversation(conv).messages
    assert (user.text, user.status) == ("question", "complete")
    assert (answer.text, answer.status) == ("partial answer", "interrupted")
    with Store.open(db_path) as store:
        assert store.recovered == 0


def test_recover_interrupted_only_touches_streaming(store: Store) -> None:
    conv = store.create_conversation()
    for status in ("streaming", "complete", "stopped", "failed", "interrupted", "streaming"):
        store.add_message(conv, "assistant", status, status)
    assert store.recover_interrupted() == 2
    statuses = [m.status for m in store.load_conversation(conv).messages]
    assert statuses == [
        "interrupted",
        "complete",
        "stopped",
        "failed",
        "interrupted",
        "interrupted",
    ]
    assert store.recover_interrupted() == 0


# -- files and permissions ---------------------------------------------------------------


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_new_database_and_directories_are_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "chat-tui.db"
    old = os.umask(0)  # the most permissive umask must not matter
    try:
        store = Store.open(path)
        assert os.umask(0) == 0  # open() restored the caller's umask
        store.add_message(store.create_conversation(), "user", "hi")
        assert mode(path) == 0o600
        assert mode(Path(f"{path}-wal")) == 0o600
        assert mode(Path(f"{path}-shm")) == 0o600
        assert mode(path.parent) == 0o700
        assert mode(path.parent.parent) == 0o700
        store.close()
    finally:
        os.umask(old)


def test_existing_directory_is_left_alone_and_existing_file_tightened(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    path = tmp_path / "chat-tui.db"
    path.touch(0o644)
    path.chmod(0o644)
    Store.open(path).close()
    assert mode(path) == 0o600
    assert mode(tmp_path) == 0o755


def test_not_a_database_is_a_one_line_storage_error(tmp_path: Path) -> None:
    path = tmp_path / "chat-tui.db"
    path.write_bytes(b"this is not a database\n" * 200)
    with pytest.raises(StorageError) as info:
        Store.open(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"cannot open the conversation database {path}: ")
    assert "file is not a database" in message
    assert message.endswith("move it aside or set CHAT_TUI_DATA_DIR")


def test_unusable_paths_are_storage_errors(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(StorageError, match="cannot open the conversation database"):
        Store.open(tmp_path / "a-file" / "chat-tui.db")
    (tmp_path / "a-dir.db").mkdir()
    with pytest.raises(StorageError, match="cannot open the conversation database"):
        Store.open(tmp_path / "a-dir.db")


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write to read-only files")
def test_read_only_database_is_a_storage_error(db_path: Path) -> None:
    Store.open(db_path).close()
    db_path.chmod(0o400)
    with pytest.raises(StorageError, match="cannot open the conversation database"):
        Store.open(db_path)


def test_errors_after_open_are_storage_errors(store: Store) -> None:
    with pytest.raises(StorageError, match="does not exist"):
        store.add_message(12345, "user", "orphan")
    with pytest.raises(StorageError, match="does not exist"):
        store.rename_conversation(12345, "x")
    with pytest.raises(StorageError, match="does not exist"):
        store.set_document(12345, None)
    with pytest.raises(ValueError):
        store.add_message(store.create_conversation(), "system", "x")
    with pytest.raises(ValueError):
        store.checkpoint(1, "x", "done")
    store.close()
    store.close()  # closing twice is harmless
    with pytest.raises(StorageError, match="cannot read the conversation database"):
        store.list_conversations()
    with pytest.raises(StorageError, match="cannot write to the conversation database"):
        store.create_conversation()


# -- speed -------------------------------------------------------------------------------


def test_loading_500_turns_takes_two_queries(store: Store) -> None:
    conv = store.create_conversation("long")
    store.set_document(conv, make_doc("big.md", "x" * 100_000))
    for i in range(500):
        store.add_message(conv, "user", f"question {i}")
        store.record_turn(store.add_message(conv, "assistant", f"answer {i}"), make_turn())
    statements: list[str] = []
    store._conn.set_trace_callback(statements.append)
    loaded = store.load_conversation(conv)
    store._conn.set_trace_callback(None)
    assert len(statements) == 2
    assert len(loaded.messages) == 1000
    assert [m.text for m in loaded.messages[:3]] == ["question 0", "answer 0", "question 1"]
    assert all(m.metrics is not None for m in loaded.messages[1::2])
    with raw(store.path) as db:
        plan = " ".join(
            str(row[-1])
            for row in db.execute(
                "EXPLAIN QUERY PLAN SELECT * FROM messages WHERE conversation_id = ? ORDER BY id",
                (conv,),
            )
        )
    assert "messages_by_conversation" in plan


# -- secrets -----------------------------------------------------------------------------

FAKE_KEY = "sk-ant-api03-FAKEKEYFAKEKEYFAKEKEY0123456789"


def test_api_keys_never_reach_the_database(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from chat_tui.providers.base import ProviderSettings

    for var in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "CHAT_TUI_API_KEY"):
        monkeypatch.setenv(var, FAKE_KEY)
    settings = ProviderSettings(
        kind="anthropic",
        model="claude-sonnet-4-5",
        api_key=FAKE_KEY,
        base_url=f"https://user:{FAKE_KEY}@api.anthropic.com",
    )

    store = Store.open(db_path)
    conv = store.create_conversation("secret test")
    store.rename_conversation(conv, "still secret test")
    store.set_document(conv, make_doc("doc.md", "the document"))
    store.add_message(conv, "user", "question", provider=settings.kind, model=settings.model)
    answer = store.add_message(
        conv, "assistant", "", "streaming", provider=settings.kind, model=settings.model
    )
    store.checkpoint(answer, "partial")
    store.checkpoint(answer, "done", "complete")
    store.record_turn(answer, make_turn(base_url_host=settings.base_url))
    store.delete_message(store.add_message(conv, "assistant", "retry me"))
    store.list_conversations()
    store.load_conversation(conv)
    store.session_totals(conv)
    store.recover_interrupted()
    other = store.create_conversation()
    store.set_document(other, None)
    store.delete_conversation(other)

    key = FAKE_KEY.encode()
    files = [db_path, Path(f"{db_path}-wal"), Path(f"{db_path}-shm")]
    assert Path(f"{db_path}-wal").stat().st_size > 0
    for f in files:
        assert key not in f.read_bytes(), f
    store.close()
    for f in files:
        if f.exists():
            assert key not in f.read_bytes(), f

    with raw(db_path) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        columns = [c[1] for t in tables for c in db.execute(f"PRAGMA table_info({t})")]
    assert not [c for c in columns if any(w in c for w in ("key", "secret", "auth", "password"))]
