"""``chat-tui cost``: the monthly projection, headless."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chat_tui.cli import EXIT_OK, EXIT_USAGE, main


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, object]:
    assert main(["cost", *argv, "--json"]) == EXIT_OK
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def test_the_seed_example(capsys: pytest.CaptureFixture[str]) -> None:
    data = _json(capsys, "--prompt-tokens", "5000", "--model", "claude-haiku-4-5")
    assert data["provider"] == "anthropic"  # found from the model's price table
    assert data["uncached_usd"] == pytest.approx(216_000)
    assert data["cached_usd"] == pytest.approx(21_600, abs=0.01)
    assert data["requests"] == 43_200_000

    assert main(["cost", "--prompt-tokens", "5000", "--model", "claude-haiku-4-5"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "$216,000.00 a month" in out and "$21,600.01 a month" in out and "(90 %)" in out


def test_rate_hours_ttl_and_output(capsys: pytest.CaptureFixture[str]) -> None:
    base = ("--prompt-tokens", "10000", "--model", "claude-haiku-4-5")
    slow = _json(capsys, *base, "--rpm", "0.1")
    # every request writes at 1.25x: caching costs more than it saves at this rate
    assert slow["cached_usd"] == pytest.approx(4320 * 10_000 * 1.25 / 1e6)
    hour = _json(capsys, *base, "--rpm", "0.1", "--ttl", "1h")
    assert hour["cached_usd"] == pytest.approx((10_000 * 2.0 + 4319 * 10_000 * 0.1) / 1e6)
    out = _json(capsys, *base, "--output-tokens", "100", "--hours", "8")
    requests = 1000 * 60 * 8 * 30
    assert out["uncached_usd"] == pytest.approx(requests * (10_000 * 1.0 + 100 * 5.0) / 1e6)


def test_a_document_is_estimated(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = tmp_path / "spec.md"
    doc.write_text("word " * 8000, encoding="utf-8")
    data = _json(capsys, "--doc", str(doc), "--model", "claude-haiku-4-5")
    assert data["estimated"] is True
    assert isinstance(data["prompt_tokens"], int) and data["prompt_tokens"] > 10_000


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        ((), "give the prompt as --doc FILE or --prompt-tokens N"),
        (("--prompt-tokens", "5", "--doc", "x"), "give the prompt as"),
        (("--prompt-tokens", "-5"), "--prompt-tokens must not be negative"),
        (("--prompt-tokens", "5", "--hours", "30"), "hours_per_day must be"),
        (("--doc", "missing.md"), "missing.md"),
    ],
)
def test_bad_input_is_one_line(
    argv: tuple[str, ...], words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["cost", *argv]) == EXIT_USAGE
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and words in err[0]


def test_unknown_model_price_is_said(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["cost", "--prompt-tokens", "5000", "--model", "mystery-1", "--provider", "anthropic"]
    assert main(argv) == EXIT_OK
    captured = capsys.readouterr()
    assert "—" in captured.out
    assert "mystery-1's price is unknown" in captured.err
