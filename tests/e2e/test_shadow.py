"""A shadow policy with the Python SDK client: the live policy allows `add`, the shadow
denies it. Every call succeeds (the gateway acts on the live decision), the shadow report
lists exactly the `add` calls, and promoting the shadow refuses the next one."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from mcp import MCPError

from harness import poll_until, py_client

pytestmark = pytest.mark.anyio

LIVE: dict[str, Any] = {"version": "1", "default": "deny", "tools": {"echo": {}, "add": {}}}
SHADOW: dict[str, Any] = {
    "version": "1",
    "default": "deny",
    "tools": {"echo": {}, "add": {"action": "deny", "reason": "no adding"}},
}


def audit(tenant: Any, server_id: str, tool: str) -> list[dict[str, Any]]:
    return tenant._req("GET", f"/audit?server={server_id}&tool={tool}&limit=200", 200)["items"]


@pytest.mark.parametrize("mode", ["2026-07-28", "legacy"])
async def test_shadow_reports_the_calls_it_would_refuse_and_promoting_refuses_them(
    upstream_py: Any, gate: Any, mode: str
) -> None:
    g = gate(upstream_py, LIVE)
    t, sid = g.tenant, g.server["id"]
    shadow = t._req("PUT", f"/servers/{sid}/policy/shadow", 200, SHADOW)
    assert shadow["policy"] == SHADOW and shadow["from_version"] is None

    async with py_client(g.url, g.token, mode) as c:
        # The gateway reloads the account when told it changed: an `echo` call
        # whose event carries a shadow decision says the shadow is in force.
        deadline = time.monotonic() + 10
        while True:
            await c.call_tool("echo", {"message": "warm"})
            await asyncio.sleep(0.2)
            if any("shadow" in e for e in audit(t, sid, "echo")):
                break
            assert time.monotonic() < deadline, "the shadow never reached the gateway"
        for i in range(6):
            result = await c.call_tool("add", {"a": i, "b": 1})
            assert not result.is_error, result
        echoes = len(audit(t, sid, "echo"))

    # Six `add` events, each allowed live and refused by the shadow.
    assert poll_until(lambda: len(audit(t, sid, "add")) == 6, 10) is not None
    adds = audit(t, sid, "add")
    assert {e["decision"] for e in adds} == {"allowed"}
    assert all(e["shadow"] == {"decision": "unknown_tool", "rule": "/tools/add"} for e in adds), adds

    report = t._req("GET", f"/servers/{sid}/policy/shadow", 200)
    assert report["shadow"]["policy"] == SHADOW
    assert report["changes"] == [
        {
            "tool": "add",
            "kind": "tool",
            "from": "allowed",
            "to": "unknown_tool",
            "rule": "/tools/add",
            "count": 6,
            "examples": report["changes"][0]["examples"],
        }
    ], report
    example_ids = {x["event_id"] for x in report["changes"][0]["examples"]}
    assert len(example_ids) == 3 and example_ids <= {e["id"] for e in adds}
    shadowed_echoes = sum(1 for e in audit(t, sid, "echo") if "shadow" in e)
    assert report["events"] == 6 + shadowed_echoes and shadowed_echoes <= echoes
    assert report["live"]["by_tool"]["add"] == {"allowed": 6}
    assert report["shadowed"]["by_tool"]["add"] == {"unknown_tool": 6}

    promoted = t._req("POST", f"/servers/{sid}/policy/shadow/promote", 200)
    assert promoted["version"] == 2 and promoted["policy"] == SHADOW
    t._req("GET", f"/servers/{sid}/policy/shadow", 404)
    assert t._req("GET", f"/servers/{sid}/policy", 200)["version"] == 2

    async with py_client(g.url, g.token, mode) as c:
        deadline = time.monotonic() + 10
        while True:
            try:
                await c.call_tool("add", {"a": 1, "b": 1})
            except MCPError as refused:
                assert refused.error.code == -32602
                assert refused.error.message == "Unknown tool: add"
                break
            assert time.monotonic() < deadline, "the promoted policy never reached the gateway"
            await asyncio.sleep(0.1)
        assert (await c.call_tool("echo", {"message": "still"})).is_error is False


async def test_shadow_routes_validate_and_wall_off_other_accounts(upstream_py: Any, gate: Any, toolgate: Any, rest: Any) -> None:
    from harness import signup

    g = gate(upstream_py, LIVE)
    t, sid = g.tenant, g.server["id"]
    bad = t.http.put(
        f"{t.api}/servers/{sid}/policy/shadow",
        json={"version": "1", "default": "maybe"},
        headers={"Authorization": f"Bearer {t.token}"},
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["path"] == "/default", bad.text
    missing = t.http.put(
        f"{t.api}/servers/{sid}/policy/shadow", json={"version": 9}, headers={"Authorization": f"Bearer {t.token}"}
    )
    assert missing.status_code == 422 and missing.json()["errors"][0]["path"] == "/version", missing.text
    by_version = t._req("PUT", f"/servers/{sid}/policy/shadow", 200, {"version": 1})
    assert by_version["from_version"] == 1 and by_version["policy"] == LIVE

    other = signup(rest, toolgate.base)
    for method, path in [
        ("GET", "/policy/shadow"),
        ("PUT", "/policy/shadow"),
        ("DELETE", "/policy/shadow"),
        ("POST", "/policy/shadow/promote"),
        ("POST", "/policy/simulate"),
    ]:
        body = {"document": LIVE} if path.endswith("simulate") else LIVE
        r = other.http.request(
            method, f"{other.api}/servers/{sid}{path}", json=body, headers={"Authorization": f"Bearer {other.token}"}
        )
        assert r.status_code == 404, f"{method} {path} -> {r.status_code}"
    t._req("DELETE", f"/servers/{sid}/policy/shadow", 204)
    t._req("DELETE", f"/servers/{sid}/policy/shadow", 404)
