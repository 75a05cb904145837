"""Browser fixtures: Playwright's sync API driving Debian's Chromium against
pytest-django's live_server.

Tests that use them need `pytest.mark.django_db(transaction=True)`, because the
live server reads the database from another thread and cannot see rows inside
a test's transaction.
"""

import os

import pytest

from tests.e2e.browser import CHROMIUM_PATH, VIEWPORT, launch_chromium, log_in_to_admin

# Playwright's sync API runs an asyncio event loop in this thread, and Django
# refuses ORM calls from a thread with a running loop unless this is set.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


# Module scope, not session: only one sync Playwright can run in a thread, so
# this one must stop before another test module starts its own.
@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM_PATH.exists():
        message = (
            f"Chromium is missing at {CHROMIUM_PATH}. Install Debian's package "
            "with `apt-get install chromium` (scripts/setup does it as root)."
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)

    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture
def admin_page(page, live_server, admin_user):
    """A page logged in to the admin as `admin_user`, at the admin index."""
    log_in_to_admin(
        page,
        base_url=live_server.url,
        username="admin",
        password="password",
        next_path="/admin/",
    )
    return page
