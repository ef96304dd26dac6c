"""The wire itself, with raw HTTP: results relayed as sent, SSE streamed event by event,
per-principal list results marked private."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx2

from harness import MODERN, modern_call, modern_headers, modern_request, parse_body
from policies import PY_POLICY


def test_allowed_result_is_the_upstreams_exactly(gate: Any, upstream_py: Any) -> None:
    g = gate(upstream_py, PY_POLICY)
    params = {"name": "add", "arguments": {"a": 2, "b": 40}}
    direct = modern_call(upstream_py.url, None, "tools/call", params)
    via = modern_call(g.url, g.token, "tools/call", params)
    assert direct.status == 200, direct.describe()
    assert via.status == 200, via.describe()
    assert via.final == direct.final, f"gateway: {via.final}\nupstream: {direct.final}"


def test_sse_is_streamed_event_by_event(gate: Any, upstream_py: Any) -> None:
    """Progress events must reach the client while the call is still running,
    not all at once with the result."""
    g = gate(upstream_py, PY_POLICY)
    body = modern_request(
        "tools/call",
        {"name": "slow-count", "arguments": {"steps": 4, "delay": 0.4}, "_meta": {"progressToken": "tok-1"}},
    )
    arrivals: list[tuple[float, Any]] = []
    start = time.monotonic()
    with httpx2.stream(
        "POST", g.url, content=json.dumps(body).encode(), headers=modern_headers(body, g.token), timeout=30
    ) as r:
        assert r.status_code == 200, r.read()
        content_type = r.headers.get("content-type", "")
        assert "text/event-stream" in content_type, f"expected an SSE response, got {content_type}"
        assert r.headers.get("x-accel-buffering") == "no", dict(r.headers)
        buffer = ""
        for chunk in r.iter_text():
            buffer += chunk.replace("\r\n", "\n")
            while "\n\n" in buffer:
                event, buffer = buffer.split("\n\n", 1)
                for message in parse_body("text/event-stream", event + "\n\n"):
                    arrivals.append((time.monotonic() - start, message))
    progress = [t for t, m in arrivals if isinstance(m, dict) and m.get("method") == "notifications/progress"]
    final = [t for t, m in arrivals if isinstance(m, dict) and "result" in m]
    assert len(progress) == 4 and len(final) == 1, arrivals
    # The first progress event is sent ~1.6 s before the result.
    assert final[0] - progress[0] > 1.0, f"SSE events were held back: progress at {progress}, result at {final}"


def test_filtered_tool_list_is_private_to_the_principal(gate: Any, upstream_py: Any) -> None:
    g = gate(upstream_py, PY_POLICY)
    r = modern_call(g.url, g.token, "tools/list")
    assert r.status == 200 and r.final and "result" in r.final, r.describe()
    result = r.final["result"]
    assert result.get("cacheScope") == "private", f"a per-principal {MODERN} tools/list must say cacheScope private: {result}"
