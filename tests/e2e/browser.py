"""Start Debian's headless Chromium under Playwright and log in to the admin.

Shared by the e2e fixtures and scripts/screenshots.py. Playwright drives the
system browser through `executable_path`; it never downloads one.
"""

from pathlib import Path

CHROMIUM_PATH = Path("/usr/bin/chromium")
# Without the networking flags Chromium keeps trying to reach Google's
# services, which a machine without outside network refuses.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1366, "height": 900}


def launch_chromium(playwright):
    """Launch headless Chromium from CHROMIUM_PATH; return the Browser."""
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM_PATH), headless=True, args=CHROMIUM_ARGS
    )


def log_in_to_admin(
    page, *, base_url: str, username: str, password: str, next_path: str
):
    """Submit the admin login form and wait for the page at `next_path`."""
    page.goto(f"{base_url}/admin/login/?next={next_path}")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_url(f"{base_url}{next_path}")
