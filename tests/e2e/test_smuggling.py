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


# Arguments the policy (serde_json) and an upstream could read as different
# values: `add` allows `a` up to 100. The gateway must refuse each as a call
# (`isError`, "Denied by policy:") and the upstream must never see it.
AMBIGUOUS_ARGUMENTS = {
    # A first-wins reader takes 1000; serde_json and Python take the last.
    "repeated-key": '{"a":1000,"a":1,"b":1}',
    "repeated-escaped-key": '{"a":1000,"\\u0061":1,"b":1}',
    "repeated-nested-key": '{"a":1,"b":1,"extra":[{"k":1},{"k":1,"k":2}]}',
    # Read as -1e23 by the policy; Python keeps the exact integer.
    "lossy-big-integer": '{"a":-100000000000000000000001,"b":1}',
    # Read as 100 by the policy; an exact-decimal reader sees more.
    "lossy-decimal": '{"a":100.0000000000000000001,"b":1}',
    "out-of-range": '{"a":1e400,"b":1}',
}


@pytest.mark.parametrize("name", sorted(AMBIGUOUS_ARGUMENTS))
def test_ambiguous_arguments_never_reach_the_upstream(name: str, gate: Any, upstream_py: Any) -> None:
    g = gate(upstream_py, PY_POLICY)
    init, sid = legacy_initialize(g.url, g.token)
    assert init.status == 200 and sid, init.describe()
    body = CALL % ('{"name":"add","arguments":%s}' % AMBIGUOUS_ARGUMENTS[name])
    r = raw("POST", g.url, content=body.encode(), headers=legacy_headers(g.token, sid))
    assert r.status == 200, r.describe()
    answer = r.final
    assert answer is not None, r.describe()
    assert answer["result"]["isError"] is True, r.describe()
    assert answer["result"]["content"][0]["text"].startswith("Denied by policy:"), r.describe()
    assert answer["result"]["_meta"]["dev.toolgate/refusal"]["argument"].startswith("/"), r.describe()
    calls = [rec for rec in upstream_py.requests(g.upstream_key) if rec.get("rpc_method") == "tools/call"]
    assert calls == [], f"{name}: the upstream received {calls}"

    # The same call, written plainly, goes through.
    plain = CALL % '{"name":"add","arguments":{"a":1,"b":1}}'
    r = raw("POST", g.url, content=plain.encode(), headers=legacy_headers(g.token, sid))
    assert r.status == 200 and '"isError":true' not in r.text, r.describe()
