"""OpenTelemetry export: real turns (real SDK, loopback provider) exported over OTLP/HTTP to an
in-process receiver, decoded with opentelemetry-proto."""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncGenerator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from chat_tui import telemetry as telemetry_module
from chat_tui.config import TelemetrySettings, load_settings
from chat_tui.core.observer import RequestRecord, observer_for
from chat_tui.core.pricing import Cost
from chat_tui.core.session import ChatSession
from chat_tui.errors import ConfigError
from chat_tui.providers.base import ProviderSettings
from chat_tui.providers.events import (
    ChatRequest,
    ProviderEvent,
    ResponseInfo,
    Stop,
    TextDelta,
    Usage,
)
from chat_tui.telemetry import Telemetry
from tests.helpers import loopback_settings
from tests.loopback import LoopbackServer, Status
from tests.otlp_receiver import OTLPReceiver, SilentCollector, attributes

REPO = Path(__file__).resolve().parent.parent
SECRET = "sk-ant-test-SECRET-KEY"


@pytest.fixture
def receiver() -> Iterator[OTLPReceiver]:
    with OTLPReceiver() as r:
        yield r


def _telemetry(url: str, **changes: Any) -> Telemetry:
    settings = replace(TelemetrySettings(enabled=True, endpoint=url), **changes)
    return Telemetry(settings, export_interval_s=3600)  # exported on flush only


def _doc(tmp_path: Path) -> Path:
    path = tmp_path / "widget-spec.md"
    path.write_text("The widget protocol has rules. " * 800, encoding="utf-8")
    return path


async def _write_then_read(
    loopback: LoopbackServer, tmp_path: Path, telemetry: Telemetry
) -> ChatSession:
    session = ChatSession(loopback_settings(loopback))
    session.observer = telemetry
    session.load_document(_doc(tmp_path))
    first = await session.ask("What is a widget?", lambda _: None)
    session.set_ttl("1h")  # the second turn writes the new conversation tail for an hour
    second = await session.ask("And a gadget?", lambda _: None)
    assert first.status == second.status == "complete"
    await session.aclose()
    telemetry.flush()
    return session


