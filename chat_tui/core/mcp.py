"""MCP servers and their tools, through the official ``mcp`` SDK's client (no hand-written
JSON-RPC). The SDK is imported on first start, in a thread: startup does not pay for it.

Each configured server (``[mcp.servers.NAME]``: a command over stdio, or a streamable HTTP url)
runs in its own task, which owns the SDK client from connect to close (the SDK's cancel scopes
must be entered and left by one task). A server that fails to start, or dies later, is one
status line (``files: not running: <reason>``) and its tools are left out; nothing raises.

Tools reach the model under a stable, collision-free name: ``SERVER__TOOL`` reduced to the
characters every provider accepts (``[A-Za-z0-9_-]``, 64 at most), numbered on a clash, in the
order of the servers' names then the tools' (a stable order keeps the prompt cache's prefix).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TextIO

from chat_tui.core.documents import estimate_tokens
from chat_tui.providers.events import ToolSpec

if TYPE_CHECKING:
    from chat_tui.config import McpServer

ServerStatus = Literal["stopped", "starting", "running", "failed"]
START_TIMEOUT_S = 30.0
CLOSE_TIMEOUT_S = 5.0
MAX_NAME = 64
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True)
class ToolInfo:
    """One MCP tool: the ``server``'s own ``name`` for it, and the ``qualified`` name the
    model sees; ``tokens`` estimates what its definition adds to every prompt."""

    server: str
    name: str
    qualified: str
    description: str
    input_schema: dict[str, Any] = field(compare=False, hash=False)

    def spec(self) -> ToolSpec:
        return ToolSpec(self.qualified, self.description, self.input_schema)

    @property
    def tokens(self) -> int:
        return schema_tokens((self.spec(),))


def schema_tokens(specs: tuple[ToolSpec, ...] | list[ToolSpec]) -> int:
    """An estimate of the prompt tokens the tool definitions take."""
    if not specs:
        return 0
    return estimate_tokens(json.dumps([s.as_dict() for s in specs], separators=(",", ":")))


@dataclass(frozen=True)
class ToolOutcome:
    """A tool's result as text for the model; ``is_error`` for a failure of any kind."""

    content: str
    is_error: bool = False


@dataclass
class ServerState:
    config: McpServer
    status: ServerStatus = "stopped"
    reason: str = ""
    tools: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    client: Any = None

    @property
    def name(self) -> str:
        return self.config.name

    def line(self) -> str:
        """The server's status in one line, for the panel and stderr."""
        if self.status == "running":
            n = len(self.tools)
            return f"{self.name}: {n} tool{'s' if n != 1 else ''}"
        if self.status == "failed":
            return f"{self.name}: not running: {self.reason}"
        return f"{self.name}: {self.status}"


def qualify(server: str, tool: str, taken: set[str]) -> str:
    """``SERVER__TOOL`` in provider-safe characters, unique among ``taken``."""
    base = _UNSAFE.sub("_", f"{server}__{tool}")[:MAX_NAME]
    name, n = base, 2
    while name in taken:
        suffix = f"_{n}"
        name, n = base[: MAX_NAME - len(suffix)] + suffix, n + 1
    taken.add(name)
    return name


