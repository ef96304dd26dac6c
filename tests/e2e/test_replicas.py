"""Two gateway processes sharing Postgres and Redis: a change made through the REST API
of one reaches both within a second (asserted with a little slack: 1.5 s)."""

from __future__ import annotations

import copy
import time
from typing import Any

from harness import legacy_headers, legacy_initialize, modern_call, poll_until, raw, tool_names
from policies import PY_POLICY

DEADLINE = 1.5


def test_policy_put_takes_effect_on_both_processes(gate: Any, upstream_py: Any, toolgate: Any, toolgate_b: Any) -> None:
    g = gate(upstream_py, PY_POLICY)
    urls = {"A": toolgate.gateway_url(g.url), "B": toolgate_b.gateway_url(g.url)}
    # Warm both processes' snapshots: each has the current policy cached.
    for name, url in urls.items():
        r = modern_call(url, g.token, "tools/list")
        assert tool_names(r) is not None and "echo" in tool_names(r), f"{name}: {r.describe()}"

    stricter = copy.deepcopy(PY_POLICY)
    stricter["hide"].append("echo")
    start = time.monotonic()
    g.tenant.put_policy(g.server["id"], stricter)

    for name, url in urls.items():
        last: list[Any] = []

        def echo_gone(url: str = url, last: list[Any] = last) -> bool:
            r = modern_call(url, g.token, "tools/list")
            last[:] = [r]
            names = tool_names(r)
            return names is not None and "echo" not in names

        elapsed = poll_until(echo_gone, DEADLINE, start)
        assert elapsed is not None, (
            f"process {name}: the new policy (echo hidden) was not in effect {DEADLINE}s after the PUT; "
            f"last tools/list: {last[0].describe() if last else None}"
        )


def test_grant_revocation_takes_effect_on_both_processes(
    gate: Any, upstream_py: Any, toolgate: Any, toolgate_b: Any
) -> None:
    g = gate(upstream_py, PY_POLICY)
    urls = {"A": toolgate.gateway_url(g.url), "B": toolgate_b.gateway_url(g.url)}
    for name, url in urls.items():
        r = modern_call(url, g.token, "tools/list")
        assert r.status == 200, f"{name}: {r.describe()}"

    start = time.monotonic()
    g.tenant.revoke(g.grant["id"])

    for name, url in urls.items():
        last: list[Any] = []

        def refused(url: str = url, last: list[Any] = last) -> bool:
            r = modern_call(url, g.token, "tools/call", {"name": "echo", "arguments": {"message": "revoked?"}})
            last[:] = [r]
            return r.status == 401

        elapsed = poll_until(refused, DEADLINE, start)
        assert elapsed is not None, (
            f"process {name}: the revoked grant still worked {DEADLINE}s after DELETE; "
            f"last answer: {last[0].describe() if last else None}"
        )
        assert "www-authenticate" in last[0].headers, last[0].describe()


def test_legacy_session_is_served_by_either_process(gate: Any, upstream_py: Any, toolgate: Any, toolgate_b: Any) -> None:
    g = gate(upstream_py, PY_POLICY)
    init, sid = legacy_initialize(toolgate.gateway_url(g.url), g.token)
    assert init.status == 200 and sid, init.describe()
    call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "echo", "arguments": {"message": "b"}}}
    r = raw("POST", toolgate_b.gateway_url(g.url), body=call, headers=legacy_headers(g.token, sid))
    assert r.status == 200 and r.final and "result" in r.final, f"process B on A's session: {r.describe()}"
    assert r.final["result"]["content"][0]["text"] == "Echo: b"


def test_policy_change_applies_inside_an_open_legacy_session(
    gate: Any, upstream_py: Any, toolgate: Any, toolgate_b: Any
) -> None:
    g = gate(upstream_py, PY_POLICY)
    init, sid = legacy_initialize(toolgate.gateway_url(g.url), g.token)
    assert init.status == 200 and sid, init.describe()
    call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "echo", "arguments": {"message": "s"}}}
    for name, tg in (("A", toolgate), ("B", toolgate_b)):
        r = raw("POST", tg.gateway_url(g.url), body=call, headers=legacy_headers(g.token, sid))
        assert r.final and "result" in r.final, f"{name}: {r.describe()}"

    stricter = copy.deepcopy(PY_POLICY)
    stricter["hide"].append("echo")
    start = time.monotonic()
    g.tenant.put_policy(g.server["id"], stricter)
    for name, tg in (("A", toolgate), ("B", toolgate_b)):
        last: list[Any] = []

        def unknown(url: str = tg.gateway_url(g.url), last: list[Any] = last) -> bool:
            r = raw("POST", url, body=call, headers=legacy_headers(g.token, sid))
            last[:] = [r]
            return r.error_code == -32602

        assert poll_until(unknown, DEADLINE, start) is not None, (
            f"process {name}: echo still callable in an open session {DEADLINE}s after the PUT: "
            f"{last[0].describe() if last else None}"
        )


def test_server_changes_take_effect_on_both_processes(
    gate: Any, upstream_py: Any, toolgate: Any, toolgate_b: Any
) -> None:
    g = gate(upstream_py, PY_POLICY)
    urls = {"A": toolgate.gateway_url(g.url), "B": toolgate_b.gateway_url(g.url)}
    params = {"name": "echo", "arguments": {"message": "which key?"}}
    for name, url in urls.items():
        r = modern_call(url, g.token, "tools/call", params)
        assert r.status == 200, f"{name}: {r.describe()}"

    # New upstream headers: the next calls carry the new key.
    new_key = g.upstream_key + "-rotated"
    start = time.monotonic()
    g.tenant.patch_server(g.server["id"], {"headers": {"X-Upstream-Key": new_key}})
    for name, url in urls.items():

        def rotated(url: str = url) -> bool:
            before = len(upstream_py.requests(new_key))
            modern_call(url, g.token, "tools/call", params)
            return len(upstream_py.requests(new_key)) > before

        assert poll_until(rotated, DEADLINE, start) is not None, (
            f"process {name}: the upstream did not get the new X-Upstream-Key {DEADLINE}s after the PATCH"
        )

    # A deleted server is gone.
    start = time.monotonic()
    g.tenant.delete_server(g.server["id"])
    for name, url in urls.items():
        last: list[Any] = []

        def gone(url: str = url, last: list[Any] = last) -> bool:
            r = modern_call(url, g.token, "tools/list")
            last[:] = [r]
            return r.status == 404

        assert poll_until(gone, DEADLINE, start) is not None, (
            f"process {name}: the deleted server still answered {DEADLINE}s later: {last[0].describe() if last else None}"
        )