async def test_a_write_turn_and_a_read_turn_export_spans_and_metrics(
    loopback: LoopbackServer, tmp_path: Path, receiver: OTLPReceiver
) -> None:
    telemetry = _telemetry(receiver.url)
    try:
        session = await _write_then_read(loopback, tmp_path, telemetry)
    finally:
        telemetry.shutdown()
    u1, u2 = (t.usage for t in session.turns)
    assert u1.cache_write_5m_tokens and not u1.cache_read_tokens  # turn 1 wrote the document
    assert u2.cache_read_tokens and u2.cache_write_1h_tokens  # turn 2 read it, wrote for 1h

    spans = receiver.spans()
    assert len(spans) == 2
    write, read = (attributes(s.attributes) for s in spans)
    port = int(loopback.base_url.rsplit(":", 1)[1])
    for span, attrs, usage in ((spans[0], write, u1), (spans[1], read, u2)):
        assert span.name == "chat claude-haiku-4-5"
        assert span.kind == span.SPAN_KIND_CLIENT
        assert span.end_time_unix_nano > span.start_time_unix_nano
        assert attrs["gen_ai.operation.name"] == "chat"
        assert attrs["gen_ai.provider.name"] == "anthropic"
        assert attrs["gen_ai.request.model"] == "claude-haiku-4-5"
        assert attrs["server.address"] == "127.0.0.1" and attrs["server.port"] == port
        # the convention's input count is the whole prompt, cached parts included
        assert attrs["gen_ai.usage.input_tokens"] == usage.prompt_tokens
        assert attrs["chat_tui.usage.uncached.input_tokens"] == usage.input_tokens
        assert attrs["gen_ai.usage.output_tokens"] == usage.output_tokens
        assert attrs["gen_ai.usage.cache_read.input_tokens"] == usage.cache_read_tokens
        assert attrs["gen_ai.usage.cache_creation.input_tokens"] == usage.cache_write_tokens
        assert attrs["gen_ai.response.finish_reasons"] == ["end_turn"]
        assert "error.type" not in attrs
        assert span.status.code == span.status.STATUS_CODE_UNSET
    assert write["chat_tui.usage.cache_creation.5m.input_tokens"] == u1.cache_write_5m_tokens
    assert write["chat_tui.usage.cache_creation.1h.input_tokens"] == 0
    assert read["chat_tui.usage.cache_creation.5m.input_tokens"] == 0
    assert read["chat_tui.usage.cache_creation.1h.input_tokens"] == u2.cache_write_1h_tokens
    assert write["chat_tui.cost.usd"] == pytest.approx(session.turns[0].cost.usd)
    assert read["chat_tui.cost.uncached_usd"] == pytest.approx(session.turns[1].cost.uncached_usd)
    assert receiver.resource_attributes()["service.name"] == "chat-tui"

    # metrics: token usage by type, the prompt's cache classes, duration, first token, cost
    tokens = receiver.metric_points("gen_ai.client.token.usage")
    by_type = {a["gen_ai.token.type"]: p for a, p in tokens}
    assert by_type["input"].count == 2
    assert by_type["input"].sum == (u1.prompt_tokens or 0) + (u2.prompt_tokens or 0)
    assert by_type["output"].sum == (u1.output_tokens or 0) + (u2.output_tokens or 0)
    assert all(a["gen_ai.request.model"] == "claude-haiku-4-5" for a, _ in tokens)
    parts = {a["chat_tui.token.type"]: p.sum for a, p in
             receiver.metric_points("chat_tui.client.prompt.token.usage")}  # fmt: skip
    expected = {
        "uncached": (u1.input_tokens or 0) + (u2.input_tokens or 0),
        "cache_read": u2.cache_read_tokens,
        "cache_write_5m": u1.cache_write_5m_tokens,
        "cache_write_1h": u2.cache_write_1h_tokens,
    }
    assert parts == {k: v for k, v in expected.items() if v}  # zero counts are not recorded
    assert sum(parts.values()) == by_type["input"].sum
    (_, duration), = receiver.metric_points("gen_ai.client.operation.duration")  # fmt: skip
    assert duration.count == 2 and duration.sum >= 0
    (_, ttft), = receiver.metric_points("gen_ai.client.operation.time_to_first_chunk")  # fmt: skip
    assert ttft.count == 2
    (_, cost), = receiver.metric_points("chat_tui.client.cost")  # fmt: skip
    assert cost.as_double == pytest.approx(session.session_cost.usd)
    (_, uncached), = receiver.metric_points("chat_tui.client.cost.uncached")  # fmt: skip
    assert uncached.as_double == pytest.approx(session.session_cost.uncached_usd)


async def test_a_failed_request_has_an_error_type(
    loopback: LoopbackServer, receiver: OTLPReceiver
) -> None:
    loopback.enqueue(Status(529, {"type": "error", "error": {"type": "overloaded_error",
                                                              "message": "Overloaded"}}))  # fmt: skip
    telemetry = _telemetry(receiver.url)
    session = ChatSession(loopback_settings(loopback))
    session.observer = telemetry
    try:
        result = await session.ask("Hello?", lambda _: None)
        telemetry.flush()
    finally:
        await session.aclose()
        telemetry.shutdown()
    assert result.status == "failed"
    (span,) = receiver.spans()
    attrs = attributes(span.attributes)
    assert attrs["error.type"] == "overloaded"
    assert span.status.code == span.status.STATUS_CODE_ERROR
    assert "gen_ai.response.finish_reasons" not in attrs
    (point_attrs, point), = receiver.metric_points("gen_ai.client.operation.duration")  # fmt: skip
    assert point_attrs["error.type"] == "overloaded" and point.count == 1