def _reason(exc: BaseException) -> str:
    """One line for a failure; the first leaf of an exception group."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    text = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, FileNotFoundError | PermissionError):
        text = f"cannot run the command: {exc.strerror or text}"
    return text[:160]


class McpManager:
    """The session's MCP servers. ``start`` connects them all (concurrently, each bounded by
    :data:`START_TIMEOUT_S`); ``tools`` lists the running servers' tools; ``call`` runs one
    with the configured timeout and never raises."""

    def __init__(
        self, servers: tuple[McpServer, ...], *, timeout: float = 60.0, log_dir: Path | None = None
    ) -> None:
        self.servers = [ServerState(s) for s in servers]
        self.timeout = timeout
        self.log_dir = log_dir
        self._tasks: list[asyncio.Task[None]] = []
        self._stop = asyncio.Event()
        self._started = False
        self._tools: list[ToolInfo] = []

    @property
    def configured(self) -> bool:
        return bool(self.servers)

    @property
    def started(self) -> bool:
        return self._started

    async def start(self) -> None:
        """Start every server and wait until each runs or has failed. Idempotent."""
        if self._started or not self.servers:
            self._started = True
            return
        self._started = True
        await asyncio.to_thread(_import_sdk)
        ready = [asyncio.Event() for _ in self.servers]
        for state, event in zip(self.servers, ready, strict=True):
            state.status = "starting"
            self._tasks.append(asyncio.create_task(self._serve(state, event)))
        waits = [asyncio.wait_for(e.wait(), START_TIMEOUT_S) for e in ready]
        outcomes = await asyncio.gather(*waits, return_exceptions=True)
        for state, outcome in zip(self.servers, outcomes, strict=True):
            if isinstance(outcome, BaseException) and state.status == "starting":
                state.status, state.reason = "failed", f"no answer in {START_TIMEOUT_S:.0f} s"
        self._rebuild()

    async def _serve(self, state: ServerState, ready: asyncio.Event) -> None:
        from mcp.client.client import Client

        log: TextIO | None = None
        try:
            if state.config.url is not None:
                transport: Any = state.config.url
            else:
                from mcp.client.stdio import StdioServerParameters, stdio_client

                log = self._open_log(state.name)
                params = StdioServerParameters(
                    command=state.config.command or "", args=list(state.config.args),
                    env=dict(state.config.env) or None,
                )  # fmt: skip
                transport = stdio_client(params, errlog=log)
            async with Client(transport) as client:
                state.tools = await _list_tools(client)
                state.client, state.status = client, "running"
                ready.set()
                await self._stop.wait()
        except Exception as exc:
            state.status, state.reason = "failed", _reason(exc)
            if log is not None:
                last = _last_line(log)
                if last and last not in state.reason:
                    state.reason = f"{state.reason} ({last})"[:200]
        finally:
            state.client = None
            if state.status == "running":
                state.status = "stopped"
            ready.set()
            if log is not None:
                log.close()
            self._rebuild()

    def _open_log(self, name: str) -> TextIO:
        """The server's stderr goes to a log file (never onto the TUI's terminal)."""
        import os

        if self.log_dir is None:
            return open(os.devnull, "w", encoding="utf-8")
        self.log_dir.mkdir(parents=True, exist_ok=True)
        safe = _UNSAFE.sub("_", name)
        return open(self.log_dir / f"mcp-{safe}.log", "a+", encoding="utf-8")

    def _rebuild(self) -> None:
        taken: set[str] = set()
        tools: list[ToolInfo] = []
        for state in sorted(self.servers, key=lambda s: s.name):
            if state.status != "running":
                continue
            for name, description, schema in sorted(state.tools, key=lambda t: t[0]):
                qualified = qualify(state.name, name, taken)
                tools.append(ToolInfo(state.name, name, qualified, description, schema))
        self._tools = tools

    def tools(self) -> list[ToolInfo]:
        """The running servers' tools, in the stable order they are sent."""
        return list(self._tools)

    def specs(self) -> tuple[ToolSpec, ...]:
        return tuple(t.spec() for t in self._tools)

    def lookup(self, qualified: str) -> ToolInfo | None:
        return next((t for t in self._tools if t.qualified == qualified), None)

    def status_lines(self) -> list[str]:
        return [s.line() for s in self.servers]

    def failures(self) -> list[str]:
        return [s.line() for s in self.servers if s.status == "failed"]

    async def call(self, qualified: str, arguments: dict[str, Any]) -> ToolOutcome:
        """Run a tool. Unknown tools, dead servers, timeouts and the tool's own errors all
        come back as error outcomes, never as exceptions."""
        tool = self.lookup(qualified)
        if tool is None:
            return ToolOutcome(f"unknown tool {qualified!r}: it is not offered now", True)
        state = next(s for s in self.servers if s.name == tool.server)
        client = state.client
        if client is None or state.status != "running":
            return ToolOutcome(f"the MCP server {state.name!r} is not running", True)
        try:
            result = await asyncio.wait_for(client.call_tool(tool.name, arguments), self.timeout)
        except TimeoutError:
            return ToolOutcome(f"the tool did not finish within {self.timeout:g} s", True)
        except Exception as exc:
            return ToolOutcome(f"the tool call failed: {_reason(exc)}", True)
        return ToolOutcome(_result_text(result), bool(getattr(result, "is_error", False)))

    async def aclose(self) -> None:
        self._stop.set()
        tasks, self._tasks = self._tasks, []
        if tasks:
            with contextlib.suppress(Exception):
                await asyncio.wait(tasks, timeout=CLOSE_TIMEOUT_S)
            for task in tasks:
                task.cancel()


def _import_sdk() -> None:
    import mcp.client.client
    import mcp.client.stdio  # noqa: F401


async def _list_tools(client: Any) -> list[tuple[str, str, dict[str, Any]]]:
    tools: list[tuple[str, str, dict[str, Any]]] = []
    cursor: str | None = None
    while True:
        page = await client.list_tools(cursor=cursor)
        for tool in page.tools:
            schema = tool.input_schema if isinstance(tool.input_schema, dict) else {}
            tools.append((tool.name, tool.description or tool.title or "", dict(schema)))
        cursor = page.next_cursor
        if not cursor:
            return tools


def _result_text(result: Any) -> str:
    """A tool result's content as text: text blocks joined; other blocks described."""
    pieces: list[str] = []
    for block in getattr(result, "content", None) or ():
        kind = getattr(block, "type", "")
        if kind == "text":
            pieces.append(block.text)
        elif kind in ("image", "audio"):
            pieces.append(f"[{kind}: {getattr(block, 'mime_type', '')}]")
        elif kind == "resource":
            resource = block.resource
            pieces.append(getattr(resource, "text", None) or f"[resource {resource.uri}]")
        else:
            pieces.append(f"[{kind or 'content'}]")
    structured = getattr(result, "structured_content", None)
    if not pieces and structured is not None:
        pieces.append(json.dumps(structured, ensure_ascii=False))
    return "\n".join(pieces)


def _last_line(log: TextIO) -> str:
    """The last non-empty line the server wrote to its log (a failure's likely reason)."""
    try:
        log.flush()
        log.seek(0)
        lines = [line.strip() for line in log.read()[-4000:].splitlines() if line.strip()]
    except (OSError, ValueError):
        return ""
    return lines[-1][:120] if lines else ""
