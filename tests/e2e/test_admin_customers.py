import pytest

from contacts.factories import CustomerFactory, VisitorFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_admin_customer_list_shows_customers(admin_page, live_server):
    CustomerFactory(first_name="Ada", last_name="Lovelace", country="United Kingdom")
    CustomerFactory(first_name="Luís", last_name="Gonçalves", country="Brazil")
    VisitorFactory(country="Ireland")

    admin_page.goto(f"{live_server.url}/admin/contacts/customer/?state=customer")

    rows = admin_page.locator("#result_list tbody tr")
    assert rows.count() == 2
    names = sorted(rows.locator("th").all_inner_texts())
    assert names == ["Ada Lovelace", "Luís Gonçalves"]
    assert "Brazil" in rows.nth(0).inner_text() + rows.nth(1).inner_text()


def test_admin_login_wrong_password_stays_on_form(page, live_server, admin_user):
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", "wrong")
    page.click("input[type=submit]")

    assert page.locator(".errornote").inner_text() == (
        "Please enter the correct username and password for a staff account. "
        "Note that both fields may be case-sensitive."
    )