class _Answering:
    """A provider (the neutral interface, no SDK) that says which model answered."""

    def __init__(self, settings: ProviderSettings) -> None:
        self.settings = settings

    async def stream(self, request: ChatRequest) -> AsyncGenerator[ProviderEvent, None]:
        yield ResponseInfo(id="msg_01XYZ", model="claude-haiku-4-5-20251001")
        yield TextDelta("Hi.")
        yield Usage(input_tokens=10, cache_write_tokens=0, cache_read_tokens=0, output_tokens=2)
        yield Stop("end_turn")

    def prepare(self) -> None:
        pass

    async def count_tokens(self, request: ChatRequest) -> int | None:
        return None

    async def aclose(self) -> None:
        pass


async def test_the_response_model_comes_from_the_response_info_event(
    loopback: LoopbackServer, receiver: OTLPReceiver
) -> None:
    telemetry = _telemetry(receiver.url)
    session = ChatSession(loopback_settings(loopback), provider_factory=_Answering)
    session.observer = telemetry
    try:
        await session.ask("Hello", lambda _: None)
        telemetry.flush()
    finally:
        telemetry.shutdown()
    (span,) = receiver.spans()
    attrs = attributes(span.attributes)
    assert attrs["gen_ai.request.model"] == "claude-haiku-4-5"
    assert attrs["gen_ai.response.model"] == "claude-haiku-4-5-20251001"
    assert attrs["gen_ai.response.id"] == "msg_01XYZ"
    (point_attrs, _), *_ = receiver.metric_points("gen_ai.client.operation.duration")
    assert point_attrs["gen_ai.response.model"] == "claude-haiku-4-5-20251001"


async def test_no_text_leaves_unless_capture_content_is_on(
    loopback: LoopbackServer, tmp_path: Path, receiver: OTLPReceiver
) -> None:
    telemetry = _telemetry(receiver.url)
    try:
        await _write_then_read(loopback, tmp_path, telemetry)
    finally:
        telemetry.shutdown()
    sent = b"".join(receiver.raw)
    assert receiver.spans() and receiver.metrics
    for text in ("What is a widget?", "You said", "The widget protocol", SECRET, "sk-openai"):
        assert text.encode() not in sent, text
    for span in receiver.spans():
        assert not {"gen_ai.input.messages", "gen_ai.output.messages",
                    "gen_ai.system_instructions"} & set(attributes(span.attributes))  # fmt: skip
    assert not any("SECRET" in v for h in receiver.headers for v in h.values())

    with OTLPReceiver() as capturing:
        telemetry = _telemetry(capturing.url, capture_content=True)
        try:
            await _write_then_read(loopback, tmp_path, telemetry)
        finally:
            telemetry.shutdown()
        first = attributes(capturing.spans()[0].attributes)
        assert '"content": "What is a widget?"' in first["gen_ai.input.messages"]
        assert '"content": "You said: What is a widget?"' in first["gen_ai.output.messages"]
        assert '"finish_reason": "end_turn"' in first["gen_ai.output.messages"]
        assert "The widget protocol" in first["gen_ai.system_instructions"]
        assert SECRET.encode() not in b"".join(capturing.raw)  # keys never, even then


def _record(i: int) -> RequestRecord:
    return RequestRecord(
        kind="chat", provider="anthropic", request_model="claude-haiku-4-5", response_model=None,
        response_id=None, server_address="api.anthropic.com", server_port=None,
        started_at=time.time(), duration_s=0.5, ttft_s=0.2,
        usage=Usage(input_tokens=10 + i, cache_read_tokens=5000, output_tokens=20),
        cost=Cost(0.001, 0.01), status="complete", finish_reason="end_turn", error_type=None,
    )  # fmt: skip


