"""The loopback server itself: wire format, scripting, fault injection, cache simulation."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.loopback import (
    SSE,
    Drop,
    Hang,
    LoopbackServer,
    Status,
    anthropic_sse,
    fixture,
    openai_sse,
)
from tests.loopback_wire import FIXTURE_DIRS, AnthropicCacheSim, OpenAICacheSim

FIXTURES = [
    "anthropic_1_cache_write.sse",
    "anthropic_2_cache_read.sse",
    "anthropic_3_midstream_error.sse",
    "ollama_v1_chat_include_usage.sse",
    "openai_chat_include_usage.sse",
]
REPO = Path(__file__).resolve().parents[1]


def post(server: LoopbackServer, path: str, body: dict[str, Any], **kw: Any) -> httpx2.Response:
    return httpx2.post(server.base_url + path, json=body, timeout=kw.pop("timeout", 5.0), **kw)


def anthropic_body(system: list[dict[str, Any]], *user: str, model: str = "m") -> dict[str, Any]:
    messages: list[dict[str, Any]] = [
        {"role": "user" if i % 2 == 0 else "assistant", "content": [{"type": "text", "text": t}]}
        for i, t in enumerate(user)
    ]
    messages[-1]["content"][0]["cache_control"] = {"type": "ephemeral"}
    return {
        "model": model,
        "max_tokens": 100,
        "system": system,
        "messages": messages,
        "stream": True,
    }


def sse_data(body: bytes) -> list[dict[str, Any]]:
    lines = body.decode().splitlines()
    return [json.loads(line[6:]) for line in lines if line.startswith("data: {")]


@pytest.mark.parametrize("name", FIXTURES)
def test_fixture_copies_match_shared(name: str) -> None:
    local, shared = (folder / name for folder in FIXTURE_DIRS)
    assert fixture(name) == local.read_bytes()
    if shared.exists():
        assert local.read_bytes() == shared.read_bytes()


@pytest.mark.parametrize("name", FIXTURES)
def test_sse_replay_is_byte_exact(loopback: LoopbackServer, name: str) -> None:
    loopback.enqueue(SSE(fixture(name)))
    response = post(loopback, "/v1/messages", {"stream": True})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["transfer-encoding"] == "chunked"
    assert response.content == fixture(name)
    assert b"".join(chunk.data for chunk in loopback.sent_log) == fixture(name)


def test_requests_are_recorded(loopback: LoopbackServer) -> None:
    before = time.monotonic()
    post(
        loopback,
        "/v1/chat/completions?x=1",
        {"model": "m", "messages": []},
        headers={"X-Test": "A"},
    )
    [recorded] = loopback.requests
    assert (recorded.method, recorded.path) == ("POST", "/v1/chat/completions")
    assert recorded.headers["x-test"] == "A" and recorded.body == {"model": "m", "messages": []}
    assert before <= recorded.received_at <= time.monotonic()


def test_scripted_responses_are_fifo_then_default(loopback: LoopbackServer) -> None:
    loopback.enqueue(Status(401), Status(200, {"ok": True}, {"x-extra": "1"}))
    first = post(loopback, "/v1/messages", {})
    assert first.status_code == 401
    assert first.json()["error"]["type"] == "authentication_error"
    second = post(loopback, "/v1/chat/completions", {})
    assert second.json() == {"ok": True} and second.headers["x-extra"] == "1"
    third = post(loopback, "/v1/messages/count_tokens", {"system": "x" * 40, "messages": []})
    assert third.json() == {"input_tokens": 10}


def test_error_bodies_follow_the_protocol(loopback: LoopbackServer) -> None:
    loopback.enqueue(Status(529), Status(429))
    assert post(loopback, "/v1/messages", {}).json() == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "loopback overloaded_error (529)"},
    }
    body = post(loopback, "/v1/chat/completions", {}).json()
    assert body["error"]["type"] == "rate_limit_error" and "message" in body["error"]
    assert post(loopback, "/nowhere", {}).status_code == 404


def test_drop_after_breaks_the_chunked_body(loopback: LoopbackServer) -> None:
    loopback.enqueue(SSE(anthropic_sse(["a", "b"]), drop_after=4))
    with pytest.raises(httpx2.RemoteProtocolError):
        post(loopback, "/v1/messages", {})
    assert [chunk.text for chunk in loopback.sent_log] == [None, None, None, "a"]


def test_hang_and_drop(loopback: LoopbackServer) -> None:
    loopback.enqueue(Hang(5), Drop())
    with pytest.raises(httpx2.ReadTimeout):
        post(loopback, "/v1/messages", {}, timeout=0.2)
    assert loopback.wait_for_disconnect(2) and loopback.disconnects == 1
    with pytest.raises(httpx2.RemoteProtocolError):
        post(loopback, "/v1/messages", {})


def test_client_hanging_up_mid_stream_is_counted(loopback: LoopbackServer) -> None:
    loopback.enqueue(SSE(openai_sse(["x"] * 100), chunk_delay=0.01))
    with httpx2.stream("POST", loopback.openai_base_url + "/chat/completions", json={}) as response:
        next(response.iter_bytes())
    assert loopback.wait_for_disconnect(2)
    assert len(loopback.sent_log) < 100  # stopped before the end


def test_default_anthropic_reply(loopback: LoopbackServer) -> None:
    response = post(loopback, "/v1/messages", anthropic_body([], "hello there"))
    events = sse_data(response.content)
    text = "".join(e["delta"]["text"] for e in events if e["type"] == "content_block_delta")
    assert text == "You said: hello there"
    assert (
        events[-2]["usage"]["output_tokens"] == 6
        and events[-2]["delta"]["stop_reason"] == "end_turn"
    )
    loopback.reply_text = "x" * 40
    body = anthropic_body([], "hi") | {"max_tokens": 3}
    events = sse_data(post(loopback, "/v1/messages", body).content)
    assert events[-2]["delta"]["stop_reason"] == "max_tokens"


def test_more_than_four_breakpoints_is_a_bad_request(loopback: LoopbackServer) -> None:
    system = [
        {"type": "text", "text": str(i), "cache_control": {"type": "ephemeral"}} for i in range(4)
    ]
    response = post(loopback, "/v1/messages", anthropic_body(system, "hi"))
    assert response.status_code == 400 and "Found 5" in response.json()["error"]["message"]


def test_default_openai_reply_and_usage(loopback: LoopbackServer) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "hey"}], "stream": True}
    chunks = sse_data(post(loopback, "/v1/chat/completions", body).content)
    assert all(c["choices"] for c in chunks)  # no usage chunk unless asked for
    body["stream_options"] = {"include_usage": True}
    chunks = sse_data(post(loopback, "/v1/chat/completions", body).content)
    assert (
        chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 4
    )  # "You said: hey"


def test_tokens_per_second_paces_the_reply(loopback: LoopbackServer) -> None:
    loopback.tokens_per_second = 100
    loopback.reply_text = "abcd" * 5
    post(loopback, "/v1/messages", anthropic_body([], "hi"))
    sent = [chunk.at for chunk in loopback.sent_log if chunk.text]
    assert len(sent) == 5 and sent[-1] - sent[0] >= 4 / 100 * 0.8


# ---------------------------------------------------------------- cache simulations


def doc_block(ttl: str = "5m", text: str = "D" * 5000) -> dict[str, Any]:
    return {"type": "text", "text": text, "cache_control": {"type": "ephemeral", "ttl": ttl}}


def test_anthropic_sim_write_then_read() -> None:
    sim = AnthropicCacheSim()
    turn1 = sim.usage(anthropic_body([doc_block()], "q1"), min_tokens=1024, now=0)
    assert turn1["cache_read_input_tokens"] == 0 and turn1["cache_creation_input_tokens"] > 1250
    assert (
        turn1["cache_creation"]["ephemeral_5m_input_tokens"] == turn1["cache_creation_input_tokens"]
    )
    turn2 = sim.usage(anthropic_body([doc_block()], "q1", "a1", "q2"), min_tokens=1024, now=10)
    assert turn2["cache_read_input_tokens"] == turn1["cache_creation_input_tokens"]
    assert 0 < turn2["cache_creation_input_tokens"] < 10 and turn2["input_tokens"] == 0
    changed = sim.usage(anthropic_body([doc_block()], "other"), min_tokens=1024, now=20)
    assert changed["cache_read_input_tokens"] == 1250  # the document alone: ceil(5000 / 4)


def test_anthropic_sim_minimum_ttl_expiry_and_model() -> None:
    sim = AnthropicCacheSim()
    short = anthropic_body([doc_block(text="short")], "q")
    assert sim.usage(short, min_tokens=1024, now=0)["cache_creation_input_tokens"] == 0
    assert sim.usage(short, min_tokens=1024, now=0)["cache_read_input_tokens"] == 0
    body = anthropic_body([doc_block("1h")], "q")
    first = sim.usage(body, min_tokens=1024, now=0)
    assert first["cache_creation"]["ephemeral_1h_input_tokens"] > 0
    assert first["cache_creation"]["ephemeral_5m_input_tokens"] > 0  # the message mark is 5m
    assert sim.usage(body, min_tokens=1024, now=3000)["cache_read_input_tokens"] > 0
    assert sim.usage(body, min_tokens=1024, now=9000)["cache_read_input_tokens"] == 0  # expired
    other_model = anthropic_body([doc_block("1h")], "q", model="other")
    assert sim.usage(other_model, min_tokens=1024, now=9001)["cache_read_input_tokens"] == 0


def test_openai_sim_rounds_to_128_token_steps() -> None:
    sim = OpenAICacheSim()
    prompt = "p" * 6000
    assert sim.cached("m", prompt, min_tokens=1024) == 0
    assert sim.cached("m", prompt + " more", min_tokens=1024) == 1408  # 1500 → 11 × 128
    assert sim.cached("other", prompt, min_tokens=1024) == 0
    assert sim.cached("m", "p" * 3000, min_tokens=1024) == 0  # 750 tokens: below the minimum


def test_server_clock_is_injectable() -> None:
    now = [0.0]
    with LoopbackServer(clock=lambda: now[0]) as server:
        body = anthropic_body([doc_block()], "q")
        for expected_read in (False, True):
            events = sse_data(post(server, "/v1/messages", body).content)
            usage = events[0]["message"]["usage"]
            assert (usage["cache_read_input_tokens"] > 0) is expected_read
        now[0] = 301.0
        usage = sse_data(post(server, "/v1/messages", body).content)[0]["message"]["usage"]
        assert usage["cache_read_input_tokens"] == 0


def test_standalone_mode_prints_its_url() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.loopback", "--port", "0", "--tps", "500"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("Anthropic base URL: http://127.0.0.1:")
        url = line.split()[-1]
        body = {"model": "m", "messages": [{"role": "user", "content": "x"}]}
        assert httpx2.post(url + "/v1/chat/completions", json=body, timeout=5).status_code == 200
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(5) == 0


def test_port_in_use_raises(loopback: LoopbackServer) -> None:
    with pytest.raises(OSError):
        LoopbackServer(loopback.port).start()
