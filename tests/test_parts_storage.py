"""Message parts in SQLite: every kind round-trips byte-exact (versioned JSON beside the plain
text), and a database from before m005, with data, opens and reads its messages as text parts."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from chat_tui.core import parts as codec
from chat_tui.core.migrations import MIGRATIONS, applied_migrations, migrate
from chat_tui.core.parts import AnswerParts
from chat_tui.core.session import ChatSession
from chat_tui.core.storage import Store, TurnRecord
from chat_tui.providers.events import (
    DocumentPart,
    Part,
    RedactedThinkingPart,
    TextPart,
    ThinkingPart,
    ToolResultPart,
    ToolUsePart,
)
from tests.helpers import loopback_settings
from tests.loopback import LoopbackServer

ALL: list[Part] = [
    ThinkingPart("Step 1:\r\n  é ✓ \x00 \u202e \ud800 tail  ", "RXVnZW5p+/=="),
    RedactedThinkingPart("EmwKAhgBEgy+/="),
    TextPart("The answer, in **bold**."),
    ToolUsePart("toolu_1", "search", '{ "q" : "x",  "n": 2 }', {"q": "x", "n": 2}),
    ToolResultPart("toolu_1", "3 hits", is_error=True),
    DocumentPart("spec.md", "text/markdown", text="# Spec"),
    DocumentPart("a.pdf", "application/pdf", data=bytes(range(256))),
    DocumentPart("b.pdf", "application/pdf", file_id="file_011"),
]


def test_every_part_kind_round_trips_through_json_exactly() -> None:
    back = codec.loads(codec.dumps(ALL))
    assert back == ALL
    assert back is not None
    tool = back[3]
    assert isinstance(tool, ToolUsePart) and tool.input == {"q": "x", "n": 2}
    assert tool.arguments == '{ "q" : "x",  "n": 2 }'  # as received, not re-serialised


@pytest.mark.parametrize("raw", [None, "", "not json", '{"v": 99, "parts": []}', "[1, 2]"])
def test_unreadable_parts_read_as_none(raw: str | None) -> None:
    assert codec.loads(raw) is None


def test_unknown_part_kinds_are_skipped() -> None:
    assert codec.loads('{"v": 1, "parts": [{"type": "image"}, {"type": "text", "text": "x"}]}') == [
        TextPart("x")
    ]


def test_store_keeps_parts_beside_the_plain_text(tmp_path: Path) -> None:
    with Store.open(tmp_path / "chat.db") as store:
        conv = store.create_conversation()
        store.add_message(conv, "user", "q")
        answer = store.add_message(conv, "assistant", "", "streaming")
        store.checkpoint(answer, ALL[:3], "streaming")
        store.checkpoint(answer, ALL, "complete")
        msg = store.load_conversation(conv).messages[-1]
        assert msg.parts == ALL and msg.content() == ALL
        assert msg.text == "The answer, in **bold**."  # the text column: for search and export
        plain = store.load_conversation(conv).messages[0]
        assert plain.parts is None and plain.content() == [TextPart("q")]
        added = store.add_message(conv, "assistant", "x", parts=[TextPart("x")])
        assert store.load_conversation(conv).messages[-1].id == added


def test_answer_parts_keep_stream_order_and_replace_deltas_with_the_signed_block() -> None:
    answer = AnswerParts()
    answer.thinking("I should ")
    answer.thinking("say hi")
    answer.done(ThinkingPart("I should say hi", "sig"))
    answer.done(RedactedThinkingPart("data"))
    answer.text("Hi")
    answer.text("!")
    assert answer.parts() == [
        ThinkingPart("I should say hi", "sig"), RedactedThinkingPart("data"), TextPart("Hi!")
    ]  # fmt: skip
    reasoning = AnswerParts()  # unsigned reasoning (OpenAI-compatible) closes when text starts
    reasoning.thinking("hmm")
    reasoning.text("ok")
    assert reasoning.parts() == [ThinkingPart("hmm"), TextPart("ok")]
    assert reasoning.answered and reasoning.thought and reasoning.output_text() == "hmmok"


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def test_database_at_m004_with_data_upgrades_and_resumes(
    tmp_path: Path, loopback: LoopbackServer
) -> None:
    path = tmp_path / "m004.db"
    conn = _connect(path)
    names = [fn.__name__ for fn in MIGRATIONS]
    upto = names.index("m004_cache_doctor_and_requests") + 1
    migrate(conn, MIGRATIONS[:upto])
    conn.execute("INSERT INTO conversations (id, title, created_at, updated_at)"
                 " VALUES (1, 'Before parts', 1.0, 2.0)")  # fmt: skip
    conn.execute(
        "INSERT INTO messages (id, conversation_id, role, text, status, created_at, updated_at,"
        " provider, model) VALUES (1, 1, 'user', 'old q', 'complete', 1, 1, NULL, NULL),"
        " (2, 1, 'assistant', 'old a', 'complete', 2, 2, 'anthropic', 'claude-haiku-4-5')"
    )
    conn.execute(
        "INSERT INTO turns (message_id, provider, model, output_tokens, output_estimated,"
        " recorded_at, sent_at, cache_status) VALUES (2, 'anthropic', 'claude-haiku-4-5', 7, 0,"
        " 2.0, 1.5, 'write')"
    )
    conn.execute("INSERT INTO requests (kind, provider, model, recorded_at)"
                 " VALUES ('keep_warm', 'anthropic', 'claude-haiku-4-5', 3.0)")  # fmt: skip
    conn.close()

    with Store.open(path) as store:
        old = store.load_conversation(1)
        assert [m.content() for m in old.messages] == [[TextPart("old q")], [TextPart("old a")]]
        metrics = old.messages[1].metrics
        assert (
            metrics is not None and metrics.output_tokens == 7 and metrics.cache_status == "write"
        )
        assert metrics.thinking_tokens is None and metrics.thinking_estimated is False
        assert metrics.stop_reason is None
        # New columns work on the upgraded file, for turns and for other requests.
        record = TurnRecord("anthropic", "claude-haiku-4-5", None, 0.1, 1.0, None, 1, None, None,
                            None, None, 9, False, None, None, None, first_text_s=0.5,
                            thinking_s=0.3, thinking_tokens=4, thinking_estimated=True,
                            stop_reason="max_tokens")  # fmt: skip
        store.record_request("keep_warm", record)
        store.record_turn(2, record)
        again = store.load_conversation(1).messages[1].metrics
        assert again is not None and again.stop_reason == "max_tokens" and again.thinking_estimated
        # The conversation resumes with its old answer as a text part.
        session = ChatSession(loopback_settings(loopback), store=store)
        session.resume(1)
        ex = session.conversation.exchanges[0]
        assert ex.parts == [TextPart("old a")] and ex.model == "claude-haiku-4-5"
    conn = _connect(path)
    assert applied_migrations(conn) == names
    fresh = _connect(tmp_path / "fresh.db")
    migrate(fresh)
    columns = "SELECT name, type FROM pragma_table_info(?) ORDER BY cid"
    for table in ("messages", "turns", "requests"):
        assert (
            conn.execute(columns, (table,)).fetchall()
            == fresh.execute(columns, (table,)).fetchall()
        )
