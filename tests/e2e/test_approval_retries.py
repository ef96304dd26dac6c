"""Approvals that real agents survive: a call nobody decides within its rule's
`approval_hold` is handed back (an `isError` result saying to call again with the same
arguments) before the client gives up, and the agent's retries find that approval on any
replica: held again while pending, forwarded exactly once after an approve, told otherwise.
Two gateway processes (`toolgate`, `toolgate_b`) share Postgres and Redis; people decide
through the REST API."""

from __future__ import annotations

import asyncio
import subprocess
import threading
import time
from typing import Any

import anyio
import pytest

from harness import decide_approval, pending_approval, poll_until, py_client, run_ts_client

pytestmark = pytest.mark.anyio

# Held 3 s (2 s for add), then handed back; approvals open for a minute.
POLICY: dict[str, Any] = {
    "version": "1",
    "default": "deny",
    "tools": {
        "echo": {"action": "require_approval", "approval_timeout": 60, "approval_hold": 3},
        "add": {
            "action": "require_approval",
            "approval_timeout": 60,
            "approval_hold": 2,
            "limits": [{"counter": "adds", "window": "hour", "max": 1, "scope": "grant"}],
        },
    },
}


def text(result: Any) -> str:
    return result.content[0].text


def approvals_of(g: Any, tool: str) -> list[dict[str, Any]]:
    return [a for a in g.tenant._req("GET", "/approvals", 200)["items"] if a["tool"] == tool]


def handed_back(message: str, approval_id: str) -> None:
    assert message.startswith("Awaiting approval: "), message
    assert approval_id in message and "same arguments" in message, message
    assert f"/approvals/{approval_id}" in message, message


def wait_handed_back(g: Any, tool: str, seconds: float = 15.0) -> None:
    """Polls the audit trail for the hand-back of `tool`'s call."""

    def look() -> bool:
        return bool(g.tenant._req("GET", f"/audit?tool={tool}&decision=approval_pending", 200)["items"])

    assert poll_until(look, seconds) is not None, f"no approval_pending audit event for {tool}"


def redis_units(account_id: str) -> int:
    """The units every fixed-window counter of the account holds (hash field `c` of each
    `NS:{account}:…` key), read from Redis."""
    keys = subprocess.run(
        ["redis-cli", "--scan", "--pattern", f"*{{{account_id}}}*"], capture_output=True, text=True, check=True
    ).stdout.split()
    total = 0
    for key in keys:
        value = subprocess.run(["redis-cli", "HGET", key, "c"], capture_output=True, text=True).stdout.strip()
        if value.lstrip("-").isdigit():
            total += int(value)
    return total


def test_typescript_client_at_its_default_time_out_is_handed_back_and_its_retry_is_answered(
    gate: Any, upstream_py: Any, toolgate: Any, toolgate_b: Any
) -> None:
    g = gate(upstream_py, POLICY)
    url = toolgate_b.gateway_url(g.url)
    approved: list[dict[str, Any]] = []

    def reviewer() -> None:
        # Once the call was handed back, approve it through the other replica's API.
        approval = pending_approval(g.tenant, "echo", {"message": "from ts"}, seconds=20)
        wait_handed_back(g, "echo")
        approved.append(decide_approval(g.tenant, approval["id"], "approve"))

    person = threading.Thread(target=reviewer)
    person.start()
    out = run_ts_client(
        {
            "url": url,
            "token": g.token,
            "steps": [
                {"op": "call", "name": "echo", "arguments": {"message": "from ts"}, "default_timeout": True},
                {"op": "sleep", "ms": 4000},
                {"op": "call", "name": "echo", "arguments": {"message": "from ts"}, "default_timeout": True},
            ],
        }
    )
    person.join(30)
    assert out["connected"], out
    first, _, retry = out["steps"]
    assert "ok" in first, first
    assert first["ok"]["isError"] is True, first
    assert 2500 <= first["ms"] < 60000, first
    approval_id = approved[0]["id"]
    handed_back(first["ok"]["content"][0]["text"], approval_id)
    assert first["ok"]["_meta"]["dev.toolgate/approval"]["id"] == approval_id, first
    assert "ok" in retry and not retry["ok"].get("isError"), retry
    assert retry["ok"]["content"][0]["text"] == "Echo: from ts", retry
    assert len(upstream_py.tool_calls(g.upstream_key, "echo")) == 1
    assert [a["status"] for a in approvals_of(g, "echo")] == ["used"]


