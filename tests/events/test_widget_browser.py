"""The widget in headless Chromium against the live server.

A second local HTTP server on 127.0.0.1 serves the shop's page and the
widget, so the widget's requests to the live server (on localhost) are
cross-origin, as on a real site. Chromium blocks requests from a page it
considers public to a loopback address, so the page must come from a real
local server rather than from a Playwright route.
"""

import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.conf import settings
from django.db import OperationalError

from contacts.models import Customer, CustomerState
from events.models import CustomerEventStats, Event, Site
from tests.e2e.browser import CHROMIUM_PATH, launch_chromium

# Playwright's sync API runs an asyncio loop in this thread; Django refuses
# ORM calls from such a thread unless this is set.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

WIDGET = (settings.BASE_DIR / "static" / "erxseg" / "widget.js").read_text()


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM_PATH.exists():
        pytest.skip(f"Chromium is missing at {CHROMIUM_PATH}.")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        yield browser
        browser.close()


class ShopServer:
    """Serve one HTML page and the widget from 127.0.0.1 on a free port."""

    def __init__(self):
        self.html = ""
        shop = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path == "/widget.js":
                    body, kind = WIDGET, "application/javascript"
                else:
                    body, kind = shop.html, "text/html"
                data = body.encode("utf-8")
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def shop():
    server = ShopServer()
    yield server
    server.close()


@pytest.fixture
def shop_site(db, shop):
    return Site.objects.create(name="Shop", allowed_origins=[shop.origin])


def shop_page(browser, live_server, shop, site, calls: str):
    """Open a shop page whose snippet makes `calls` before the widget loads."""
    html = f"""<!doctype html><html><head><script>
      (function (w, d, key) {{
        var e = (w.erxseg = w.Erxes = w.erxseg || []);
        e.key = key;
        e.host = {json.dumps(live_server.url)};
        ["sendEvent", "identify", "updateCustomerProperty",
         "updateCustomerProperties"].forEach(function (m) {{
          e[m] = function () {{ e.push([m, [].slice.call(arguments)]); }};
        }});
        {calls}
        var s = d.createElement("script");
        s.src = "{shop.origin}/widget.js";
        d.head.appendChild(s);
      }})(window, document, {json.dumps(site.write_key)});
    </script></head><body>Shop</body></html>"""

    shop.html = html
    return browser.new_page()


def wait_for(check, timeout=10.0):
    """Poll `check` until it is true. Polling the database may meet a table
    locked by the live server's write on SQLite, which counts as not yet."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return True
        except OperationalError:
            pass
        time.sleep(0.1)
    return False


def widget_idle(page) -> bool:
    """Return whether the widget has no event or call left to send."""
    return page.evaluate(
        "localStorage.getItem('erxseg_outbox') === '[]' && "
        "localStorage.getItem('erxseg_calls') === '[]'"
    )


def test_widget_queued_calls_reach_server(browser, live_server, shop, shop_site):
    # Given: calls made before the widget loads, through both globals.
    page = shop_page(
        browser,
        live_server,
        shop,
        shop_site,
        """
        erxseg.sendEvent({name: "pricing_viewed", attributes: {plan: "pro"}});
        Erxes.identify({email: "web@example.com"});
        Erxes.updateCustomerProperty("first_name", "Web");
        """,
    )

    # When
    page.goto(f"{shop.origin}/")

    # Then
    assert wait_for(lambda: widget_idle(page))
    visitor_id = page.evaluate("erxseg.visitorId()")
    assert page.evaluate("localStorage.getItem('erxseg_visitor_id')") == visitor_id
    contact = Customer.objects.get()
    assert contact.state == CustomerState.LEAD
    assert contact.primary_email == "web@example.com"
    assert contact.first_name == "Web"
    stored = Event.objects.get()
    assert stored.attributes == {"plan": "pro"}
    assert stored.visitor_id == visitor_id
    assert stored.page_url == f"{shop.origin}/"
    assert CustomerEventStats.objects.get().count == 1
    page.close()


def test_widget_retry_after_503_stores_event_once(
    browser, live_server, shop, shop_site
):
    # Given: the first track request reaches the server, but the browser
    # receives a 503 in place of the server's 202.
    page = shop_page(browser, live_server, shop, shop_site, "")
    failures = []

    def fail_first(route):
        response = route.fetch()
        if failures:
            route.fulfill(response=response)
            return
        failures.append(response.status)
        route.fulfill(
            status=503, body="", headers={"Access-Control-Allow-Origin": shop.origin}
        )

    page.route(f"{live_server.url}/api/v1/track", fail_first)
    page.goto(f"{shop.origin}/")

    # When
    page.evaluate("erxseg.sendEvent({name: 'checkout_started'})")

    # Then: the retry carried the same idempotency key.
    assert wait_for(
        lambda: (
            page.evaluate("localStorage.getItem('erxseg_outbox')") == "[]"
            and len(failures) == 1
        )
    )
    assert failures == [202]
    assert Event.objects.filter(name="checkout_started").count() == 1
    assert CustomerEventStats.objects.get().count == 1
    page.close()


def test_widget_page_hide_sends_outbox_by_beacon(browser, live_server, shop, shop_site):
    # Given
    page = shop_page(browser, live_server, shop, shop_site, "")
    page.goto(f"{shop.origin}/")
    page.wait_for_function("window.erxseg && window.erxseg.loaded")

    # When: the page goes away before the one-second batch timer fires.
    page.evaluate("erxseg.sendEvent({name: 'left_page'})")
    page.goto("about:blank")

    # Then
    assert wait_for(lambda: Event.objects.filter(name="left_page").exists())
    page.close()


def documented_snippet(*, key: str, src: str) -> str:
    """Return the install snippet of docs/widget.md with a real key and src."""
    text = (settings.BASE_DIR / "docs" / "widget.md").read_text()
    snippet = text.split("```html\n", 1)[1].split("```", 1)[0]
    assert "wk_YOUR_WRITE_KEY" in snippet
    return snippet.replace("wk_YOUR_WRITE_KEY", key).replace(
        "https://erxseg.example.com/static/erxseg/widget.js", src
    )


SHOP_BUTTONS = """
<button id="identify" onclick='erxseg.identify({email: "buyer@example.com"})'>
  Sign in</button>
