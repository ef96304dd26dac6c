"""Plumbing for the end-to-end tests: processes, ports, the REST API, raw MCP requests.

Everything here talks to 127.0.0.1 only.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx2

E2E_DIR = Path(__file__).resolve().parent
MODERN = "2026-07-28"
LEGACY = "2025-11-25"
ACCEPT = "application/json, text/event-stream"

# Every process started by a test session, so failures can show their logs.
RUNNING: list[Proc] = []


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Proc:
    """A child process with its output in a log file; always killed by stop()."""

    def __init__(self, name: str, argv: list[str], env: Mapping[str, str], log_dir: Path, cwd: Path | None = None):
        self.name = name
        self.argv = argv
        self.log_path = log_dir / f"{name}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen(
            argv,
            env={**os.environ, **env},
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        RUNNING.append(self)

    def wait_http(self, url: str, timeout: float = 30.0, ok: tuple[int, ...] = (200,)) -> None:
        """Wait until GET url answers one of `ok`, the process dies, or the deadline passes."""
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.popen.returncode}:\n{self.tail()}")
            try:
                r = httpx2.get(url, timeout=2.0)
                if r.status_code in ok:
                    return
                last = f"HTTP {r.status_code}"
            except httpx2.HTTPError as e:
                last = repr(e)
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready at {url} after {timeout}s ({last}):\n{self.tail()}")

    def tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout=5)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.popen.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.popen.wait(timeout=5)
        self._log.close()
        if self in RUNNING:
            RUNNING.remove(self)


# ---------------------------------------------------------------- upstreams


@dataclass
class Upstream:
    name: str
    base: str  # http://127.0.0.1:PORT
    proc: Proc

    @property
    def url(self) -> str:
        return f"{self.base}/mcp"

    def requests(self, upstream_key: str | None = None) -> list[dict[str, Any]]:
        """What the gateway forwarded to the Python upstream on /mcp, optionally
        only the requests carrying `X-Upstream-Key: upstream_key` (each test's
        server has its own). The control plane's tool discovery, which lists
        the upstream's tools when a server is registered, is left out."""
        return [r for r in self._records(upstream_key) if not _from_discovery(r)]

    def discovery_requests(self, upstream_key: str) -> list[dict[str, Any]]:
        """The control plane's discovery requests to the Python upstream for the
        server whose `X-Upstream-Key` is `upstream_key`."""
        return [r for r in self._records(upstream_key) if _from_discovery(r)]

    def tool_calls(self, upstream_key: str, tool: str) -> list[dict[str, Any]]:
        """The forwarded `tools/call` requests of `tool`, for one test's server."""
        return [r for r in self.requests(upstream_key) if r.get("rpc_method") == "tools/call" and r.get("tool") == tool]

    def _records(self, upstream_key: str | None) -> list[dict[str, Any]]:
        records = httpx2.get(f"{self.base}/_debug/requests", timeout=5).json()
        if upstream_key is None:
            return records
        return [r for r in records if r["headers"].get("x-upstream-key") == upstream_key]


def _from_discovery(record: dict[str, Any]) -> bool:
    return record["headers"].get("user-agent", "").startswith("Toolgate-Discovery/")


# ---------------------------------------------------------------- toolgate


@dataclass
class Toolgate:
    name: str
    base: str  # http://127.0.0.1:PORT, also its public URL
    proc: Proc

    def gateway_url(self, gateway_url: str) -> str:
        """The same gateway path, served by this process."""
        return self.base + urlsplit(gateway_url).path


def start_toolgate(binary: Path, command: str, name: str, env: Mapping[str, str], log_dir: Path) -> Toolgate:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = Proc(
        name,
        [str(binary), command],
        {**env, "TOOLGATE_LISTEN": f"127.0.0.1:{port}", "TOOLGATE_PUBLIC_URL": base},
        log_dir,
    )
    try:
        proc.wait_http(f"{base}/readyz", timeout=60)
    except BaseException:
        proc.stop()
        raise
    return Toolgate(name, base, proc)


