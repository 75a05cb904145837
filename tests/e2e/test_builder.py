"""Build segments in the admin by clicking and typing only, watch the live
count, save, and open the segment's members in the customer list."""

import datetime
import re

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone
from playwright.sync_api import expect

from contacts.factories import CustomerFactory, LeadFactory
from events.identity import rebuild_event_stats
from events.models import Event, Site
from segments.models import Segment
from segments.services import count_segment
from tests.e2e.browser import log_in_to_admin

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def moment(day: str, hour: int = 12) -> datetime.datetime:
    return timezone.make_aware(
        datetime.datetime.fromisoformat(day).replace(hour=hour), datetime.UTC
    )


@pytest.fixture
def march_customers():
    """Four customers created in March 2020 (three with a primary email), two
    created just outside it and one March lead, which a customer segment
    never selects."""
    created = {
        "ann": ("2020-03-01", 0, "ann@example.com", "Germany"),
        "bob": ("2020-03-15", 12, "bob@example.com", "France"),
        "cid": ("2020-03-31", 23, "", "Germany"),
        "dee": ("2020-03-20", 8, "dee@example.com", "Spain"),
        "eve": ("2020-02-29", 23, "eve@example.com", "Germany"),
        "fay": ("2020-04-01", 0, "", "Italy"),
    }
    customers = {
        name: CustomerFactory(
            first_name=name,
            last_name="",
            created_at=moment(day, hour),
            primary_email=email,
            country=country,
        )
        for name, (day, hour, email, country) in created.items()
    }
    LeadFactory(first_name="gus", created_at=moment("2020-03-10"))
    return customers


@pytest.fixture
def get_start_events(march_customers):
    """get-start events: ann at price 80 and 20, bob at 60 (not above 60),
    dee at "75" (a numeric string), eve at "cheap" (not a number)."""
    site = Site.objects.create(name="Shop", allowed_origins=["*"])
    prices = {"ann": [80, 20], "bob": [60], "dee": ["75"], "eve": ["cheap"]}
    for name, values in prices.items():
        customer = march_customers[name]
        for index, price in enumerate(values):
            Event.objects.create(
                site=site,
                customer=customer,
                name="get-start",
                occurred_at=moment("2024-05-01", 10 + index),
                attributes={"price": price},
            )
        rebuild_event_stats(customer)
    return prices


def open_add_form(page, base_url: str, name: str) -> None:
    page.goto(f"{base_url}/admin/segments/segment/add/")
    page.fill("#id_name", name)
    page.wait_for_selector(".eb-builder .eb-add-property")


def pick_property(page, row, text: str) -> None:
    picker = row.locator(".eb-picker-input")
    picker.click()
    picker.type(text)
    page.keyboard.press("Enter")


def live_count(page) -> str:
    """Wait for the debounced preview to settle; return the count shown."""
    # Locator assertions poll from Python: the admin's Content-Security-Policy
    # forbids the string evaluation that wait_for_function needs.
    expect(page.locator(".eb-count-status")).to_have_text("")
    expect(page.locator(".eb-count-number")).to_be_visible()
    return page.locator(".eb-count-number").inner_text()


def add_march_condition(page, row) -> None:
    pick_property(page, row, "Created at")
    row.locator(".eb-operator").select_option(label="is between")
    dates = row.locator("input[type=date]")
    dates.nth(0).fill("2020-03-01")
    dates.nth(1).fill("2020-03-31")


def save_and_open_members(page, base_url: str, name: str) -> str:
    """Save the form, click the segment's "View members" link and return
    the number of rows the customer list shows, after checking that its
    result count says the same."""
    page.click("input[name=_save]")
    page.wait_for_url(f"{base_url}/admin/segments/segment/")
    row = page.locator("#result_list tbody tr", has_text=name)
    row.get_by_role("link", name="View members").click()
    page.wait_for_url(re.compile(r".*/admin/contacts/customer/\?segment=\d+"))
    rows = page.locator("#result_list tbody tr").count()
    assert page.locator(".paginator").inner_text().strip() == (
        f"{rows} customer" if rows == 1 else f"{rows} customers"
    )
    return rows


