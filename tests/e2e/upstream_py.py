"""A small upstream MCP server for the end-to-end tests.

Built with the official Python ``mcp`` 2.x SDK, it serves both protocol eras
(legacy ``initialize`` sessions and stateless 2026-07-28) on
``http://127.0.0.1:PORT/mcp`` over Streamable HTTP.

Tools: ``echo``, ``add``, ``get-env`` and ``delete-file`` (deny targets), ``slow-count``
(emits progress notifications) and ``last-headers`` (the HTTP headers of the
request that called it).

Side channel, outside ``/mcp`` so it cannot be reached through a gateway:
``GET /_debug/requests`` lists every request received on ``/mcp`` (HTTP method,
headers, JSON-RPC method, tool name and arguments, as this server parsed them); ``POST /_debug/reset`` clears the list.

Usage: ``python upstream_py.py PORT [json]``; with ``json`` it answers requests with
``application/json`` bodies instead of SSE streams.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import anyio
import uvicorn
from mcp.server.mcpserver import Context, MCPServer
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

MAX_RECORDS = 500

mcp = MCPServer(name="toolgate-e2e-upstream", version="1.0.0", log_level="WARNING")

# Every request that reached /mcp, oldest first.
RECORDS: list[dict[str, Any]] = []


@mcp.tool(name="echo", description="Echo the message back.")
def echo(message: str) -> str:
    return f"Echo: {message}"


@mcp.tool(name="add", description="Add two integers.")
def add(a: int, b: int) -> str:
    return str(a + b)


@mcp.tool(name="get-env", description="Dump the server's environment (never expose this).")
def get_env() -> str:
    return json.dumps({"SECRET_DATABASE_PASSWORD": "hunter2", "HOME": "/root"})


@mcp.tool(name="delete-file", description="Delete a file (a deny-outright target).")
def delete_file(path: str) -> str:
    return f"deleted {path}"


@mcp.tool(name="slow-count", description="Count to `steps`, reporting progress at each step, `delay` seconds apart.")
async def slow_count(steps: int, ctx: Context, delay: float = 0.05) -> str:
    for i in range(1, steps + 1):
        await ctx.report_progress(i, steps, f"step {i} of {steps}")
        await anyio.sleep(delay)
    return f"counted to {steps}"


@mcp.tool(name="last-headers", description="The HTTP headers of the request that called this tool.")
def last_headers() -> str:
    for record in reversed(RECORDS):
        if record.get("tool") == "last-headers":
            return json.dumps(record["headers"])
    return "{}"


@mcp.custom_route("/_debug/requests", methods=["GET"])
async def debug_requests(_request: Request) -> Response:
    return JSONResponse(RECORDS)


@mcp.custom_route("/_debug/reset", methods=["POST"])
async def debug_reset(_request: Request) -> Response:
    RECORDS.clear()
    return JSONResponse({"ok": True})


class RecordRequests:
    """ASGI middleware: records the headers and JSON-RPC method of every /mcp request."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/mcp"):
            await self.app(scope, receive, send)
            return
        headers: dict[str, str] = {}
        for raw_name, raw_value in scope["headers"]:
            name = raw_name.decode("latin-1").lower()
            value = raw_value.decode("latin-1")
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        record: dict[str, Any] = {"http_method": scope["method"], "path": scope["path"], "headers": headers}
        body = b""
        if scope["method"] == "POST":
            # Read the whole body, record it, then replay it to the app.
            more = True
            while more:
                message = await receive()
                if message["type"] != "http.request":
                    break
                body += message.get("body", b"")
                more = message.get("more_body", False)
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
            if isinstance(parsed, dict):
                record["rpc_method"] = parsed.get("method")
                params = parsed.get("params")
                if isinstance(params, dict) and isinstance(params.get("name"), str):
                    record["tool"] = params["name"]
                    record["arguments"] = params.get("arguments")
            elif isinstance(parsed, list):
                record["rpc_method"] = "batch"
                record["batch_tools"] = [
                    m["params"]["name"]
                    for m in parsed
                    if isinstance(m, dict) and isinstance(m.get("params"), dict) and "name" in m["params"]
                ]
            replayed = False

            async def replay() -> Any:
                nonlocal replayed
                if not replayed:
                    replayed = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()

            RECORDS.append(record)
            del RECORDS[:-MAX_RECORDS]
            await self.app(scope, replay, send)
            return
        RECORDS.append(record)
        del RECORDS[:-MAX_RECORDS]
        await self.app(scope, receive, send)


def main() -> None:
    port = int(sys.argv[1])
    json_response = sys.argv[2:3] == ["json"]
    app = RecordRequests(mcp.streamable_http_app(host="127.0.0.1", json_response=json_response))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main()