@dataclass
class Tenant:
    """A fresh account on the control plane, with helpers for its resources."""

    api: str  # http://.../v1
    token: str
    account: dict[str, Any]
    http: httpx2.Client = field(repr=False)

    def _req(self, method: str, path: str, expect: int, body: Any = None) -> Any:
        r = self.http.request(
            method, f"{self.api}{path}", json=body, headers={"Authorization": f"Bearer {self.token}"}
        )
        assert r.status_code == expect, f"{method} {path} -> {r.status_code}: {r.text}"
        return r.json() if r.content else None

    def add_server(self, name: str, url: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"name": name, "url": url}
        if headers:
            body["headers"] = headers
        return self._req("POST", "/servers", 201, body)

    def grant(self, name: str = "agent", servers: list[str] | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"name": name}
        if servers is not None:
            body["servers"] = servers
        return self._req("POST", "/grants", 201, body)

    def revoke(self, grant_id: str) -> None:
        r = self.http.delete(f"{self.api}/grants/{grant_id}", headers={"Authorization": f"Bearer {self.token}"})
        assert r.status_code in (200, 204), f"DELETE /grants/{grant_id} -> {r.status_code}: {r.text}"

    def patch_server(self, server_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        return self._req("PATCH", f"/servers/{server_id}", 200, changes)

    def delete_server(self, server_id: str) -> None:
        r = self.http.delete(f"{self.api}/servers/{server_id}", headers={"Authorization": f"Bearer {self.token}"})
        assert r.status_code in (200, 204), f"DELETE /servers/{server_id} -> {r.status_code}: {r.text}"

    def put_policy(self, server_id: str, doc: dict[str, Any]) -> dict[str, Any]:
        return self._req("PUT", f"/servers/{server_id}/policy", 200, doc)


def pending_approval(
    tenant: Tenant, tool: str, arguments: dict[str, Any] | None = None, seconds: float = 10.0
) -> dict[str, Any]:
    """Polls GET /v1/approvals?status=pending for the one held call of `tool` (with
    these arguments)."""
    found: list[dict[str, Any]] = []

    def look() -> bool:
        items = tenant._req("GET", "/approvals?status=pending", 200)["items"]
        found[:] = [a for a in items if a["tool"] == tool and (arguments is None or a["arguments"] == arguments)]
        return bool(found)

    assert poll_until(look, seconds) is not None, f"no pending approval for {tool} {arguments}"
    assert len(found) == 1, found
    return found[0]


def decide_approval(tenant: Tenant, approval_id: str, action: str, expect: int = 200, reason: str | None = None) -> Any:
    """POST /v1/approvals/{id}/approve or /deny, with an optional reason."""
    body = {"reason": reason} if reason else None
    return tenant._req("POST", f"/approvals/{approval_id}/{action}", expect, body)


def signup(http: httpx2.Client, base: str) -> Tenant:
    tag = secrets.token_hex(5)
    r = http.post(
        f"{base}/v1/signup",
        json={"email": f"e2e-{tag}@example.com", "password": "correct horse battery", "account": f"E2E {tag}"},
    )
    assert r.status_code == 201, f"signup -> {r.status_code}: {r.text}"
    body = r.json()
    return Tenant(api=f"{base}/v1", token=body["token"], account=body["account"], http=http)


# ---------------------------------------------------------------- raw MCP over HTTP


def modern_meta() -> dict[str, Any]:
    return {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "toolgate-e2e-raw", "version": "1.0.0"},
    }


def modern_request(method: str, params: dict[str, Any] | None = None, rid: int = 1) -> dict[str, Any]:
    p = dict(params or {})
    p["_meta"] = {**modern_meta(), **p.get("_meta", {})}
    return {"jsonrpc": "2.0", "id": rid, "method": method, "params": p}


def modern_headers(body: dict[str, Any], token: str | None) -> dict[str, str]:
    h = {"Content-Type": "application/json", "Accept": ACCEPT, "MCP-Protocol-Version": MODERN, "Mcp-Method": body["method"]}
    name = (body.get("params") or {}).get("name")
    if body["method"] in ("tools/call", "prompts/get") and isinstance(name, str):
        h["Mcp-Name"] = name
    if token is not None:
        h["Authorization"] = f"Bearer {token}"
    return h


@dataclass
class RawResponse:
    status: int
    headers: httpx2.Headers
    text: str
    messages: list[Any]  # JSON-RPC messages: the JSON body, or each SSE event's data

    @property
    def final(self) -> dict[str, Any] | None:
        """The last message carrying a result or an error (the response)."""
        for m in reversed(self.messages):
            if isinstance(m, dict) and ("result" in m or "error" in m):
                return m
        return None

    @property
    def error_code(self) -> int | None:
        f = self.final
        return f["error"].get("code") if f and isinstance(f.get("error"), dict) else None

    def describe(self) -> str:
        return f"HTTP {self.status} {dict(self.headers)} {self.text[:1500]}"


def parse_body(content_type: str, text: str) -> list[Any]:
    if "text/event-stream" in content_type:
        out = []
        for event in text.replace("\r\n", "\n").split("\n\n"):
            data = [line[5:].lstrip() if line.startswith("data:") else None for line in event.split("\n")]
            payload = "\n".join(d for d in data if d is not None)
            if payload.strip():
                try:
                    out.append(json.loads(payload))
                except ValueError:
                    out.append(payload)
        return out
    if text.strip():
        try:
            return [json.loads(text)]
        except ValueError:
            return []
    return []


