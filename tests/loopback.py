"""A loopback HTTP/1.1 server that speaks the Anthropic Messages and OpenAI Chat Completions
streaming protocols, so tests and benchmarks exercise the real SDKs end to end.

    with LoopbackServer() as server:
        server.enqueue(SSE(fixture("anthropic_1_cache_write.sse")), Status(429))
        ...  # point a provider at server.base_url (Anthropic) or server.openai_base_url

Scripted responses are consumed FIFO, one per request; with the queue empty the server answers
with a deterministic reply and simulates prompt caching (``AnthropicCacheSim`` and
``OpenAICacheSim`` in tests/loopback_wire.py).

Standalone, to try the app by hand: ``python -m tests.loopback --port 8765 [--tps 200]
[--thinking]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass
from http import HTTPStatus
from types import TracebackType
from typing import Any, NamedTuple

from tests.loopback_wire import (
    MAX_BREAKPOINTS,
    AnthropicCacheSim,
    OpenAICacheSim,
    anthropic_blocks,
    anthropic_cache_miss,
    anthropic_events,
    anthropic_sse,
    content_text,
    event_text,
    fixture,
    openai_events,
    openai_prompt,
    openai_sse,
    split_tokens,
    tokens_for,
)

__all__ = [
    "SSE",
    "Drop",
    "Hang",
    "LoopbackServer",
    "RecordedRequest",
    "Scripted",
    "SentChunk",
    "Status",
    "anthropic_sse",
    "fixture",
    "openai_sse",
    "split_tokens",
]


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: dict[str, Any] | None
    received_at: float  # time.monotonic() when the request head arrived
    raw: bytes = b""  # the body as received (multipart uploads are not JSON)


class SentChunk(NamedTuple):
    at: float  # time.monotonic() just after the chunk was written
    data: bytes  # the SSE event as written (without chunk framing)
    text: str | None  # the token text the event carries, if any


@dataclass(frozen=True, slots=True)
class SSE:
    """Replay an SSE body event by event (split on blank lines), one HTTP chunk per event,
    waiting ``chunk_delay`` seconds before each event after the first. ``drop_after=N`` closes
    the socket after N events, without the terminating chunk (the client sees a broken stream)."""

    body: bytes | str
    _: KW_ONLY
    chunk_delay: float = 0.0
    drop_after: int | None = None


@dataclass(frozen=True, slots=True)
class Status:
    """A plain JSON response. Without ``body``, an error body in the path's protocol shape."""

    code: int
    body: dict[str, Any] | None = None
    headers: dict[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Hang:
    """Say nothing (or only the SSE headers) for ``seconds``, then close the connection."""

    seconds: float
    send_headers: bool = False


@dataclass(frozen=True, slots=True)
class Drop:
    """Read the request, then close the connection without a response."""


Scripted = SSE | Status | Hang | Drop

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


class _Stream(NamedTuple):
    events: list[bytes]
    delays: list[float]  # seconds to wait before each event
    drop_after: int | None = None


async def _settle(future: asyncio.Future[bytes]) -> None:
    """Cancel a pending read and wait until the reader is free again."""
    future.cancel()
    await asyncio.wait({future})
    if not future.cancelled():
        future.exception()  # retrieved, so asyncio does not log it


# ---------------------------------------------------------------- the server


class LoopbackServer:
    def __init__(
        self,
        port: int = 0,
        *,
        tokens_per_second: float | None = None,
        reply_text: str | None = None,
        min_cache_tokens: int = 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.port = port
        self.tokens_per_second = tokens_per_second  # None: the default reply comes all at once
        self.reply_text = reply_text  # None: "You said: <last user text>"
        self.min_cache_tokens = min_cache_tokens
        self.clock = clock  # cache expiry clock (seconds)
        self.openai_prompt_details = True  # False: usage without prompt_tokens_details (Ollama)
        self.reject_diagnostics = False  # True: a 400 naming `diagnostics`, like a proxy
        self.anthropic_bodies: dict[str, dict[str, Any]] = {}  # message id → request body
        self.requests: list[RecordedRequest] = []
        # Extra endpoints (e.g. tests/loopback_files.py): each may answer a request or pass.
        self.routes: list[Callable[[RecordedRequest], Scripted | None]] = []
        self.sent_log: list[SentChunk] = []
        self.disconnects = 0
        self.base_url = ""
        self.openai_base_url = ""
        self._queue: deque[Scripted] = deque()
        self._lock = threading.Lock()
        self._disconnected = threading.Condition()
        self.anthropic_cache = AnthropicCacheSim()
        self.openai_cache = OpenAICacheSim()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # -- lifecycle

    def start(self) -> LoopbackServer:
        ready = threading.Event()
        failure: list[BaseException] = []
        loop = self._loop = asyncio.new_event_loop()

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                self._server = loop.run_until_complete(
                    asyncio.start_server(self._handle, "127.0.0.1", self.port)
                )
                self.port = self._server.sockets[0].getsockname()[1]
            except OSError as exc:  # e.g. the port is taken
                failure.append(exc)
                return
            finally:
                ready.set()
            loop.run_forever()

        self._thread = threading.Thread(target=run, name="loopback-server", daemon=True)
        self._thread.start()
        ready.wait(5)
        if failure:
            self._thread.join()
            loop.close()
            self._loop = self._thread = None
            raise failure[0]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.openai_base_url = self.base_url + "/v1"
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return

        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            loop.stop()

        asyncio.run_coroutine_threadsafe(shutdown(), loop)
        thread.join(5)
        loop.close()
        self._loop = self._thread = None

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- test API

    def enqueue(self, *responses: Scripted) -> None:
        with self._lock:
            self._queue.extend(responses)

    def wait_for_disconnect(self, timeout: float = 5.0, count: int = 1) -> bool:
        """True once ``count`` streams were closed by the client before the server finished."""
        with self._disconnected:
            return self._disconnected.wait_for(lambda: self.disconnects >= count, timeout)

    def _note_disconnect(self) -> None:
        with self._disconnected:
            self.disconnects += 1
            self._disconnected.notify_all()

    # -- connection handling

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            while (request := await self._read_request(reader)) is not None:
                self.requests.append(request)
                if not await self._respond(request, reader, writer):
                    break
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()

    async def _read_request(self, reader: asyncio.StreamReader) -> RecordedRequest | None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return None
        received_at = time.monotonic()
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        raw = b""
        if "content-length" in headers:
            raw = await reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
                raw += (await reader.readexactly(size + 2))[:-2]
            await reader.readuntil(b"\r\n")
        body = None
        with contextlib.suppress(ValueError):
            body = json.loads(raw) if raw else None
        path = target.split("?", 1)[0]
        return RecordedRequest(
            method, path, headers, body if isinstance(body, dict) else None, received_at, raw
        )

    async def _respond(
        self, request: RecordedRequest, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Answer one request; False when the connection must close afterwards."""
        with self._lock:
            scripted: Scripted | _Stream | None = self._queue.popleft() if self._queue else None
        if scripted is None:
            scripted = self._default(request)
        if isinstance(scripted, SSE):
            raw = scripted.body.encode() if isinstance(scripted.body, str) else scripted.body
            events = [e + b"\n\n" for e in raw.replace(b"\r\n", b"\n").split(b"\n\n") if e.strip()]
            delays = [0.0] + [scripted.chunk_delay] * (len(events) - 1)
            scripted = _Stream(events, delays, scripted.drop_after)
        if isinstance(scripted, _Stream):
            return await self._stream(scripted, reader, writer)
        if isinstance(scripted, Status):
            body = (
                scripted.body
                if scripted.body is not None
                else self._error_body(request, scripted.code)
            )
            data = json.dumps(body).encode()
            headers = {"content-type": "application/json", **(scripted.headers or {})}
            writer.write(self._head(scripted.code, headers, len(data)) + data)
            await writer.drain()
            return True
        if isinstance(scripted, Hang):
            if scripted.send_headers:
                writer.write(self._head(200, {"content-type": "text/event-stream"}))
                await writer.drain()
            eof = asyncio.ensure_future(reader.read(1))
            await asyncio.wait({eof}, timeout=scripted.seconds)
            if eof.done():
                self._note_disconnect()
            await _settle(eof)
            return False
        return False  # Drop

    def _head(self, code: int, headers: dict[str, str], length: int | None = None) -> bytes:
        reason = "Overloaded" if code == 529 else HTTPStatus(code).phrase
        lines = [f"HTTP/1.1 {code} {reason}", "request-id: req_loopback"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        lines.append(
            "transfer-encoding: chunked" if length is None else f"content-length: {length}"
        )
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    async def _stream(
        self, stream: _Stream, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        headers = {"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"}
        writer.write(self._head(200, headers))
        eof = asyncio.ensure_future(reader.read(1))  # completes when the client hangs up
        try:
            for i, (event, delay) in enumerate(zip(stream.events, stream.delays, strict=True)):
                if stream.drop_after is not None and i >= stream.drop_after:
                    return False  # close without the terminating chunk
                await asyncio.wait({eof}, timeout=delay) if delay > 0 else await asyncio.sleep(0)
                if eof.done():
                    self._note_disconnect()
                    return False
                writer.write(b"%x\r\n%s\r\n" % (len(event), event))
                await writer.drain()
                self.sent_log.append(SentChunk(time.monotonic(), event, event_text(event)))
            if stream.drop_after is not None:
                return False
            writer.write(b"0\r\n\r\n")
            await writer.drain()
            return True
        except ConnectionError:
            self._note_disconnect()
            return False
        finally:
            await _settle(eof)

    # -- default behaviour

    def _default(self, request: RecordedRequest) -> Scripted | _Stream:
        body = request.body or {}
        if request.method == "POST" and request.path == "/v1/messages":
            marks = sum(1 for _, ttl in anthropic_blocks(body) if ttl)
            if marks > MAX_BREAKPOINTS:
                message = (
                    f"A maximum of 4 blocks with cache_control may be provided. Found {marks}."
                )
                return Status(400, self._error_body(request, 400, message))
            if "diagnostics" in body and self.reject_diagnostics:
                message = "diagnostics: Extra inputs are not permitted"
                return Status(400, self._error_body(request, 400, message))
            return self._anthropic_reply(body)
        if request.method == "POST" and request.path == "/v1/messages/count_tokens":
            total = tokens_for(sum(len(text) for text, _ in anthropic_blocks(body)))
            return Status(200, {"input_tokens": total})
        if request.method == "POST" and request.path == "/v1/chat/completions":
            return self._openai_reply(body)
        for route in self.routes:
            if (answer := route(request)) is not None:
                return answer
        return Status(404, None)

    def _error_body(self, request: RecordedRequest, code: int, message: str = "") -> dict[str, Any]:
        kind = _ERROR_TYPES.get(code, "api_error")
        message = message or f"loopback {kind} ({code})"
        if request.path.startswith("/v1/messages"):
            return {"type": "error", "error": {"type": kind, "message": message}}
        return {"error": {"message": message, "type": kind, "param": None, "code": None}}

    def _reply_chunks(
        self, messages: list[dict[str, Any]], max_tokens: Any
    ) -> tuple[list[str], bool]:
        text = self.reply_text
        if text is None:
            users = [m for m in messages if m.get("role") == "user"]
            text = "You said: " + (content_text(users[-1].get("content"))[:200] if users else "")
        chunks = split_tokens(text)
        if isinstance(max_tokens, int) and len(chunks) > max_tokens:
            return chunks[:max_tokens], True
        return chunks, False

    def _delays(self, events: list[bytes]) -> list[float]:
        tps = self.tokens_per_second
        return [1 / tps if tps and event_text(e) else 0.0 for e in events]

    def _anthropic_reply(self, body: dict[str, Any]) -> _Stream:
        chunks, cut = self._reply_chunks(body.get("messages") or [], body.get("max_tokens"))
        message_id = f"msg_loopback_{len(self.anthropic_bodies) + 1}"
        diagnostics = None
        if isinstance(body.get("diagnostics"), dict):
            previous = self.anthropic_bodies.get(
                str(body["diagnostics"].get("previous_message_id"))
            )
            diagnostics = {"cache_miss_reason": anthropic_cache_miss(previous, body)}
        self.anthropic_bodies[message_id] = body
        events = anthropic_events(
            chunks,
            self.anthropic_cache.usage(body, min_tokens=self.min_cache_tokens, now=self.clock()),
            output_tokens=None,
            stop_reason="max_tokens" if cut else "end_turn",
            error_after=None,
            model=str(body.get("model")),
            message_id=message_id,
            diagnostics=diagnostics,
        )
        return _Stream(events, self._delays(events))

    def _openai_reply(self, body: dict[str, Any]) -> _Stream:
        messages = body.get("messages") or []
        prompt = openai_prompt(body)
        max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
        chunks, cut = self._reply_chunks(messages, max_tokens)
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        model = str(body.get("model"))
        cached = self.openai_cache.cached(model, prompt, min_tokens=self.min_cache_tokens)
        events = openai_events(
            chunks,
            prompt_tokens=tokens_for(len(prompt)),
            cached_tokens=cached if self.openai_prompt_details else None,
            include_usage=include_usage,
            error_after=None,
            finish_reason="length" if cut else "stop",
            model=str(body.get("model")),
        )
        return _Stream(events, self._delays(events))


def main(
    argv: list[str] | None = None, server_class: type[LoopbackServer] = LoopbackServer
) -> None:
    parser = argparse.ArgumentParser(description="Loopback Anthropic/OpenAI streaming server.")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--tps", type=float, default=None, help="tokens per second (default: all)")
    parser.add_argument("--min-cache-tokens", type=int, default=1024)
    parser.add_argument("--thinking", action="store_true",
                        help="answer thinking requests with signed thinking first")  # fmt: skip
    args = parser.parse_args(argv)
    kind = server_class
    if args.thinking:
        from tests.loopback_thinking import ThinkingLoopback

        kind = ThinkingLoopback
    server = kind(
        args.port, tokens_per_second=args.tps, min_cache_tokens=args.min_cache_tokens
    ).start()
    print(f"Anthropic base URL: {server.base_url}\nOpenAI base URL:    {server.openai_base_url}")
    print("Ctrl-C to stop.", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
