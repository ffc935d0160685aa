"""Browser fixtures: one headless Debian chromium per session, a fresh context per test.

Playwright's sync API runs an event loop in this thread; Django's ORM refuses to run beside one
unless told it is safe here (the test owns the thread and the live server has its own).
"""

import os
import shutil

import pytest

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


_shared = {"users": 0}


@pytest.fixture(scope="session")
def browser():
    """One chromium for the whole run, even when another test module imports this fixture
    (a second sync_playwright() inside the first would fail)."""
    from playwright.sync_api import sync_playwright

    if _shared["users"] == 0:
        _shared["playwright"] = sync_playwright().start()
        _shared["browser"] = _shared["playwright"].chromium.launch(executable_path=CHROMIUM, args=ARGS)
    _shared["users"] += 1
    yield _shared["browser"]
    _shared["users"] -= 1
    if _shared["users"] == 0:
        _shared.pop("browser").close()
        _shared.pop("playwright").stop()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    context.set_default_timeout(30_000)  # generous: CI machines are small and busy
    pg = context.new_page()
    yield pg
    context.close()


def login(page, live_server, username, password="pw"):
    """Log in through the real form, with the keyboard."""
    page.goto(f"{live_server.url}/login/")
    # Autofocus is applied on a later rendering step than "load": on a busy machine keys typed
    # straight after goto() went nowhere and the login failed (a CI flake). Wait for the focus.
    page.wait_for_function("() => document.activeElement && document.activeElement.id === 'id_username'")
    page.keyboard.type(username)
    page.keyboard.press("Tab")
    page.wait_for_function("() => document.activeElement && document.activeElement.id === 'id_password'")
    page.keyboard.type(password)
    page.keyboard.press("Enter")
    try:
        page.wait_for_url(f"{live_server.url}/")
    except Exception as exc:  # say why, instead of a bare timeout
        error = page.locator(".errorlist, .error, .form-error").all_inner_texts()
        raise AssertionError(f"login as {username} failed at {page.url}: {error}") from exc
