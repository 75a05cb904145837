import gzip
import io
import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Count

from contacts.demo import (
    CHINOOK_CODE_PREFIX,
    EXPECTED_DEMO_COUNTS,
    RETAIL_CODE_PREFIX,
    RETAIL_VISITOR_PREFIX,
    demo_counts,
    iter_chinook_invoices,
    iter_retail_orders,
)
from contacts.models import Company, Customer

# Every test is marked, parsers included, so that pytest-django keeps the
# module's tests together and the shipped data loaded by `demo_database` is
# deleted before any other module's tests run.
pytestmark = pytest.mark.django_db

RETAIL_HEADER = (
    "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"
)
CHINOOK_USERNAMES = [
    "andrew",
    "jane",
    "laura",
    "margaret",
    "michael",
    "nancy",
    "robert",
    "steve",
]
CHINOOK_COMPANIES = {
    "chinook-1": "Embraer - Empresa Brasileira de Aeronáutica S.A.",
    "chinook-5": "JetBrains s.r.o.",
    "chinook-10": "Woodstock Discos",
    "chinook-11": "Banco do Brasil S.A.",
    "chinook-12": "Riotur",
    "chinook-14": "Telus",
    "chinook-15": "Rogers Canada",
    "chinook-16": "Google Inc.",
    "chinook-17": "Microsoft Corporation",
    "chinook-19": "Apple Inc.",
}


class TerminalOutput(io.StringIO):
    def isatty(self) -> bool:
        return True


def write_retail(tmp_path, lines: list[str]):
    path = tmp_path / "retail.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8") as file:
        file.write("\n".join([RETAIL_HEADER, *lines]) + "\n")
    return path


def write_chinook(tmp_path, records: list[dict]):
    path = tmp_path / "chinook.json.gz"
    with gzip.open(path, "wt", encoding="utf-8") as file:
        json.dump(records, file)
    return path


def chinook_records(*, with_invoice: bool = True) -> list[dict]:
    """One employee, one customer with a company, one invoice of one track."""
    records = [
        {
            "model": "chinook.employee",
            "pk": 3,
            "fields": {
                "firstname": "Jane",
                "lastname": "Peacock",
                "email": "jane@chinookcorp.com",
            },
        },
        {
            "model": "chinook.customer",
            "pk": 1,
            "fields": {
                "firstname": "Luís",
                "lastname": "Gonçalves",
                "email": "luisg@embraer.com.br",
                "phone": "+55 (12) 3923-5555",
                "company": "Embraer",
                "city": "São José dos Campos",
                "state": "SP",
                "country": "Brazil",
                "postalcode": "12227-000",
                "address": "Av. Brigadeiro Faria Lima, 2170",
                "support_rep": 3,
            },
        },
        {"model": "chinook.genre", "pk": 1, "fields": {"name": "Rock"}},
        {"model": "chinook.mediatype", "pk": 1, "fields": {"name": "MPEG audio file"}},
        {"model": "chinook.artist", "pk": 1, "fields": {"name": "AC/DC"}},
        {"model": "chinook.album", "pk": 1, "fields": {"artist": 1, "title": "X"}},
        {
            "model": "chinook.track",
            "pk": 1,
            "fields": {"name": "Jailbreak", "album": 1, "genre": 1, "mediatype": 1},
        },
    ]
    if with_invoice:
        records += [
            {
                "model": "chinook.invoice",
                "pk": 7,
                "fields": {
                    "customer": 1,
                    "invoicedate": "2009-05-01T00:00:00Z",
                    "total": 1.98,
                    "billingcity": "São José dos Campos",
                    "billingcountry": "Brazil",
                },
            },
            {
                "model": "chinook.invoiceline",
                "pk": 1,
                "fields": {"invoice": 7, "track": 1, "unit_price": 0.99, "quantity": 2},
            },
        ]
    return records


SMALL_RETAIL_LINES = [
    "536365,85123A,WHITE HANGING HEART,6,2010-12-01T08:26,2.55,17850,United Kingdom",
    "536366,22633,HAND WARMER,6,2011-06-01T12:00,1.85,,EIRE",
    "536365,71053,WHITE METAL LANTERN,2,2010-12-01T08:27,3.39,17850,United Kingdom",
    "C536379,D,Discount,-1,2010-12-02T09:41,27.50,17850,United Kingdom",
    "536367,22960,check,-10,2011-01-05T10:00,0.0,,United Kingdom",
]


