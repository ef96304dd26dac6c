"""The tool catalog against real upstreams: server-everything (TypeScript SDK, legacy
era only) and the Python SDK upstream (2026-07-28, and legacy only), registered through
the REST API; the recommended policy applied as it is and obeyed by the gateway; and
`toolgate scan` against server-everything."""

from __future__ import annotations

import asyncio
import json
import secrets
import subprocess
from pathlib import Path
from typing import Any

import anyio
import pytest

from harness import LEGACY, MODERN, Tenant, decide_approval, modern_call, pending_approval, py_client

PY_TOOLS = {"echo", "add", "get-env", "delete-file", "slow-count", "last-headers"}


def refreshed(tenant: Tenant, url: str, name: str, headers: dict[str, str] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Registers the upstream, refreshes its catalog; returns the server and its tools by name."""
    server = tenant.add_server(name, url, headers)
    # The registration's own attempt runs in the background; a refresh waits.
    tenant._req("POST", f"/servers/{server['id']}/tools/refresh", 200)
    listing = tenant._req("GET", f"/servers/{server['id']}/tools", 200)
    again = tenant._req("GET", f"/servers/{server['id']}", 200)
    assert again["catalog"]["status"] == "ok", again["catalog"]
    assert again["catalog"]["tool_count"] == len(listing["tools"])
    return server, {t["name"]: t for t in listing["tools"]}


def upstream_key() -> str:
    return f"upk-{secrets.token_hex(8)}"


def test_catalog_lists_server_everything_with_verdicts(tenant: Tenant, everything: Any) -> None:
    _, tools = refreshed(tenant, everything.url, "everything")
    assert {"echo", "get-env"} <= set(tools), sorted(tools)
    for tool in tools.values():
        assert tool["category"] in {"read", "write", "execute", "destructive", "financial"}
        assert tool["reasons"], tool
    echo = tools["echo"]
    assert echo["category"] == "read" and echo["risk"] in {"low", "medium"}, echo
    # It dumps the server's environment, where deployments keep secrets.
    get_env = tools["get-env"]
    assert "credentials" in get_env["flags"], get_env
    assert any(r["id"] == "phrase.credentials" for r in get_env["reasons"]), get_env
    # It speaks the legacy era only: its catalog came through `initialize`.
    probe = modern_call(everything.url, None, "server/discover")
    assert probe.status >= 400 or not (probe.final and "result" in probe.final), probe.describe()


def test_catalog_lists_the_python_sdk_upstream(tenant: Tenant, upstream_py: Any) -> None:
    server, tools = refreshed(tenant, upstream_py.url, "python-sdk")
    assert PY_TOOLS <= set(tools), sorted(tools)
    assert tools["delete-file"]["category"] == "destructive", tools["delete-file"]
    recommended = tenant._req("GET", f"/servers/{server['id']}/policy/recommended", 200)
    assert recommended["policy"]["version"] == "1"


def test_discovery_speaks_2026_07_28_to_an_upstream_that_does(tenant: Tenant, upstream_py: Any) -> None:
    key = upstream_key()
    _, tools = refreshed(tenant, upstream_py.url, "python-sdk-modern", {"X-Upstream-Key": key})
    assert PY_TOOLS <= set(tools), sorted(tools)
    sent = upstream_py.discovery_requests(key)
    methods = [r.get("rpc_method") for r in sent]
    assert "server/discover" in methods and "tools/list" in methods, methods
    assert "initialize" not in methods, methods
    assert all(r["headers"].get("mcp-protocol-version") == MODERN for r in sent), sent
    listing = [r for r in sent if r.get("rpc_method") == "tools/list"]
    assert all(r["headers"].get("mcp-method") == "tools/list" for r in listing), listing


def test_discovery_falls_back_to_initialize_for_a_legacy_only_upstream(tenant: Tenant, upstream_py_legacy: Any) -> None:
    key = upstream_key()
    _, tools = refreshed(tenant, upstream_py_legacy.url, "python-sdk-legacy", {"X-Upstream-Key": key})
    assert PY_TOOLS <= set(tools), sorted(tools)
    assert tools["delete-file"]["category"] == "destructive", tools["delete-file"]
    sent = upstream_py_legacy.discovery_requests(key)
    methods = [r.get("rpc_method") for r in sent]
    # Each attempt (the registration's and the refresh) probes, is refused with 400,
    # then shakes hands.
    assert methods.count("server/discover") >= methods.count("initialize") >= 1, methods
    assert methods.index("server/discover") < methods.index("initialize"), methods
    sessions: dict[str, list[str | None]] = {}
    for r in sent:
        if "mcp-session-id" in r["headers"]:
            sessions.setdefault(r["headers"]["mcp-session-id"], []).append(r.get("rpc_method"))
    assert any(s[:2] == ["notifications/initialized", "tools/list"] for s in sessions.values()), sessions
    listing = [r for r in sent if r.get("rpc_method") == "tools/list"]
    assert listing and all(r["headers"].get("mcp-protocol-version") == LEGACY for r in listing), listing
    assert all(r["headers"].get("mcp-session-id") for r in listing), listing


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["legacy", MODERN])
async def test_the_recommended_policy_lets_reads_through_and_holds_deletes_for_approval(
    mode: str, tenant: Tenant, upstream_py: Any, toolgate: Any
) -> None:
    key = upstream_key()
    server, tools = refreshed(tenant, upstream_py.url, "python-sdk", {"X-Upstream-Key": key})
    recommended = tenant._req("GET", f"/servers/{server['id']}/policy/recommended", 200)
    advice = {a["tool"]: a for a in recommended["tools"]}
    assert set(advice) == set(tools), sorted(advice)
    delete = advice["delete-file"]
    assert delete["category"] == "destructive" and delete["action"] == "require_approval", delete
    assert "each call waits for a person's approval" in delete["explanation"], delete
    assert advice["echo"]["action"] == "allow", advice["echo"]
    assert recommended["policy"]["default"] == "deny"
    assert recommended["policy"]["tools"]["delete-file"] == {"action": "require_approval"}

    stored = tenant.put_policy(server["id"], recommended["policy"])
    assert stored["policy"] == recommended["policy"]
    grant = tenant.grant(f"agent-{secrets.token_hex(3)}", [server["id"]])

    async with py_client(server["gateway_url"], grant["token"], mode) as client:
        assert {"echo", "delete-file"} <= {t.name for t in (await client.list_tools()).tools}
        echoed = await asyncio.wait_for(client.call_tool("echo", {"message": "status report"}), 10)
        assert not echoed.is_error and echoed.content[0].text == "Echo: status report", echoed

        held = asyncio.create_task(client.call_tool("delete-file", {"path": "/srv/reports/q3.csv"}))
        approval = await anyio.to_thread.run_sync(pending_approval, tenant, "delete-file")
        assert approval["arguments"] == {"path": "/srv/reports/q3.csv"}, approval
        assert approval["server_name"] == server["name"], approval
        # The read made no approval; the delete made one.
        listed = await anyio.to_thread.run_sync(lambda: tenant._req("GET", "/approvals", 200)["items"])
        assert [(a["id"], a["tool"]) for a in listed] == [(approval["id"], "delete-file")], listed
        await asyncio.sleep(0.3)
        assert not held.done(), "the delete is held until someone decides"
        assert upstream_py.tool_calls(key, "delete-file") == [], "nothing reached the upstream yet"

        decided = await anyio.to_thread.run_sync(decide_approval, tenant, approval["id"], "approve")
        assert decided["status"] == "approved", decided
        deleted = await asyncio.wait_for(held, 10)

    assert not deleted.is_error and deleted.content[0].text == "deleted /srv/reports/q3.csv", deleted
    assert [c["arguments"] for c in upstream_py.tool_calls(key, "delete-file")] == [{"path": "/srv/reports/q3.csv"}]
    assert [c["arguments"] for c in upstream_py.tool_calls(key, "echo")] == [{"message": "status report"}]


def test_catalog_scan_prints_server_everything_tools(toolgate_bin: Path, everything: Any) -> None:
    out = subprocess.run(
        [str(toolgate_bin), "scan", everything.url, "--allow-private"],
        capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, out.stderr
    names = {line.split()[0] for line in out.stdout.splitlines()[1:-1]}
    assert {"echo", "get-env"} <= names, out.stdout
    as_json = subprocess.run(
        [str(toolgate_bin), "scan", everything.url, "--allow-private", "--json"],
        capture_output=True, text=True, timeout=60,
    )
    assert as_json.returncode == 0, as_json.stderr
    assert any(t["definition"]["name"] == "echo" for t in json.loads(as_json.stdout)["tools"])
