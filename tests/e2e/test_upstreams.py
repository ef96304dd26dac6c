"""The harness itself, without the gateway: the upstreams and both SDK clients work
directly, so a failure elsewhere is the gateway's."""

from __future__ import annotations

import json
from typing import Any

import pytest

from harness import MODERN, modern_call, py_client, run_ts_client

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("mode", ["legacy", MODERN])
async def test_python_upstream_serves_both_eras(mode: str, upstream_py: Any) -> None:
    progress: list[float] = []

    async def on_progress(p: float, _total: float | None, _message: str | None) -> None:
        progress.append(p)

    async with py_client(upstream_py.url, None, mode) as c:
        assert c.protocol_version == ("2025-11-25" if mode == "legacy" else MODERN)
        names = {t.name for t in (await c.list_tools()).tools}
        assert {"echo", "add", "get-env", "delete-file", "slow-count", "last-headers"} <= names
        r = await c.call_tool("slow-count", {"steps": 2}, progress_callback=on_progress)
        assert r.content[0].text == "counted to 2"
        seen = json.loads((await c.call_tool("last-headers", {})).content[0].text)
    assert progress == [1.0, 2.0]
    assert seen["mcp-protocol-version"] == ("2025-11-25" if mode == "legacy" else MODERN)


def test_python_upstream_records_headers_and_checks_mirrored_ones(upstream_py: Any) -> None:
    r = modern_call(upstream_py.url, "direct-token", "tools/call", {"name": "echo", "arguments": {"message": "r"}})
    assert r.status == 200, r.describe()
    last = upstream_py.requests()[-1]
    assert last["rpc_method"] == "tools/call" and last["tool"] == "echo"
    assert last["headers"]["authorization"] == "Bearer direct-token"


def test_typescript_client_against_server_everything(everything: Any) -> None:
    out = run_ts_client(
        {
            "url": everything.url,
            "token": None,
            "steps": [
                {"op": "list"},
                {"op": "call", "name": "trigger-long-running-operation", "arguments": {"duration": 0.2, "steps": 2}, "progress": True},
            ],
            "terminate": True,
        }
    )
    assert out["connected"] and out["session_id"] and out["terminated"], out
    assert "get-env" in {t["name"] for t in out["steps"][0]["ok"]["tools"]}
    assert [p["progress"] for p in out["steps"][1]["progress"]] == [1, 2]
