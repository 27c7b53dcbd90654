"""``chat-tui ask``: the answer on stdout, metrics on stderr, one-line errors, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chat_tui.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, main
from tests.loopback import SSE, Hang, LoopbackServer, Status
from tests.loopback_wire import anthropic_sse, fixture

KEY = "sk-ant-test-NEVER-PRINT-ME"


@pytest.fixture
def anthropic_env(loopback: LoopbackServer, monkeypatch: pytest.MonkeyPatch) -> LoopbackServer:
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", loopback.base_url)
    return loopback


def _config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    monkeypatch.setenv("CHAT_TUI_CONFIG", str(path))


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["ask", *argv])
    out, err = capsys.readouterr()
    assert KEY not in out and KEY not in err
    return code, out, err


def test_answer_streams_to_stdout_and_json_metrics_to_stderr(
    anthropic_env: LoopbackServer, capsys: pytest.CaptureFixture[str]
) -> None:
    anthropic_env.enqueue(SSE(fixture("anthropic_1_cache_write.sse")))
    code, out, err = _run(capsys, "Hello?", "--json")
    assert code == EXIT_OK
    assert out == "Hello! I have read the style guide.\n"
    data = json.loads(err.strip().splitlines()[-1])
    assert data["provider"] == "anthropic"
    assert data["model"] == "claude-haiku-4-5"
    assert data["input_tokens"] == 21
    assert data["cache_write_tokens"] == 4312
    assert data["cache_read_tokens"] == 0
    assert data["output_tokens"] == 12
    assert isinstance(data["ttft_ms"], int) and isinstance(data["total_ms"], int)
    # claude-haiku-4-5: $1 in, $5 out; the fixture wrote a 1-hour cache entry (2x input)
    assert data["cost_usd"] == pytest.approx((21 * 1 + 4312 * 2 + 12 * 5) / 1e6)
    assert data["uncached_cost_usd"] == pytest.approx(((21 + 4312) * 1 + 12 * 5) / 1e6)
    assert 3500 < data["cache_ttl_s"] <= 3600  # the clock follows the 1-hour write it reported


def test_plain_summary_line_and_stdin_question(
    anthropic_env: LoopbackServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("from stdin\n"))
    code, out, err = _run(capsys, "-")
    assert code == EXIT_OK
    assert out == "You said: from stdin\n"
    assert "first token" in err and "cost" in err
    assert len(err.strip().splitlines()) == 1


def test_ollama_reports_unknown_cache_as_null(
    loopback: LoopbackServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OLLAMA_HOST", loopback.base_url)
    loopback.enqueue(SSE(fixture("ollama_v1_chat_include_usage.sse")))
    code, out, err = _run(capsys, "hi", "--json")
    assert code == EXIT_OK and out == "Hi there!\n"
    data = json.loads(err.strip().splitlines()[-1])
    assert data["provider"] == "ollama"
    assert data["cache_read_tokens"] is None and data["cache_ttl_s"] is None
    assert data["input_tokens"] == 2051 and data["output_tokens"] == 4
    assert data["cost_usd"] == 0.0


def test_document_below_the_cache_minimum_is_warned_about(
    anthropic_env: LoopbackServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = tmp_path / "short doc.md"
    doc.write_text("A short note. " * 20, encoding="utf-8")
    code, _, err = _run(capsys, "q", "--doc", str(doc))
    assert code == EXIT_OK
    assert "warning:" in err and "cache minimum" in err
    body = anthropic_env.requests[-1].body
    assert body is not None and "A short note." in body["system"][1]["text"]


@pytest.mark.parametrize(
    ("scripted", "needle"),
    [
        (Status(401, {"type": "error", "error": {"type": "authentication_error",
                                                 "message": "invalid x-api-key"}}),
         "Anthropic rejected the key (401): set a valid ANTHROPIC_API_KEY"),
        (Status(400, {"type": "error", "error": {"type": "invalid_request_error",
                                                 "message": "prompt is too long: 250000 tokens"}}),
         "prompt is too long"),
        (SSE(fixture("anthropic_3_midstream_error.sse")),
         "overloaded mid-answer after"),
        (SSE(anthropic_sse(["one ", "two ", "three"]), drop_after=4),
         "stream broke after"),
    ],
)  # fmt: skip
def test_failures_are_one_line_and_non_zero(
    anthropic_env: LoopbackServer,
    capsys: pytest.CaptureFixture[str],
    scripted: Status | SSE,
    needle: str,
) -> None:
    anthropic_env.enqueue(scripted)
    code, _, err = _run(capsys, "q")
    assert code == EXIT_FAILED
    errors = [line for line in err.splitlines() if line.startswith("chat-tui:")]
    assert len(errors) == 1 and needle in errors[0]
    assert "Traceback" not in err


def test_mid_stream_break_says_how_much_arrived(
    anthropic_env: LoopbackServer, capsys: pytest.CaptureFixture[str]
) -> None:
    anthropic_env.enqueue(SSE(fixture("anthropic_3_midstream_error.sse")))
    code, out, err = _run(capsys, "q", "--json")
    assert code == EXIT_FAILED
    assert out == "Here is the first part of a long\n"  # the partial answer is not lost
    data = json.loads(err.strip().splitlines()[-1])
    assert data["status"] == "interrupted"
    assert data["output_tokens"] > 0
    assert f"after {data['output_tokens']} tokens" in data["error"]


@pytest.mark.parametrize(("code_", "needle"), [(429, "Rate limited"), (529, "overloaded")])
def test_rate_limit_and_overload_are_retried_then_reported(
    anthropic_env: LoopbackServer,
    capsys: pytest.CaptureFixture[str],
    code_: int,
    needle: str,
) -> None:
    kind = "rate_limit_error" if code_ == 429 else "overloaded_error"
    reply = Status(code_, {"type": "error", "error": {"type": kind, "message": "slow down"}},
                   headers={"retry-after-ms": "5", "retry-after": "7"})  # fmt: skip
    anthropic_env.enqueue(reply, reply, reply)
    code, _, err = _run(capsys, "q")
    assert code == EXIT_FAILED
    assert len(anthropic_env.requests) == 3  # the SDK's two retries, then the error
    assert needle in err and "retry in" in err


def test_no_key(loopback: LoopbackServer, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "q", "--provider", "anthropic")
    assert code == EXIT_FAILED
    assert "No Anthropic API key: set ANTHROPIC_API_KEY" in err
    assert loopback.requests == []


def test_connection_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    server = LoopbackServer().start()
    url = server.base_url
    server.stop()
    monkeypatch.setenv("OPENAI_API_KEY", "sk-x")
    monkeypatch.setenv("OPENAI_BASE_URL", url + "/v1")
    code, _, err = _run(capsys, "q")
    assert code == EXIT_FAILED
    assert f"Cannot reach {url.removeprefix('http://')}" in err
    assert "OPENAI_BASE_URL" in err


def test_silent_provider_times_out(
    anthropic_env: LoopbackServer, capsys: pytest.CaptureFixture[str], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    _config(tmp_path, monkeypatch, "max_retries = 0\n")
    anthropic_env.enqueue(Hang(3, send_headers=True))
    code, _, err = _run(capsys, "q", "--read-timeout", "0.3")
    assert code == EXIT_FAILED
    assert "No data from" in err and "0.3 s" in err


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["   "], "the question is empty"),
        (["q", "--doc", "missing.md"], "missing.md"),
        (["q", "--doc", "/dev/null"], "not a regular file"),
    ],
)
def test_usage_errors(
    anthropic_env: LoopbackServer,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    needle: str,
) -> None:
    code, _, err = _run(capsys, *argv)
    assert code == EXIT_USAGE
    assert needle in err and len(err.strip().splitlines()) == 1


def test_bad_config_is_a_one_line_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _config(tmp_path, monkeypatch, 'provider = "gemini"\n')
    code, _, err = _run(capsys, "q")
    assert code == EXIT_USAGE
    assert "unknown provider 'gemini'" in err and str(tmp_path / "config.toml") in err


def test_answer_is_saved(
    anthropic_env: LoopbackServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from chat_tui.core.storage import Store

    assert _run(capsys, "remember this")[0] == EXIT_OK
    with Store.open(tmp_path / "data" / "chat-tui.db") as store:
        conv = store.load_conversation(store.last_conversation_id() or 0)
    assert [m.text for m in conv.messages] == ["remember this", "You said: remember this"]


def test_hostile_output_reaches_the_terminal_inert(
    anthropic_env: LoopbackServer, capsys: pytest.CaptureFixture[str]
) -> None:
    anthropic_env.reply_text = (
        "[bold]x[/bold] \x1b]52;c;SGVsbG8=\x07 \x1b]0;pwned\x07 \x1b[2J \x9b31m \x1bc end"
    )
    code, out, _ = _run(capsys, "q")
    assert code == EXIT_OK
    assert "[bold]x[/bold]" in out and out.rstrip().endswith("end")
    for control in ("\x1b", "\x07", "\x9b"):
        assert control not in out


def test_flags_before_the_command_name_are_kept(
    anthropic_env: LoopbackServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "elsewhere"
    code = main(
        ["--data-dir", str(data), "--model", "claude-haiku-4-5-20251001", "ask", "hi", "--json"]
    )
    assert code == EXIT_OK
    assert (
        json.loads(capsys.readouterr().err.strip().splitlines()[-1])["model"]
        == "claude-haiku-4-5-20251001"
    )
    assert (data / "chat-tui.db").is_file()
