"""Fixtures: the toolgate binary, a database of its own, processes on free ports, upstreams, tenants."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx2
import pytest

from harness import E2E_DIR, RUNNING, Proc, Tenant, Toolgate, Upstream, free_port, signup, start_toolgate

REPO = E2E_DIR.parent.parent


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]):
    """On failure, attach the tail of every running process's log to the report."""
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for proc in list(RUNNING):
            report.sections.append((f"log of {proc.name} ({proc.log_path})", proc.tail(80)))


# ---------------------------------------------------------------- environment


@pytest.fixture(scope="session")
def toolgate_bin() -> Path:
    explicit = os.environ.get("TOOLGATE_BIN")
    if explicit:
        path = Path(explicit)
    else:
        target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
        if not target.is_absolute():
            target = REPO / target
        path = target / "debug" / "toolgate"
    if not path.is_file():
        pytest.fail(f"toolgate binary not found at {path}: run `cargo build -p toolgate` or set TOOLGATE_BIN")
    return path


@pytest.fixture(scope="session")
def toolgate_commands(toolgate_bin: Path) -> set[str]:
    out = subprocess.run([str(toolgate_bin), "--help"], capture_output=True, text=True, timeout=30).stdout
    commands: set[str] = set()
    in_commands = False
    for line in out.splitlines():
        if line.strip() == "Commands:":
            in_commands = True
            continue
        if in_commands:
            if not line.startswith("  "):
                break
            commands.add(line.split()[0])
    return commands


@pytest.fixture(scope="session")
def log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    explicit = os.environ.get("TOOLGATE_E2E_LOGS")
    if explicit:
        path = Path(explicit)
        path.mkdir(parents=True, exist_ok=True)
        return path
    return tmp_path_factory.mktemp("logs")


