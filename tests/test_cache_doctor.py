"""The cache doctor's verdicts on hand-built request sequences, and the advisor's arithmetic."""

from __future__ import annotations

from dataclasses import replace

import pytest

from chat_tui.core.advisor import (
    advise_ttl,
    check_budget,
    estimate_request_usd,
    prefix_cost,
    project,
)
from chat_tui.core.cache_doctor import (
    Context,
    Diagnosis,
    Fingerprint,
    classify,
    diagnose,
    fingerprint,
)
from chat_tui.core.models import ModelInfo, lookup_model
from chat_tui.providers.events import CacheDiagnosis, ChatRequest, Message, SystemBlock, Usage

HAIKU = lookup_model("anthropic", "claude-haiku-4-5")
assert HAIKU is not None
SMALL = ModelInfo("small", 1.0, 5.0, 1.25, 2.0, 0.1, 1024, 200_000)  # min 1,024 tokens
T0 = 1_000_000.0


def request(*texts: str, model: str = "small", system: str = "Be brief.", doc: str = "DOC",
            doc_name: str = "spec.md") -> ChatRequest:  # fmt: skip
    messages = [
        Message.of("user" if i % 2 == 0 else "assistant", t, cache=(i == len(texts) - 1))
        for i, t in enumerate(texts)
    ]
    return ChatRequest(
        model=model,
        system=(SystemBlock(system), SystemBlock(doc, cache=True, label=f"document:{doc_name}")),
        messages=tuple(messages),
    )


def fp(req: ChatRequest, at: float = T0, *, provider: str = "anthropic", cached: int | None = None,
       ttl_s: float = 300.0, thinking: object = None, tools: object = None) -> Fingerprint:  # fmt: skip
    sent = fingerprint(req, provider=provider, host="h", sent_at=at, ttl_s=ttl_s,
                       thinking=thinking, tools=tools)  # fmt: skip
    return replace(sent, cached_tokens=cached)


def usage(*, uncached: int = 20, write: int | None = 0, read: int | None = 0) -> Usage:
    return Usage(input_tokens=uncached, cache_write_tokens=write, cache_read_tokens=read,
                 output_tokens=10)  # fmt: skip


CTX = Context(info=SMALL)
Q1 = request("q1")
Q2 = request("q1", "a1", "q2")


def test_first_use_says_what_is_written_at_which_premium() -> None:
    d = diagnose(fp(Q1), None, usage(write=9000), CTX)
    assert (d.status, d.reason) == ("write", "first_use")
    assert d.detail == "first use: writing 9,000 tokens at 1.25x"
    d1h = diagnose(fp(Q1), None, usage(write=9000), replace(CTX, ttl="1h"))
    assert "at 2x" in d1h.detail


def test_a_following_turn_that_reads_the_whole_prefix_is_a_hit() -> None:
    prev = fp(Q1, cached=9000)
    d = diagnose(fp(Q2, T0 + 30), prev, usage(write=40, read=9000), CTX)
    assert (d.status, d.reason, d.missed_tokens) == ("hit", None, None)
    assert d.line() == "hit: read 9,000 tokens from the cache"


def test_reading_less_than_the_previous_request_cached_is_partial_and_evicted() -> None:
    prev = fp(Q1, cached=9000)
    d = diagnose(fp(Q2, T0 + 120), prev, usage(write=8000, read=1040), CTX)
    assert (d.status, d.reason, d.missed_tokens) == ("partial", "evicted", 7960)
    assert "2m into its 5m TTL" in d.detail
    # 7,960 tokens written at 1.25 instead of read at 0.1 per million
    assert d.rewrite_usd == pytest.approx(7960 * 1.15 / 1e6)
    assert "rewrite cost $0.0092" in d.line()


def test_ttl_expired_says_by_how_much() -> None:
    prev = fp(Q1, cached=9000)
    d = diagnose(fp(Q2, T0 + 372), prev, usage(write=9040), CTX)
    assert (d.status, d.reason) == ("write", "ttl_expired")
    assert d.detail == "TTL expired (idle 6m 12s > 5m)"
    assert d.missed_tokens == 9000
    assert d.line().startswith("miss: TTL expired (idle 6m 12s > 5m) · rewrite cost $0.01")


@pytest.mark.parametrize(
    ("change", "reason", "words"),
    [
        ({"model": "other"}, "model_changed", "model changed from small to other"),
        ({"system": "Be verbose."}, "system_changed", "system instruction changed"),
        ({"doc": "DOC v2"}, "document_changed", "document spec.md changed"),
        ({"doc_name": "notes.md"}, "document_changed", "spec.md replaced by notes.md"),
    ],
)
def test_prefix_changes_are_named(change: dict[str, str], reason: str, words: str) -> None:
    prev = fp(Q1, cached=9000)
    cur = fp(request("q1", "a1", "q2", **change), T0 + 10)
    d = diagnose(cur, prev, usage(write=9040), CTX)
    assert (d.status, d.reason) == ("write", reason)
    assert words in d.detail


