"""Cache diagnostics through the Responses API: the comparison id goes out, the server's
verdict comes back as a CacheDiagnosis; a server that refuses an optional field (a 400 naming
it) gets the request again without it, remembered per host and model."""

from __future__ import annotations

from typing import Any

import pytest

from chat_tui.providers.events import CacheDiagnosis, ErrorKind, ProviderError, Stop
from chat_tui.providers.openai_responses import OpenAIResponsesProvider
from tests.loopback import Status
from tests.loopback_responses import ResponsesLoopback
from tests.test_providers_openai_responses import (
    collect,
    provider,
    request,
    server,
    settings,
    texts,
)

__all__ = ["provider", "server"]  # fixtures, shared with the provider tests


async def test_diagnostics_asked_for_and_mapped(
    server: ResponsesLoopback, provider: OpenAIResponsesProvider
) -> None:
    server.diagnostics = {"type": "cache_miss", "reason": "model_changed",
                          "cache_missed_tokens": 1800}  # fmt: skip
    events = await collect(provider, request("hi", previous="resp_prev"))
    body = server.requests[0].body or {}
    assert body["prompt_cache_options"] == {"comparison_response_id": "resp_prev"}
    assert CacheDiagnosis("model_changed", 1800) in events
    assert sum(isinstance(e, CacheDiagnosis) for e in events) == 1
    assert isinstance(events[-1], Stop)


@pytest.mark.parametrize(
    ("diagnostics", "expected"),
    [
        ({"type": "cache_hit"}, None),
        (
            {"type": "comparison_response_not_found"},
            CacheDiagnosis("comparison_response_not_found"),
        ),
        ({"type": "unavailable"}, CacheDiagnosis("unavailable")),
    ],
)
async def test_diagnostics_other_verdicts(
    server: ResponsesLoopback,
    provider: OpenAIResponsesProvider,
    diagnostics: dict[str, Any],
    expected: CacheDiagnosis | None,
) -> None:
    server.diagnostics = diagnostics
    events = await collect(provider, request("hi", previous="resp_prev"))
    found = [e for e in events if isinstance(e, CacheDiagnosis)]
    assert found == ([expected] if expected else [])


async def test_no_previous_response_no_diagnostics_field(
    server: ResponsesLoopback, provider: OpenAIResponsesProvider
) -> None:
    await collect(provider)
    assert "prompt_cache_options" not in (server.requests[0].body or {})


async def test_diagnostics_refused_then_remembered_per_host(server: ResponsesLoopback) -> None:
    """A server that rejects the field with a 400 naming it gets the request again without it;
    the provider remembers, so later turns to that host (and model) skip it at once."""
    server.reject_fields.add("prompt_cache_options")
    p = OpenAIResponsesProvider(settings(server))
    first = await collect(p, request("one", previous="resp_a"))
    assert first[-1] == Stop("end_turn") and "".join(texts(first)) == "You said: one"
    assert ["prompt_cache_options" in (r.body or {}) for r in server.requests] == [True, False]
    second = await collect(p, request("one", "You said: one", "two", previous="resp_b"))
    assert second[-1] == Stop("end_turn")
    assert len(server.requests) == 3 and "prompt_cache_options" not in (
        server.requests[2].body or {}
    )
    # Another model on the same host may take the field: asked once more.
    await collect(p, request("one", model="gpt-5.6", previous="resp_c"))
    assert "prompt_cache_options" in (server.requests[3].body or {})
    await p.aclose()

    # A server that takes the field still gets it (memory is per host).
    with ResponsesLoopback() as other:
        q = OpenAIResponsesProvider(settings(other))
        await collect(q, request("one", previous="resp_a"))
        await q.aclose()
        assert "prompt_cache_options" in (other.requests[0].body or {})


async def test_the_users_ttl_is_never_dropped(server: ResponsesLoopback) -> None:
    """A model that refuses prompt_cache_options: chat-tui drops its own comparison id, but a
    TTL the user asked for fails the turn with the server's message (nothing silently lost)."""
    server.reject_fields.add("prompt_cache_options")
    p = OpenAIResponsesProvider(settings(server, cache_retention="12h"))
    events = await collect(p, request("hi", previous="resp_a"))
    await p.aclose()
    assert events[-1] == ProviderError(
        ErrorKind.BAD_REQUEST, "Unknown parameter: 'prompt_cache_options'.", status=400
    )
    options = [(r.body or {}).get("prompt_cache_options") for r in server.requests]
    assert options == [{"ttl": "12h", "comparison_response_id": "resp_a"}, {"ttl": "12h"}]


async def test_reasoning_refused_is_dropped_the_same_way(server: ResponsesLoopback) -> None:
    server.reject_fields.add("reasoning")
    p = OpenAIResponsesProvider(settings(server, model="gpt-5-chat"))
    events = await collect(p, request("hi", model="gpt-5-chat"))
    await collect(p, request("hi", model="gpt-5-chat"))
    await p.aclose()
    assert events[-1] == Stop("end_turn")
    assert ["reasoning" in (r.body or {}) for r in server.requests] == [True, False, False]


async def test_other_400s_are_not_retried(
    server: ResponsesLoopback, provider: OpenAIResponsesProvider
) -> None:
    error = {"message": "Invalid model 'gpt-nope'.", "type": "invalid_request_error",
             "param": "model", "code": "model_not_found"}  # fmt: skip
    server.enqueue(Status(400, {"error": error}))
    events = await collect(provider, request("hi", previous="resp_a"))
    assert events[-1] == ProviderError(
        ErrorKind.BAD_REQUEST, "Invalid model 'gpt-nope'.", status=400
    )
    assert len(server.requests) == 1
