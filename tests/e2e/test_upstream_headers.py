"""What reaches the upstream: never the agent's credentials, always the server's own headers."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import pytest

from harness import MODERN, modern_headers, modern_request, py_client, raw
from policies import PY_POLICY

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("mode", ["legacy", MODERN])
async def test_upstream_never_sees_the_agent_token(mode: str, gate: Any, upstream_py: Any) -> None:
    g = gate(upstream_py, PY_POLICY)
    async with py_client(g.url, g.token, mode) as c:
        result = await c.call_tool("last-headers", {})
        await c.call_tool("echo", {"message": "hi"})
    assert not result.is_error, result
    seen_by_tool = json.loads(result.content[0].text)
    assert seen_by_tool.get("x-upstream-key") == g.upstream_key, seen_by_tool

    mine = upstream_py.requests(g.upstream_key)
    assert mine, "no request reached the upstream with the server's configured X-Upstream-Key"
    upstream_host = urlsplit(upstream_py.base).netloc
    for record in mine:
        headers = record["headers"]
        assert g.token not in json.dumps(headers), f"the agent's grant token reached the upstream: {record}"
        assert "authorization" not in headers, f"an Authorization header reached the upstream: {record}"
        assert headers.get("host") == upstream_host, f"Host is not the upstream's: {record}"
    # Nothing the upstream ever received carries the token, keyed or not.
    assert g.token not in json.dumps(upstream_py.requests())


def test_cookie_and_origin_are_not_forwarded(gate: Any, upstream_py: Any, toolgate: Any) -> None:
    g = gate(upstream_py, PY_POLICY)
    body = modern_request("tools/call", {"name": "echo", "arguments": {"message": "cookie?"}})
    headers = modern_headers(body, g.token)
    headers["Cookie"] = "agent_session=agent-cookie-value"
    headers["Origin"] = toolgate.base
    r = raw("POST", g.url, body=body, headers=headers)
    assert r.status < 500, r.describe()
    for record in upstream_py.requests(g.upstream_key):
        assert "cookie" not in record["headers"], f"the agent's Cookie reached the upstream: {record}"
        assert "origin" not in record["headers"], f"the agent's Origin reached the upstream: {record}"