def test_settings_changes_thinking_and_tools() -> None:
    prev = fp(Q1, cached=9000, thinking={"type": "adaptive"})
    cur = fp(Q2, T0 + 10, thinking={"type": "enabled", "budget_tokens": 2048})
    assert diagnose(cur, prev, usage(write=9040), CTX).reason == "thinking_changed"
    prev = fp(Q1, cached=9000, tools=["read_file"])
    cur = fp(Q2, T0 + 10, tools=["read_file", "search"])
    assert diagnose(cur, prev, usage(write=9040), CTX).reason == "tools_changed"


def test_history_divergence_names_the_message() -> None:
    prev = fp(request("q1", "a1", "q2"), cached=9100)
    cur = fp(request("q1", "a1 edited", "q2"), T0 + 10)
    d = diagnose(cur, prev, usage(write=100, read=9000), CTX)
    assert (d.status, d.reason) == ("partial", "messages_changed")
    assert "diverged at message 2" in d.detail


def test_below_minimum_is_never_cached() -> None:
    d = diagnose(fp(Q1), None, usage(uncached=300, write=0, read=0), Context(info=HAIKU))
    assert (d.status, d.reason) == ("none", "below_minimum")
    assert "300 tokens" in d.detail and "4,096-token minimum" in d.detail


def test_provider_changed_when_this_provider_saw_nothing_yet() -> None:
    before = fp(Q1, provider="openai", cached=9000)
    ctx = replace(CTX, previous_any=before)
    d = diagnose(fp(Q2, T0 + 10), None, usage(write=9040), ctx)
    assert d.reason == "provider_changed" and "from openai to anthropic" in d.detail


def test_lookback_exceeded_when_no_breakpoint_is_within_20_blocks() -> None:
    prev = fp(Q1, cached=9000)
    texts = ["q1"] + [f"m{i}" for i in range(24)] + ["q"]
    cur = fp(request(*texts), T0 + 10)
    d = diagnose(cur, prev, usage(write=9200), CTX)
    assert d.reason == "lookback_exceeded"


def test_unknown_when_the_provider_reports_nothing() -> None:
    d = diagnose(fp(Q1), None, usage(write=None, read=None), replace(CTX, reported=False))
    assert (d.status, d.reason) == ("unknown", "unknown")
    assert "does not report" in d.line()


def test_automatic_caching_without_reported_writes_is_an_assumed_write() -> None:
    ctx = Context(info=SMALL, automatic=True)
    d = diagnose(fp(Q1, provider="openai"), None, usage(uncached=5000, write=None, read=0), ctx)
    assert (d.status, d.reason, d.assumed) == ("write", "first_use", True)
    assert "assumed" in d.detail
    # OpenAI rounds cached counts down to 128-token steps: that is still a full read
    prev = fp(Q1, provider="openai", cached=5000)
    cur = fp(Q2, T0 + 5, provider="openai")
    hit = diagnose(cur, prev, usage(uncached=100, write=None, read=4992), ctx)
    assert hit.status == "hit"


def test_server_reason_shown_beside_and_disagreement_flagged() -> None:
    prev = fp(Q1, cached=9000)
    server = CacheDiagnosis("messages_changed", 9000)
    d = diagnose(fp(Q2, T0 + 400), prev, usage(write=9040), replace(CTX, server=server))
    assert d.reason == "ttl_expired" and d.server_reason == "messages_changed"
    assert d.disagrees
    assert "server disagrees: messages changed, 9,000 tokens" in d.line()
    agree = diagnose(
        fp(request("q1", "a1", "q2", model="other"), T0 + 5), prev, usage(write=9040),
        replace(CTX, server=CacheDiagnosis("model_changed", 9000)),
    )  # fmt: skip
    assert not agree.disagrees and agree.missed_tokens == 9000
    assert "· server: model changed" in agree.line()


def test_classify_status_table() -> None:
    def c(read: int | None, write: int | None, expected: int | None = None) -> str:
        u = Usage(input_tokens=10, cache_read_tokens=read, cache_write_tokens=write)
        return classify(u, expected_read=expected, automatic=False, min_tokens=None)[0]

    assert c(None, None) == "unknown"
    assert c(0, 0) == "none"
    assert c(0, 500) == "write"
    assert c(900, 50, expected=900) == "hit"
    assert c(400, 500, expected=900) == "partial"
    assert c(400, 500) == "partial"


def test_fingerprint_round_trips_through_json() -> None:
    sent = replace(fp(Q2, thinking={"type": "adaptive"}), cached_tokens=123, response_id="msg_1")
    assert Fingerprint.from_json(sent.to_json()) == sent
    assert Fingerprint.from_json({"v": 99}) is None
    assert Fingerprint.from_json({"v": 1}) is None