# The parsers ----------------------------------------------------------------


def test_iter_retail_orders_groups_lines_per_invoice(tmp_path):
    path = write_retail(tmp_path, SMALL_RETAIL_LINES)

    orders = {order.invoice_no: order for order in iter_retail_orders(path)}

    assert list(orders) == ["536365", "536366", "C536379", "536367"]
    sale = orders["536365"]
    assert sale.kind == "order"
    assert sale.customer_code == "retail-17850"
    assert sale.visitor_id is None
    assert [line.stock_code for line in sale.lines] == ["85123A", "71053"]
    assert sale.lines[0].unit_price == Decimal("2.55")
    assert sale.amount == Decimal("22.08")
    assert sale.item_count == 8
    assert sale.occurred_at == datetime(2010, 12, 1, 8, 26, tzinfo=UTC)


def test_iter_retail_orders_summer_time_is_london_time(tmp_path):
    path = write_retail(tmp_path, SMALL_RETAIL_LINES)

    orders = {order.invoice_no: order for order in iter_retail_orders(path)}

    anonymous = orders["536366"]
    assert anonymous.occurred_at == datetime(2011, 6, 1, 11, 0, tzinfo=UTC)
    assert str(anonymous.occurred_at.tzinfo) == "Europe/London"
    assert anonymous.customer_code is None
    assert anonymous.visitor_id == "retail-invoice-536366"
    assert anonymous.country == "Ireland"


def test_iter_retail_orders_marks_cancellations_and_adjustments(tmp_path):
    path = write_retail(tmp_path, SMALL_RETAIL_LINES)

    orders = {order.invoice_no: order for order in iter_retail_orders(path)}

    assert orders["C536379"].kind == "cancellation"
    assert orders["C536379"].is_cancellation is True
    assert orders["C536379"].amount == Decimal("-27.50")
    assert orders["536367"].kind == "adjustment"


def test_iter_retail_orders_shipped_file_has_all_invoices():
    orders = list(iter_retail_orders())

    assert len(orders) == 25900
    assert sum(len(order.lines) for order in orders) == 541909
    assert sum(order.is_cancellation for order in orders) == 3836
    assert len({order.customer_code for order in orders} - {None}) == 4372


def test_iter_chinook_invoices_lines_have_genre():
    invoices = list(iter_chinook_invoices())

    assert len(invoices) == 412
    assert sum(len(invoice.lines) for invoice in invoices) == 2240
    first = invoices[0]
    assert first.invoice_id == 1
    assert first.customer_code == "chinook-2"
    assert first.occurred_at == datetime(2007, 1, 1, tzinfo=UTC)
    assert first.total == Decimal("1.98")
    assert [line.genre for line in first.lines] == ["Rock", "Rock"]
    assert first.lines[0].unit_price == Decimal("0.99")


# Bad input ------------------------------------------------------------------


def test_load_demo_bad_quantity_writes_nothing(tmp_path):
    lines = [*SMALL_RETAIL_LINES, "536368,22960,JAM,six,2011-01-05T10:00,1.0,17851,UK"]
    retail = write_retail(tmp_path, lines)
    chinook = write_chinook(tmp_path, chinook_records())
    before = Customer.objects.count()

    with pytest.raises(CommandError) as raised:
        call_command("load_demo", retail_file=retail, chinook_file=chinook)

    assert str(raised.value) == (
        f"{retail} line 7: Quantity 'six' is not a whole number. "
        "Restore the file from the repository's demo_data/ folder."
    )
    assert Customer.objects.count() == before


def test_load_demo_missing_file_raises_and_writes_nothing(tmp_path):
    retail = write_retail(tmp_path, SMALL_RETAIL_LINES)
    missing = tmp_path / "missing.json.gz"
    before = Customer.objects.count()

    with pytest.raises(CommandError) as raised:
        call_command("load_demo", retail_file=retail, chinook_file=missing)

    assert str(raised.value) == (
        f"The demo data file {missing} is missing. "
        "Restore it from the repository's demo_data/ folder."
    )
    assert Customer.objects.count() == before


def test_load_demo_bad_date_names_line(tmp_path):
    lines = ["536370,22960,JAM,1,01/05/2011 10:00,1.0,17851,United Kingdom"]
    retail = write_retail(tmp_path, lines)
    chinook = write_chinook(tmp_path, chinook_records())

    with pytest.raises(CommandError) as raised:
        call_command("load_demo", retail_file=retail, chinook_file=chinook)

    assert str(raised.value) == (
        f"{retail} line 2: InvoiceDate '01/05/2011 10:00' is not a "
        "YYYY-MM-DDTHH:MM time. Restore the file from the repository's "
        "demo_data/ folder."
    )


