import pytest

from contacts.demo import DemoDataError, load_demo_data
from contacts.models import Customer
from events.demo import load_demo_events
from events.models import CustomerEventStats, Event
from tests.contacts.test_load_demo import (
    SMALL_RETAIL_LINES,
    chinook_records,
    write_chinook,
    write_retail,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo_files(tmp_path):
    return {
        "retail_path": write_retail(tmp_path, SMALL_RETAIL_LINES),
        "chinook_path": write_chinook(tmp_path, chinook_records()),
    }


def test_load_demo_events_stores_orders_and_rollups(demo_files):
    # Given
    load_demo_data(**demo_files)

    # When
    result = load_demo_events(**demo_files)

    # Then: two retail orders, one cancellation and one Chinook invoice;
    # the stock correction (536367) is not an order.
    assert result.events_created == 4
    assert sorted(Event.objects.values_list("idempotency_key", flat=True)) == [
        "chinook-7",
        "retail-536365",
        "retail-536366",
        "retail-C536379",
    ]
    buyer = Customer.objects.get(code="retail-17850")
    assert dict(
        CustomerEventStats.objects.filter(customer=buyer).values_list("name", "count")
    ) == {"order_placed": 1, "order_cancelled": 1}
    order = Event.objects.get(idempotency_key="retail-536365")
    assert order.attributes == {
        "invoice": "536365",
        "amount": 22.08,
        "items": 8,
        "lines": 2,
        "country": "United Kingdom",
    }
    visitor_order = Event.objects.get(idempotency_key="retail-536366")
    assert visitor_order.customer.state == "visitor"


def test_load_demo_events_second_run_stores_nothing(demo_files):
    # Given
    load_demo_data(**demo_files)
    load_demo_events(**demo_files)

    # When
    result = load_demo_events(**demo_files)

    # Then
    assert result.events_created == 0
    assert result.events_present == 4
    assert Event.objects.count() == 4
    assert CustomerEventStats.objects.filter(name="order_placed").count() == 3


def test_load_demo_events_without_contacts_raises(demo_files):
    with pytest.raises(DemoDataError) as error:
        load_demo_events(**demo_files)

    assert str(error.value) == (
        "The demo contact retail-17850 is missing, so its orders cannot be "
        "loaded as events. Run `manage.py load_demo` first."
    )
    assert Event.objects.count() == 0
