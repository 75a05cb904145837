"""The admin's Content-Security-Policy blocks nothing that the admin and the
rule builder need: Chromium reports no violation on their pages."""

import pytest
from django.utils import timezone

from contacts.factories import CustomerFactory
from events.models import Event, Site
from segments.models import Segment
from tests.e2e.conftest import admin_page, browser, page  # noqa: F401

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# Runs before any page script and records every violation the browser
# reports, including those of blocked inline scripts and styles.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(event.violatedDirective + " " + event.blockedURI);
});
"""


def test_admin_pages_raise_no_csp_violation(admin_page, live_server):  # noqa: F811
    # given
    segment = Segment.objects.create(name="Everyone")
    customer = CustomerFactory(tracked_data={"plan": "pro"})
    console_errors = []
    admin_page.on(
        "console",
        lambda message: (
            console_errors.append(message.text)
            if "Content Security Policy" in message.text
            else None
        ),
    )
    admin_page.add_init_script(RECORD_VIOLATIONS)
    paths = [
        "/admin/",
        "/admin/segments/segment/",
        "/admin/segments/segment/add/",
        f"/admin/segments/segment/{segment.pk}/change/",
        "/admin/contacts/customer/",
        f"/admin/contacts/customer/{customer.pk}/change/",
    ]

    for path in paths:
        # when
        response = admin_page.goto(live_server.url + path)
        admin_page.wait_for_load_state("networkidle")

        # then
        assert response.status == 200, path
        assert "script-src 'self'" in response.headers["content-security-policy"]
        assert admin_page.evaluate("window.__cspViolations") == [], path
    assert console_errors == []


PAYLOAD = (
    '<img src=x onerror="window.__injected=1"><script>window.__injected=2</script>'
)


def test_builder_and_contact_pages_render_payload_as_text(
    admin_page,  # noqa: F811
    live_server,
):
    # given a segment, a customer and an event whose texts carry HTML
    segment = Segment.objects.create(
        name=PAYLOAD,
        rules={
            "type": "group",
            "conjunction": "and",
            "negate": False,
            "conditions": [
                {
                    "type": "property",
                    "property": "first_name",
                    "operator": "contains",
                    "value": PAYLOAD,
                }
            ],
        },
    )
    customer = CustomerFactory(first_name=PAYLOAD, tracked_data={"note": PAYLOAD})
    site = Site.objects.create(name=PAYLOAD)
    Event.objects.create(
        site=site,
        customer=customer,
        name=PAYLOAD,
        attributes={"note": PAYLOAD},
        occurred_at=timezone.now(),
    )
    dialogs = []
    admin_page.on("dialog", lambda dialog: dialogs.append(dialog.message))

    for path in [
        f"/admin/segments/segment/{segment.pk}/change/",
        "/admin/segments/segment/",
        f"/admin/contacts/customer/{customer.pk}/change/",
        "/admin/contacts/customer/",
        "/admin/events/event/",
    ]:
        # when
        admin_page.goto(live_server.url + path)
        admin_page.wait_for_load_state("networkidle")

        # then the payload is text: no element was created and nothing ran,
        # which the policy alone would not show for the img element
        assert admin_page.locator('img[src="x"]').count() == 0, path
        assert admin_page.evaluate("window.__injected") is None, path
    assert dialogs == []
