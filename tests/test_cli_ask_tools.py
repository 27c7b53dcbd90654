"""``chat-tui ask`` with MCP tools: ``--allow-tool`` runs a call, anything else is refused and
said on stderr; ``--no-tools``; a dead server is a warning; bad ``[mcp]`` config is one line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from chat_tui.cli import EXIT_OK, EXIT_USAGE, main
from chat_tui.core.tool_turn import REFUSED
from tests.loopback import SSE, LoopbackServer
from tests.loopback_tools import Call, anthropic_tool_sse
from tests.loopback_wire import anthropic_sse
from tests.tool_helpers import SERVER_SCRIPT

KEY = "sk-ant-test-NEVER-PRINT-ME"


@pytest.fixture
def env(
    loopback: LoopbackServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> LoopbackServer:
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", loopback.base_url)
    _config(tmp_path, monkeypatch, "")
    return loopback


def _config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        f"[mcp.servers.t]\ncommand = {json.dumps(sys.executable)}\n"
        f"args = [{json.dumps(str(SERVER_SCRIPT))}]\n{extra}",
        encoding="utf-8",
    )
    monkeypatch.setenv("CHAT_TUI_CONFIG", str(path))


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["ask", "--no-save", *argv])
    out, err = capsys.readouterr()
    assert KEY not in out and KEY not in err
    return code, out, err


def _tool_results(server: LoopbackServer) -> list[dict[str, object]]:
    body = server.requests[-1].body or {}
    return [b for m in body["messages"] for b in m["content"] if b["type"] == "tool_result"]


def test_allow_tool_runs_the_call(env: LoopbackServer, capsys: pytest.CaptureFixture[str]) -> None:
    env.enqueue(SSE(anthropic_tool_sse([Call.of("toolu_1", "t__add", {"a": 2, "b": 3})])))
    env.enqueue(SSE(anthropic_sse(["It is 5."])))
    code, out, err = _run(capsys, "2+3?", "--allow-tool", "t__add")
    assert code == EXIT_OK
    assert out == "It is 5.\n"  # stdout keeps the answer alone
    assert 'tool call t__add {"a": 2, "b": 3}' in err and "t__add result: 5" in err
    assert _tool_results(env)[0]["content"] == "5"


@pytest.mark.parametrize("allow", ["*", "add"])
def test_star_and_plain_names_allow(
    env: LoopbackServer, capsys: pytest.CaptureFixture[str], allow: str
) -> None:
    env.enqueue(SSE(anthropic_tool_sse([Call.of("toolu_1", "t__add", {"a": 1, "b": 1})])))
    env.enqueue(SSE(anthropic_sse(["2"])))
    code, _, _ = _run(capsys, "1+1?", "--allow-tool", allow)
    assert code == EXIT_OK
    assert _tool_results(env)[0]["content"] == "2"


def test_a_call_not_allowed_is_refused_and_said_on_stderr(
    env: LoopbackServer, capsys: pytest.CaptureFixture[str]
) -> None:
    env.enqueue(SSE(anthropic_tool_sse([Call.of("toolu_1", "t__echo", {"text": "x"})])))
    env.enqueue(SSE(anthropic_sse(["I could not."])))
    code, out, err = _run(capsys, "echo x", "--allow-tool", "t__add")
    assert code == EXIT_OK and out == "I could not.\n"
    assert "refused t__echo: not allowed; run it with --allow-tool t__echo" in err
    result = _tool_results(env)[0]
    assert result["content"] == REFUSED and result["is_error"] is True


def test_no_tools_sends_none(env: LoopbackServer, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, _ = _run(capsys, "hi", "--no-tools")
    assert code == EXIT_OK
    assert "tools" not in (env.requests[-1].body or {})


def test_a_dead_server_is_a_warning(
    env: LoopbackServer, capsys: pytest.CaptureFixture[str], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    _config(tmp_path, monkeypatch, '[mcp.servers.files]\ncommand = "/nonexistent/mcp"\n')
    code, _, err = _run(capsys, "hi")
    assert code == EXIT_OK
    assert "warning: files: not running: cannot run the command" in err
    names = [t["name"] for t in (env.requests[-1].body or {})["tools"]]
    assert "t__echo" in names and not any(n.startswith("files") for n in names)


@pytest.mark.parametrize(
    ("section", "says"),
    [
        ('[mcp.servers.x]\nargs = ["a"]\n', "give either command (stdio) or url"),
        ('[mcp.servers.x]\ncommand = "a"\nargs = "b"\n', "args must be a list of strings"),
        ('[mcp.servers.x]\nurl = "ftp://x"\n', "mcp.servers.x.url"),
        ('[mcp.servers.x]\ncommand = "a"\ncwd = "/"\n', "unknown setting 'cwd'"),
        ("tool_timeout = 0\n", "tool_timeout"),
    ],
)
def test_bad_mcp_config_is_one_line(
    loopback: LoopbackServer, capsys: pytest.CaptureFixture[str], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, section: str, says: str,
) -> None:  # fmt: skip
    path = tmp_path / "bad.toml"
    path.write_text(section, encoding="utf-8")
    monkeypatch.setenv("CHAT_TUI_CONFIG", str(path))
    code = main(["ask", "hi"])
    _, err = capsys.readouterr()
    assert code == EXIT_USAGE
    assert says in err and len(err.strip().splitlines()) == 1
