"""A small upstream MCP server for the end-to-end tests.

Built with the official Python ``mcp`` 2.x SDK, it serves both protocol eras
(legacy ``initialize`` sessions and stateless 2026-07-28) on
``http://127.0.0.1:PORT/mcp`` over Streamable HTTP.

Tools: ``echo``, ``add``, ``get-env`` and ``delete-file`` (deny targets), ``slow-count``
(emits progress notifications) and ``last-headers`` (the HTTP headers of the
request that called it).

Side channel, outside ``/mcp`` so it cannot be reached through a gateway:
``GET /_debug/requests`` lists every request received on ``/mcp`` (HTTP method,
headers, JSON-RPC method, tool name and arguments, as this server parsed them);
``POST /_debug/tool`` with ``{"name", "description"?, "input_schema"?}`` changes a
tool's advertised description and input schema (its behaviour stays), answering with
its new definition, or 404 for an unknown tool; ``POST /_debug/reset`` clears the list
and restores every tool's original definition.

Usage: ``python upstream_py.py PORT [json] [legacy] [markup]``; with ``markup`` it also
lists a tool whose name and description are HTML and script (for the dashboard's tests); with ``json`` it answers
requests with ``application/json`` bodies instead of SSE streams; with ``legacy`` it
speaks the legacy era only, refusing a 2026-07-28 request with 400 as a server on an
older SDK does.
"""

from __future__ import annotations

import copy
import json
import sys
from typing import Any

import anyio
import uvicorn
from mcp.server.mcpserver import Context, MCPServer
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
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


# Each tool's description and input schema as registered, restored by /_debug/reset.
ORIGINAL_TOOLS: dict[str, tuple[str, dict[str, Any]]] = {
    tool.name: (tool.description, copy.deepcopy(tool.parameters)) for tool in mcp._tool_manager.list_tools()
}


async def tool_definition(name: str) -> dict[str, Any]:
    """The tool as `tools/list` advertises it."""
    tool = next(t for t in await mcp.list_tools() if t.name == name)
    return tool.model_dump(mode="json", by_alias=True, exclude_none=True)


@mcp.custom_route("/_debug/tool", methods=["POST"])
async def debug_tool(request: Request) -> Response:
    try:
        change = await request.json()
    except ValueError:
        return JSONResponse({"error": "the body is not JSON"}, status_code=400)
    if not isinstance(change, dict) or not isinstance(change.get("name"), str):
        return JSONResponse({"error": "name must be a string"}, status_code=400)
    if not isinstance(change.get("description", ""), str):
        return JSONResponse({"error": "description must be a string"}, status_code=400)
    if not isinstance(change.get("input_schema", {}), dict):
        return JSONResponse({"error": "input_schema must be an object"}, status_code=400)
    tool = mcp._tool_manager.get_tool(change["name"])
    if tool is None:
        return JSONResponse({"error": f"unknown tool {change['name']!r}"}, status_code=404)
    if "description" in change:
        tool.description = change["description"]
    if "input_schema" in change:
        tool.parameters = change["input_schema"]
    return JSONResponse(await tool_definition(tool.name))


@mcp.custom_route("/_debug/reset", methods=["POST"])
async def debug_reset(_request: Request) -> Response:
    RECORDS.clear()
    for tool in mcp._tool_manager.list_tools():
        description, parameters = ORIGINAL_TOOLS[tool.name]
        tool.description = description
        tool.parameters = copy.deepcopy(parameters)
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
                    record["request_state"] = params.get("requestState")
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


class LegacyOnly:
    """ASGI middleware: refuses every /mcp request of another era than the legacy one
    (an `MCP-Protocol-Version` that is not a handshake version) with 400, as a server
    on an SDK without 2026-07-28 does."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/mcp"):
            version = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"mcp-protocol-version"), None)
            if version is not None and version not in HANDSHAKE_PROTOCOL_VERSIONS:
                supported = ", ".join(HANDSHAKE_PROTOCOL_VERSIONS)
                refusal = JSONResponse(
                    {
                        "jsonrpc": "2.0",
                        "id": None,
                        "error": {
                            "code": -32000,
                            "message": f"Bad Request: Unsupported protocol version (supported versions: {supported})",
                        },
                    },
                    status_code=400,
                )
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)


# Markup where a dashboard might render it: a tool's name and description.
MARKUP_NAME = "<img src=x onerror=alert(1)>"
MARKUP_TEXT = (
    '<script>alert("description")</script><img src=x onerror="alert(\'img\')">'
    '<a href="javascript:alert(\'link\')">click</a>'
)


def add_markup_tool() -> None:
    """With the `markup` flag: a tool whose name and description are markup, echoing its
    argument (an agent's text) back."""

    def markup(text: str) -> str:
        return f"markup: {text}"

    mcp.add_tool(markup, name=MARKUP_NAME, description=MARKUP_TEXT)
    tool = mcp._tool_manager.get_tool(MARKUP_NAME)
    ORIGINAL_TOOLS[MARKUP_NAME] = (tool.description, copy.deepcopy(tool.parameters))


def main() -> None:
    port = int(sys.argv[1])
    flags = set(sys.argv[2:])
    if "markup" in flags:
        add_markup_tool()
    app: Any = mcp.streamable_http_app(host="127.0.0.1", json_response="json" in flags)
    if "legacy" in flags:
        app = LegacyOnly(app)
    app = RecordRequests(app)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main()
