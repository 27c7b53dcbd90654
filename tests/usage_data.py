"""A usage database filled by hand: two days of chat turns, a keep-warm ping and a batch
request, one of them with a model nobody has a price for. Shared by the usage tests."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from chat_tui.core import storage
from chat_tui.core.storage import Store, TurnRecord

DAY1 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC).timestamp()
DAY2 = datetime(2026, 11, 21, 9, 30, tzinfo=UTC).timestamp()
SONNET = "claude-sonnet-4-5"


def turn(**changes: object) -> TurnRecord:
    base = TurnRecord(
        provider="anthropic", model=SONNET, base_url_host="api.anthropic.com", ttft_s=None,
        total_s=1.0, tokens_per_s=None, input_tokens=0, cache_write_tokens=0,
        cache_write_5m_tokens=0, cache_write_1h_tokens=0, cache_read_tokens=0, output_tokens=0,
        output_estimated=False, cost_usd=None, uncached_cost_usd=None, raw_usage=None,
    )  # fmt: skip
    return replace(base, **changes)  # type: ignore[arg-type]


def fill(path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Write the requests into the database at ``path`` with fixed recording times."""
    now = [DAY1]
    monkeypatch.setattr(storage, "time", SimpleNamespace(time=lambda: now[0]))
    with Store.open(path) as store:
        spec = store.create_conversation("Spec questions")
        other = store.create_conversation("Mystery model")

        def chat(conv: int, at: float, record: TurnRecord) -> None:
            now[0] = at
            store.add_message(conv, "user", "q")
            answer = store.add_message(conv, "assistant", "a")
            store.record_turn(answer, record)

        # day 1: a cold 5-minute write, then a warm read that writes 2,000 tokens for an hour
        chat(spec, DAY1, turn(input_tokens=100, cache_write_tokens=10_000,
                              cache_write_5m_tokens=10_000, output_tokens=500, ttft_s=1.2,
                              cost_usd=0.05, uncached_cost_usd=0.04))  # fmt: skip
        chat(spec, DAY1 + 60, turn(input_tokens=50, cache_write_tokens=2000,
                                   cache_write_1h_tokens=2000, cache_read_tokens=10_000,
                                   output_tokens=300, ttft_s=0.4, cost_usd=0.02,
                                   uncached_cost_usd=0.05))  # fmt: skip
        # day 2: a model with no known price, a keep-warm ping and a batch request
        chat(other, DAY2, turn(provider="openai", model="my-mystery", input_tokens=1000,
                               cache_write_tokens=None, cache_write_5m_tokens=None,
                               cache_write_1h_tokens=None, cache_read_tokens=None,
                               output_tokens=100, ttft_s=0.8))  # fmt: skip
        now[0] = DAY2 + 10
        store.record_request("keep_warm", turn(input_tokens=5, cache_read_tokens=12_000,
                                               output_tokens=1, ttft_s=0.3, cost_usd=0.004,
                                               uncached_cost_usd=0.04), conversation_id=spec)  # fmt: skip
        now[0] = DAY2 + 20
        store.record_request("batch", turn(input_tokens=1000, output_tokens=1000, cost_usd=0.01,
                                           uncached_cost_usd=0.01), batch_id="msgbatch_1",
                             custom_id="q1")  # fmt: skip
    monkeypatch.setattr(storage, "time", time)
    return path
