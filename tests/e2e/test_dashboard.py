"""The dashboard in a real browser (Debian's chromium, driven by Playwright) against the
real binary, a real upstream and a real MCP client: what a person does, step by step."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx2
import pytest
from playwright.sync_api import Browser, expect, sync_playwright

from dashboard import (
    CHROMIUM,
    DESKTOP,
    NARROW,
    PASSWORD,
    axe_violations,
    csrf_cookie,
    new_context,
    sign_up_in_browser,
    watch,
)
from harness import Toolgate

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).is_file(), reason=f"no chromium at {CHROMIUM}")


@pytest.fixture(scope="module")
def browser() -> Any:
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def shots(log_dir: Path) -> Path:
    """Where screenshots go: TOOLGATE_E2E_SCREENSHOTS (docs/screenshots refreshes the
    README's), else beside the logs."""
    path = Path(os.environ.get("TOOLGATE_E2E_SCREENSHOTS") or log_dir / "screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


def test_dashboard_is_served_with_strict_headers_and_a_small_sign_in_page(
    toolgate: Toolgate, browser: Browser, shots: Path
) -> None:
    r = httpx2.get(f"{toolgate.base}/signin")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    # A deep link serves the same page; an unknown API path stays a problem.
    assert httpx2.get(f"{toolgate.base}/approvals/apr_x").text == r.text
    assert httpx2.get(f"{toolgate.base}/v1/nowhere").headers["content-type"].startswith("application/problem+json")

    context = new_context(browser, toolgate.base)
    w = watch(context, shots)
    sizes: list[int] = []
    w.page.on("requestfinished", lambda req: sizes.append(req.sizes()["responseBodySize"] + req.sizes()["responseHeadersSize"]))
    w.page.goto("/signin")
    expect(w.page.get_by_role("heading", name="Sign in to Toolgate")).to_be_visible()
    w.page.wait_for_load_state("networkidle")
    total = sum(sizes)
    assert 0 < total <= 250 * 1024, f"sign-in page first load is {total} bytes"
    gz = httpx2.get(f"{toolgate.base}/assets/app.css", headers={"Accept-Encoding": "gzip"})
    assert gz.headers.get("content-encoding") == "gzip"
    assert axe_violations(w.page) == []
    w.shot("signin")
    w.assert_quiet()
    context.close()


def test_sign_up_sign_out_sign_in_and_csrf(toolgate: Toolgate, browser: Browser, shots: Path) -> None:
    context = new_context(browser, toolgate.base)
    w = watch(context, shots)
    page = w.page
    # Signed out, a page sends you to sign in, and back after.
    page.goto("/grants")
    expect(page.get_by_role("heading", name="Sign in to Toolgate")).to_be_visible()
    page.get_by_role("link", name="Create one").click()
    w.shot("signup")
    assert axe_violations(page) == []
    # The form shows the API's errors at their fields.
    page.get_by_label("Account name").fill("Shop")
    page.get_by_label("Email").fill("not-an-email")
    page.get_by_label("Password").fill("short")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_label("Email")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Password")).to_have_attribute("aria-invalid", "true")
    email = sign_up_in_browser(page)

    session = next(c for c in context.cookies() if c["name"] == "toolgate_session")
    assert session["httpOnly"] and session["sameSite"] == "Strict"
    assert page.evaluate("() => document.cookie").count("toolgate_session") == 0

    # CSRF: the cookie alone does not change anything; with its proof it does.
    refused = page.request.post(f"{toolgate.base}/v1/grants", data={"name": "no-proof"})
    assert refused.status == 403, refused.text()
    assert "X-CSRF-Token" in refused.json()["detail"]
    wrong = page.request.post(
        f"{toolgate.base}/v1/grants", data={"name": "wrong-proof"}, headers={"X-CSRF-Token": "x" * 43}
    )
    assert wrong.status == 403
    ok = page.request.post(
        f"{toolgate.base}/v1/grants", data={"name": "with-proof"}, headers={"X-CSRF-Token": csrf_cookie(context)}
    )
    assert ok.status == 201, ok.text()
    # Reading needs no proof.
    assert page.request.get(f"{toolgate.base}/v1/grants").status == 200

    # Sign out ends the browser session; sign in starts another.
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in to Toolgate")).to_be_visible()
    assert not [c for c in context.cookies() if c["name"] == "toolgate_session"]
    assert page.request.get(f"{toolgate.base}/v1/grants").status == 401
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("wrong password!!")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert").filter(has_text="wrong email or password")).to_be_visible()
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Servers")).to_be_visible()
    w.assert_quiet()
    context.close()
