"""MCP tools over streamable HTTP, end to end: the tests' MCP server (tests/mcp_server.py, the mcp
SDK's server side) run as a subprocess with ``--http PORT`` on a free loopback port, chat-tui
configured with ``[mcp.servers.web] url = "http://127.0.0.1:PORT/mcp"``, the real SDK client
between them, the loopback provider asking for the calls."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chat_tui.cli import EXIT_OK, main
from chat_tui.config import McpServer
from chat_tui.core.session import ChatSession
from tests.helpers import loopback_settings
from tests.loopback import SSE, LoopbackServer
from tests.loopback_tools import Call, ToolLoopback, anthropic_tool_sse
from tests.loopback_wire import anthropic_sse
from tests.tool_helpers import SERVER_SCRIPT, RecordingView, assert_anthropic_history_valid

START_DEADLINE_S = 20.0
KEY = "sk-ant-test-NEVER-PRINT-ME"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_listening(proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
    """Poll until the port accepts connections; fail on exit or at the deadline."""
    deadline = time.monotonic() + START_DEADLINE_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the MCP HTTP server exited ({proc.returncode}): {log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"the MCP HTTP server did not listen within {START_DEADLINE_S:g} s")


@contextlib.contextmanager
def _http_server(log_dir: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """The tests' MCP server over streamable HTTP on 127.0.0.1, listening; killed on exit."""
    port = _free_port()
    log = log_dir / f"mcp-http-{port}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, str(SERVER_SCRIPT), "--http", str(port)],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        _wait_listening(proc, port, log)
        yield f"http://127.0.0.1:{port}/mcp", proc
    finally:
        proc.kill()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def mcp_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One HTTP server for the module's tests (they do not change its state)."""
    with _http_server(tmp_path_factory.mktemp("mcp-http")) as (url, _):
        yield url


def _bodies(server: LoopbackServer) -> list[dict[str, Any]]:
    return [r.body for r in server.requests if r.path == "/v1/messages" and r.body is not None]


async def test_http_tools_are_listed_and_a_call_runs_over_http(mcp_url: str) -> None:
    loopback = ToolLoopback()
    with loopback:
        web = McpServer(name="web", url=mcp_url)
        session = ChatSession(loopback_settings(loopback, mcp_servers=(web,)))
        loopback.calls.append([Call.of("toolu_1", "web__add", {"a": 2, "b": 40})])
        view = RecordingView("run")
        try:
            result = await session.ask("What is 2+40?", lambda _: None, None, view)
            # the server's tools, with the schemas it declares
            assert session.tools.status_lines() == ["web: 4 tools"]
            tools = {t.name: t for t in session.tools.tools()}
            assert sorted(tools) == ["add", "echo", "raise", "sleep"]
            assert {t.qualified for t in tools.values()} == {f"web__{n}" for n in tools}
            add = tools["add"].input_schema
            assert add["type"] == "object" and add["required"] == ["a", "b"]
            assert set(add["properties"]) == {"a", "b"}
            assert tools["echo"].input_schema["required"] == ["text"]
            assert tools["add"].description == "Add two integers."
        finally:
            await session.aclose()
    assert result.status == "complete" and len(result.rounds) == 2
    assert view.asked == ["web__add"]
    assert view.results[0].content == "42" and not view.results[0].is_error
    first, second = _bodies(loopback)
    sent = {t["name"]: t for t in first["tools"]}
    assert list(sent) == ["web__add", "web__echo", "web__raise", "web__sleep"]
    assert sent["web__add"]["input_schema"] == add
    assert sent["web__add"]["description"] == "Add two integers."
    # the result computed by the HTTP server went back to the model
    assert_anthropic_history_valid(second)
    tool_result = second["messages"][-1]["content"][0]
    assert tool_result["type"] == "tool_result" and tool_result["tool_use_id"] == "toolu_1"
    assert tool_result["content"] == "42"


