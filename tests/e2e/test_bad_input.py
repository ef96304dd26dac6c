"""A sweep of bad input at the gateway URL: documented errors, never a 500."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from harness import (
    ACCEPT,
    RawResponse,
    legacy_headers,
    legacy_initialize,
    modern_call,
    modern_headers,
    modern_request,
    raw,
    signup,
)
from policies import PY_POLICY


def served(url: str, token: str) -> None:
    """Positive control: this gateway URL and token work, so a refusal next to it means something."""
    r = modern_call(url, token, "tools/list")
    assert r.status == 200 and r.final and "result" in r.final, f"control request failed: {r.describe()}"


def no_500(r: RawResponse) -> None:
    assert r.status < 500, f"the gateway answered with a server error: {r.describe()}"


def assert_401(r: RawResponse) -> None:
    no_500(r)
    assert r.status == 401, r.describe()
    assert "www-authenticate" in r.headers, f"401 without WWW-Authenticate: {r.describe()}"


def with_path(url: str, path: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


# ---------------------------------------------------------------- authentication


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer not-a-grant-token", "Bearer eyJhbGciOiJIUzI1NiJ9.e30.c2ln", "Basic dXNlcjpwYXNz", "bearer"],
    ids=["missing", "unknown", "jwt-shaped", "basic", "scheme-only"],
)
def test_bad_credentials_get_401(authorization: str | None, gate: Any, upstream_py: Any) -> None:
    g = gate(upstream_py, PY_POLICY)
    served(g.url, g.token)
    before = len(upstream_py.requests(g.upstream_key))
    for body in (
        modern_request("tools/list"),
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "x", "version": "1"}},
        },
    ):
        headers = modern_headers(body, None) if body["method"] != "initialize" else legacy_headers(None, version=None)
        if authorization is not None:
            headers["Authorization"] = authorization
        assert_401(raw("POST", g.url, body=body, headers=headers))
    after = upstream_py.requests(g.upstream_key)
    assert len(after) == before, f"an unauthenticated request reached the upstream: {after[before:]}"


def test_management_credentials_are_not_grants(gate: Any, upstream_py: Any) -> None:
    g = gate(upstream_py, PY_POLICY)
    api_key = g.tenant._req("POST", "/api-keys", 201, {"name": "ci"})["secret"]
    for credential in (g.tenant.token, api_key):
        assert_401(modern_call(g.url, credential, "tools/list"))
    assert upstream_py.requests(g.upstream_key) == []


def test_another_accounts_grant_is_refused(gate: Any, upstream_py: Any, toolgate: Any, rest: Any) -> None:
    g = gate(upstream_py, PY_POLICY)
    other = signup(rest, toolgate.base)
    server = other.add_server("other", upstream_py.url, {"X-Upstream-Key": "other-" + g.upstream_key})
    other.put_policy(server["id"], PY_POLICY)
    other_grant = other.grant("other-agent", [server["id"]])
    served(g.url, g.token)
    served(server["gateway_url"], other_grant["token"])
    before = len(upstream_py.requests(g.upstream_key))
    r = modern_call(g.url, other_grant["token"], "tools/call", {"name": "echo", "arguments": {"message": "x"}})
    no_500(r)
    assert r.status in (401, 403, 404), r.describe()
    assert len(upstream_py.requests(g.upstream_key)) == before, "another account's grant reached the upstream"


def test_grant_limited_to_another_server_is_refused(gate: Any, upstream_py: Any) -> None:
    g = gate(upstream_py, PY_POLICY, name="first")
    second = g.tenant.add_server("second", upstream_py.url, {"X-Upstream-Key": "second-" + g.upstream_key})
    g.tenant.put_policy(second["id"], PY_POLICY)
    served(g.url, g.token)
    r = modern_call(second["gateway_url"], g.token, "tools/call", {"name": "echo", "arguments": {"message": "x"}})
    no_500(r)
    assert r.status in (401, 403, 404), f"a grant for 'first' reached 'second': {r.describe()}"
    assert upstream_py.requests("second-" + g.upstream_key) == []


# ---------------------------------------------------------------- routing


def test_unknown_account_and_server_get_404(gate: Any, upstream_py: Any) -> None:
    g = gate(upstream_py, PY_POLICY)
    path = urlsplit(g.url).path  # /mcp/{account}/{server}
    _, mcp, account, server = path.split("/")
    served(g.url, g.token)
    for bad in (f"/{mcp}/no-such-account-xyz/{server}", f"/{mcp}/{account}/no-such-server"):
        r = modern_call(with_path(g.url, bad), g.token, "tools/list")
        no_500(r)
        assert r.status == 404, f"{bad}: {r.describe()}"


# ---------------------------------------------------------------- bodies


def test_malformed_json_gets_parse_error(gate: Any, upstream_py: Any) -> None:
    g = gate(upstream_py, PY_POLICY)
    for content in (b'{"jsonrpc": "2.0", "id": 1, "method": ', b"not json at all", b'{"a":1}}', b"\xff\xfe{}"):
        r = raw("POST", g.url, content=content, headers=legacy_headers(g.token, version=None))
        no_500(r)
        assert r.status in (200, 400), f"{content!r}: {r.describe()}"
        assert r.error_code == -32700, f"{content!r}: {r.describe()}"
    assert upstream_py.requests(g.upstream_key) == []


@pytest.mark.parametrize(
    "body",
    [
        {"id": 1, "method": "tools/list"},
        {"jsonrpc": "1.0", "id": 1, "method": "tools/list"},
        {"jsonrpc": "2.0", "id": 1, "method": 42},
        {"jsonrpc": "2.0", "id": {"not": "scalar"}, "method": "tools/list"},
        {"jsonrpc": "2.0", "id": 1},
        42,
        "tools/list",
        [],
    ],
    ids=["no-jsonrpc", "jsonrpc-1.0", "method-not-string", "id-object", "no-method", "number", "string", "empty-batch"],
)
def test_wrong_jsonrpc_shapes_get_invalid_request(body: Any, gate: Any, upstream_py: Any) -> None:
    g = gate(upstream_py, PY_POLICY)
    r = raw("POST", g.url, content=json.dumps(body).encode(), headers=legacy_headers(g.token, version=None))
    no_500(r)
    assert r.status in (200, 400), r.describe()
    assert r.error_code == -32600, r.describe()
    assert upstream_py.requests(g.upstream_key) == []


def test_body_over_4_mib_gets_413(gate: Any, upstream_py: Any) -> None:
    g = gate(upstream_py, PY_POLICY)
    body = modern_request("tools/call", {"name": "echo", "arguments": {"message": "x" * (4 * 1024 * 1024 + 1024)}})
    r = raw("POST", g.url, body=body, headers=modern_headers(body, g.token), timeout=60)
    assert r.status == 413, r.describe()[:500]
    assert upstream_py.requests(g.upstream_key) == []


def test_body_just_under_4_mib_is_served(gate: Any, upstream_py: Any) -> None:
    g = gate(upstream_py, PY_POLICY)
    body = modern_request("tools/call", {"name": "echo", "arguments": {"message": "y" * (3 * 1024 * 1024)}})
    r = raw("POST", g.url, body=body, headers=modern_headers(body, g.token), timeout=60)
    assert r.status == 200, r.describe()[:500]
    assert r.final and "result" in r.final, r.describe()[:500]


def test_unknown_method_gets_method_not_found(gate: Any, upstream_py: Any) -> None:
    g = gate(upstream_py, PY_POLICY)
    r = modern_call(g.url, g.token, "no/such-method")
    no_500(r)
    assert r.status in (200, 404), r.describe()
    assert r.error_code == -32601, r.describe()


def test_wrong_content_type_is_a_client_error(gate: Any, upstream_py: Any) -> None:
    g = gate(upstream_py, PY_POLICY)
    body = modern_request("tools/list")
    headers = modern_headers(body, g.token)
    headers["Content-Type"] = "text/plain"
    r = raw("POST", g.url, body=body, headers=headers)
    no_500(r)
    assert 400 <= r.status < 500, r.describe()


def test_batch_cannot_smuggle_a_refused_call(gate: Any, upstream_py: Any) -> None:
    """2025-03-26 allowed JSON-RPC batches; a hidden tool inside one never reaches the upstream."""
    g = gate(upstream_py, PY_POLICY)
    init, sid = legacy_initialize(g.url, g.token, version="2025-03-26")
    no_500(init)
    assert init.status == 200 and init.final and "result" in init.final, init.describe()
    version = init.final["result"]["protocolVersion"]
    batch = [
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "echo", "arguments": {"message": "b"}}},
        {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "get-env", "arguments": {}}},
        {"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": "add", "arguments": {"a": 1000, "b": 1}}},
    ]
    r = raw("POST", g.url, body=batch, headers=legacy_headers(g.token, sid, version))
    no_500(r)
    received = upstream_py.requests(g.upstream_key)
    smuggled = [
        rec for rec in received if rec.get("tool") in ("get-env", "add") or {"get-env", "add"} & set(rec.get("batch_tools", []))
    ]
    assert smuggled == [], f"a refused call inside a batch reached the upstream: {smuggled}"
    replies = [m for m in r.messages for m in (m if isinstance(m, list) else [m]) if isinstance(m, dict)]
    by_id = {m.get("id"): m for m in replies}
    if 3 in by_id:
        assert by_id[3].get("error", {}).get("code") == -32602, r.describe()
    if 4 in by_id:
        assert by_id[4].get("result", {}).get("isError") is True, r.describe()


# ---------------------------------------------------------------- sessions


def test_session_of_one_grant_is_useless_with_another(gate: Any, upstream_py: Any) -> None:
    g = gate(upstream_py, PY_POLICY)
    other = g.tenant.grant("second-agent", [g.server["id"]])
    init, sid = legacy_initialize(g.url, g.token)
    assert init.status == 200 and sid, init.describe()

    list_body = {"jsonrpc": "2.0", "id": 5, "method": "tools/list", "params": {}}
    r = raw("POST", g.url, body=list_body, headers=legacy_headers(other["token"], sid))
    no_500(r)
    assert r.status == 404, f"POST on grant A's session with grant B: {r.describe()}"
    assert r.final and "error" in r.final, f"404 without a JSON-RPC error body: {r.describe()}"

    for method in ("GET", "DELETE"):
        h = legacy_headers(other["token"], sid)
        h["Accept"] = "text/event-stream" if method == "GET" else ACCEPT
        r = raw(method, g.url, headers=h, timeout=10)
        no_500(r)
        assert r.status == 404, f"{method} on grant A's session with grant B: {r.describe()}"

    # Grant B's DELETE must not have ended grant A's session.
    r = raw("POST", g.url, body=list_body, headers=legacy_headers(g.token, sid))
    assert r.status == 200 and r.final and "result" in r.final, f"grant A's own session: {r.describe()}"


@pytest.mark.parametrize("sid", ["garbage", "x" * 600, "00000000-0000-0000-0000-000000000000"])
def test_unknown_session_id_is_rejected(sid: str, gate: Any, upstream_py: Any) -> None:
    g = gate(upstream_py, PY_POLICY)
    init, real_sid = legacy_initialize(g.url, g.token)
    assert init.status == 200 and real_sid, f"control initialize failed: {init.describe()}"
    r = raw(
        "POST",
        g.url,
        body={"jsonrpc": "2.0", "id": 5, "method": "tools/list", "params": {}},
        headers=legacy_headers(g.token, sid),
    )
    no_500(r)
    assert r.status in (400, 404), r.describe()


def test_no_policy_means_every_tool_is_hidden(gate: Any, upstream_py: Any) -> None:
    g = gate(upstream_py, None)
    r = modern_call(g.url, g.token, "tools/list")
    assert r.status == 200 and r.final and "result" in r.final, r.describe()
    assert r.final["result"]["tools"] == [], r.describe()
    r = modern_call(g.url, g.token, "tools/call", {"name": "echo", "arguments": {"message": "x"}})
    assert r.error_code == -32602, r.describe()
    assert r.final["error"]["message"] == "Unknown tool: echo", r.describe()
    assert [x for x in upstream_py.requests(g.upstream_key) if x.get("rpc_method") == "tools/call"] == []
