"""``chat-tui batch`` end to end: the CLI, the real SDKs and the loopback batch server."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from chat_tui.cli import main
from chat_tui.cli.batch_view import ProgressView
from chat_tui.core.batch import Progress
from tests.loopback_batch import BatchLoopbackServer

QUESTIONS = "What is A?\nWhat is B [errored]?\nWhat is C [expired]?\nWhat is D?\nWhat is E?\n"
DOC = "The loopback protocol reference. " * 700
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[BatchLoopbackServer]:
    # Batches end at their first status call: the CLI's wait loop never sleeps.
    with BatchLoopbackServer(polls_to_finish=1) as s:
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-SECRET-KEY")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", s.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-test-SECRET-KEY")
        monkeypatch.setenv("OPENAI_BASE_URL", s.openai_base_url)
        yield s


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    q = tmp_path / "questions.txt"
    q.write_text(QUESTIONS)
    d = tmp_path / "reference.txt"
    d.write_text(DOC)
    return q, d


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["batch", *argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "SECRET" not in out + err
    return code, out, err


def test_a_batch_about_a_document_end_to_end(
    server: BatchLoopbackServer, files: tuple[Path, Path], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    q, d = files
    out = tmp_path / "res" / "answers.jsonl"
    code, stdout, stderr = run(capsys, str(q), "--doc", str(d), "--out", str(out))
    assert code == 1  # two questions failed
    assert "prewarm: wrote 5,835 tokens" in stderr and "to the 1-hour cache" in stderr
    assert "batch 1: submitted 5 questions as 1 batch (msgbatch_loop" in stderr
    assert "Ctrl-C detaches" in stderr
    assert "batch 1: 5/5 done · succeeded 3 · errored 1" in stderr  # expired counts apart
    assert "succeeded 3 · errored 1 · canceled 0 · expired 1" in stdout
    assert "at the batch price" in stdout and "+ prewarm $" in stdout
    assert "as interactive requests:" in stdout and "saving:" in stdout
    assert "errored  q2: invalid_request_error: loopback: this question errs" in stdout
    assert f"resend the failed ones: chat-tui batch {q.name} --only-failed 1" in stdout
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["id"] for x in lines] == ["q1", "q2", "q3", "q4", "q5"]
    assert [x["status"] for x in lines] == [
        "succeeded", "errored", "expired", "succeeded", "succeeded",
    ]  # fmt: skip
    assert lines[3] == {
        "id": "q4",
        "question": "What is D?",
        "answer": "Answer to: What is D?",
        "status": "succeeded",
        "error": None,
        "stop_reason": "end_turn",
        "usage": lines[3]["usage"],
        "cost_usd": lines[3]["cost_usd"],
    }
    assert (tmp_path / "res" / "answers.md").read_text().startswith("# Batch 1: questions.txt")


def test_json_summary_matches_hand_computed_costs(
    server: BatchLoopbackServer, files: tuple[Path, Path], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    q, d = files
    out = tmp_path / "a.jsonl"
    code, stdout, _ = run(capsys, str(q), "--doc", str(d), "--out", str(out), "--json")
    summary = json.loads(stdout)
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    # claude-haiku-4-5: input $1/M, output $5/M, 1-hour write $2/M, read $0.10/M.
    batch = interactive = uncached = 0.0
    for x in lines:
        if x["status"] != "succeeded":
            assert x["cost_usd"] == 0.0 and x["usage"] is None
            continue
        u = x["usage"]
        assert u["cache_read_tokens"] > 5000 and u["cache_write_tokens"] == 0  # prewarmed
        full = (u["input_tokens"] * 1 + u["cache_read_tokens"] * 0.1 + u["output_tokens"] * 5) / 1e6
        assert x["cost_usd"] == pytest.approx(full / 2)
        batch += full / 2
        interactive += full
        prompt = u["input_tokens"] + u["cache_read_tokens"]
        uncached += (prompt * 1 + u["output_tokens"] * 5) / 1e6
    assert summary["batch_cost_usd"] == pytest.approx(batch)
    assert summary["interactive_cost_usd"] == pytest.approx(interactive)
    assert summary["interactive_uncached_cost_usd"] == pytest.approx(uncached)
    prewarm = summary["prewarm_cost_usd"]
    assert prewarm > 0.01  # ~5,800 tokens written at $2/M
    assert summary["total_cost_usd"] == pytest.approx(batch + prewarm)
    assert summary["saving_usd"] == pytest.approx(interactive - batch - prewarm)
    assert summary["saving_vs_uncached_usd"] == pytest.approx(uncached - batch - prewarm)
    assert summary["counts"] == {"succeeded": 3, "errored": 1, "canceled": 0, "expired": 1}
    assert code == 1


def test_openai_batch_end_to_end(
    server: BatchLoopbackServer, files: tuple[Path, Path], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    q, d = files
    out = tmp_path / "o.jsonl"
    code, stdout, stderr = run(
        capsys, str(q), "--doc", str(d), "--provider", "openai", "--out", str(out)
    )
    assert code == 1
    assert "to openai/gpt-4.1-mini" in stderr and "batch_loop" in stderr
    paths = [r.path for r in server.requests]
    assert paths[:3] == ["/v1/chat/completions", "/v1/files", "/v1/batches"]  # prewarm first
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["status"] for x in lines] == [
        "succeeded", "errored", "expired", "succeeded", "succeeded",
    ]  # fmt: skip
    assert all(x["usage"]["cache_read_tokens"] > 0 for x in lines if x["usage"])
    assert "succeeded 3 · errored 1 · canceled 0 · expired 1" in stdout


def test_status_results_and_cancel_across_runs(
    server: BatchLoopbackServer, files: tuple[Path, Path], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    q, d = files
    server.polls_to_finish = 50
    code, stdout, stderr = run(capsys, str(q), "--doc", str(d), "--no-wait", "--json")
    assert code == 0
    submitted = json.loads(stdout)
    assert submitted["job"] == 1 and submitted["batches"][0].startswith("msgbatch_loop")
    assert "`chat-tui batch status 1` shows its progress" in stderr

    code, stdout, _ = run(capsys, "status")
    assert code == 0 and "running" in stdout and "pending 5" in stdout
    code, _, stderr = run(capsys, "results", "1")
    assert code == 1 and "batch 1 is still running" in stderr
    code, stdout, _ = run(capsys, "status", submitted["batches"][0])  # by the provider's id
    assert code == 0 and "in_progress · 0/5 done" in stdout

    server.finish_all()
    code, stdout, _ = run(capsys, "results", "1", "--out", str(tmp_path / "r.jsonl"))
    assert code == 1 and "succeeded 3" in stdout
    first = (tmp_path / "r.jsonl").read_text()
    calls = server.results_calls
    code, again, _ = run(capsys, "results", "1", "--out", str(tmp_path / "r.jsonl"))
    assert again == stdout and (tmp_path / "r.jsonl").read_text() == first
    assert server.results_calls == calls  # idempotent: read from the store
    code, stdout, _ = run(capsys, "status", "1")
    assert "msgbatch_loop0001: ended · 5/5 done · results stored" in stdout
    assert "cost so far $" in stdout and "prewarm $" in stdout and "with caching" in stdout
    code, stdout, _ = run(capsys, "status", "--json")
    [listed] = json.loads(stdout)
    assert listed["ended"] and listed["counts"] == {
        "succeeded": 3, "errored": 1, "expired": 1,
    }  # fmt: skip
    code, _, stderr = run(capsys, "cancel", "1")
    assert code == 0 and "already ended; nothing to cancel" in stderr


def test_cancel_a_running_batch(
    server: BatchLoopbackServer, files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    q, _ = files
    server.polls_to_finish = 50
    assert run(capsys, str(q), "--no-wait")[0] == 0
    code, _, stderr = run(capsys, "cancel", "1")
    assert code == 0 and "cancel requested for msgbatch_loop0001 (canceling)" in stderr
    code, stdout, _ = run(capsys, "results", "1")
    assert "canceled 5" in stdout and code == 1


def test_only_failed_resends_just_the_failed_questions(
    server: BatchLoopbackServer, files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    q, d = files
    run(capsys, str(q), "--doc", str(d), "--no-prewarm")
    code, _, stderr = run(capsys, str(q), "--only-failed", "1")
    assert code == 2 and "batch 1 was sent with reference.txt: pass the same --doc" in stderr
    code, stdout, stderr = run(
        capsys, str(q), "--doc", str(d), "--only-failed", "1", "--no-prewarm"
    )
    assert "batch 2: submitted 2 questions" in stderr
    assert code == 1 and "batch 2 · anthropic/claude-haiku-4-5 · 2 questions" in stdout
    second = list(server.batches.values())[1]
    assert [line["custom_id"] for line in second.lines] == ["q2", "q3"]
    other = q.with_name("other.txt")
    other.write_text("Something else?\n")
    code, _, stderr = run(capsys, str(other), "--doc", str(d), "--only-failed", "1")
    assert code == 2 and "lacks 2 of the failed ids" in stderr


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("One?\n\nTwo?\n", "questions.txt:2: empty line; remove it"),
        ('{"id": "a", "question": "x"}\n{"id": "a", "question": "y"}\n', "duplicate id 'a'"),
    ],
)
def test_bad_input_is_refused_before_anything_is_sent(
    server: BatchLoopbackServer, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    text: str, message: str,
) -> None:  # fmt: skip
    q = tmp_path / "questions.txt"
    q.write_text(text)
    code, _, stderr = run(capsys, str(q))
    assert code == 2 and message in stderr
    assert len(stderr.strip().splitlines()) == 1
    assert server.requests == []


def test_usage_errors_are_one_line(
    server: BatchLoopbackServer, files: tuple[Path, Path], capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    q, _ = files
    assert "which batch? pass its ID" in run(capsys, "results")[2]
    assert "no batch '7' here" in run(capsys, "status", "7")[2]
    assert "--poll must be a positive" in run(capsys, str(q), "--poll", "0")[2]
    assert "unexpected argument 'x'" in run(capsys, str(q), "x")[2]
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    code, _, stderr = run(capsys, str(q), "--no-prewarm")
    assert code == 2 and "No Anthropic API key: set ANTHROPIC_API_KEY" in stderr


def _spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "chat_tui", "batch", *args],
        cwd=env["PWD"], env=env, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip


def _wait_for_submission(proc: subprocess.Popen[str]) -> list[str]:
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if "Ctrl-C detaches" in line:
            return seen
    raise AssertionError(f"never submitted: {seen}")


@pytest.mark.parametrize("how", ["kill", "ctrl-c"])
def test_detach_or_kill_then_results_later(
    how: str, server: BatchLoopbackServer, files: tuple[Path, Path], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    q, d = files
    server.polls_to_finish = 10_000  # still running when the process goes away
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PWD": str(tmp_path)}
    proc = _spawn([str(q), "--doc", str(d), "--poll", "3600"], env)
    try:
        seen = _wait_for_submission(proc)
        assert any("batch 1: submitted 5 questions" in line for line in seen)
        if how == "kill":
            proc.kill()
        else:
            proc.send_signal(signal.SIGINT)
        _, rest = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    if how == "kill":
        assert proc.returncode == -signal.SIGKILL
    else:
        assert proc.returncode == 130
        assert "detached; batch 1 keeps running at the provider" in rest
        assert "chat-tui batch results 1" in rest and "Traceback" not in rest
    server.finish_all()
    code, stdout, _ = run(capsys, "results", "1", "--out", str(tmp_path / "later.jsonl"))
    assert "succeeded 3 · errored 1 · canceled 0 · expired 1" in stdout
    assert len((tmp_path / "later.jsonl").read_text().splitlines()) == 5
    assert code == 1


def test_the_progress_bar_on_a_terminal_shows_counts_and_remaining() -> None:
    stream = io.StringIO()
    with ProgressView(stream, tty=True) as view:
        view(Progress(1, 5, 0, None, None, False, 2.0, next_poll_s=3.0))
        view(Progress(1, 5, 5, 4, 1, True, 5.0))
    text = stream.getvalue()
    assert "batch 1" in text and "5/5" in text
    assert "succeeded 4 · errored 1 · remaining 0" in text


def test_without_a_terminal_each_change_is_one_line() -> None:
    stream = io.StringIO()
    view = ProgressView(stream, tty=False)
    with view:
        view(Progress(1, 5, 0, None, None, False, 2.0, next_poll_s=3.0))
        view(Progress(1, 5, 0, None, None, False, 5.0, next_poll_s=4.5))  # no change
        view(Progress(1, 5, 0, None, None, False, 9.5, next_poll_s=6.8, retrying="refused"))
        view(Progress(1, 5, 5, 4, 1, True, 16.0))
    lines = stream.getvalue().splitlines()
    assert lines == [
        "batch 1: 0/5 done · remaining 5 · elapsed 2 s · next check in 3 s",
        "batch 1: 0/5 done · remaining 5 · elapsed 10 s · next check in 7 s"
        " · network error, retrying: refused",
        "batch 1: 5/5 done · succeeded 4 · errored 1 · remaining 0 · elapsed 16 s · ended",
    ]


def test_status_shows_the_stored_state_when_the_provider_cannot_be_asked(
    server: BatchLoopbackServer, files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    q, _ = files
    server.polls_to_finish = 50
    assert run(capsys, str(q), "--no-wait")[0] == 0
    server.retrieve_faults.append(401)
    code, stdout, stderr = run(capsys, "status", "1")
    assert code == 0
    assert "warning: cannot check batch msgbatch_loop0001: Anthropic rejected the key" in stderr
    assert "showing the last known state" in stderr
    assert "msgbatch_loop0001: in_progress · 0/5 done" in stdout


def test_results_wait_reattaches_to_a_running_batch(
    server: BatchLoopbackServer, files: tuple[Path, Path], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    q, _ = files
    server.polls_to_finish = 50
    assert run(capsys, str(q), "--no-wait")[0] == 0
    server.finish_all()  # ends at the next status call: the wait loop never sleeps
    code, stdout, stderr = run(capsys, "results", "1", "--wait", "--out", str(tmp_path / "w.jsonl"))
    assert "batch 1: 5/5 done" in stderr and "succeeded 3" in stdout and code == 1


def test_a_spinner_says_what_runs_on_a_terminal_and_nothing_elsewhere() -> None:
    from chat_tui.cli.batch_view import working

    tty, pipe = io.StringIO(), io.StringIO()
    with working(tty, "submitting 5 questions…", tty=True):
        pass
    with working(pipe, "submitting 5 questions…", tty=False):
        pass
    assert "submitting 5 questions…" in tty.getvalue() and pipe.getvalue() == ""


def test_results_that_cannot_be_written_stay_stored(
    server: BatchLoopbackServer, files: tuple[Path, Path], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    q, _ = files
    code, _, stderr = run(capsys, str(q), "--out", str(q))
    assert code == 2 and "is the questions file; write the results elsewhere" in stderr
    assert server.requests == [] and q.read_text() == QUESTIONS
    (tmp_path / "taken").mkdir()
    code, _, stderr = run(capsys, str(q), "--out", str(tmp_path / "taken"))
    assert code == 2 and f"cannot write the results to {tmp_path / 'taken'}" in stderr
    assert "chat-tui batch results 1 --out FILE writes them elsewhere" in stderr
    code, stdout, _ = run(capsys, "results", "1", "--out", str(tmp_path / "fine.jsonl"))
    assert "succeeded 3" in stdout and (tmp_path / "fine.jsonl").exists()
