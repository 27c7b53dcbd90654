"""Batch prices and the summary, against figures computed by hand; the m006 tables."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from chat_tui.core.batch_report import summarize
from chat_tui.core.batch_store import StoredItem, StoredJob
from chat_tui.core.models import lookup_model
from chat_tui.core.pricing import batch_cost, turn_cost
from chat_tui.core.storage import Store
from chat_tui.providers.events import Usage

# claude-haiku-4-5 per million: input $1, output $5, 5-minute write $1.25, 1-hour write $2,
# read $0.10.
USAGE = Usage(
    input_tokens=1_000,
    cache_write_tokens=2_000,
    cache_write_1h_tokens=2_000,
    cache_read_tokens=10_000,
    output_tokens=500,
)


def test_batch_cost_is_half_of_every_token_class() -> None:
    info = lookup_model("anthropic", "claude-haiku-4-5")
    # 1,000 x $1 + 2,000 x $2 + 10,000 x $0.10 + 500 x $5 = $8,500 per million → $0.0085.
    assert turn_cost(info, USAGE, "1h").usd == pytest.approx(0.0085)
    assert batch_cost(info, USAGE, "1h").usd == pytest.approx(0.00425)
    # Without caching: 13,000 x $1 + 500 x $5 = $0.0155; at the batch price $0.00775.
    assert batch_cost(info, USAGE, "1h").uncached_usd == pytest.approx(0.00775)
    # An unsplit write is priced at the TTL asked for: 2,000 x $1.25 at 5m.
    unsplit = Usage(input_tokens=0, cache_write_tokens=2_000, output_tokens=0)
    assert batch_cost(info, unsplit, "5m").usd == pytest.approx(0.00125)


def test_unknown_prices_stay_unknown() -> None:
    assert batch_cost(None, USAGE).usd is None
    info = lookup_model("anthropic", "claude-haiku-4-5")
    assert batch_cost(info, Usage(input_tokens=5)).usd is None  # output not reported


def _item(
    seq: int, status: str, usage: Usage | None = None, error: str | None = None
) -> StoredItem:
    return StoredItem(
        seq, f"q{seq}", f"Q{seq}?", None, "b1", status,
        "A" if status == "succeeded" else None, error, None, usage, None,
    )  # fmt: skip


def _job(model: str, items: list[StoredItem], prewarm: Usage | None = None) -> StoredJob:
    return StoredJob(
        id=4, created_at=0.0, provider="anthropic", model=model, base_url_host=None, ttl="1h",
        input_name="q.txt", input_sha256="x", documents=["doc.txt"], prefix_sha256=None,
        retry_of=None, out_path=None, prewarm_usage=prewarm, prewarm_cost_usd=None,
        batches=[], items=items,
    )  # fmt: skip


def test_summary_adds_up_the_batch_the_interactive_equivalents_and_the_saving() -> None:
    prewarm = Usage(
        input_tokens=5, cache_write_tokens=10_000, cache_write_1h_tokens=10_000, output_tokens=1
    )
    items = [
        _item(0, "succeeded", USAGE),
        _item(1, "errored", error="overloaded_error: Overloaded"),
        _item(2, "succeeded", USAGE),
        _item(3, "expired"),
        _item(4, "canceled"),
    ]
    s = summarize(_job("claude-haiku-4-5", items, prewarm))
    assert s.counts == {"succeeded": 2, "errored": 1, "canceled": 1, "expired": 1}
    assert s.batch_usd == pytest.approx(2 * 0.00425)
    assert s.interactive_usd == pytest.approx(2 * 0.0085)
    assert s.uncached_usd == pytest.approx(2 * 0.0155)
    # Prewarm: 5 x $1 + 10,000 x $2 + 1 x $5 = $20,010 per million.
    assert s.prewarm_usd == pytest.approx(0.02001)
    assert s.total_usd == pytest.approx(0.0085 + 0.02001)
    assert s.saving_usd == pytest.approx(0.017 - 0.0085 - 0.02001)  # negative: few questions
    assert s.saving_uncached_usd == pytest.approx(0.031 - 0.0085 - 0.02001)
    assert [(f.id, f.status) for f in s.failures] == [
        ("q1", "errored"), ("q3", "expired"), ("q4", "canceled"),
    ]  # fmt: skip
    assert s.failures[0].reason == "overloaded_error: Overloaded"


def test_summary_of_a_model_without_prices_is_unknown_not_zero() -> None:
    s = summarize(_job("some-new-model", [_item(0, "succeeded", USAGE), _item(1, "errored")]))
    assert s.batch_usd is None and s.interactive_usd is None and s.saving_usd is None
    pending = summarize(_job("claude-haiku-4-5", [_item(0, "pending")]))
    assert pending.counts["pending"] == 1 and pending.batch_usd == 0.0


def test_m006_creates_the_batch_tables(tmp_path: Path) -> None:
    Store.open(tmp_path / "db.sqlite").close()
    db = sqlite3.connect(tmp_path / "db.sqlite")
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"batch_jobs", "batches", "batch_items"} <= tables
    assert ("m006_batches",) in db.execute("SELECT name FROM _migrations").fetchall()
    db.close()