def raw(
    method: str,
    url: str,
    *,
    body: Any = None,
    content: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 30.0,
) -> RawResponse:
    if content is None and body is not None:
        content = json.dumps(body).encode()
    r = httpx2.request(method, url, content=content, headers=dict(headers or {}), timeout=timeout)
    return RawResponse(r.status_code, r.headers, r.text, parse_body(r.headers.get("content-type", ""), r.text))


def modern_call(url: str, token: str | None, method: str, params: dict[str, Any] | None = None, **kw: Any) -> RawResponse:
    """One 2026-07-28 request with correct headers."""
    body = modern_request(method, params)
    return raw("POST", url, body=body, headers=modern_headers(body, token), **kw)


def tool_names(r: RawResponse) -> set[str] | None:
    """The tool names of a tools/list response, or None if it is not a result."""
    f = r.final
    if r.status != 200 or not f or "result" not in f:
        return None
    return {t["name"] for t in f["result"].get("tools", [])}


def legacy_headers(token: str | None, session: str | None = None, version: str | None = LEGACY) -> dict[str, str]:
    h = {"Content-Type": "application/json", "Accept": ACCEPT}
    if version:
        h["MCP-Protocol-Version"] = version
    if session:
        h["Mcp-Session-Id"] = session
    if token is not None:
        h["Authorization"] = f"Bearer {token}"
    return h


def legacy_initialize(url: str, token: str, version: str = LEGACY) -> tuple[RawResponse, str | None]:
    """initialize + notifications/initialized by hand; returns the response and session id."""
    init = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": version,
            "capabilities": {},
            "clientInfo": {"name": "toolgate-e2e-raw", "version": "1.0.0"},
        },
    }
    h = legacy_headers(token, version=None)
    r = raw("POST", url, body=init, headers=h)
    sid = r.headers.get("mcp-session-id")
    if r.status == 200 and r.final and "result" in r.final:
        raw(
            "POST",
            url,
            body={"jsonrpc": "2.0", "method": "notifications/initialized"},
            headers=legacy_headers(token, sid, version),
        )
    return r, sid


# ---------------------------------------------------------------- SDK clients


@dataclass
class HttpLog:
    """Every HTTP exchange a Python SDK client made: (method, status, request headers, response headers)."""

    exchanges: list[tuple[str, int, dict[str, str], dict[str, str]]] = field(default_factory=list)

    async def hook(self, response: httpx2.Response) -> None:
        self.exchanges.append(
            (response.request.method, response.status_code, dict(response.request.headers), dict(response.headers))
        )

    def session_ids(self) -> set[str]:
        return {h["mcp-session-id"] for _, _, _, h in self.exchanges if "mcp-session-id" in h}

    def statuses(self, method: str) -> list[int]:
        return [s for m, s, _, _ in self.exchanges if m == method]


@asynccontextmanager
async def py_client(url: str, token: str | None, mode: str, log: HttpLog | None = None, **client_kwargs: Any):
    """An official Python SDK client connected to url with a bearer token."""
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    log = log if log is not None else HttpLog()
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx2.AsyncClient(
        headers=headers,
        timeout=httpx2.Timeout(30.0, read=60.0),
        event_hooks={"response": [log.hook]},
    ) as http:
        async with Client(streamable_http_client(url, http_client=http), mode=mode, read_timeout_seconds=60, **client_kwargs) as c:
            yield c


def run_ts_client(plan: dict[str, Any], timeout: float = 90.0) -> dict[str, Any]:
    """Runs ts_client.mjs (official TypeScript SDK client) with a plan; returns its JSON output."""
    p = subprocess.run(
        ["node", str(E2E_DIR / "ts_client.mjs"), json.dumps(plan)],
        cwd=E2E_DIR,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    lines = [line for line in p.stdout.splitlines() if line.startswith("{")]
    assert lines, f"ts_client.mjs printed no result (exit {p.returncode}):\n{p.stdout}\n{p.stderr}"
    return json.loads(lines[-1])


def poll_until(pred: Any, seconds: float, start: float | None = None, interval: float = 0.05) -> float | None:
    """Polls pred() until it is true (returns the seconds since `start`) or `seconds` pass (returns None)."""
    start = time.monotonic() if start is None else start
    while True:
        if pred():
            return time.monotonic() - start
        if time.monotonic() - start > seconds:
            return None
        time.sleep(interval)
