"""The API docs in a browser with no network beyond the test server: Swagger UI and ReDoc load from our
static files (drf-spectacular-sidecar) and actually render the schema's operations; pages ask for no
missing favicon."""

import pytest

from tests.e2e.conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def offline(page, live_server):
    """Abort every request that leaves the test server; collect them, and any answer >= 400."""
    seen = {"outside": [], "failed": []}

    def route(r):
        if r.request.url.startswith(live_server.url):
            r.continue_()
        else:
            seen["outside"].append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.on("response", lambda resp: resp.status >= 400 and seen["failed"].append((resp.status, resp.url)))
    page.on("pageerror", lambda exc: seen["failed"].append(("js", str(exc))))
    return seen


def test_swagger_ui_renders_operations_offline(page, live_server, offline):
    page.goto(f"{live_server.url}/api/docs/")
    # Rendered by the Swagger UI bundle from the schema: one block per operation.
    page.wait_for_function("() => document.querySelectorAll('#swagger-ui .opblock').length > 50")
    paths = page.locator("#swagger-ui .opblock-summary-path").all_inner_texts()
    assert "/api/auth/token/" in [p.strip() for p in paths], paths[:20]
    assert page.locator("#swagger-ui .info .title").inner_text().startswith("Tuneloop API")
    assert offline == {"outside": [], "failed": []}


def test_redoc_renders_operations_offline(page, live_server, offline):
    page.goto(f"{live_server.url}/api/redoc/")
    page.wait_for_function("() => document.querySelectorAll('[data-section-id^=\"operation/\"]').length > 50")
    assert "Tuneloop API" in page.locator("h1").first.inner_text()
    # ReDoc's "API docs by Redocly" footer asks its CDN for a logo and drops the image when that fails:
    # the one outside request, decorative, and nothing depends on it.
    assert set(offline["outside"]) <= {"https://cdn.redoc.ly/redoc/logo-mini.svg"}
    assert offline["failed"] == []


def test_pages_have_an_icon(page, live_server, offline, users):
    login(page, live_server, "lead")
    href = page.locator("link[rel=icon]").get_attribute("href")
    assert href.endswith("favicon.svg")
    icon = page.request.get(f"{live_server.url}{href}")
    assert icon.ok and "svg" in icon.headers["content-type"]
    # A page that does not name one (the admin's) makes the browser ask /favicon.ico: it is there too.
    assert page.request.get(f"{live_server.url}/favicon.ico").ok
    assert offline == {"outside": [], "failed": []}
