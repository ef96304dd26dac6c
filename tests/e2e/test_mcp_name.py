"""2026-07-28 mirrored headers: a header that disagrees with the body is a 400 -32020
from the gateway itself, and the upstream is never called."""

from __future__ import annotations

from typing import Any

import pytest

import base64

from harness import MODERN, modern_headers, modern_request, raw
from policies import PY_POLICY


def test_matching_headers_are_served(gate: Any, upstream_py: Any) -> None:
    g = gate(upstream_py, PY_POLICY)
    body = modern_request("tools/call", {"name": "echo", "arguments": {"message": "match"}})
    r = raw("POST", g.url, body=body, headers=modern_headers(body, g.token))
    assert r.status == 200, r.describe()
    assert r.final and r.final.get("result", {}).get("content", [{}])[0].get("text") == "Echo: match", r.describe()


@pytest.mark.parametrize(
    ("body_tool", "header", "value"),
    [
        ("echo", "Mcp-Name", "add"),
        # A hidden tool smuggled under a visible tool's header.
        ("get-env", "Mcp-Name", "echo"),
        ("echo", "Mcp-Method", "tools/list"),
    ],
    ids=["name-mismatch", "hidden-tool-under-visible-name", "method-mismatch"],
)
def test_header_mismatch_is_rejected_before_the_upstream(
    body_tool: str, header: str, value: str, gate: Any, upstream_py: Any
) -> None:
    g = gate(upstream_py, PY_POLICY)
    body = modern_request("tools/call", {"name": body_tool, "arguments": {"message": "x"}})
    headers = modern_headers(body, g.token)
    headers[header] = value
    r = raw("POST", g.url, body=body, headers=headers)
    assert r.status == 400, r.describe()
    assert r.error_code == -32020, r.describe()
    called = [rec for rec in upstream_py.requests(g.upstream_key) if rec.get("rpc_method") == "tools/call"]
    assert called == [], f"the upstream was called despite the header mismatch: {called}"


def b64_header(value: str) -> str:
    return "=?base64?" + base64.b64encode(value.encode()).decode() + "?="


def test_base64_encoded_mcp_name_is_decoded(gate: Any, upstream_py: Any) -> None:
    """Header values may be sent as =?base64?...?=; intermediaries MUST decode them first."""
    g = gate(upstream_py, PY_POLICY)
    body = modern_request("tools/call", {"name": "echo", "arguments": {"message": "b64"}})
    headers = modern_headers(body, g.token)
    headers["Mcp-Name"] = b64_header("echo")
    r = raw("POST", g.url, body=body, headers=headers)
    assert r.status == 200 and r.final and "result" in r.final, r.describe()

    headers["Mcp-Name"] = b64_header("add")
    r = raw("POST", g.url, body=body, headers=headers)
    assert r.status == 400 and r.error_code == -32020, r.describe()


@pytest.mark.parametrize(
    "change",
    ["drop-mcp-name", "drop-mcp-method", "version-differs-from-meta"],
)
def test_missing_or_inconsistent_headers_are_rejected(change: str, gate: Any, upstream_py: Any) -> None:
    g = gate(upstream_py, PY_POLICY)
    body = modern_request("tools/call", {"name": "echo", "arguments": {"message": "x"}})
    headers = modern_headers(body, g.token)
    if change == "drop-mcp-name":
        del headers["Mcp-Name"]
    elif change == "drop-mcp-method":
        del headers["Mcp-Method"]
    else:
        body["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"] = "2025-11-25"
        assert headers["MCP-Protocol-Version"] == MODERN
    r = raw("POST", g.url, body=body, headers=headers)
    assert r.status == 400, r.describe()
    assert r.error_code == -32020, r.describe()
    called = [rec for rec in upstream_py.requests(g.upstream_key) if rec.get("rpc_method") == "tools/call"]
    assert called == [], f"the upstream was called: {called}"