async def test_python_client_retries_find_their_approval_and_race_to_spend_it_once(
    gate: Any, upstream_py: Any, toolgate: Any, toolgate_b: Any
) -> None:
    # Legacy: the hand-back reaches the model. (A 2026-07-28 client is kept waiting
    # across "input required" rounds instead: see the test below.)
    mode = "legacy"
    g = gate(upstream_py, POLICY)
    args = {"message": "pay 42"}
    async with py_client(toolgate_b.gateway_url(g.url), g.token, mode) as b, py_client(
        toolgate.gateway_url(g.url), g.token, mode
    ) as a:
        started = time.monotonic()
        first = await b.call_tool("echo", args)
        assert 2.5 <= time.monotonic() - started < 20
        assert first.is_error
        [approval] = approvals_of(g, "echo")
        handed_back(text(first), approval["id"])

        # A retry while pending (on the other replica) attaches: no second approval.
        again = await a.call_tool("echo", args)
        assert again.is_error
        handed_back(text(again), approval["id"])
        assert [x["id"] for x in approvals_of(g, "echo")] == [approval["id"]]

        # Other arguments are another call, with an approval of its own.
        other = await a.call_tool("echo", {"message": "pay 43"})
        assert other.is_error and text(other).startswith("Awaiting approval: "), text(other)
        assert len(approvals_of(g, "echo")) == 2

        await anyio.to_thread.run_sync(decide_approval, g.tenant, approval["id"], "approve")
        # Three retries at once on two replicas: exactly one is forwarded.
        results = await asyncio.gather(
            a.call_tool("echo", args), b.call_tool("echo", args), a.call_tool("echo", args)
        )

    answers = [text(r) for r in results]
    assert answers.count("Echo: pay 42") == 1, answers
    losers = [r for r in results if text(r) != "Echo: pay 42"]
    assert all(r.is_error for r in losers), answers
    assert all("already used by another call" in text(r) for r in losers), answers
    sent = [c["arguments"] for c in upstream_py.tool_calls(g.upstream_key, "echo")]
    assert sent == [args], sent


async def test_limits_are_taken_before_a_person_is_asked_and_given_back_on_deny(
    gate: Any, upstream_py: Any, toolgate: Any, toolgate_b: Any
) -> None:
    g = gate(upstream_py, POLICY)
    account = g.tenant.account["id"]
    before = redis_units(account)
    async with py_client(toolgate_b.gateway_url(g.url), g.token, "legacy") as client:
        first = await client.call_tool("add", {"a": 1, "b": 2})
        assert first.is_error and text(first).startswith("Awaiting approval: "), text(first)
        [approval] = approvals_of(g, "add")
        assert redis_units(account) == before + 1, "the held call took its unit"

        # The hour's one unit is held: other arguments are refused at once, nobody asked.
        limited = await client.call_tool("add", {"a": 5, "b": 5})
        assert limited.is_error and "limit" in text(limited), text(limited)
        assert text(limited).startswith("Denied by policy: "), text(limited)
        assert len(approvals_of(g, "add")) == 1

        await anyio.to_thread.run_sync(lambda: decide_approval(g.tenant, approval["id"], "deny", reason="no"))
        # The replica keeping the unit gives it back once the denial reaches it.
        assert poll_until(lambda: redis_units(account) == before, 10) is not None, redis_units(account)
        told = await client.call_tool("add", {"a": 1, "b": 2})
        assert told.is_error and "denied this call: no" in text(told), text(told)
    assert upstream_py.tool_calls(g.upstream_key, "add") == []


async def test_a_modern_client_waits_across_input_required_rounds_and_its_state_cannot_be_forged_or_replayed(
    gate: Any, upstream_py: Any, toolgate: Any, toolgate_b: Any
) -> None:
    from mcp.shared.exceptions import MCPError

    g = gate(upstream_py, POLICY)
    args = {"message": "modern"}
    async with py_client(toolgate_b.gateway_url(g.url), g.token, "2026-07-28") as b, py_client(
        toolgate.gateway_url(g.url), g.token, "2026-07-28"
    ) as a:
        # One round, driven by hand: "input required", no input requests, the gateway's state.
        started = time.monotonic()
        round1 = await b.session.call_tool("echo", args, allow_input_required=True)
        assert 2.5 <= time.monotonic() - started < 20
        assert round1.result_type == "input_required" and not round1.input_requests, round1
        state = round1.request_state
        assert state and state.startswith("tg1."), state
        [approval] = approvals_of(g, "echo")

        # Tampered (a changed round count keeps the tag), moved to other arguments, or
        # sent under another grant: refused, and nothing reaches the upstream.
        payload, tag = state[4:].rsplit(".", 1)
        tampered = f"tg1.{payload[:-2]}{'A' if payload[-2] != 'A' else 'B'}{payload[-1]}.{tag}"
        for forged, arguments in ((tampered, args), (state, {"message": "other"})):
            with pytest.raises(MCPError) as refused:
                await a.call_tool("echo", arguments, request_state=forged)
            assert "requestState" in str(refused.value), refused.value
        other = gate(upstream_py, POLICY, name="another-upstream")
        async with py_client(toolgate.gateway_url(other.url), other.token, "2026-07-28") as stranger:
            with pytest.raises(MCPError) as refused:
                await stranger.call_tool("echo", args, request_state=state)
            assert "requestState" in str(refused.value), refused.value

        # The SDK resumes with the state by itself, round after round, on either replica,
        # until a person approves through the REST API: then the upstream's answer.
        resumed = asyncio.create_task(a.call_tool("echo", args, request_state=state))
        await asyncio.sleep(4)  # at least one more round
        assert not resumed.done()
        await anyio.to_thread.run_sync(decide_approval, g.tenant, approval["id"], "approve")
        result = await asyncio.wait_for(resumed, 15)
        assert not result.is_error and text(result) == "Echo: modern", result

        # Replayed after the approval was spent: told so, not forwarded again.
        replayed = await b.call_tool("echo", args, request_state=state)
        assert replayed.is_error and "already used by another call" in text(replayed), text(replayed)

    assert [x["id"] for x in approvals_of(g, "echo")] == [approval["id"]], "rounds never ask twice"
    calls = upstream_py.tool_calls(g.upstream_key, "echo")
    assert [c["arguments"] for c in calls] == [args]
    assert all(c.get("request_state") is None for c in calls), "the gateway's state stays home"