@pytest.fixture(scope="session")
def toolgate_env() -> Any:
    """Env shared by every toolgate process of this run: its own database, Redis, fixed secrets."""
    pg = os.environ.get("TOOLGATE_E2E_POSTGRES")
    if not pg and os.environ.get("TEST_DATABASE_URL"):
        parts = urlsplit(os.environ["TEST_DATABASE_URL"])
        pg = urlunsplit((parts.scheme, parts.netloc, "", "", ""))
    pg = (pg or "postgres://postgres@127.0.0.1:5432").rstrip("/")
    db = f"toolgate_e2e_{secrets.token_hex(6)}"
    env = {
        "DATABASE_URL": f"{pg}/{db}",
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379"),
        "TOOLGATE_JWT_SECRET": secrets.token_hex(32),
        "TOOLGATE_SECRET_KEY": secrets.token_hex(32),
        "TOOLGATE_ALLOW_PRIVATE_UPSTREAMS": "true",
        "TOOLGATE_BUS": "redis",
        # Every test signs up an account of its own, all from 127.0.0.1: no
        # hourly sign-up limit per address (the Rust tests cover it).
        "TOOLGATE_SIGNUPS_PER_HOUR": "0",
        "RUST_LOG": os.environ.get("RUST_LOG", "info"),
        "RUST_BACKTRACE": "1",
    }
    yield env
    # Every toolgate process depends on this fixture, so all are stopped by now.
    if shutil.which("psql"):
        subprocess.run(
            ["psql", f"{pg}/postgres", "-q", "-c", f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'],
            capture_output=True,
            timeout=60,
        )


# ---------------------------------------------------------------- processes


@pytest.fixture(scope="session")
def toolgate(toolgate_bin: Path, toolgate_env: dict[str, str], log_dir: Path) -> Any:
    """`toolgate serve`: the control plane and a gateway on one port."""
    tg = start_toolgate(toolgate_bin, "serve", "toolgate-serve", toolgate_env, log_dir)
    yield tg
    tg.proc.stop()


@pytest.fixture(scope="session")
def toolgate_b(
    toolgate: Toolgate, toolgate_bin: Path, toolgate_commands: set[str], toolgate_env: dict[str, str], log_dir: Path
) -> Any:
    """A second gateway process on the same Postgres and Redis: `toolgate proxy` when the
    binary has it, else a second `toolgate serve`."""
    command = "proxy" if "proxy" in toolgate_commands else "serve"
    tg = start_toolgate(toolgate_bin, command, f"toolgate-{command}-b", toolgate_env, log_dir)
    yield tg
    tg.proc.stop()


def _python() -> str:
    import sys

    return sys.executable


def _start_upstream_py(name: str, extra: list[str], log_dir: Path) -> Upstream:
    port = free_port()
    argv = [_python(), str(E2E_DIR / "upstream_py.py"), str(port), *extra]
    proc = Proc(name, argv, {}, log_dir, cwd=E2E_DIR)
    base = f"http://127.0.0.1:{port}"
    try:
        proc.wait_http(f"{base}/_debug/requests", timeout=30)
    except BaseException:
        proc.stop()
        raise
    return Upstream(name, base, proc)


@pytest.fixture(scope="session")
def upstream_py(log_dir: Path) -> Any:
    """The Python SDK upstream (both eras, SSE responses), recording the headers it receives."""
    upstream = _start_upstream_py("upstream-py", [], log_dir)
    yield upstream
    upstream.proc.stop()


@pytest.fixture(scope="session")
def upstream_py_json(log_dir: Path) -> Any:
    """The same upstream answering with application/json bodies."""
    upstream = _start_upstream_py("upstream-py-json", ["json"], log_dir)
    yield upstream
    upstream.proc.stop()


@pytest.fixture(scope="session")
def upstream_py_legacy(log_dir: Path) -> Any:
    """The same upstream speaking the legacy era only: a 2026-07-28 request gets 400."""
    upstream = _start_upstream_py("upstream-py-legacy", ["legacy"], log_dir)
    yield upstream
    upstream.proc.stop()


@pytest.fixture
def upstream_py_own(log_dir: Path) -> Any:
    """A Python SDK upstream of this test's own, whose tools it may change
    (`POST /_debug/tool`) without touching any other test's."""
    upstream = _start_upstream_py(f"upstream-py-own-{secrets.token_hex(3)}", [], log_dir)
    yield upstream
    upstream.proc.stop()


@pytest.fixture(scope="session")
def everything(log_dir: Path) -> Any:
    """@modelcontextprotocol/server-everything in streamableHttp mode (legacy era, sessionful)."""
    if not (E2E_DIR / "node_modules" / "@modelcontextprotocol" / "server-everything").is_dir():
        pytest.fail("tests/e2e/node_modules is missing: run `npm ci --prefix tests/e2e` (tests/e2e/run does)")
    port = free_port()
    proc = Proc(
        "server-everything",
        ["node", str(E2E_DIR / "everything_loopback.mjs")],
        {"PORT": str(port)},
        log_dir,
        cwd=E2E_DIR,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        # It answers a GET without a session with 400: that means it is up.
        proc.wait_http(f"{base}/mcp", timeout=30, ok=(400,))
    except BaseException:
        proc.stop()
        raise
    yield Upstream("server-everything", base, proc)
    proc.stop()


# ---------------------------------------------------------------- per-test data


@pytest.fixture(scope="session")
def rest() -> Any:
    with httpx2.Client(timeout=30) as client:
        yield client


@pytest.fixture
def tenant(toolgate: Toolgate, rest: httpx2.Client) -> Tenant:
    """A fresh account for this test."""
    return signup(rest, toolgate.base)


@dataclass
class Gated:
    """An upstream registered for a tenant, with a policy and a grant."""

    tenant: Tenant
    server: dict[str, Any]
    grant: dict[str, Any]
    upstream_key: str  # the value of the X-Upstream-Key header toolgate must add

    @property
    def url(self) -> str:
        return self.server["gateway_url"]

    @property
    def token(self) -> str:
        return self.grant["token"]


@pytest.fixture
def gate(tenant: Tenant) -> Any:
    """Factory: gate(upstream, policy) registers the upstream (with its own X-Upstream-Key),
    stores the policy (None stores none) and creates a grant."""

    def make(upstream: Upstream, policy: dict[str, Any] | None, name: str | None = None) -> Gated:
        key = f"upk-{secrets.token_hex(8)}"
        server = tenant.add_server(name or upstream.name, upstream.url, {"X-Upstream-Key": key})
        if policy is not None:
            tenant.put_policy(server["id"], policy)
        grant = tenant.grant(f"agent-{secrets.token_hex(3)}", [server["id"]])
        return Gated(tenant, server, grant, key)

    return make
