"""The tool catalog against real upstreams: server-everything (TypeScript SDK)
and the Python SDK upstream, registered through the REST API; and
`toolgate scan` against server-everything."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from harness import Tenant


def refreshed_tools(tenant: Tenant, url: str, name: str) -> dict[str, Any]:
    server = tenant.add_server(name, url)
    # The registration's own attempt runs in the background; a refresh waits.
    tenant._req("POST", f"/servers/{server['id']}/tools/refresh", 200)
    listing = tenant._req("GET", f"/servers/{server['id']}/tools", 200)
    again = tenant._req("GET", f"/servers/{server['id']}", 200)
    assert again["catalog"]["status"] == "ok", again["catalog"]
    assert again["catalog"]["tool_count"] == len(listing["tools"])
    return {t["name"]: t for t in listing["tools"]}


def test_catalog_lists_server_everything_with_verdicts(tenant: Tenant, everything: Any) -> None:
    tools = refreshed_tools(tenant, everything.url, "everything")
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


def test_catalog_lists_the_python_sdk_upstream(tenant: Tenant, upstream_py: Any) -> None:
    tools = refreshed_tools(tenant, upstream_py.url, "python-sdk")
    assert {"echo", "add", "delete-file"} <= set(tools), sorted(tools)
    assert tools["delete-file"]["category"] == "destructive", tools["delete-file"]
    recommended = tenant._req("GET", f"/servers/{next(iter(tools.values()))['server_id']}/policy/recommended", 200)
    assert recommended["policy"]["version"] == "1"


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