async def test_an_unreachable_collector_costs_a_turn_a_few_ms_at_most(
    loopback: LoopbackServer,
) -> None:
    with SilentCollector() as silent:
        telemetry = _telemetry(silent.url, max_queue=4)
        session = ChatSession(loopback_settings(loopback))
        calls: list[float] = []
        cpu: list[float] = []

        def timed(record: RequestRecord) -> None:
            t0, c0 = time.perf_counter(), time.thread_time()
            telemetry(record)
            calls.append(time.perf_counter() - t0)
            cpu.append(time.thread_time() - c0)

        session.observer = timed
        try:
            for i in range(12):
                result = await session.ask(f"Question {i}", lambda _: None)
                assert result.status == "complete"
            await asyncio.sleep(0)
            for i in range(20):  # more than the queue holds while the collector hangs
                timed(_record(i))
        finally:
            await session.aclose()
            started = time.perf_counter()
            telemetry.shutdown(timeout_s=0.5)
            shutdown_s = time.perf_counter() - started
    assert len(calls) == 32
    # Measured here: median 0.5 ms, max 5 ms. The wall-clock max allows for the export
    # thread holding the GIL and for the other processes on a shared machine.
    assert statistics.median(calls) < 0.002, calls
    assert max(cpu) < 0.005, cpu
    assert max(calls) < 0.025, calls
    # the queue is bounded: spans beyond it were dropped, and counted
    assert telemetry.dropped >= 32 - 2 * 4
    assert telemetry.errors == 0
    assert shutdown_s < 1.0  # quitting does not wait for the collector either