<button id="cheap-start" onclick='erxseg.sendEvent({name: "get-start",
  attributes: {price: 50}})'>Start with the basic plan</button>
<button id="start" onclick='erxseg.sendEvent({name: "get-start",
  attributes: {price: 70}})'>Start with the pro plan</button>
<button id="name" onclick='Erxes.updateCustomerProperty("first_name", "Buyer")'>
  Save name</button>
<button id="cart" onclick='erxseg.updateCustomerProperties([
  {name: "cart_value", value: 42.5}])'>Update cart</button>
"""


def test_documented_snippet_buttons_change_event_segment(
    browser, live_server, shop, shop_site
):
    from segments.models import Segment
    from segments.services import count_segment

    # Given: a shop page with the snippet exactly as docs/widget.md shows it,
    # loading the widget from the erxseg server as a real site would.
    snippet = documented_snippet(
        key=shop_site.write_key, src=f"{live_server.url}/static/erxseg/widget.js"
    )
    shop.html = (
        f"<!doctype html><html><head>{snippet}</head><body>{SHOP_BUTTONS}</body></html>"
    )
    segment = Segment.objects.create(
        name="Started with a price over 60",
        content_type="lead",
        rules={
            "type": "group",
            "conjunction": "and",
            "conditions": [
                {
                    "type": "event",
                    "event": "get-start",
                    "occurrence": "at_least",
                    "count": 1,
                    "within": None,
                    "attributes": [
                        {"attribute": "price", "operator": "gt", "value": 60}
                    ],
                }
            ],
        },
    )
    page = browser.new_page()
    page.goto(f"{shop.origin}/")
    page.wait_for_function("window.erxseg && window.erxseg.loaded")

    def click_and_settle(button_id: str) -> None:
        page.click(f"#{button_id}")
        assert wait_for(lambda: widget_idle(page))

    # When / then: identify makes the visitor a lead, outside the segment.
    click_and_settle("identify")
    lead = Customer.objects.get(primary_email="buyer@example.com")
    assert lead.state == CustomerState.LEAD
    assert count_segment(segment) == 0

    click_and_settle("cheap-start")
    assert Event.objects.filter(name="get-start").count() == 1
    assert count_segment(segment) == 0

    click_and_settle("start")
    assert Event.objects.filter(name="get-start", customer=lead).count() == 2
    assert count_segment(segment) == 1

    click_and_settle("name")
    click_and_settle("cart")
    lead.refresh_from_db()
    assert lead.first_name == "Buyer"
    assert lead.tracked_data["cart_value"] == 42.5
    assert Customer.objects.count() == 1
    page.close()