def test_diagnosis_line_words() -> None:
    d = Diagnosis("none", "below_minimum", "the prompt is short")
    assert d.line() == "not cached: the prompt is short"


# -- the advisor ---------------------------------------------------------------------------


def test_prefix_cost_counts_rewrites_after_long_gaps() -> None:
    gaps = [60.0, 400.0, 60.0, 1200.0]  # two gaps beyond 5 minutes, none beyond an hour
    # 5m: 3 writes at 1.25 + 2 reads at 0.1 = 3.95 per million
    assert prefix_cost(gaps, 1_000_000, SMALL, "5m") == pytest.approx(3.95)
    # 1h: 1 write at 2.0 + 4 reads at 0.1 = 2.4
    assert prefix_cost(gaps, 1_000_000, SMALL, "1h") == pytest.approx(2.4)


def test_ttl_advice_when_one_hour_would_have_been_cheaper() -> None:
    times = [0.0, 400.0, 800.0, 1200.0, 1600.0]  # every 6m 40s: each 5m turn re-writes
    advice = advise_ttl(times, 20_000, SMALL, "5m")
    assert advice is not None and advice.better == "1h"
    # 5m: 5 writes x 1.25 = 6.25; 1h: 2.0 + 4 x 0.1 = 2.4; per million x 0.02
    assert advice.saving_usd == pytest.approx(20_000 * (6.25 - 2.4) / 1e6)
    assert advice.line() == "1h TTL would have saved $0.077 over the last 5 turns"
    assert advise_ttl([0.0, 30.0, 60.0], 20_000, SMALL, "5m") is None  # 5m is right
    back = advise_ttl([0.0, 30.0, 60.0], 20_000, SMALL, "1h")
    assert back is not None and back.better == "5m"
    assert advise_ttl([0.0, 400.0], 500, SMALL, "5m") is None  # below the minimum


def test_request_estimate_prices_each_cache_class() -> None:
    usd = estimate_request_usd(SMALL, prompt_tokens=10_000, read_tokens=8_000, write_tokens=2_000,
                               max_tokens=1_000, ttl="5m", automatic=False)  # fmt: skip
    assert usd == pytest.approx((8000 * 0.1 + 2000 * 1.25 + 1000 * 5.0) / 1e6)
    assert estimate_request_usd(None, prompt_tokens=1, read_tokens=0, write_tokens=0,
                                max_tokens=1, ttl="5m", automatic=False) is None  # fmt: skip


def test_budget_check() -> None:
    ok = check_budget(1.0, 0.5, 0.2, hint="--budget")
    assert ok.allowed and not ok.warn
    assert check_budget(1.0, 0.85, 0.1, hint="--budget").warn
    refused = check_budget(0.05, 0.04, 0.05, hint="--budget or ctrl+p")
    assert not refused.allowed
    assert refused.message == (
        "this turn could cost up to $0.050 and the session budget has $0.010 left; "
        "raise it with --budget or ctrl+p"
    )
    unknown = check_budget(1.0, 0.0, None, hint="--budget")
    assert unknown.allowed and unknown.message and "unknown" in unknown.message
    assert check_budget(None, 100.0, 5.0, hint="").allowed


def test_projection_matches_the_seed_example() -> None:
    p = project(HAIKU, model="claude-haiku-4-5", prompt_tokens=5000, rpm=1000)
    assert p.cost.uncached_usd == pytest.approx(216_000)
    assert p.cost.usd == pytest.approx(21_600, abs=0.1)
    rows = dict(p.rows())
    assert rows["uncached"] == "$216,000.00 a month"
    assert rows["cached (5m)"] == "$21,600.01 a month"


def test_projection_rewrites_when_traffic_is_slower_than_the_ttl() -> None:
    # one request every 10 minutes: every request writes at 1.25x
    p = project(SMALL, model="small", prompt_tokens=10_000, rpm=0.1, days=30)
    requests = 0.1 * 60 * 24 * 30
    assert p.cost.usd == pytest.approx(requests * 10_000 * 1.25 / 1e6)
    # 8 hours a day at 1000 rpm: one write per day, reads otherwise
    day = project(SMALL, model="small", prompt_tokens=10_000, rpm=1000, hours_per_day=8, days=30)
    n = 1000 * 60 * 8 * 30
    assert day.cost.usd == pytest.approx((30 * 1.25 + (n - 30) * 0.1) * 10_000 / 1e6)
    with pytest.raises(ValueError):
        project(SMALL, model="small", prompt_tokens=10, hours_per_day=25)


def test_a_reason_outside_the_vocabulary_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown cache miss reason"):
        Diagnosis("write", "cosmic_rays", "no")