def test_load_demo_chinook_error_after_retail_rolls_back(tmp_path):
    # The retail customers are written before the Chinook customer without
    # an invoice fails, so this checks the rollback, not the parser.
    retail = write_retail(tmp_path, SMALL_RETAIL_LINES)
    chinook = write_chinook(tmp_path, chinook_records(with_invoice=False))
    User = get_user_model()
    before = (Customer.objects.count(), Company.objects.count(), User.objects.count())

    with pytest.raises(CommandError) as raised:
        call_command("load_demo", retail_file=retail, chinook_file=chinook)

    assert str(raised.value) == (
        f"{chinook}: the chinook.customer row 1 has no invoice, so it has no "
        "first purchase to use as its creation time. Restore the file from "
        "the repository's demo_data/ folder."
    )
    after = (Customer.objects.count(), Company.objects.count(), User.objects.count())
    assert after == before


def test_load_demo_too_long_name_names_field(tmp_path):
    retail = write_retail(tmp_path, SMALL_RETAIL_LINES)
    records = chinook_records()
    records[1]["fields"]["firstname"] = "L" * 151
    chinook = write_chinook(tmp_path, records)
    before = Customer.objects.count()

    with pytest.raises(CommandError) as raised:
        call_command("load_demo", retail_file=retail, chinook_file=chinook)

    assert str(raised.value) == (
        "The demo customer with code 'chinook-1' is invalid. first_name: Ensure "
        "this value has at most 150 characters (it has 151). Restore the files "
        "from the repository's demo_data/ folder."
    )
    assert Customer.objects.count() == before


def test_load_demo_bad_chinook_quantity_names_row(tmp_path):
    retail = write_retail(tmp_path, SMALL_RETAIL_LINES)
    records = chinook_records()
    records[-1]["fields"]["quantity"] = "two"
    chinook = write_chinook(tmp_path, records)

    with pytest.raises(CommandError) as raised:
        call_command("load_demo", retail_file=retail, chinook_file=chinook)

    assert str(raised.value) == (
        f"{chinook}: the chinook.invoiceline row 1 has quantity 'two', which is "
        "not a whole number. Restore the file from the repository's demo_data/ "
        "folder."
    )


def test_load_demo_not_gzip_raises_clear_error(tmp_path):
    retail = tmp_path / "retail.csv.gz"
    retail.write_text(RETAIL_HEADER + "\n", encoding="utf-8")
    chinook = write_chinook(tmp_path, chinook_records())

    with pytest.raises(CommandError) as raised:
        call_command("load_demo", retail_file=retail, chinook_file=chinook)

    assert str(raised.value).startswith(
        f"{retail} could not be read as gzip-compressed UTF-8 CSV ("
    )


# Small files ----------------------------------------------------------------


def test_load_demo_small_files_map_every_field(tmp_path):
    retail = write_retail(tmp_path, SMALL_RETAIL_LINES)
    chinook = write_chinook(tmp_path, chinook_records())

    call_command(
        "load_demo", retail_file=retail, chinook_file=chinook, stdout=io.StringIO()
    )

    customer = Customer.objects.get(code="retail-17850")
    assert customer.state == "customer"
    assert customer.country == "United Kingdom"
    assert customer.created_at == datetime(2010, 12, 1, 8, 26, tzinfo=UTC)
    assert customer.last_seen_at == datetime(2010, 12, 2, 9, 41, tzinfo=UTC)
    assert customer.tracked_data == {
        "source": "online_retail",
        "orders": 1,
        "cancellations": 1,
        "spend_gbp": -5.42,
        "first_order": "2010-12-01",
        "last_order": "2010-12-01",
    }
    visitor = Customer.objects.get(visitor_id="retail-invoice-536366")
    assert visitor.state == "visitor"
    assert visitor.country == "Ireland"
    assert visitor.tracked_data["spend_gbp"] == 11.1
    assert not Customer.objects.filter(visitor_id="retail-invoice-536367").exists()
    luis = Customer.objects.get(code="chinook-1")
    assert (luis.first_name, luis.last_name) == ("Luís", "Gonçalves")
    assert luis.primary_email == "luisg@embraer.com.br"
    assert luis.primary_phone == "+55 (12) 3923-5555"
    assert (luis.city, luis.region, luis.country) == (
        "São José dos Campos",
        "SP",
        "Brazil",
    )
    assert luis.owner.username == "jane"
    assert luis.created_at == datetime(2009, 5, 1, tzinfo=UTC)
    assert luis.tracked_data == {
        "source": "chinook",
        "orders": 1,
        "spend_usd": 1.98,
        "first_order": "2009-05-01",
        "last_order": "2009-05-01",
        "address": "Av. Brigadeiro Faria Lima, 2170",
        "postal_code": "12227-000",
    }
    assert list(luis.companies.values_list("name", "country", "owner__username")) == [
        ("Embraer", "Brazil", "jane")
    ]