def test_builder_march_customers_counts_and_lists(
    admin_page, live_server, march_customers
):
    page = admin_page
    open_add_form(page, live_server.url, "March 2020 customers")

    page.click(".eb-add-property")
    add_march_condition(page, page.locator(".eb-condition").first)

    assert live_count(page) == "4"
    assert "4 of 6 customers (66.7%)" in page.locator(".eb-count").inner_text()
    listed = save_and_open_members(page, live_server.url, "March 2020 customers")
    assert listed == 4
    segment = Segment.objects.get(name="March 2020 customers")
    assert count_segment(segment) == 4
    names = set(page.locator("#result_list tbody tr th").all_inner_texts())
    assert names == {"ann", "bob", "cid", "dee"}


def test_builder_sub_segment_primary_email_counts_parent_members(
    admin_page, live_server, march_customers
):
    page = admin_page
    open_add_form(page, live_server.url, "March 2020 customers")
    page.click(".eb-add-property")
    add_march_condition(page, page.locator(".eb-condition").first)
    assert live_count(page) == "4"
    page.click("input[name=_save]")
    page.wait_for_url(f"{live_server.url}/admin/segments/segment/")

    open_add_form(page, live_server.url, "March 2020 with email")
    page.click(".field-parent .select2-selection")
    page.keyboard.type("March")
    page.locator(".select2-results__option", has_text="March 2020 customers").click()
    page.click(".eb-add-property")
    row = page.locator(".eb-condition").first
    pick_property(page, row, "Primary email")
    row.locator(".eb-operator").select_option(label="is set")

    assert live_count(page) == "3"
    assert "3 of 6 customers (50.0%)" in page.locator(".eb-count").inner_text()
    listed = save_and_open_members(page, live_server.url, "March 2020 with email")
    assert listed == 3
    names = set(page.locator("#result_list tbody tr th").all_inner_texts())
    assert names == {"ann", "bob", "dee"}


def test_builder_event_price_above_60_counts_and_lists(
    admin_page, live_server, get_start_events
):
    page = admin_page
    open_add_form(page, live_server.url, "Started above 60")

    page.click(".eb-add-event")
    row = page.locator(".eb-event")
    row.locator(".eb-event-name").select_option("get-start")
    row.locator(".eb-occurrence").select_option(label="at least")
    count = row.locator(".eb-count-input")
    count.fill("1")
    page.click(".eb-add-attribute")
    attribute = page.locator(".eb-attribute").first
    attribute.locator(".eb-attribute-key").select_option("price")
    attribute.locator(".eb-operator").select_option(label=">")
    attribute.locator("input[type=number]").fill("60")

    assert live_count(page) == "2"
    listed = save_and_open_members(page, live_server.url, "Started above 60")
    assert listed == 2
    names = set(page.locator("#result_list tbody tr th").all_inner_texts())
    assert names == {"ann", "dee"}


def test_builder_or_group_with_not_group_counts_and_lists(
    admin_page, live_server, march_customers
):
    # (country is Germany) OR NOT (primary email is set): ann, cid, eve are
    # in Germany; cid and fay have no email. Expected: ann, cid, eve, fay.
    page = admin_page
    open_add_form(page, live_server.url, "Germans or no email")

    page.click(".eb-add-group")
    group = page.locator(".eb-group .eb-group").first
    group.locator("input[type=radio][value=or]").check()
    group.locator(".eb-add-property").first.click()
    country_row = group.locator(".eb-property").first
    pick_property(page, country_row, "Country")
    country_row.locator(".eb-operator").select_option(label="is")
    country_row.locator("input[type=text]").nth(1).fill("germany")
    group.locator(".eb-add-group").first.click()
    inner = group.locator(".eb-group").first
    inner.locator(".eb-not input[type=checkbox]").check()
    inner.locator(".eb-add-property").click()
    email_row = inner.locator(".eb-property").first
    pick_property(page, email_row, "Primary email")
    email_row.locator(".eb-operator").select_option(label="is set")

    assert live_count(page) == "4"
    listed = save_and_open_members(page, live_server.url, "Germans or no email")
    assert listed == 4
    names = set(page.locator("#result_list tbody tr th").all_inner_texts())
    assert names == {"ann", "cid", "eve", "fay"}


def test_builder_invalid_value_shows_error_at_condition(
    admin_page, live_server, march_customers
):
    page = admin_page
    open_add_form(page, live_server.url, "Broken")

    page.click(".eb-add-property")
    row = page.locator(".eb-condition").first
    pick_property(page, row, "Country")
    row.locator(".eb-operator").select_option(label="is")

    errors = row.locator(".eb-errors li")
    errors.first.wait_for()
    assert errors.first.inner_text().startswith("value: ")
    assert page.locator(".eb-count-number").count() == 0


