"""Plumbing for the dashboard's browser tests: Debian's chromium driven by Playwright,
screenshots of every page, and checks that nothing a page shows ever runs as script."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Dialog, Page

from harness import E2E_DIR

CHROMIUM = os.environ.get("TOOLGATE_E2E_CHROMIUM", "/usr/bin/chromium")
PASSWORD = "correct horse battery"
DESKTOP = {"width": 1280, "height": 900}
NARROW = {"width": 390, "height": 844}
AXE = E2E_DIR / "node_modules" / "axe-core" / "axe.min.js"
# The screenshots the README shows, copied there when TOOLGATE_E2E_README_SHOTS is set.
README_SHOTS = {"server", "policy-builder", "approvals"}
README_SHOTS_DIR = E2E_DIR.parent.parent / "docs" / "screenshots"


@dataclass
class Watched:
    """A page whose dialogs, page errors and console errors are recorded: markup from an
    upstream or an agent that ran as script would show up here."""

    page: Page
    shots: Path
    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def shot(self, name: str, full_page: bool = True) -> Path:
        path = self.shots / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        if name in README_SHOTS and os.environ.get("TOOLGATE_E2E_README_SHOTS"):
            README_SHOTS_DIR.mkdir(parents=True, exist_ok=True)
            # The README's copies show the first screen only, from the top.
            self.page.evaluate("() => window.scrollTo(0, 0)")
            self.page.screenshot(path=str(README_SHOTS_DIR / f"{name}.png"), full_page=False)
        return path

    def assert_quiet(self) -> None:
        assert not self.dialogs, f"a dialog opened: {self.dialogs}"
        assert not self.errors, f"errors on the page: {self.errors}"


def watch(context: BrowserContext, shots: Path) -> Watched:
    page = context.new_page()
    watched = Watched(page, shots)

    def on_dialog(dialog: Dialog) -> None:
        watched.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def on_console(message: ConsoleMessage) -> None:
        # A refused API call (the tests make some on purpose) logs a failed
        # resource load; anything else at error level is a fault.
        if message.type == "error" and "Failed to load resource" not in message.text:
            watched.errors.append(message.text)

    page.on("dialog", on_dialog)
    page.on("console", on_console)
    page.on("pageerror", lambda error: watched.errors.append(f"pageerror: {error}"))
    return watched


def new_context(browser: Browser, base: str, viewport: dict[str, int] = DESKTOP, **kw: Any) -> BrowserContext:
    context = browser.new_context(base_url=base, viewport=viewport, **kw)
    context.set_default_timeout(15_000)
    return context


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """Serious and critical axe-core violations on the page as it is now. axe is evaluated
    through the driver, so the page's Content-Security-Policy stays in force."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text())
    result = page.evaluate("async () => (await window.axe.run(document, {resultTypes: ['violations']})).violations")
    return [
        {"id": v["id"], "impact": v["impact"], "help": v["help"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result
        if v["impact"] in ("serious", "critical")
    ]


def sign_up_in_browser(page: Page) -> str:
    """Signs up a fresh account through the form; returns its email."""
    email = f"ui-{secrets.token_hex(5)}@example.com"
    page.goto("/signup")
    page.get_by_label("Account name").fill(f"UI {secrets.token_hex(3)}")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.get_by_role("heading", name="Servers").wait_for()
    return email


def csrf_cookie(context: BrowserContext) -> str:
    return next(c["value"] for c in context.cookies() if c["name"] == "toolgate_csrf")