def test_load_demo_on_terminal_shows_progress_line(tmp_path):
    retail = write_retail(tmp_path, SMALL_RETAIL_LINES)
    chinook = write_chinook(tmp_path, chinook_records())
    output = TerminalOutput()

    call_command("load_demo", retail_file=retail, chinook_file=chinook, stdout=output)

    assert "\rSaving 1 Online Retail customers\033[K" in output.getvalue()
    assert output.getvalue().endswith(
        "1 Online Retail customers (1 created, 0 updated), "
        "1 visitors (1 created, 0 updated), "
        "1 Chinook customers (1 created, 0 updated), "
        "1 companies (1 created, 0 updated), "
        "1 support reps (1 created, 0 updated), 1 company links added.\n"
    )


def test_load_demo_not_terminal_prints_summary_only(tmp_path):
    retail = write_retail(tmp_path, SMALL_RETAIL_LINES)
    chinook = write_chinook(tmp_path, chinook_records())
    output = io.StringIO()

    call_command("load_demo", retail_file=retail, chinook_file=chinook, stdout=output)

    assert output.getvalue().count("\n") == 1
    assert output.getvalue().startswith("Loaded the demo data in ")


def test_check_demo_counts_empty_database_fails():
    output = io.StringIO()

    with pytest.raises(CommandError) as raised:
        call_command("check_demo_counts", stdout=output)

    assert str(raised.value).startswith(
        "The demo data counts do not match a fresh load (Online Retail "
        "customers: 0, expected 4,372; "
    )
    assert str(raised.value).endswith("Run `manage.py load_demo` on this database.")


# The shipped data, loaded once for this module -------------------------------


@pytest.fixture(scope="module")
def demo_database(django_db_setup, django_db_blocker):
    """Load the shipped demo data once, outside the per-test transactions,
    and delete it after the module."""
    output = io.StringIO()
    with django_db_blocker.unblock():
        call_command("load_demo", stdout=output)
    yield output.getvalue()

    with django_db_blocker.unblock():
        Customer.objects.filter(code__startswith=RETAIL_CODE_PREFIX).delete()
        Customer.objects.filter(code__startswith=CHINOOK_CODE_PREFIX).delete()
        Customer.objects.filter(visitor_id__startswith=RETAIL_VISITOR_PREFIX).delete()
        Company.objects.filter(name__in=CHINOOK_COMPANIES.values()).delete()
        get_user_model().objects.filter(username__in=CHINOOK_USERNAMES).delete()


def snapshot() -> dict[str, list]:
    """Every row and value the loader writes, for before/after comparison."""
    return {
        "customers": list(
            Customer.objects.order_by("id").values_list(
                "id",
                "code",
                "visitor_id",
                "state",
                "first_name",
                "last_name",
                "primary_email",
                "country",
                "city",
                "region",
                "owner_id",
                "created_at",
                "updated_at",
                "last_seen_at",
                "tracked_data",
            )
        ),
        "companies": list(
            Company.objects.order_by("id").values_list(
                "id", "name", "country", "owner_id", "updated_at"
            )
        ),
        "links": sorted(
            Customer.companies.through.objects.values_list("customer_id", "company_id")
        ),
        "users": list(
            get_user_model()
            .objects.order_by("id")
            .values_list("id", "username", "password", "email", "is_staff")
        ),
    }


def test_load_demo_shipped_data_has_exact_counts(demo_database):
    counts = demo_counts()

    assert counts == EXPECTED_DEMO_COUNTS
    assert counts["retail_customers"] == 4372
    assert counts["retail_customers_with_country"] == 4372
    assert counts["chinook_customers"] == 59
    assert counts["chinook_companies"] == 10