def test_builder_explain_marks_matches_per_condition(
    admin_page, live_server, march_customers
):
    page = admin_page
    open_add_form(page, live_server.url, "March 2020 customers")
    page.click(".eb-add-property")
    add_march_condition(page, page.locator(".eb-condition").first)
    live_count(page)

    page.click(".eb-explain-button")

    badge = page.locator('[data-matches-for="conditions[0]"]')
    expect(badge).to_have_text("4 match")
    assert page.locator('[data-matches-for="rules"]').inner_text() == "4 match"
    assert page.locator(".eb-explain summary", has_text="SQL").count() == 1


def test_builder_escapes_markup_in_names_and_values(
    admin_page, live_server, march_customers
):
    evil = '<img src=x onerror="window.pwned=1">'
    referenced = Segment.objects.create(name=evil)
    page = admin_page
    open_add_form(page, live_server.url, "Escaping")

    page.click(".eb-add-segment")
    page.locator(".eb-segment-ref").select_option(str(referenced.pk))
    page.click(".eb-add-property")
    row = page.locator(".eb-property").first
    pick_property(page, row, "First name")
    row.locator(".eb-operator").select_option(label="is")
    row.locator("input[type=text]").nth(1).fill(evil)
    live_count(page)

    assert page.evaluate("window.pwned") is None
    assert page.locator(".eb-builder img").count() == 0
    assert evil in page.locator(".eb-segment-ref").inner_text()


def test_builder_keyboard_only_builds_condition(
    admin_page, live_server, march_customers
):
    page = admin_page
    open_add_form(page, live_server.url, "Keyboard")

    page.focus(".eb-add-property")
    page.keyboard.press("Enter")
    page.keyboard.type("countr")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowUp")
    page.keyboard.press("Enter")
    picker = page.locator(".eb-picker-input")

    assert picker.input_value() == "Country"
    operator = page.locator(".eb-operator")
    assert operator.evaluate("element => element === document.activeElement")
    page.keyboard.press("Tab")
    page.keyboard.type("germany")
    assert live_count(page) == "3"


def test_builder_json_toggle_redraws_and_rejects_bad_json(
    admin_page, live_server, march_customers
):
    page = admin_page
    open_add_form(page, live_server.url, "From JSON")

    page.click(".eb-json-toggle")
    textarea = page.locator("#id_rules")
    textarea.fill("{not json")
    error = page.locator(".eb-json-error")

    assert error.inner_text().startswith("The JSON is invalid: ")
    textarea.fill(
        '{"type": "group", "conjunction": "and", "negate": false, "conditions": '
        '[{"type": "property", "property": "country", "operator": "is", '
        '"value": "Germany"}]}'
    )
    assert page.locator(".eb-picker-input").input_value() == "Country"
    assert live_count(page) == "3"
    assert error.is_hidden()


def test_builder_view_only_user_sees_count_without_controls(
    page, live_server, march_customers, django_user_model
):
    segment = Segment.objects.create(
        name="Germans",
        rules={
            "type": "group",
            "conjunction": "and",
            "negate": False,
            "conditions": [
                {
                    "type": "property",
                    "property": "country",
                    "operator": "is",
                    "value": "Germany",
                }
            ],
        },
        member_count=3,
        counted_at=timezone.now(),
    )
    viewer = django_user_model.objects.create_user(
        username="viewer", password="password", is_staff=True
    )
    viewer.user_permissions.add(Permission.objects.get(codename="view_segment"))
    path = f"/admin/segments/segment/{segment.pk}/change/"
    log_in_to_admin(
        page,
        base_url=live_server.url,
        username="viewer",
        password="password",
        next_path=path,
    )

    # The picker shows the label once the catalogue has loaded.
    expect(page.locator(".eb-picker-input")).to_have_value("Country")
    page.click(".eb-explain-button")

    expect(page.locator('[data-matches-for="conditions[0]"]')).to_have_text("3 match")
    assert page.locator(".eb-count-number").inner_text() == "3"
    assert page.locator(".eb-add-property").count() == 0
    assert page.locator(".eb-remove").count() == 0
    assert page.locator(".eb-show-count").count() == 0
    assert page.locator(".eb-picker-input").is_disabled()
