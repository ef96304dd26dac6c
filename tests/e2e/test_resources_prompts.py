"""Resources and prompts under the policy, with the official Python SDK client and the
real `@modelcontextprotocol/server-everything`: a default-deny policy without
`resources`/`prompts` sections hides and refuses them; rules allow, deny, limit and
hold them for approval (approved through the REST API)."""

from __future__ import annotations

import asyncio
from typing import Any

import anyio
import pytest
from mcp import MCPError

from harness import decide_approval, pending_approval, poll_until, py_client
from policies import ALLOW_ALL, EVERYTHING_POLICY

pytestmark = pytest.mark.anyio

DOCS = "demo://resource/static/document/"


async def offered(g: Any, url: str) -> tuple[list[str], list[str], list[str]]:
    """What the upstream offers (under an allow-all policy): resource URIs, template
    URIs and prompt names."""
    async with py_client(url, g.token, "legacy") as client:
        resources = [str(r.uri) for r in (await client.list_resources()).resources]
        templates = [t.uri_template for t in (await client.list_resource_templates()).resource_templates]
        prompts = [p.name for p in (await client.list_prompts()).prompts]
    return resources, templates, prompts


async def test_the_upstream_offers_resources_and_prompts(gate: Any, everything: Any, toolgate: Any) -> None:
    g = gate(everything, ALLOW_ALL)
    resources, templates, prompts = await offered(g, g.url)
    assert any(uri.startswith(DOCS) for uri in resources), resources
    assert templates, "server-everything has resource templates"
    assert {"simple-prompt", "args-prompt"} <= set(prompts), prompts


async def test_default_deny_without_sections_hides_and_refuses_them(
    gate: Any, everything: Any, toolgate: Any
) -> None:
    open_gate = gate(everything, ALLOW_ALL, name="everything-open")
    resources, _, _ = await offered(open_gate, open_gate.url)
    g = gate(everything, EVERYTHING_POLICY)
    async with py_client(g.url, g.token, "legacy") as client:
        assert (await client.list_resources()).resources == []
        assert (await client.list_resource_templates()).resource_templates == []
        assert (await client.list_prompts()).prompts == []
        # Tools keep working as before.
        assert "echo" in {t.name for t in (await client.list_tools()).tools}
        with pytest.raises(MCPError) as caught:
            await client.read_resource(resources[0])
        assert caught.value.error.code == -32002, caught.value.error
        assert caught.value.error.message == f"Resource not found: {resources[0]}"
        with pytest.raises(MCPError) as caught:
            await client.get_prompt("simple-prompt")
        assert caught.value.error.code == -32602
        assert caught.value.error.message == "Unknown prompt: simple-prompt"
        with pytest.raises(MCPError) as caught:
            await client.subscribe_resource(resources[0])
        assert caught.value.error.code == -32002


def rules_policy(first: str, second: str) -> dict[str, Any]:
    return {
        **EVERYTHING_POLICY,
        "resources": {
            f"{DOCS}*": {},
            first: {"action": "deny", "reason": "Not for agents"},
            second: {"limits": [{"counter": "doc-reads", "window": "hour", "max": 2, "scope": "grant"}]},
        },
        "prompts": {
            "simple-prompt": {},
            "args-prompt": {
                "arguments": {
                    "type": "object",
                    "properties": {"city": {"enum": ["Paris", "Rome"]}},
                    "required": ["city"],
                }
            },
        },
    }


async def test_rules_allow_deny_and_limit_resources_and_prompts(gate: Any, everything: Any, toolgate: Any) -> None:
    open_gate = gate(everything, ALLOW_ALL, name="everything-open")
    resources, _, _ = await offered(open_gate, open_gate.url)
    docs = sorted(uri for uri in resources if uri.startswith(DOCS))
    assert len(docs) >= 3, docs
    denied, limited, plain = docs[0], docs[1], docs[2]
    g = gate(everything, rules_policy(denied, limited))
    async with py_client(g.url, g.token, "legacy") as client:
        listed = {str(r.uri) for r in (await client.list_resources()).resources}
        assert listed == set(docs) - {denied}, listed
        assert [p.name for p in (await client.list_prompts()).prompts] in (
            ["simple-prompt", "args-prompt"],
            ["args-prompt", "simple-prompt"],
        )

        read = await client.read_resource(plain)
        assert str(read.contents[0].uri) == plain and read.contents[0].text

        with pytest.raises(MCPError) as caught:
            await client.read_resource(denied)
        assert caught.value.error.code == -32002

        for _ in range(2):
            await client.read_resource(limited)
        with pytest.raises(MCPError) as caught:
            await client.read_resource(limited)
        error = caught.value.error
        assert error.code == -31010, error
        assert error.message.startswith('Denied by policy: limit "doc-reads" reached (2 per hour); retry in'), error
        detail = error.data["dev.toolgate/refusal"]
        assert detail["retry_after_ms"] > 0 and detail["rule"].endswith("/limits/0"), detail

        prompt = await client.get_prompt("args-prompt", {"city": "Paris"})
        assert "Paris" in str(prompt.messages[0].content), prompt
        with pytest.raises(MCPError) as caught:
            await client.get_prompt("args-prompt", {"city": "Oslo"})
        error = caught.value.error
        assert error.code == -31010
        assert error.message.startswith("Denied by policy: arguments rejected at /city"), error
        assert error.data["dev.toolgate/refusal"]["rule"] == "/prompts/args-prompt/arguments/properties/city/enum"
        with pytest.raises(MCPError) as caught:
            await client.get_prompt("resource-prompt", {"resourceType": "Text", "resourceId": "1"})
        assert caught.value.error.code == -32602

    # Reads and gets are audited with their kind.
    def audited() -> bool:
        items = g.tenant._req("GET", "/audit", 200)["items"]
        kinds = {(e["kind"], e["decision"]) for e in items}
        return {("resource", "allowed"), ("resource", "unknown_tool"), ("resource", "limited"),
                ("prompt", "allowed"), ("prompt", "refused")} <= kinds

    assert poll_until(audited, 10) is not None, g.tenant._req("GET", "/audit", 200)["items"]


async def test_a_held_read_completes_once_approved(gate: Any, everything: Any, toolgate: Any) -> None:
    open_gate = gate(everything, ALLOW_ALL, name="everything-open")
    resources, _, _ = await offered(open_gate, open_gate.url)
    held_uri = sorted(uri for uri in resources if uri.startswith(DOCS))[0]
    policy = {
        **EVERYTHING_POLICY,
        "resources": {held_uri: {"action": "require_approval", "approval_timeout": 30}},
        "prompts": {"simple-prompt": {"action": "require_approval", "approval_timeout": 2}},
    }
    g = gate(everything, policy)

    async with py_client(g.url, g.token, "legacy") as client:
        held = asyncio.create_task(client.read_resource(held_uri))
        approval = await anyio.to_thread.run_sync(pending_approval, g.tenant, held_uri)
        assert approval["kind"] == "resource" and approval["arguments"] == {}
        await asyncio.sleep(0.3)
        assert not held.done(), "the read is held until someone decides"
        await anyio.to_thread.run_sync(decide_approval, g.tenant, approval["id"], "approve")
        result = await asyncio.wait_for(held, 10)
        assert str(result.contents[0].uri) == held_uri

        # Nobody answers the prompt's approval: it times out, refused in-band.
        with pytest.raises(MCPError) as caught:
            await client.get_prompt("simple-prompt")
        error = caught.value.error
        assert error.code == -31010, error
        assert error.message.startswith("Denied by policy: nobody approved this call within 2 s"), error
