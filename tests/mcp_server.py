"""A small MCP server for the tool tests, written with the official SDK's server side: over
stdio (``python tests/mcp_server.py``) or over streamable HTTP on a loopback port
(``python tests/mcp_server.py --http PORT``: ``http://127.0.0.1:PORT/mcp``, 127.0.0.1 only).
Tools: echo, add, sleep (for timeouts), raise."""

from __future__ import annotations

import asyncio
import sys

from mcp.server.mcpserver import MCPServer

server = MCPServer("chat-tui-test")


@server.tool(description="Echo the text back.")
def echo(text: str) -> str:
    return text


@server.tool(description="Add two integers.")
def add(a: int, b: int) -> int:
    return a + b


@server.tool(description="Sleep for some seconds, then say so.")
async def sleep(seconds: float) -> str:
    await asyncio.sleep(seconds)
    return f"slept {seconds}s"


@server.tool(name="raise", description="Always fails.")
def fail(message: str = "boom") -> str:
    raise RuntimeError(message)


def main(argv: list[str]) -> None:
    if not argv:
        server.run("stdio")
    elif len(argv) == 2 and argv[0] == "--http" and argv[1].isdigit():
        server.run("streamable-http", host="127.0.0.1", port=int(argv[1]))
    else:
        sys.exit("usage: mcp_server.py [--http PORT]")


if __name__ == "__main__":
    main(sys.argv[1:])
