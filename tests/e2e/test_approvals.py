"""Approvals with the official Python SDK client: a require_approval call is held on one
gateway process (`toolgate_b`) while a person decides through the REST API of another
(`toolgate`); the decision travels over Redis. Approved calls reach the upstream once,
byte for byte; denied and timed-out calls get `Denied by policy:` results; an approval
is spent on its own call only."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import anyio
import pytest

import httpx2
from harness import decide_approval, pending_approval, poll_until, py_client

pytestmark = pytest.mark.anyio

MODES = ["legacy", "2026-07-28"]

POLICY: dict[str, Any] = {
    "version": "1",
    "default": "deny",
    "tools": {
        "echo": {"action": "require_approval", "approval_timeout": 30},
        "add": {"action": "require_approval", "approval_timeout": 2},
    },
}


def text(result: Any) -> str:
    return result.content[0].text


def audited(g: Any, tool: str, decision: str, upstream: str, seconds: float = 10.0) -> dict[str, Any]:
    """Polls the audit trail for the one event of `tool` and checks how it ended."""
    found: list[dict[str, Any]] = []

    def look() -> bool:
        items = g.tenant._req("GET", f"/audit?tool={tool}", 200)["items"]
        found[:] = items
        return bool(items)

    assert poll_until(look, seconds) is not None, f"no audit event for {tool}"
    assert len(found) == 1, found
    event = found[0]
    assert event["decision"] == decision and event["upstream"] == upstream, event
    return event


@pytest.mark.parametrize("mode", MODES)
async def test_a_held_call_completes_after_an_approve_on_another_replica(
    mode: str, gate: Any, upstream_py: Any, toolgate: Any, toolgate_b: Any
) -> None:
    g = gate(upstream_py, POLICY)
    progress: list[tuple[float, float | None, str | None]] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append((value, total, message))

    async with py_client(toolgate_b.gateway_url(g.url), g.token, mode) as client:
        held = asyncio.create_task(client.call_tool("echo", {"message": "pay 42"}, progress_callback=on_progress))
        approval = await anyio.to_thread.run_sync(pending_approval, g.tenant, "echo")
        assert approval["arguments"] == {"message": "pay 42"}
        assert approval["id"].startswith("apv_") and approval["server_name"] == g.server["name"]
        await asyncio.sleep(0.3)
        assert not held.done(), "the call is held until someone decides"
        assert upstream_py.tool_calls(g.upstream_key, "echo") == [], "nothing reached the upstream yet"

        decided = await anyio.to_thread.run_sync(decide_approval, g.tenant, approval["id"], "approve")
        approved_at = time.monotonic()
        assert decided["status"] == "approved"
        result = await asyncio.wait_for(held, 10)
        latency = time.monotonic() - approved_at

    assert not result.is_error, result
    assert text(result) == "Echo: pay 42"
    assert latency < 1.5, f"the decision took {latency:.2f}s to reach the replica holding the call"
    assert progress and progress[0][1] == 30 and approval["id"] in (progress[0][2] or ""), progress
    assert len(upstream_py.tool_calls(g.upstream_key, "echo")) == 1
    after = g.tenant._req("GET", f"/approvals/{approval['id']}", 200)
    assert after["status"] == "used" and after["used_at"]
    audited(g, "echo", "approval_approved", "ok")
    # Spent: it cannot be decided again.
    decide_approval(g.tenant, approval["id"], "approve", expect=409)


@pytest.mark.parametrize("mode", MODES)
async def test_a_denied_call_gets_the_denial_with_who_and_why(
    mode: str, gate: Any, upstream_py: Any, toolgate: Any, toolgate_b: Any
) -> None:
    g = gate(upstream_py, POLICY)
    async with py_client(toolgate_b.gateway_url(g.url), g.token, mode) as client:
        held = asyncio.create_task(client.call_tool("echo", {"message": "wire everything"}))
        approval = await anyio.to_thread.run_sync(pending_approval, g.tenant, "echo")
        await anyio.to_thread.run_sync(lambda: decide_approval(g.tenant, approval["id"], "deny", reason="not without a ticket"))
        result = await asyncio.wait_for(held, 10)

    assert result.is_error
    message = text(result)
    email = g.tenant.account.get("email") or ""
    assert message.startswith("Denied by policy: "), message
    assert "denied this call: not without a ticket" in message, message
    assert "@example.com" in message or email in message, message
    assert upstream_py.tool_calls(g.upstream_key, "echo") == []
    assert g.tenant._req("GET", f"/approvals/{approval['id']}", 200)["status"] == "denied"
    event = audited(g, "echo", "approval_denied", "not_called")
    assert "not without a ticket" in event["reason"], event
    # The replica that held the call counted how the wait ended.
    labels = f'account="{g.tenant.account["id"]}",server="{g.server["id"]}",outcome="denied"'
    metrics = httpx2.get(f"{toolgate_b.base}/metrics", timeout=5).text
    assert f"toolgate_gateway_approval_waits_total{{{labels}}} 1" in metrics, metrics
    assert f"toolgate_gateway_approval_wait_seconds_count{{{labels}}} 1" in metrics, metrics
    # Its buckets reach an hour: people decide in seconds to hours.
    assert f'toolgate_gateway_approval_wait_seconds_bucket{{{labels},le="3600"}} 1' in metrics, metrics


@pytest.mark.parametrize("mode", MODES)
async def test_an_undecided_call_times_out(mode: str, gate: Any, upstream_py: Any, toolgate: Any, toolgate_b: Any) -> None:
    g = gate(upstream_py, POLICY)
    async with py_client(toolgate_b.gateway_url(g.url), g.token, mode) as client:
        started = time.monotonic()
        result = await asyncio.wait_for(client.call_tool("add", {"a": 1, "b": 2}), 15)
        waited = time.monotonic() - started

    assert result.is_error
    assert text(result).startswith("Denied by policy: nobody approved this call within 2 s"), text(result)
    assert 1.5 < waited < 8, waited
    assert upstream_py.tool_calls(g.upstream_key, "add") == []
    items = g.tenant._req("GET", "/approvals?status=expired", 200)["items"]
    assert [a["tool"] for a in items] == ["add"]
    audited(g, "add", "approval_timed_out", "not_called")
    decide_approval(g.tenant, items[0]["id"], "approve", expect=409)


async def test_an_approval_is_not_reused_for_a_second_call_or_other_arguments(
    gate: Any, upstream_py: Any, toolgate: Any, toolgate_b: Any
) -> None:
    g = gate(upstream_py, POLICY)
    url = toolgate_b.gateway_url(g.url)
    async with py_client(url, g.token, "2026-07-28") as client:
        first = asyncio.create_task(client.call_tool("echo", {"message": "once"}))
        approval = await anyio.to_thread.run_sync(pending_approval, g.tenant, "echo", {"message": "once"})
        await anyio.to_thread.run_sync(decide_approval, g.tenant, approval["id"], "approve")
        assert text(await asyncio.wait_for(first, 10)) == "Echo: once"

        # The same call right after is a duplicate: told the approval was used, not forwarded.
        again = await client.call_tool("echo", {"message": "once"})
        assert again.is_error and "already used by another call" in text(again), text(again)
        # And a call with other arguments gets its own approval, never the first one's.
        other = asyncio.create_task(client.call_tool("echo", {"message": "twice"}))
        third = await anyio.to_thread.run_sync(pending_approval, g.tenant, "echo", {"message": "twice"})
        assert third["id"] != approval["id"]
        assert third["arguments_digest"] != approval["arguments_digest"]
        await asyncio.sleep(0.5)
        assert not other.done(), "the call did not ride on the spent approval"
        await anyio.to_thread.run_sync(decide_approval, g.tenant, approval["id"], "approve", 409)
        await anyio.to_thread.run_sync(lambda: decide_approval(g.tenant, third["id"], "deny", reason="no"))
        assert (await asyncio.wait_for(other, 10)).is_error

    sent = [c["arguments"] for c in upstream_py.tool_calls(g.upstream_key, "echo")]
    assert sent == [{"message": "once"}]


async def test_an_agent_that_goes_away_abandons_its_approval(
    gate: Any, upstream_py: Any, toolgate: Any, toolgate_b: Any
) -> None:
    g = gate(upstream_py, POLICY)
    async with py_client(toolgate_b.gateway_url(g.url), g.token, "2026-07-28") as client:
        held = asyncio.create_task(client.call_tool("echo", {"message": "bye"}))
        approval = await anyio.to_thread.run_sync(pending_approval, g.tenant, "echo")
        held.cancel()
        try:
            await held
        except BaseException:  # noqa: BLE001 - cancellation is the point
            pass

    def abandoned() -> bool:
        return g.tenant._req("GET", f"/approvals/{approval['id']}", 200)["status"] == "abandoned"

    assert poll_until(abandoned, 5) is not None
    audited(g, "echo", "approval_abandoned", "not_called")
    decide_approval(g.tenant, approval["id"], "approve", expect=409)
    assert upstream_py.tool_calls(g.upstream_key, "echo") == []