def test_load_demo_shipped_data_summary_line(demo_database):
    assert demo_database.startswith("Loaded the demo data in ")
    assert demo_database.endswith(
        "4,372 Online Retail customers (4,372 created, 0 updated), "
        "1,427 visitors (1,427 created, 0 updated), "
        "59 Chinook customers (59 created, 0 updated), "
        "10 companies (10 created, 0 updated), "
        "8 support reps (8 created, 0 updated), 10 company links added.\n"
    )


def test_load_demo_retail_customers_have_countries(demo_database):
    retail = Customer.objects.filter(code__startswith=RETAIL_CODE_PREFIX)

    assert retail.filter(country="").count() == 0
    assert retail.filter(country="United Kingdom").count() == 3950
    assert retail.filter(country="Germany").count() == 95
    assert retail.filter(country="Ireland").count() == 3
    assert retail.values("country").distinct().count() == 37


def test_load_demo_retail_customer_values(demo_database):
    # 12346 bought 74,215 mugs and cancelled the order the same morning.
    customer = Customer.objects.get(code="retail-12346")

    assert customer.state == "customer"
    assert customer.country == "United Kingdom"
    assert customer.created_at == datetime(2011, 1, 18, 10, 1, tzinfo=UTC)
    assert customer.tracked_data == {
        "source": "online_retail",
        "orders": 1,
        "cancellations": 1,
        "spend_gbp": 0.0,
        "first_order": "2011-01-18",
        "last_order": "2011-01-18",
    }


def test_load_demo_chinook_companies_link_their_customers(demo_database):
    links = dict(
        Customer.objects.filter(companies__isnull=False).values_list(
            "code", "companies__name"
        )
    )

    assert links == CHINOOK_COMPANIES
    assert Company.objects.filter(name__in=CHINOOK_COMPANIES.values()).count() == 10


def test_load_demo_chinook_owners_are_staff_without_password(demo_database):
    owners = get_user_model().objects.filter(username__in=CHINOOK_USERNAMES)

    assert owners.count() == 8
    assert all(owner.is_staff for owner in owners)
    assert not any(owner.has_usable_password() for owner in owners)
    assert not any(owner.is_superuser for owner in owners)
    customers_per_owner = dict(
        Customer.objects.filter(code__startswith=CHINOOK_CODE_PREFIX)
        .values_list("owner__username")
        .annotate(total=Count("id"))
    )
    assert customers_per_owner == {"jane": 21, "margaret": 20, "steve": 18}


def test_load_demo_second_run_changes_nothing(demo_database):
    before = snapshot()
    output = io.StringIO()

    call_command("load_demo", stdout=output)

    assert snapshot() == before
    assert output.getvalue().endswith(
        "4,372 Online Retail customers (0 created, 0 updated), "
        "1,427 visitors (0 created, 0 updated), "
        "59 Chinook customers (0 created, 0 updated), "
        "10 companies (0 created, 0 updated), "
        "8 support reps (0 created, 0 updated), 0 company links added.\n"
    )


def test_load_demo_rerun_restores_loaded_fields(demo_database):
    customer = Customer.objects.get(code="chinook-1")
    customer.country = "Portugal"
    customer.tracked_data = {**customer.tracked_data, "cart_value": 12}
    customer.save(update_fields=["country", "tracked_data"])
    customer.companies.clear()
    output = io.StringIO()

    call_command("load_demo", stdout=output)

    customer.refresh_from_db()
    assert customer.country == "Brazil"
    assert customer.tracked_data["cart_value"] == 12
    assert customer.tracked_data["orders"] == 7
    assert list(customer.companies.values_list("name", flat=True)) == [
        CHINOOK_COMPANIES["chinook-1"]
    ]
    assert "59 Chinook customers (0 created, 1 updated)" in output.getvalue()
    assert "1 company links added." in output.getvalue()


def test_check_demo_counts_after_load_passes(demo_database):
    output = io.StringIO()

    call_command("check_demo_counts", stdout=output)

    assert output.getvalue().splitlines() == [
        "Online Retail customers: 4,372",
        "Online Retail customers with a country: 4,372",
        "Online Retail visitors (anonymous purchases): 1,427",
        "Chinook customers: 59",
        "Chinook customers with a support rep: 59",
        "Chinook companies: 10",
        "Chinook customers linked to a company: 10",
        "The demo data counts are as expected.",
    ]
