"""Rate limits, through both gateway processes: one shared counter, refusals that say
when to retry, and refused calls that consume nothing."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from harness import modern_call

LIMITED = {
    "version": "1",
    "default": "deny",
    "tools": {
        "add": {
            "arguments": {"type": "object", "properties": {"a": {"type": "integer", "maximum": 100}}},
            "limits": [{"counter": "add_calls", "window": "hour", "max": 2, "scope": "grant"}],
        },
        "echo": {},
    },
}


def find_key(value: Any, key: str) -> Any:
    if isinstance(value, dict):
        if key in value:
            return value[key]
        for v in value.values():
            found = find_key(v, key)
            if found is not None:
                return found
    return None


def away_from_the_hour() -> None:
    """The window is a calendar hour: keep the calls of one test inside one."""
    now = dt.datetime.now(dt.timezone.utc)
    if now.minute == 59 and now.second >= 55:
        time.sleep(61 - now.second)


def test_limit_is_shared_by_both_processes_and_says_when_to_retry(
    gate: Any, upstream_py: Any, toolgate: Any, toolgate_b: Any
) -> None:
    g = gate(upstream_py, LIMITED)
    a, b = toolgate.gateway_url(g.url), toolgate_b.gateway_url(g.url)
    away_from_the_hour()

    def add(url: str, x: int) -> Any:
        return modern_call(url, g.token, "tools/call", {"name": "add", "arguments": {"a": x, "b": 1}})

    # A call refused for its arguments consumes nothing.
    refused = add(a, 1000)
    assert refused.final and refused.final["result"]["isError"] is True, refused.describe()

    for url, name in ((a, "A"), (b, "B")):
        r = add(url, 1)
        assert r.status == 200 and r.final and "result" in r.final, f"{name}: {r.describe()}"
        assert not r.final["result"].get("isError"), f"{name}: call within the limit refused: {r.describe()}"

    for url, name in ((a, "A"), (b, "B")):
        r = add(url, 1)
        assert r.status == 200 and r.final and "result" in r.final, f"{name}: {r.describe()}"
        result = r.final["result"]
        assert result.get("isError") is True, f"{name}: the third call in the hour was allowed: {r.describe()}"
        text = result["content"][0]["text"]
        assert text.startswith("Denied by policy:"), text
        retry = find_key(result.get("_meta"), "retry_after_ms")
        assert isinstance(retry, int) and 0 < retry <= 3_600_000, f"{name}: no retry_after_ms in _meta: {result}"

    # Other tools are not limited by this counter.
    r = modern_call(a, g.token, "tools/call", {"name": "echo", "arguments": {"message": "free"}})
    assert r.final and not r.final["result"].get("isError"), r.describe()
    upstream_adds = [x for x in upstream_py.requests(g.upstream_key) if x.get("tool") == "add"]
    assert len(upstream_adds) == 2, f"the upstream ran {len(upstream_adds)} add calls, expected 2"