def test_with_telemetry_off_nothing_of_opentelemetry_is_imported(tmp_path: Path) -> None:
    """The OpenTelemetry *API* comes with the anthropic SDK (its own tracing, a no-op while
    no global tracer provider is set, and chat-tui never sets one); the SDK, the exporter,
    protobuf and chat-tui's telemetry module must stay out."""
    script = """
import sys
from tests.loopback import LoopbackServer
from chat_tui.cli import main

with LoopbackServer() as server:
    import os
    os.environ["ANTHROPIC_BASE_URL"] = server.base_url
    code = main(["ask", "Hello there", "--no-save"])
assert code == 0, code
ours = ("chat_tui.telemetry", "opentelemetry.sdk", "opentelemetry.exporter",
        "opentelemetry.proto", "opentelemetry.semconv", "google.protobuf")
loaded = sorted(m for m in sys.modules if m.startswith(ours))
print("LOADED", loaded)
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "CHAT_TUI_"))}
    env.update(ANTHROPIC_API_KEY=SECRET, CHAT_TUI_CONFIG_DIR=str(tmp_path / "config"),
               CHAT_TUI_DATA_DIR=str(tmp_path / "data"), PYTHONPATH=str(REPO))  # fmt: skip
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "You said: Hello there" in out.stdout
    assert "LOADED []" in out.stdout


def test_config_section_and_environment(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        '[telemetry]\nenabled = true\nendpoint = "http://collector:4318/"\nmax_queue = 100\n'
    )
    env = {"CHAT_TUI_CONFIG": str(config)}
    t = load_settings(environ=env, cwd=tmp_path).telemetry
    assert t == TelemetrySettings(enabled=True, endpoint="http://collector:4318", max_queue=100)
    t = load_settings(environ={**env, "OTEL_SDK_DISABLED": "true"}, cwd=tmp_path).telemetry
    assert not t.enabled
    t = load_settings(environ={"CHAT_TUI_TELEMETRY": "1",
                               "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "true"},
                      cwd=tmp_path).telemetry  # fmt: skip
    assert t.enabled and t.capture_content and t.endpoint is None
    assert not load_settings(environ={}, cwd=tmp_path).telemetry.enabled

    config.write_text('[telemetry]\nheaders = "x-api-key=abc"\n')
    with pytest.raises(ConfigError, match=r"unknown setting 'headers'.*OTEL_EXPORTER_OTLP_HEADERS"):
        load_settings(environ=env, cwd=tmp_path)
    config.write_text('[telemetry]\nenabled = "yes"\n')
    with pytest.raises(ConfigError, match=r"telemetry\.enabled: expected true or false"):
        load_settings(environ=env, cwd=tmp_path)
    with pytest.raises(ConfigError, match="CHAT_TUI_TELEMETRY='maybe': use true or false"):
        load_settings(environ={"CHAT_TUI_TELEMETRY": "maybe"}, cwd=tmp_path)


def test_observer_for_builds_one_shared_exporter_only_when_on(
    receiver: OTLPReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(telemetry_module, "_shared", None)
    off = load_settings(environ={})
    assert observer_for(off) is None
    on = replace(off, telemetry=TelemetrySettings(enabled=True, endpoint=receiver.url))
    first, second = observer_for(on), observer_for(on)
    assert isinstance(first, Telemetry) and first is second


async def test_the_app_exports_when_the_settings_say_so_and_shows_the_status(
    loopback: LoopbackServer, tmp_path: Path, receiver: OTLPReceiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    from textual.widgets import Static

    from chat_tui.core.prefs import Prefs
    from chat_tui.ui.app import make_app
    from chat_tui.ui.screens.usage import UsageScreen
    from chat_tui.ui.widgets.chat_input import ChatInput

    monkeypatch.setattr(telemetry_module, "_shared", None)
    settings = loopback_settings(
        loopback, data_dir=tmp_path / "data",
        telemetry=TelemetrySettings(enabled=True, endpoint=receiver.url),
    )  # fmt: skip
    app = make_app(settings, prefs=Prefs(path=tmp_path / "state.json"))
    telemetry = app.session.observer
    assert isinstance(telemetry, Telemetry)
    try:
        async with app.run_test(size=(150, 40)) as pilot:
            app.chat.query_one(ChatInput).load_text("hello")
            await pilot.press("enter")
            await app.workers.wait_for_complete()
            await pilot.pause()
            app.action_usage()
            await pilot.pause()
            assert isinstance(app.screen, UsageScreen)
            line = str(app.screen.query_one("#usage-telemetry", Static).content)
            assert line == (
                f"Telemetry: exporting to {receiver.url} (without prompt and answer text); "
                "0 spans dropped (queue full), 0 failed exports"
            )
        telemetry.flush()
    finally:
        telemetry.shutdown()
    (span,) = receiver.spans()
    assert attributes(span.attributes)["gen_ai.usage.output_tokens"] > 0


def test_the_standard_otel_variables_configure_the_exporter(
    receiver: OTLPReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20collector-token")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "my-chat")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=laptop")
    telemetry = Telemetry(TelemetrySettings(enabled=True), export_interval_s=3600)
    try:
        telemetry(_record(0))
        telemetry.flush()
        assert telemetry.status().startswith(f"Telemetry: exporting to {receiver.url} (without")
    finally:
        telemetry.shutdown()
    (span,) = receiver.spans()
    assert attributes(span.attributes)["gen_ai.usage.input_tokens"] == 10 + 5000
    resource = receiver.resource_attributes()
    assert resource["service.name"] == "my-chat"
    assert resource["deployment.environment"] == "laptop"
    assert resource["service.version"]
    assert {h.get("authorization") for h in receiver.headers} == {"Bearer collector-token"}
    assert b"collector-token" not in b"".join(receiver.raw)  # a header, never in the data


def test_telemetry_on_without_the_extra_is_a_one_line_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delitem(sys.modules, "chat_tui.telemetry", raising=False)
    monkeypatch.setitem(sys.modules, "opentelemetry.sdk.metrics", None)  # as if not installed
    monkeypatch.setattr(telemetry_module, "_shared", None)
    monkeypatch.setenv("CHAT_TUI_TELEMETRY", "1")
    from chat_tui.cli import main

    assert main(["ask", "hello", "--no-save"]) == 2
    out, err = capsys.readouterr()
    assert not out
    assert err == (
        "chat-tui: telemetry is on but OpenTelemetry is not installed: pip install "
        "'chat-tui[otel]', or turn it off ([telemetry] enabled = false, or CHAT_TUI_TELEMETRY=0)\n"
    )