async def test_http_tool_error_comes_back_as_an_error_result(mcp_url: str) -> None:
    loopback = ToolLoopback()
    with loopback:
        web = McpServer(name="web", url=mcp_url)
        session = ChatSession(loopback_settings(loopback, mcp_servers=(web,)))
        loopback.calls.append([Call.of("toolu_1", "web__raise", {"message": "over http"})])
        view = RecordingView("run")
        try:
            result = await session.ask("fail", lambda _: None, None, view)
        finally:
            await session.aclose()
    assert result.status == "complete"
    assert view.results[0].is_error and "raise" in view.results[0].content


async def test_nothing_listening_is_one_line_and_its_tools_are_left_out(
    loopback: LoopbackServer, mcp_url: str
) -> None:
    dead = McpServer(name="web", url=f"http://127.0.0.1:{_free_port()}/mcp")
    live = McpServer(name="live", url=mcp_url)
    session = ChatSession(loopback_settings(loopback, mcp_servers=(dead, live)))
    try:
        result = await session.ask("hi", lambda _: None)
        lines = session.tools.status_lines()
    finally:
        await session.aclose()
    assert result.status == "complete"
    assert len(lines) == 2 and lines[1] == "live: 4 tools"
    assert lines[0].startswith("web: not running: ") and "\n" not in lines[0]
    assert len(lines[0]) > len("web: not running: ")
    names = [t["name"] for t in _bodies(loopback)[0]["tools"]]
    assert names == ["live__add", "live__echo", "live__raise", "live__sleep"]


async def test_a_server_that_dies_makes_calls_error_results_not_crashes(tmp_path: Path) -> None:
    loopback = ToolLoopback()
    with loopback, _http_server(tmp_path) as (url, proc):
        web = McpServer(name="web", url=url)
        session = ChatSession(loopback_settings(loopback, mcp_servers=(web,)))
        try:
            await session.tools.start()
            assert session.tools.status_lines() == ["web: 4 tools"]
            proc.kill()
            proc.wait(timeout=10)
            loopback.calls.append([Call.of("toolu_1", "web__echo", {"text": "x"})])
            view = RecordingView("run")
            result = await session.ask("echo", lambda _: None, None, view)
        finally:
            await session.aclose()
    assert result.status == "complete" and len(result.rounds) == 2
    assert view.results[0].is_error and view.results[0].content.startswith("the tool call failed")
    tool_result = _bodies(loopback)[-1]["messages"][-1]["content"][0]
    assert tool_result["tool_use_id"] == "toolu_1" and tool_result["is_error"] is True


def _cli_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(f"[mcp.servers.web]\nurl = {json.dumps(url)}\n", encoding="utf-8")
    monkeypatch.setenv("CHAT_TUI_CONFIG", str(path))
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)


def test_cli_config_url_runs_the_call_over_http(
    loopback: LoopbackServer, mcp_url: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    _cli_config(tmp_path, monkeypatch, mcp_url)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", loopback.base_url)
    loopback.enqueue(SSE(anthropic_tool_sse([Call.of("toolu_1", "web__echo", {"text": "hi"})])))
    loopback.enqueue(SSE(anthropic_sse(["It said hi."])))
    code = main(["ask", "--no-save", "echo hi", "--allow-tool", "web__echo"])
    out, err = capsys.readouterr()
    assert code == EXIT_OK and out == "It said hi.\n"
    assert "web__echo result: hi" in err and "not running" not in err
    first = loopback.requests[0].body or {}
    assert [t["name"] for t in first["tools"]] == [
        "web__add",
        "web__echo",
        "web__raise",
        "web__sleep",
    ]
    body = loopback.requests[-1].body or {}
    results = [b for m in body["messages"] for b in m["content"] if b["type"] == "tool_result"]
    assert [r["content"] for r in results] == ["hi"]


def test_cli_config_url_with_nothing_listening_is_a_warning(
    loopback: LoopbackServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    _cli_config(tmp_path, monkeypatch, f"http://127.0.0.1:{_free_port()}/mcp")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", loopback.base_url)
    code = main(["ask", "--no-save", "hi"])
    out, err = capsys.readouterr()
    assert code == EXIT_OK and out
    warnings = [line for line in err.splitlines() if "web: not running: " in line]
    assert len(warnings) == 1
    assert "tools" not in (loopback.requests[-1].body or {})
