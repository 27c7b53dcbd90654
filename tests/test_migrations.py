from __future__ import annotations

import re
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from chat_tui.core.migrations import MIGRATIONS, applied_migrations, migrate
from chat_tui.core.storage import Store, StoredDocument

ALL_NAMES = [fn.__name__ for fn in MIGRATIONS]


def connect(path: Path | str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def schema(conn: sqlite3.Connection) -> dict[str, list[tuple[object, ...]]]:
    """Every table's and index's columns, in order: what an upgraded db must match."""
    names = conn.execute(
        "SELECT name FROM sqlite_master WHERE type IN ('table', 'index') AND name != '_migrations'"
        " AND name NOT LIKE 'sqlite_%' ORDER BY name"
    ).fetchall()
    return {
        name: conn.execute(f"PRAGMA index_xinfo({name})").fetchall()
        + conn.execute(f"PRAGMA table_xinfo({name})").fetchall()
        for (name,) in names
    }


def test_migrations_are_named_uniquely_and_in_order() -> None:
    assert len(ALL_NAMES) >= 2
    assert len(set(ALL_NAMES)) == len(ALL_NAMES)
    assert all(re.fullmatch(r"m\d{3}_[a-z0-9_]+", name) for name in ALL_NAMES)
    assert sorted(ALL_NAMES) == ALL_NAMES


def test_empty_database_gets_every_migration_once(tmp_path: Path) -> None:
    conn = connect(tmp_path / "fresh.db")
    assert migrate(conn) == ALL_NAMES
    assert applied_migrations(conn) == ALL_NAMES
    assert migrate(conn) == []  # idempotent
    rows = conn.execute("SELECT name, applied_at FROM _migrations").fetchall()
    assert {name for name, _ in rows} == set(ALL_NAMES)
    assert all(isinstance(at, float) and at > 1e9 for _, at in rows)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"conversations", "messages", "turns", "documents", "_migrations"} <= tables


def test_migrate_needs_an_autocommit_connection() -> None:
    with pytest.raises(ValueError, match="isolation_level=None"):
        migrate(sqlite3.connect(":memory:"))


def test_a_failing_migration_is_rolled_back_and_not_recorded() -> None:
    conn = connect(":memory:")

    def m900_broken(db: sqlite3.Connection) -> None:
        db.execute("CREATE TABLE half_done (x)")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        migrate(conn, [*MIGRATIONS, m900_broken])
    assert applied_migrations(conn) == ALL_NAMES
    assert (
        conn.execute("SELECT name FROM sqlite_master WHERE name = 'half_done'").fetchone() is None
    )
    assert not conn.in_transaction


def make_v1_database(path: Path) -> None:
    """A database as the first release left it: migration 1 only, with data in it."""
    conn = connect(path)
    assert migrate(conn, MIGRATIONS[:1]) == ["m001_initial"]
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(
        "INSERT INTO conversations (id, title, created_at, updated_at)"
        " VALUES (1, 'Old chat', 100.0, 200.0), (2, 'Older chat', 50.0, 60.0)"
    )
    conn.execute(
        "INSERT INTO messages (id, conversation_id, role, text, status, created_at, updated_at,"
        " provider, model) VALUES"
        " (1, 1, 'user', 'old question', 'complete', 101.0, 101.0, NULL, NULL),"
        " (2, 1, 'assistant', 'old answer', 'complete', 102.0, 103.0, 'anthropic', 'claude'),"
        " (3, 1, 'assistant', 'cut off', 'streaming', 104.0, 105.0, 'anthropic', 'claude')"
    )
    conn.execute(
        "INSERT INTO turns (message_id, provider, model, base_url_host, ttft_s, total_s,"
        " tokens_per_s, input_tokens, cache_write_tokens, cache_write_5m_tokens,"
        " cache_write_1h_tokens, cache_read_tokens, output_tokens, output_estimated, cost_usd,"
        " uncached_cost_usd, raw_usage, recorded_at) VALUES (2, 'anthropic', 'claude', NULL,"
        " 0.5, 2.0, 40.0, 10, NULL, NULL, NULL, 90, 80, 1, 0.002, 0.003,"
        " '{\"input_tokens\": 10}', 103.0)"
    )
    conn.close()


def test_database_at_migration_1_with_data_opens_after_upgrade(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    make_v1_database(path)

    with Store.open(path) as store:
        assert store.recovered == 1  # the 'streaming' row left by the old version
        assert [s.title for s in store.list_conversations()] == ["Old chat", "Older chat"]
        old = store.load_conversation(1)
        assert old.document is None
        assert [(m.text, m.status) for m in old.messages] == [
            ("old question", "complete"),
            ("old answer", "complete"),
            ("cut off", "interrupted"),
        ]
        metrics = old.messages[1].metrics
        assert metrics is not None
        assert (metrics.input_tokens, metrics.cache_read_tokens, metrics.output_tokens) == (
            10,
            90,
            80,
        )
        assert metrics.output_estimated is True
        assert metrics.raw_usage == {"input_tokens": 10}
        assert all(m.document_sha256 is None for m in old.messages)
        cost, uncached = store.session_totals(1)
        assert cost == pytest.approx(0.002)
        assert uncached == pytest.approx(0.003)

        # Features from later migrations work on the upgraded database.
        doc = StoredDocument("ab" * 32, "new.md", None, "text", 4, "utf-8")
        store.set_document(1, doc)
        store.add_message(1, "user", "new question")
        upgraded = store.load_conversation(1)
        assert upgraded.document == doc
        assert upgraded.messages[-1].document_sha256 == doc.sha256
        # m004: old turns have no cache-doctor record; new requests are stored beside them
        assert metrics.cache_status is None and metrics.fingerprint is None
        assert store.last_request_to("anthropic", metrics.base_url_host) is None
        ping = replace(metrics, sent_at=200.0, fingerprint={"v": 1}, cache_status="hit")
        store.record_request("keep_warm", ping, conversation_id=1)
        found = store.last_request_to(metrics.provider, metrics.base_url_host)
        assert found is not None and found[1] == 1
        assert found[0].fingerprint == {"v": 1} and found[0].cache_status == "hit"
        with pytest.raises(ValueError, match="unknown message request kind"):
            store.record_request("chat", ping)

    conn = connect(path)
    assert applied_migrations(conn) == ALL_NAMES
    fresh = connect(tmp_path / "fresh.db")
    migrate(fresh)
    assert schema(conn) == schema(fresh)


def test_unknown_migrations_from_a_newer_version_do_not_block_opening(tmp_path: Path) -> None:
    path = tmp_path / "newer.db"
    conn = connect(path)
    migrate(conn)
    conn.execute("INSERT INTO _migrations (name, applied_at) VALUES ('m999_future', 1.0)")
    conn.close()
    Store.open(path).close()
