"""The official TypeScript SDK client (ts_client.mjs) through the gateway."""

from __future__ import annotations

from typing import Any

import pytest

from harness import legacy_headers, raw, run_ts_client
from policies import EVERYTHING_POLICY, EVERYTHING_VISIBLE, PY_POLICY, PY_VISIBLE

CASES = {
    "py": dict(
        fixture="upstream_py",
        policy=PY_POLICY,
        visible=PY_VISIBLE,
        hidden="get-env",
        denied="delete-file",
        refused=("add", {"a": 1000, "b": 1}),
        progress=("slow-count", {"steps": 3}),
    ),
    "everything": dict(
        fixture="everything",
        policy=EVERYTHING_POLICY,
        visible=EVERYTHING_VISIBLE,
        hidden="get-env",
        denied="get-tiny-image",
        refused=("get-sum", {"a": 1000, "b": 1}),
        progress=("trigger-long-running-operation", {"duration": 0.3, "steps": 3}),
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_typescript_client(case: str, gate: Any, request: pytest.FixtureRequest) -> None:
    c = CASES[case]
    upstream = request.getfixturevalue(c["fixture"])
    g = gate(upstream, c["policy"])
    plan = {
        "url": g.url,
        "token": g.token,
        "steps": [
            {"op": "list"},
            {"op": "call", "name": "echo", "arguments": {"message": "from ts"}},
            {"op": "call", "name": c["hidden"], "arguments": {}},
            {"op": "call", "name": c["denied"], "arguments": {}},
            {"op": "call", "name": c["refused"][0], "arguments": c["refused"][1]},
            {"op": "call", "name": c["progress"][0], "arguments": c["progress"][1], "progress": True},
        ],
        "terminate": True,
    }
    out = run_ts_client(plan)
    assert out["connected"], out
    listed, echo, hidden, denied, refused, progress = out["steps"]

    assert "ok" in listed, listed
    assert {t["name"] for t in listed["ok"]["tools"]} == c["visible"]

    assert "ok" in echo, echo
    assert not echo["ok"].get("isError"), echo
    assert echo["ok"]["content"][0]["text"] == "Echo: from ts"

    for step, name in ((hidden, c["hidden"]), (denied, c["denied"])):
        assert "error" in step, f"calling {name}: expected a JSON-RPC error, got {step}"
        assert step["error"]["code"] == -32602, step
        assert f"Unknown tool: {name}" in step["error"]["message"], step

    assert "ok" in refused, refused
    assert refused["ok"].get("isError") is True, refused
    text = refused["ok"]["content"][0]["text"]
    assert text.startswith("Denied by policy:") and "/a" in text, text

    assert "ok" in progress, progress
    assert [p["progress"] for p in progress["progress"]] == [1, 2, 3], progress

    # terminateSession() sent DELETE; the session is gone.
    assert out["session_id"], "the gateway issued no Mcp-Session-Id to a legacy client"
    assert out["terminated"], out
    after = raw(
        "POST",
        g.url,
        body={"jsonrpc": "2.0", "id": 9, "method": "tools/list", "params": {}},
        headers=legacy_headers(g.token, out["session_id"]),
    )
    allowed = (404,) if case == "py" else (400, 404)
    assert after.status in allowed, f"a request on the terminated session: {after.describe()}"
