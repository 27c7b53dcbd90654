"""A small MCP server for the tool tests, written with the official SDK's server side and run
over stdio: ``python tests/mcp_server.py``. Tools: echo, add, sleep (for timeouts), raise."""

from __future__ import annotations

import asyncio

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


if __name__ == "__main__":
    server.run("stdio")
