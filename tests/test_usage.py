"""``chat-tui usage`` and the report behind it, against a database the tests fill by hand.

Prices of claude-sonnet-4-5 (USD per million): input 3, output 15, 5m write 3.75, 1h write 6,
read 0.30. Every expected figure below is worked out by hand from those.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rich.console import Console

from chat_tui.cli import main
from chat_tui.core import storage
from chat_tui.core.pricing import BATCH_DISCOUNT, turn_cost
from chat_tui.core.storage import Store
from chat_tui.core.usage import (
    SinceError,
    bar,
    build_report,
    parse_since,
    sparkline,
)
from chat_tui.core.usage_table import usage_csv, usage_renderable
from chat_tui.providers.events import Usage
from tests.usage_data import DAY2, SONNET, fill


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def filled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, utc: None) -> Path:
    """Two days of requests in the default data directory (CHAT_TUI_DATA_DIR = tmp/data)."""
    return fill(tmp_path / "data" / "chat-tui.db", monkeypatch)


def rows(path: Path, since: float | None = None) -> list[storage.UsageRow]:
    with Store.open(path) as store:
        return store.usage_rows(since)


# -- hand-computed figures ----------------------------------------------------------------
TURN1 = (100 * 3 + 10_000 * 3.75 + 500 * 15) / 1e6  # 0.0453
TURN1_UNCACHED = (10_100 * 3 + 500 * 15) / 1e6  # 0.0378
TURN2 = (50 * 3 + 2000 * 6 + 10_000 * 0.3 + 300 * 15) / 1e6  # 0.01965
TURN2_UNCACHED = (12_050 * 3 + 300 * 15) / 1e6  # 0.04065
PING = (5 * 3 + 12_000 * 0.3 + 1 * 15) / 1e6  # 0.00363
PING_UNCACHED = (12_005 * 3 + 15) / 1e6  # 0.03603
BATCH = (1000 * 3 + 1000 * 15) * 0.5 / 1e6  # 0.009, half price


def test_totals_by_day_match_the_hand_computed_figures(filled: Path) -> None:
    report = build_report(rows(filled), "day")
    assert [(g.key, g.kind, g.requests) for g in report.groups] == [
        ("2026-11-20", "chat", 2),
        ("2026-11-21", "chat", 1),
        ("2026-11-21", "keep_warm", 1),
        ("2026-11-21", "batch", 1),
    ]
    day1 = report.groups[0]
    assert (day1.input_tokens, day1.cache_write_5m_tokens, day1.cache_write_1h_tokens) == (
        150, 10_000, 2000,
    )  # fmt: skip
    assert (day1.cache_read_tokens, day1.output_tokens) == (10_000, 800)
    assert day1.hit_rate == pytest.approx(10_000 / (150 + 12_000 + 10_000))
    assert day1.cost_usd == pytest.approx(TURN1 + TURN2)
    assert day1.uncached_cost_usd == pytest.approx(TURN1_UNCACHED + TURN2_UNCACHED)
    assert day1.saving_usd == pytest.approx(TURN1_UNCACHED + TURN2_UNCACHED - TURN1 - TURN2)
    assert (day1.ttft_warm_s, day1.ttft_cold_s) == (0.4, 1.2)

    total = report.total
    assert total.requests == 5 and total.unpriced == 1
    assert total.input_tokens == 100 + 50 + 1000 + 5 + 1000
    assert total.cache_write_tokens == 12_000 and total.cache_read_tokens == 22_000
    assert total.hit_rate == pytest.approx(22_000 / (2155 + 12_000 + 22_000))
    assert total.cost_usd == pytest.approx(TURN1 + TURN2 + PING + BATCH)  # 0.07758
    assert total.uncached_cost_usd == pytest.approx(
        TURN1_UNCACHED + TURN2_UNCACHED + PING_UNCACHED + BATCH
    )
    assert total.ttft_warm_s == pytest.approx((0.4 + 0.3) / 2)
    assert total.ttft_cold_s == pytest.approx((1.2 + 0.8) / 2)
    # the unknown model is counted and named, not summed as $0
    assert report.unpriced_models == {("openai", "my-mystery"): 1}
    assert report.as_dict()["groups"][1]["cost_usd"] is None
    note = report.unpriced_note()
    assert note is not None and "1 request with no known price" in note and "my-mystery" in note


def test_a_price_change_reprices_history_and_as_billed_keeps_the_stored_figures(
    filled: Path,
) -> None:
    doubled = {SONNET: {"input": 6.0, "cache_read": 0.6}}
    report = build_report(rows(filled), "model", overrides=doubled)
    sonnet_chat = next(
        g for g in report.groups if g.key == f"anthropic/{SONNET}" and g.kind == "chat"
    )
    turn1 = (100 * 6 + 10_000 * 3.75 + 500 * 15) / 1e6
    turn2 = (50 * 6 + 2000 * 6 + 10_000 * 0.6 + 300 * 15) / 1e6
    assert sonnet_chat.cost_usd == pytest.approx(turn1 + turn2)
    assert sonnet_chat.uncached_cost_usd == pytest.approx(
        (10_100 * 6 + 12_050 * 6 + 800 * 15) / 1e6
    )
    # the same rows, billed as stored
    billed = build_report(rows(filled), "model", as_billed=True)
    assert billed.total.cost_usd == pytest.approx(0.05 + 0.02 + 0.004 + 0.01)
    assert billed.total.uncached_cost_usd == pytest.approx(0.04 + 0.05 + 0.04 + 0.01)
    assert billed.total.unpriced == 1


def test_batch_requests_are_priced_at_half(filled: Path) -> None:
    batch = next(r for r in rows(filled) if r.kind == "batch")
    report = build_report([batch], "provider")
    assert report.total.cost_usd == pytest.approx(BATCH)
    usage = Usage(input_tokens=1000, output_tokens=1000)
    from chat_tui.core.models import lookup_model

    info = lookup_model("anthropic", SONNET)
    full = turn_cost(info, usage)
    half = turn_cost(info, usage, discount=BATCH_DISCOUNT)
    assert full.usd is not None and half.usd == pytest.approx(full.usd / 2)
    assert half.uncached_usd == pytest.approx(full.usd / 2)
    with pytest.raises(ValueError):
        turn_cost(info, usage, discount=1.5)


def test_grouping_by_conversation_and_provider(filled: Path) -> None:
    report = build_report(rows(filled), "conversation")
    keys = [(g.key, g.kind, g.requests) for g in report.groups]
    assert keys == [
        ("#1 Spec questions", "chat", 2),
        ("#1 Spec questions", "keep_warm", 1),
        ("#2 Mystery model", "chat", 1),
        ("(no conversation)", "batch", 1),
    ]
    by_provider = build_report(rows(filled), "provider")
    assert {(g.key, g.kind): g.requests for g in by_provider.groups} == {
        ("anthropic", "chat"): 2, ("anthropic", "keep_warm"): 1, ("anthropic", "batch"): 1,
        ("openai", "chat"): 1,
    }  # fmt: skip
    with Store.open(filled) as store:
        only_spec = store.usage_rows(conversation_id=1)
    assert sorted(r.kind for r in only_spec) == ["chat", "chat", "keep_warm"]


def test_since_parses_durations_and_dates(utc: None) -> None:
    now = DAY2
    assert parse_since("7d", now=now) == now - 7 * 86400
    assert parse_since("12h", now=now) == now - 12 * 3600
    assert parse_since("2w", now=now) == now - 14 * 86400
    assert parse_since("2026-11-21", now=now) == datetime(2026, 11, 21, tzinfo=UTC).timestamp()
    assert parse_since("today", now=now) == datetime(2026, 11, 21, tzinfo=UTC).timestamp()
    with pytest.raises(SinceError, match="neither a duration"):
        parse_since("last tuesday", now=now)


def test_sparkline_and_bar() -> None:
    assert sparkline([0.0, 1.0, 2.0, None]) == "▁▅█ "
    assert bar(0.5, 1.0, width=4) == "██  "
    assert bar(0.5, 1.0, width=1) == "▌"
    assert bar(None, 1.0) == ""


def test_table_shows_every_column_the_total_and_the_daily_bars(filled: Path) -> None:
    report = build_report(rows(filled), "day")
    console = Console(width=240, record=True, color_system=None)
    console.print(usage_renderable(report))
    lines = console.export_text().splitlines()
    head = " ".join(lines[1].split() + lines[2].split())
    assert head == (
        "write write hit TTFT TTFT no daily daily day kind requests input 5m 1h read output "
        "rate warm cold cost uncached saving price cost hit rate"
    )
    day1 = lines[4].split()
    assert day1[:14] == ["2026-11-20", "chat", "2", "150", "10,000", "2,000", "10,000", "800",
                         "45.1%", "400", "ms", "1,200", "ms", "$0.065"]  # fmt: skip
    total = next(line for line in lines if line.startswith("total"))
    assert total.split()[:16] == [
        "total", "all", "5", "2,155", "10,000", "2,000", "22,000", "1,901", "60.8%", "350", "ms",
        "1,000", "ms", "$0.078", "$0.12", "$0.046",
    ]  # fmt: skip
    assert total.split()[16:] == ["1", "█▂", "▅█"]  # unpriced; daily cost and hit-rate sparklines
    assert "no known price" in lines[-1] and "my-mystery" in lines[-1]

    chat_only = build_report([r for r in rows(filled) if r.record.model == SONNET][:2], "day")
    console = Console(width=240, record=True, color_system=None)
    console.print(usage_renderable(chat_only))
    text = console.export_text()
    body = text.split("\n", 1)[1]  # below the title
    assert "kind" not in body and "price" not in body  # columns only when they say something


def test_cli_json_csv_since_and_errors(filled: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["usage", "--json"]) == 0
    out, err = capsys.readouterr()
    data = json.loads(out)
    assert data["total"]["requests"] == 5
    assert data["total"]["cost_usd"] == pytest.approx(TURN1 + TURN2 + PING + BATCH, abs=1e-6)
    assert data["total"]["cache_write_5m_tokens"] == 10_000
    assert data["total"]["cache_write_1h_tokens"] == 2000
    assert data["unpriced_models"] == [{"provider": "openai", "model": "my-mystery", "requests": 1}]
    assert "note: 1 request with no known price" in err

    assert main(["usage", "--since", "2026-11-21", "--by", "model", "--csv", "--as-billed"]) == 0
    out, _ = capsys.readouterr()
    lines = list(csv.DictReader(io.StringIO(out)))
    assert [(r["group"], r["kind"]) for r in lines] == [
        (f"anthropic/{SONNET}", "keep_warm"),
        (f"anthropic/{SONNET}", "batch"),
        ("openai/my-mystery", "chat"),
        ("total", "all"),
    ]
    assert float(lines[-1]["cost_usd"]) == pytest.approx(0.014)
    assert lines[2]["cost_usd"] == ""

    assert main(["usage", "--by", "provider"]) == 0
    out, _ = capsys.readouterr()
    assert "anthropic" in out and "total" in out

    assert main(["usage", "--since", "yesterday-ish"]) == 2
    out, err = capsys.readouterr()
    assert err.startswith("chat-tui usage: --since 'yesterday-ish' is neither") and not out


def test_cli_on_an_empty_database(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["usage"]) == 0
    out, _ = capsys.readouterr()
    assert "No requests recorded" in out
    assert main(["usage", "--csv"]) == 0
    out, _ = capsys.readouterr()
    assert out.splitlines()[-1].startswith("total,all,0,")


def test_csv_has_one_line_per_group_and_a_total(filled: Path) -> None:
    report = build_report(rows(filled), "day")
    lines = usage_csv(report).splitlines()
    assert len(lines) == 1 + len(report.groups) + 1


def test_data_dir_before_or_after_the_command(
    filled: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = str(filled.parent)
    elsewhere = tmp_path / "elsewhere"
    for argv in (["--data-dir", data, "usage", "--json"], ["usage", "--json", "--data-dir", data]):
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("CHAT_TUI_DATA_DIR", str(elsewhere))  # the flag must win over it
            assert main(argv) == 0
        assert json.loads(capsys.readouterr().out)["total"]["requests"] == 5
