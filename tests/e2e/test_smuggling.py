"""Bodies that a careless gateway and the upstream could read differently: the
upstream must never run what the policy refuses, however the JSON is spelled."""

from __future__ import annotations

from typing import Any

import pytest

from harness import legacy_headers, legacy_initialize, modern_headers, raw
from policies import PY_POLICY

CALL = '{"jsonrpc":"2.0","id":7,"method":"tools/call","params":%s}'

BODIES = {
    # Python's json (the upstream) keeps the last of duplicate keys.
    "duplicate-name": CALL % '{"name":"echo","name":"get-env","arguments":{"message":"x"}}',
    "duplicate-name-reversed": CALL % '{"name":"get-env","name":"echo","arguments":{"message":"x"}}',
    "duplicate-params": '{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"message":"x"}},"params":{"name":"get-env","arguments":{}}}',
    "duplicate-method": '{"jsonrpc":"2.0","id":7,"method":"tools/list","method":"tools/call","params":{"name":"get-env","arguments":{}}}',
    "escaped-name": CALL % '{"name":"get\\u002denv","arguments":{}}',
    "duplicate-argument": CALL % '{"name":"add","arguments":{"a":1,"a":1000,"b":1}}',
    "escaped-argument-key": CALL % '{"name":"add","arguments":{"\\u0061":1000,"b":1}}',
}


def refused_calls(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Calls the policy refuses, as the upstream parsed them."""
    bad = []
    for r in records:
        if r.get("rpc_method") != "tools/call":
            continue
        args = r.get("arguments") or {}
        if r.get("tool") == "get-env" or (r.get("tool") == "add" and isinstance(args.get("a"), int) and args["a"] > 100):
            bad.append(r)
    return bad


@pytest.mark.parametrize("name", sorted(BODIES))
def test_legacy_session_body_cannot_smuggle(name: str, gate: Any, upstream_py: Any) -> None:
    g = gate(upstream_py, PY_POLICY)
    init, sid = legacy_initialize(g.url, g.token)
    assert init.status == 200 and sid, init.describe()
    r = raw("POST", g.url, content=BODIES[name].encode(), headers=legacy_headers(g.token, sid))
    assert r.status < 500, r.describe()
    smuggled = refused_calls(upstream_py.requests(g.upstream_key))
    assert smuggled == [], f"{name}: the upstream ran a refused call: {smuggled}\ngateway said: {r.describe()}"


@pytest.mark.parametrize("name", sorted(BODIES))
def test_modern_body_cannot_smuggle(name: str, gate: Any, upstream_py: Any) -> None:
    g = gate(upstream_py, PY_POLICY)
    text = BODIES[name].replace('"params":{', '"params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}},', 1)
    # Headers as a client would mirror them from the first spelling of each field.
    first_name = "add" if "add" in name or "argument" in name else ("get-env" if "reversed" in name or "escaped" in name or "method" in name else "echo")
    headers = modern_headers({"method": "tools/call", "params": {"name": first_name}}, g.token)
    r = raw("POST", g.url, content=text.encode(), headers=headers)
    assert r.status < 500, r.describe()
    smuggled = refused_calls(upstream_py.requests(g.upstream_key))
    assert smuggled == [], f"{name}: the upstream ran a refused call: {smuggled}\ngateway said: {r.describe()}"
