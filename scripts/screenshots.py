"""Save screenshots of a running demo server's admin to docs/screenshots/.

Start the demo first (`make demo`), then run
`.venv/bin/python scripts/screenshots.py`. The script logs in as the demo
admin with the password that create_demo_admin saved in .demo-admin-password.
"""

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from tests.e2e.browser import launch_chromium, log_in_to_admin  # noqa: E402

VIEWPORT = {"width": 1600, "height": 1000}

# Page path and file name of each screenshot. The Chinook customers come
# first because they have names, emails and owners; the Online Retail data
# has only ids and countries.
SCREENSHOTS = [
    ("/admin/contacts/customer/?q=chinook", "admin-customers.png"),
    ("/admin/contacts/customer/", "admin-customers-all.png"),
]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    parser.add_argument("--username", default="admin")
    parser.add_argument(
        "--password-file",
        type=Path,
        default=ROOT / ".demo-admin-password",
        help="File with the admin password (default: %(default)s).",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    try:
        password = args.password_file.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        print(
            f"The password file {args.password_file} is missing. Run "
            "`make demo-data` first, or pass --password-file.",
            file=sys.stderr,
        )
        return 1

    args.out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = browser.new_page(viewport=VIEWPORT)
        log_in_to_admin(
            page,
            base_url=args.base_url,
            username=args.username,
            password=password,
            next_path="/admin/",
        )
        # The admin keeps the navigation sidebar's state in localStorage;
        # closed, it leaves the list's columns room to show whole.
        page.evaluate("localStorage.setItem('django.admin.navSidebarIsOpen', 'false')")
        for path, name in SCREENSHOTS:
            page.goto(f"{args.base_url}{path}")
            page.screenshot(path=args.out / name)
            print(f"Saved {args.out / name}")
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
