"""Requests the gateway relays to upstreams, beyond plain calls: server-to-client requests,
dead upstreams, expiring grants."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest
from mcp import types

from harness import free_port, modern_call, py_client
from policies import PY_POLICY

pytestmark = pytest.mark.anyio

ELICITING = {
    "version": "1",
    "default": "deny",
    "tools": {"echo": {}, "trigger-elicitation-request": {}},
}


async def test_elicitation_request_and_response_pass_through(gate: Any, everything: Any) -> None:
    """server-everything asks the client for input in the middle of a call (legacy era)."""
    g = gate(everything, ELICITING)
    asked: list[str] = []

    async def on_elicit(_context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params.message)
        return types.ElicitResult(action="accept", content={"name": "Ada Lovelace", "check": True})

    async with py_client(g.url, g.token, "legacy", elicitation_callback=on_elicit) as c:
        names = {t.name for t in (await c.list_tools()).tools}
        assert "trigger-elicitation-request" in names, names
        result = await c.call_tool("trigger-elicitation-request", {})
    assert asked, "the upstream's elicitation/create never reached the client"
    text = "\n".join(block.text for block in result.content if block.type == "text")
    assert not result.is_error, result
    assert "Ada Lovelace" in text, f"the client's answer did not reach the upstream: {text}"


def test_unreachable_upstream_is_a_jsonrpc_error_without_credentials(tenant: Any) -> None:
    dead = f"http://127.0.0.1:{free_port()}/mcp"  # nothing listens there
    secret = "upstream-secret-value-that-must-not-leak"
    server = tenant.add_server("dead", dead, {"X-Upstream-Key": secret})
    tenant.put_policy(server["id"], PY_POLICY)
    grant = tenant.grant("agent", [server["id"]])
    for method, params in (("tools/list", None), ("tools/call", {"name": "echo", "arguments": {"message": "x"}})):
        r = modern_call(server["gateway_url"], grant["token"], method, params, timeout=60)
        assert r.status != 500, r.describe()
        assert r.error_code is not None, f"{method}: expected a JSON-RPC error the client can show: {r.describe()}"
        assert secret not in r.text, f"{method}: the upstream's credentials leaked: {r.describe()}"


def test_expired_grant_gets_401(tenant: Any, upstream_py: Any) -> None:
    server = tenant.add_server("expiring", upstream_py.url, {"X-Upstream-Key": "expiring"})
    tenant.put_policy(server["id"], PY_POLICY)
    expires = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=2)
    grant = tenant._req(
        "POST",
        "/grants",
        201,
        {"name": "short-lived", "servers": [server["id"]], "expires_at": expires.isoformat().replace("+00:00", "Z")},
    )
    r = modern_call(server["gateway_url"], grant["token"], "tools/list")
    assert r.status == 200, f"before expiry: {r.describe()}"
    time.sleep(max(0.0, (expires - dt.datetime.now(dt.timezone.utc)).total_seconds()) + 0.3)
    r = modern_call(server["gateway_url"], grant["token"], "tools/list")
    assert r.status == 401 and "www-authenticate" in r.headers, f"after expiry: {r.describe()}"
