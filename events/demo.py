"""Load the demo data sets' orders as website events.

Run after contacts.demo has loaded the contacts: each Online Retail invoice
becomes an `order_placed` or `order_cancelled` event of its customer or
visitor, and each Chinook invoice an `order_placed` event of its customer.
Stock adjustments and anonymous cancellations have no contact and are left
out.
Events carry the invoice number as their idempotency key, so a second run
stores nothing new. The rollups of every contact that received events are
rebuilt from the events in the same transaction.
"""

import time
from dataclasses import dataclass
from pathlib import Path

from django.db import transaction
from django.db.models import Count, Max, Min

from contacts.demo import (
    CHINOOK_CODE_PREFIX,
    CHINOOK_PATH,
    RETAIL_CODE_PREFIX,
    RETAIL_PATH,
    RETAIL_VISITOR_PREFIX,
    ChinookInvoice,
    DemoDataError,
    RetailOrder,
    iter_chinook_invoices,
    iter_retail_orders,
)
from contacts.models import Customer
from events.models import CustomerEventStats, Event, Site

DEMO_SITE_NAME = "Demo shop"
BATCH_SIZE = 2000
RETAIL_EVENT_NAMES = {"order": "order_placed", "cancellation": "order_cancelled"}


@dataclass(frozen=True)
class DemoEventsResult:
    events_created: int
    events_present: int
    contacts: int
    seconds: float


def _retail_event(order: RetailOrder, contact_pk: int, site: Site) -> Event:
    return Event(
        site=site,
        customer_id=contact_pk,
        visitor_id=order.visitor_id or "",
        name=RETAIL_EVENT_NAMES[order.kind],
        attributes={
            "invoice": order.invoice_no,
            "amount": float(order.amount),
            "items": order.item_count,
            "lines": len(order.lines),
            "country": order.country,
        },
        occurred_at=order.occurred_at,
        received_at=order.occurred_at,
        idempotency_key=f"retail-{order.invoice_no}",
    )


def _chinook_event(invoice: ChinookInvoice, contact_pk: int, site: Site) -> Event:
    return Event(
        site=site,
        customer_id=contact_pk,
        name="order_placed",
        attributes={
            "invoice": str(invoice.invoice_id),
            "amount": float(invoice.total),
            "items": sum(line.quantity for line in invoice.lines),
            "genres": sorted({line.genre for line in invoice.lines if line.genre}),
            "country": invoice.billing_country,
        },
        occurred_at=invoice.occurred_at,
        received_at=invoice.occurred_at,
        idempotency_key=f"chinook-{invoice.invoice_id}",
    )


def _demo_contacts() -> dict[str, int]:
    """Return the demo contacts' pks by code or visitor id."""
    by_code = Customer.objects.filter(code__startswith=RETAIL_CODE_PREFIX)
    by_code |= Customer.objects.filter(code__startswith=CHINOOK_CODE_PREFIX)
    contacts = dict(by_code.values_list("code", "pk"))
    visitors = Customer.objects.filter(visitor_id__startswith=RETAIL_VISITOR_PREFIX)
    contacts.update(visitors.values_list("visitor_id", "pk"))
    return contacts


def _contact_pk(contacts: dict[str, int], key: str) -> int:
    if key not in contacts:
        raise DemoDataError(
            f"The demo contact {key} is missing, so its orders cannot be loaded "
            "as events. Run `manage.py load_demo` first."
        )
    return contacts[key]


def rebuild_stats_for_site(site: Site) -> int:
    """Rebuild the rollups of every contact with events on `site`; return how
    many contacts that is. Rollups count all of a contact's events."""
    contacts = Event.objects.filter(site=site).values("customer_id")
    CustomerEventStats.objects.filter(customer_id__in=contacts).delete()
    rows = (
        Event.objects.filter(customer_id__in=contacts)
        .order_by()
        .values("customer_id", "name")
        .annotate(count=Count("pk"), first=Min("occurred_at"), last=Max("occurred_at"))
    )
    stats = [
        CustomerEventStats(
            customer_id=row["customer_id"],
            name=row["name"],
            count=row["count"],
            first_occurred_at=row["first"],
            last_occurred_at=row["last"],
        )
        for row in rows
    ]
    CustomerEventStats.objects.bulk_create(stats, batch_size=BATCH_SIZE)
    return len({row.customer_id for row in stats})


def load_demo_events(
    *, retail_path: Path = RETAIL_PATH, chinook_path: Path = CHINOOK_PATH
) -> DemoEventsResult:
    """Store the demo orders as events; a second run stores nothing new."""
    started = time.monotonic()
    # contacts.demo makes no visitor for an anonymous cancellation, so there
    # is no contact to give its event to.
    orders = [
        order
        for order in iter_retail_orders(retail_path)
        if order.kind == "order"
        or (order.kind == "cancellation" and order.customer_code)
    ]
    invoices = list(iter_chinook_invoices(chinook_path))

    with transaction.atomic():
        site, _created = Site.objects.get_or_create(name=DEMO_SITE_NAME)
        contacts = _demo_contacts()
        events = [
            _retail_event(
                order,
                _contact_pk(contacts, order.customer_code or order.visitor_id),
                site,
            )
            for order in orders
        ]
        events += [
            _chinook_event(invoice, _contact_pk(contacts, invoice.customer_code), site)
            for invoice in invoices
        ]
        present = set(
            Event.objects.filter(site=site).values_list("idempotency_key", flat=True)
        )
        new = [event for event in events if event.idempotency_key not in present]
        Event.objects.bulk_create(new, batch_size=BATCH_SIZE)
        contact_count = rebuild_stats_for_site(site)

    return DemoEventsResult(
        events_created=len(new),
        events_present=len(events) - len(new),
        contacts=contact_count,
        seconds=time.monotonic() - started,
    )
