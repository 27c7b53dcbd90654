"""The cache doctor, keep-warm and the budget end to end: real SDKs against the loopback server
(which simulates the providers' caches and Anthropic's diagnostics), real storage."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from chat_tui.cli import EXIT_FAILED, main
from chat_tui.core.session import ChatSession
from chat_tui.core.storage import Store
from chat_tui.errors import BudgetError
from tests.helpers import FakeClock, loopback_settings
from tests.loopback import LoopbackServer

WALL0 = 1_800_000_000.0


class Clocks:
    """One fake time for the session's monotonic clock, its wall clock and the server's
    cache expiry."""

    def __init__(self) -> None:
        self.mono = FakeClock(1000.0)
        self.wall = FakeClock(WALL0)

    def advance(self, seconds: float) -> None:
        self.mono.advance(seconds)
        self.wall.advance(seconds)


@pytest.fixture
def clocks() -> Clocks:
    return Clocks()


@pytest.fixture
def server(clocks: Clocks) -> Iterator[LoopbackServer]:
    with LoopbackServer(clock=clocks.mono) as s:
        yield s


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(tmp_path / "data" / "chat.db")
    yield s
    s.close()


def _doc(tmp_path: Path, tokens: int = 6000) -> Path:
    path = tmp_path / "spec.md"
    path.write_text("The widget protocol has rules. " * (tokens * 4 // 31), encoding="utf-8")
    return path


def _session(server: LoopbackServer, clocks: Clocks, store: Store | None = None,
             **settings: object) -> ChatSession:  # fmt: skip
    return ChatSession(
        loopback_settings(server, provider="anthropic", **settings),
        store=store, clock=clocks.mono, wall=clocks.wall,
    )  # fmt: skip


def _sink(_: str) -> None:
    pass


def _message_posts(server: LoopbackServer) -> list[dict[str, object]]:
    return [r.body or {} for r in server.requests if r.path == "/v1/messages"]


async def test_write_hit_then_early_eviction_is_named(
    server: LoopbackServer, clocks: Clocks, tmp_path: Path, store: Store
) -> None:
    session = _session(server, clocks, store)
    session.load_document(_doc(tmp_path))
    first = await session.ask("What is a widget?", _sink)
    d1 = first.metrics.diagnosis
    assert d1 is not None and (d1.status, d1.reason) == ("write", "first_use")
    assert d1.detail.startswith("first use: writing ") and d1.detail.endswith("at 1.25x")

    clocks.advance(30)
    second = await session.ask("And a gadget?", _sink)
    d2 = second.metrics.diagnosis
    assert d2 is not None and (d2.status, d2.reason) == ("hit", None)

    clocks.advance(60)
    server.anthropic_cache.entries.clear()  # the provider drops the prefix early
    third = await session.ask("Thanks", _sink)
    d3 = third.metrics.diagnosis
    u2 = second.metrics.usage
    assert d3 is not None and (d3.status, d3.reason) == ("write", "evicted")
    assert d3.missed_tokens == (u2.cache_read_tokens or 0) + (u2.cache_write_tokens or 0)
    assert d3.rewrite_usd and d3.rewrite_usd > 0
    assert "1m into its 5m TTL" in d3.detail

    # every turn's verdict is stored with its metrics
    stored = store.load_conversation(session.conversation.id or 0)
    turns = [m.metrics for m in stored.messages if m.metrics is not None]
    assert [t.cache_status for t in turns] == ["write", "hit", "write"]
    assert [t.cache_miss_reason for t in turns] == ["first_use", None, "evicted"]
    assert turns[2].cache_missed_tokens == d3.missed_tokens
    assert turns[2].sent_at == pytest.approx(WALL0 + 90)
    assert turns[2].cache_miss_detail == d3.line()


async def test_ttl_expiry_says_how_long_the_idle_was(
    server: LoopbackServer, clocks: Clocks, tmp_path: Path
) -> None:
    session = _session(server, clocks)
    session.load_document(_doc(tmp_path))
    await session.ask("What is a widget?", _sink)
    clocks.advance(372)
    result = await session.ask("Still there?", _sink)
    d = result.metrics.diagnosis
    assert d is not None and (d.status, d.reason) == ("write", "ttl_expired")
    assert d.line().startswith("miss: TTL expired (idle 6m 12s > 5m) · rewrite cost $")


async def test_server_diagnostics_are_asked_for_and_shown_beside(
    server: LoopbackServer, clocks: Clocks, tmp_path: Path
) -> None:
    session = _session(server, clocks)
    session.load_document(_doc(tmp_path))
    await session.ask("What is a widget?", _sink)
    posts = _message_posts(server)
    assert "diagnostics" not in posts[0]  # no previous message yet
    session.set_model("claude-haiku-4-5-20251001")
    clocks.advance(10)
    result = await session.ask("And now?", _sink)
    posts = _message_posts(server)
    assert posts[1]["diagnostics"] == {"previous_message_id": "msg_loopback_1"}
    d = result.metrics.diagnosis
    assert d is not None and d.reason == "model_changed"
    assert d.server_reason == "model_changed" and not d.disagrees
    assert d.server_missed_tokens and d.missed_tokens == d.server_missed_tokens
    assert "· server: model changed" in d.line()


async def test_a_server_that_rejects_diagnostics_is_asked_again_without_and_remembered(
    server: LoopbackServer, clocks: Clocks, tmp_path: Path
) -> None:
    server.reject_diagnostics = True
    session = _session(server, clocks)
    session.load_document(_doc(tmp_path))
    await session.ask("one", _sink)
    second = await session.ask("two", _sink)
    third = await session.ask("three", _sink)
    assert second.status == third.status == "complete"
    posts = _message_posts(server)
    assert len(posts) == 4  # one, two (refused, then again without), three
    assert ["diagnostics" in p for p in posts] == [False, True, False, False]
    d = third.metrics.diagnosis
    assert d is not None and d.status == "hit" and d.server_reason is None


async def test_a_new_run_compares_with_the_previous_runs_request(
    server: LoopbackServer, clocks: Clocks, tmp_path: Path, store: Store
) -> None:
    doc = _doc(tmp_path)
    first = _session(server, clocks, store)
    first.load_document(doc)
    await first.ask("What is a widget?", _sink)
    await first.aclose()

    clocks.advance(20)
    later = _session(server, clocks, store)  # e.g. the next `chat-tui ask`
    later.load_document(doc)
    result = await later.ask("What is a gadget?", _sink)
    posts = _message_posts(server)
    assert posts[-1]["diagnostics"] == {"previous_message_id": "msg_loopback_1"}
    d = result.metrics.diagnosis
    # the document came from the cache; the question differs from the last run's
    assert d is not None and (d.status, d.reason) == ("partial", "messages_changed")
    assert "diverged at message 1" in d.detail
    assert d.server_reason == "messages_changed" and not d.disagrees


async def test_automatic_cache_without_reported_writes_starts_the_clock_assumed(
    server: LoopbackServer, clocks: Clocks, tmp_path: Path
) -> None:
    session = ChatSession(
        loopback_settings(server, provider="openai"), clock=clocks.mono, wall=clocks.wall
    )
    session.load_document(_doc(tmp_path))
    result = await session.ask("hello", _sink)
    state = session.cache_state()
    assert (state.status, state.assumed) == ("warm", True)
    d = result.metrics.diagnosis
    assert d is not None and (d.status, d.reason, d.assumed) == ("write", "first_use", True)
    second = await session.ask("again", _sink)
    assert second.metrics.diagnosis is not None and second.metrics.diagnosis.status == "hit"


async def test_keep_warm_pings_before_expiry_stop_at_the_cap_and_are_not_turns(
    server: LoopbackServer, clocks: Clocks, tmp_path: Path, store: Store
) -> None:
    session = _session(server, clocks, store, keep_warm=True, keep_warm_max=2)
    session.load_document(_doc(tmp_path))
    turn = await session.ask("What is a widget?", _sink)
    cost_after_turn = session.spent_usd
    assert not session.keep_warm_due()  # 5 minutes left

    clocks.advance(269)  # 31 s left: not yet
    assert not session.keep_warm_due()
    clocks.advance(2)  # 29 s left
    assert session.keep_warm_due()
    assert await session.keep_warm_ping()
    ping = _message_posts(server)[-1]
    assert ping["max_tokens"] == 1
    assert ping["messages"] == _message_posts(server)[0]["messages"]  # the same prefix
    assert session.cache_state().seconds_left == pytest.approx(300)  # the read refreshed it

    clocks.advance(271)
    assert session.keep_warm_due() and await session.keep_warm_ping()
    clocks.advance(271)
    assert not session.keep_warm_due()  # two pings: the cap for this idle stretch
    kw = session.keep_warm
    assert kw.pings == 2 and kw.stopped and "2 pings" in kw.stopped
    assert kw.cost_usd > 0 and kw.rewrite_usd > kw.cost_usd
    assert session.spent_usd == pytest.approx(cost_after_turn + kw.cost_usd)

    # pings are stored apart, never as conversation turns
    stored = store.load_conversation(session.conversation.id or 0)
    assert [m.role for m in stored.messages] == ["user", "assistant"]
    assert turn.metrics.diagnosis is not None
    rows = store._conn.execute("SELECT kind, cache_read_tokens FROM requests").fetchall()
    assert [r[0] for r in rows] == ["keep_warm", "keep_warm"] and all(r[1] > 0 for r in rows)

    # a real turn starts a new idle stretch, and it reads what the pings kept warm
    clocks.advance(20)
    after = await session.ask("And a gadget?", _sink)
    assert after.metrics.diagnosis is not None and after.metrics.diagnosis.status == "hit"
    assert session.keep_warm.stretch_pings == 0


async def test_a_failed_ping_is_one_line_and_stops_the_stretch(
    server: LoopbackServer, clocks: Clocks, tmp_path: Path
) -> None:
    from tests.loopback import Status

    session = _session(server, clocks, keep_warm=True)
    session.load_document(_doc(tmp_path))
    await session.ask("What is a widget?", _sink)
    clocks.advance(275)
    server.enqueue(Status(529))
    assert session.keep_warm_due()
    assert not await session.keep_warm_ping()
    line = session.keep_warm.last_line or ""
    assert line.startswith("ping failed:") and "\n" not in line
    assert not session.keep_warm_due()  # no retry storm


async def test_over_budget_the_request_is_refused_before_anything_is_sent(
    server: LoopbackServer, clocks: Clocks, tmp_path: Path, store: Store
) -> None:
    session = _session(server, clocks, store, budget_usd=0.001)
    session.load_document(_doc(tmp_path))
    with pytest.raises(BudgetError) as refused:
        await session.ask("What is a widget?", _sink)
    assert "the session budget has $0.0010 left" in str(refused.value)
    assert "ctrl+p" in str(refused.value)
    assert server.requests == []
    assert store.list_conversations() == []  # nothing half-stored
    assert session.conversation.exchanges == []  # the question stays with the user

    session.budget_usd = 1.0  # raised
    ok = await session.ask("What is a widget?", _sink)
    assert ok.status == "complete"
    status = session.budget_status()
    assert status is not None and status[0].endswith(f"of $1.00 ({100 * session.spent_usd:.0f} %)")


async def test_an_unknown_price_cannot_be_capped_and_says_so_once(
    server: LoopbackServer, clocks: Clocks
) -> None:
    session = _session(server, clocks, budget_usd=0.0001)
    session.set_model("claude-unreleased-9")
    await session.ask("one", _sink)
    await session.ask("two", _sink)
    assert session.notices == ["budget: the model's price is unknown, so the budget cannot cap it"]
    status = session.budget_status()
    assert status == ("cannot cap: claude-unreleased-9's price is unknown", True)


async def test_ttl_advice_from_the_gaps_between_turns(
    server: LoopbackServer, clocks: Clocks, tmp_path: Path, store: Store
) -> None:
    session = _session(server, clocks, store)
    session.load_document(_doc(tmp_path))
    for question in ("one", "two", "three", "four"):
        await session.ask(question, _sink)
        clocks.advance(420)  # 7 minutes: every 5m turn writes again
    advice = session.ttl_advice()
    assert advice is not None and advice.better == "1h" and advice.turns == 4
    assert advice.line().startswith("1h TTL would have saved $")


def test_ask_json_carries_the_diagnosis(
    server: LoopbackServer, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
    doc = str(_doc(tmp_path))
    assert main(["ask", "What is a widget?", "--doc", doc, "--json"]) == 0
    first = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert first["cache_status"] == "write" and first["cache_miss_reason"] == "first_use"
    assert first["cache_miss_detail"].startswith("miss: first use: writing")
    assert first["cache_missed_tokens"] is None and first["server_cache_miss_reason"] is None

    assert main(["ask", "What is a widget?", "--doc", doc, "--json"]) == 0
    again = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert again["cache_status"] == "hit" and again["cache_miss_reason"] is None
    assert again["cache_miss_detail"] is None


def test_ask_over_budget_exits_non_zero_with_one_line(
    server: LoopbackServer, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
    code = main(["ask", "hi", "--doc", str(_doc(tmp_path)), "--budget", "0.0001"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == EXIT_FAILED and len(err) == 1
    assert err[0].startswith("chat-tui ask: this turn could cost up to $")
    assert err[0].endswith("raise it with --budget")
    assert _message_posts(server) == []  # only the document's token count went out


def test_settings_read_the_new_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from chat_tui.config import load_settings
    from chat_tui.errors import ConfigError

    path = tmp_path / "config.toml"
    path.write_text("budget_usd = 2.5\nkeep_warm = true\nkeep_warm_max = 3\n", encoding="utf-8")
    monkeypatch.setenv("CHAT_TUI_CONFIG", str(path))
    s = load_settings()
    assert (s.budget_usd, s.keep_warm, s.keep_warm_max, s.keep_warm_lead_s) == (2.5, True, 3, 30.0)
    assert load_settings({"budget": 0.5}).budget_usd == 0.5
    path.write_text('keep_warm = "yes"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="keep_warm must be true or false"):
        load_settings()
    assert replace(s, budget_usd=None).budget_usd is None


async def test_keep_warm_stops_before_the_budget_would_be_passed(
    server: LoopbackServer, clocks: Clocks, tmp_path: Path
) -> None:
    session = _session(server, clocks, keep_warm=True, budget_usd=1.0)
    session.load_document(_doc(tmp_path))
    await session.ask("What is a widget?", _sink)
    posts = len(_message_posts(server))
    session.budget_usd = session.spent_usd + 0.00001  # less than one ping's read
    clocks.advance(275)
    assert session.keep_warm_due()
    assert not await session.keep_warm_ping()
    assert len(_message_posts(server)) == posts  # nothing sent
    assert session.keep_warm.stopped == "stopped: the next ping could pass the spending budget"
    assert not session.keep_warm_due()
