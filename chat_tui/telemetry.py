"""OpenTelemetry export (opt-in): one span and a few metric points per model request, in the
GenAI semantic conventions, sent over OTLP/HTTP (protobuf) by the official SDK.

Imported only when telemetry is on (``pip install 'chat-tui[otel]'``, then ``[telemetry]
enabled = true`` or ``CHAT_TUI_TELEMETRY=1``); endpoint, headers, timeout and resource come
from the standard ``OTEL_*`` variables unless the config file gives an endpoint.

A turn never waits for the collector: the observer builds the span in memory and hands it to
the SDK's batch processor (a bounded queue drained by a background thread); a full queue
drops the span and counts it (``dropped``, and the SDK's ``otel.sdk.processor.span.processed``
metric with ``error.type = queue_full``). Failed exports are counted, not printed: a TUI must
not have log lines written over it. Prompt and answer text leave only with
``capture_content``; keys never do (they are not in the record).
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import threading
from collections.abc import Sequence
from typing import Any

from chat_tui import __version__
from chat_tui.config import TelemetrySettings
from chat_tui.core.observer import RequestRecord
from chat_tui.errors import ConfigError

try:
    from opentelemetry.context import Context
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        SpanExporter,
        SpanExportResult,
    )
    from opentelemetry.trace import SpanKind, Status, StatusCode
except ImportError as exc:
    raise ConfigError(
        "telemetry is on but OpenTelemetry is not installed: pip install 'chat-tui[otel]', "
        "or turn it off ([telemetry] enabled = false, or CHAT_TUI_TELEMETRY=0)"
    ) from exc

# The GenAI conventions' advisory bucket boundaries.
TOKEN_BUCKETS = tuple(float(4**i) for i in range(14))  # 1, 4, 16, ... 67,108,864
SECONDS_BUCKETS = tuple(0.01 * 2**i for i in range(14))  # 0.01 ... 81.92
PROVIDER_NAMES = {"anthropic": "anthropic", "openai": "openai", "ollama": "ollama"}

# The SDK logs export failures; counted here instead, so nothing is written over the TUI.
logging.getLogger("opentelemetry").addHandler(logging.NullHandler())
logging.getLogger("opentelemetry").propagate = False


class _CountingExporter(SpanExporter):
    """Passes spans on, counting what reached the exporter and what failed to export."""

    def __init__(self, inner: SpanExporter, telemetry: Telemetry) -> None:
        self._inner = inner
        self._telemetry = telemetry

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self._telemetry._taken(len(spans))
        try:
            result = self._inner.export(spans)
        except Exception:
            result = SpanExportResult.FAILURE
        if result is not SpanExportResult.SUCCESS:
            self._telemetry.failed_exports += 1
        return result

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._inner.force_flush(timeout_millis)


class Telemetry:
    """The request observer that exports to OpenTelemetry. Call it with a RequestRecord."""

    def __init__(self, settings: TelemetrySettings, *, export_interval_s: float | None = None):
        self.settings = settings
        self.dropped = 0  # spans dropped because the queue was full
        self.failed_exports = 0  # batches the collector did not take
        self.errors = 0  # records that could not be turned into telemetry (never raised)
        self._pending = 0
        self._lock = threading.Lock()
        attributes: dict[str, Any] = {"service.version": __version__}
        if not os.environ.get("OTEL_SERVICE_NAME"):
            attributes["service.name"] = "chat-tui"
        resource = Resource.create(attributes)
        interval = None if export_interval_s is None else export_interval_s * 1000
        reader = PeriodicExportingMetricReader(
            OTLPMetricExporter(endpoint=self._url("metrics")), export_interval_millis=interval
        )
        self.meter_provider = MeterProvider(
            resource=resource, metric_readers=[reader], shutdown_on_exit=False
        )
        self.tracer_provider = TracerProvider(resource=resource, shutdown_on_exit=False)
        exporter = _CountingExporter(OTLPSpanExporter(endpoint=self._url("traces")), self)
        self.tracer_provider.add_span_processor(
            BatchSpanProcessor(
                exporter,
                max_queue_size=settings.max_queue,
                max_export_batch_size=min(512, settings.max_queue),
                meter_provider=self.meter_provider,
            )
        )
        self._tracer = self.tracer_provider.get_tracer("chat_tui", __version__)
        meter = self.meter_provider.get_meter("chat_tui", __version__)
        self._tokens = meter.create_histogram(
            "gen_ai.client.token.usage", "{token}", "Tokens used per request, by token type",
            explicit_bucket_boundaries_advisory=TOKEN_BUCKETS,
        )  # fmt: skip
        self._prompt_parts = meter.create_histogram(
            "chat_tui.client.prompt.token.usage", "{token}",
            "Prompt tokens per request by cache class: uncached, cache_read, cache_write_5m, "
            "cache_write_1h (their sum is gen_ai.token.type=input)",
            explicit_bucket_boundaries_advisory=TOKEN_BUCKETS,
        )  # fmt: skip
        self._duration = meter.create_histogram(
            "gen_ai.client.operation.duration", "s", "Duration of the model request",
            explicit_bucket_boundaries_advisory=SECONDS_BUCKETS,
        )  # fmt: skip
        self._ttft = meter.create_histogram(
            "gen_ai.client.operation.time_to_first_chunk", "s",
            "Time from sending the request to the first text of the answer",
            explicit_bucket_boundaries_advisory=SECONDS_BUCKETS,
        )  # fmt: skip
        self._cost = meter.create_counter(
            "chat_tui.client.cost", "USD", "What the requests cost at list prices"
        )
        self._uncached_cost = meter.create_counter(
            "chat_tui.client.cost.uncached", "USD", "What the same requests would cost uncached"
        )
        self._unpriced = meter.create_counter(
            "chat_tui.client.requests.unpriced", "{request}", "Requests whose price is unknown"
        )

    def _url(self, signal: str) -> str | None:
        base = self.settings.endpoint
        return None if base is None else f"{base.rstrip('/')}/v1/{signal}"

    # -- the observer ----------------------------------------------------------------------

    def __call__(self, record: RequestRecord) -> None:
        """Record one request. Cheap (no I/O) and never raises: a turn must not notice."""
        try:
            self._emit(record)
        except Exception:
            self.errors += 1

    def _emit(self, r: RequestRecord) -> None:
        common = self._common(r)
        span_attrs = {**common, **self._usage_attributes(r)}
        if self.settings.capture_content:
            span_attrs.update(_content(r))
        start_ns = int(r.started_at * 1e9)
        span = self._tracer.start_span(
            f"chat {r.request_model}",
            context=Context(),
            kind=SpanKind.CLIENT,
            attributes=span_attrs,
            start_time=start_ns,
        )
        if r.error_type:
            span.set_status(Status(StatusCode.ERROR, r.error_type))
        sampled = span.get_span_context().trace_flags.sampled
        with self._lock:
            if not sampled:
                pass  # a sampler (OTEL_TRACES_SAMPLER) left it out: it is never queued
            elif self._pending >= self.settings.max_queue:
                self.dropped += 1  # the processor drops one to make room
            else:
                self._pending += 1
        span.end(end_time=start_ns + int((r.duration_s or 0.0) * 1e9))
        self._record_metrics(r, common)

    def _taken(self, n: int) -> None:
        with self._lock:
            self._pending = max(0, self._pending - n)

    def _common(self, r: RequestRecord) -> dict[str, Any]:
        """Attributes shared by the span and the metric points."""
        attrs: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": PROVIDER_NAMES.get(r.provider, r.provider),
            "gen_ai.request.model": r.request_model,
            "chat_tui.request.kind": r.kind,
        }
        if r.response_model:
            attrs["gen_ai.response.model"] = r.response_model
        if r.server_address:
            attrs["server.address"] = r.server_address
        if r.server_port:
            attrs["server.port"] = r.server_port
        if r.error_type:
            attrs["error.type"] = r.error_type
        return attrs

    def _usage_attributes(self, r: RequestRecord) -> dict[str, Any]:
        u = r.usage
        attrs: dict[str, Any] = {"chat_tui.status": r.status}
        if r.response_id:
            attrs["gen_ai.response.id"] = r.response_id
        if r.request is not None:
            attrs["gen_ai.request.max_tokens"] = r.request.max_tokens
        if u.prompt_tokens is not None:
            # The convention's input count includes cached tokens: the whole prompt.
            attrs["gen_ai.usage.input_tokens"] = u.prompt_tokens
            attrs["chat_tui.usage.uncached.input_tokens"] = u.input_tokens
        if u.output_tokens is not None:
            attrs["gen_ai.usage.output_tokens"] = u.output_tokens
            if u.output_estimated:
                attrs["chat_tui.usage.output_tokens_estimated"] = True
        if u.cache_read_tokens is not None:
            attrs["gen_ai.usage.cache_read.input_tokens"] = u.cache_read_tokens
        if u.cache_write_tokens is not None:
            attrs["gen_ai.usage.cache_creation.input_tokens"] = u.cache_write_tokens
        if u.cache_write_5m_tokens is not None:
            attrs["chat_tui.usage.cache_creation.5m.input_tokens"] = u.cache_write_5m_tokens
        if u.cache_write_1h_tokens is not None:
            attrs["chat_tui.usage.cache_creation.1h.input_tokens"] = u.cache_write_1h_tokens
        if r.finish_reason:
            attrs["gen_ai.response.finish_reasons"] = [r.finish_reason]
        if r.ttft_s is not None:
            attrs["chat_tui.time_to_first_chunk_s"] = r.ttft_s
        if r.cost.usd is not None:
            attrs["chat_tui.cost.usd"] = r.cost.usd
        if r.cost.uncached_usd is not None:
            attrs["chat_tui.cost.uncached_usd"] = r.cost.uncached_usd
        return attrs

    def _record_metrics(self, r: RequestRecord, common: dict[str, Any]) -> None:
        u = r.usage
        if u.prompt_tokens is not None:
            self._tokens.record(u.prompt_tokens, {**common, "gen_ai.token.type": "input"})
            parts = {
                "uncached": u.input_tokens or 0,
                "cache_read": u.cache_read_tokens or 0,
                "cache_write_5m": u.cache_write_5m_tokens or 0,
                "cache_write_1h": u.cache_write_1h_tokens or 0,
            }
            split = parts["cache_write_5m"] + parts["cache_write_1h"]
            if (u.cache_write_tokens or 0) > split:  # a write without a TTL split
                parts["cache_write"] = (u.cache_write_tokens or 0) - split
            for kind, n in parts.items():
                if n:
                    self._prompt_parts.record(n, {**common, "chat_tui.token.type": kind})
        if u.output_tokens is not None:
            self._tokens.record(u.output_tokens, {**common, "gen_ai.token.type": "output"})
        if r.duration_s is not None:
            self._duration.record(r.duration_s, common)
        if r.ttft_s is not None:
            self._ttft.record(r.ttft_s, common)
        if r.cost.usd is not None and r.cost.uncached_usd is not None:
            self._cost.add(r.cost.usd, common)
            self._uncached_cost.add(r.cost.uncached_usd, common)
        else:
            self._unpriced.add(1, common)

    def status(self) -> str:
        """One line for the user: where spans go and what was lost on the way."""
        where = self.settings.endpoint or os.environ.get(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "http://localhost:4318"),
        )
        content = "with" if self.settings.capture_content else "without"
        return (
            f"Telemetry: exporting to {where} ({content} prompt and answer text); "
            f"{self.dropped} spans dropped (queue full), {self.failed_exports} failed exports"
        )

    # -- lifecycle -------------------------------------------------------------------------

    def flush(self, timeout_s: float = 5.0) -> None:
        """Export everything now (tests, and before a long idle)."""
        self.tracer_provider.force_flush(int(timeout_s * 1000))
        self.meter_provider.force_flush(int(timeout_s * 1000))

    def shutdown(self, timeout_s: float = 1.0) -> None:
        """Export what is queued and stop, giving up after ``timeout_s``: quitting never
        waits for an unreachable collector longer than that."""

        def stop() -> None:
            try:
                self.tracer_provider.shutdown()
                self.meter_provider.shutdown(timeout_millis=timeout_s * 1000)
            except Exception:
                self.errors += 1

        worker = threading.Thread(target=stop, name="chat-tui-telemetry-shutdown", daemon=True)
        worker.start()
        worker.join(timeout_s)


def _content(r: RequestRecord) -> dict[str, str]:
    """The prompt and the answer in the conventions' message format (JSON strings)."""
    out: dict[str, str] = {}
    if r.request is not None:
        system = [{"type": "text", "content": b.text} for b in r.request.system]
        if system:
            out["gen_ai.system_instructions"] = json.dumps(system, ensure_ascii=False)
        messages = [
            {"role": m.role, "parts": [{"type": "text", "content": m.text}]}
            for m in r.request.messages
        ]
        out["gen_ai.input.messages"] = json.dumps(messages, ensure_ascii=False)
    if r.answer is not None:
        answer: dict[str, Any] = {
            "role": "assistant",
            "parts": [{"type": "text", "content": r.answer}],
        }
        if r.finish_reason:
            answer["finish_reason"] = r.finish_reason
        out["gen_ai.output.messages"] = json.dumps([answer], ensure_ascii=False)
    return out


_shared: Telemetry | None = None
_shared_lock = threading.Lock()


def shared_telemetry(settings: TelemetrySettings) -> Telemetry:
    """The process's one exporter (every session shares it), shut down at exit."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = Telemetry(settings)
            atexit.register(_shared.shutdown)
        return _shared
