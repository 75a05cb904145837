"""Browser identity: visitor contacts, identify, and merging a visitor into
a known contact.

Locking order on PostgreSQL: identify takes advisory locks on its
identifiers (sorted), then on the browser's visitor id, then the visitor's
row, then the known contact's row. Track takes the visitor-id lock, then
one contact row. SQLite has one writer at a time for the whole file, so the
locks are no-ops there and nothing can interleave.
"""

import hashlib
import logging
from dataclasses import dataclass

from django.db import IntegrityError, connection, transaction
from django.db.models import Case, Count, IntegerField, Max, Min, Value, When
from django.utils import timezone

from contacts.models import Customer, CustomerState
from events.models import CustomerEventStats, Event, VisitorAlias, VisitorMerge

logger = logging.getLogger(__name__)

# Empty profile fields of the kept contact take the visitor's value on merge.
FILLED_ON_MERGE = [
    "first_name",
    "last_name",
    "primary_email",
    "primary_phone",
    "code",
    "country",
    "city",
    "region",
    "language",
    "user_agent",
]


class ContactGone(Exception):
    """The contact was merged away while this request waited for it."""


@dataclass
class IdentifyResult:
    customer: Customer
    created: bool = False
    merged: bool = False


def find_contact_for_visitor(visitor_id: str) -> Customer | None:
    """Return the contact a browser id belongs to, following merges."""
    alias = (
        VisitorAlias.objects.filter(visitor_id=visitor_id)
        .select_related("customer")
        .first()
    )
    if alias is not None:
        return alias.customer
    return Customer.objects.filter(visitor_id=visitor_id).first()


def get_or_create_visitor(visitor_id: str) -> Customer:
    """Return the contact for a browser id, creating a visitor on first sight."""
    contact = find_contact_for_visitor(visitor_id)
    if contact is not None:
        return contact
    try:
        # A concurrent request may create the same visitor: the unique
        # visitor_id makes one of them fail, and that one reads the winner's.
        with transaction.atomic():
            return Customer.objects.create(
                state=CustomerState.VISITOR,
                visitor_id=visitor_id,
                last_seen_at=timezone.now(),
            )
    except IntegrityError:
        contact = find_contact_for_visitor(visitor_id)
        if contact is None:
            raise
        return contact


def lock_contact(pk: int) -> Customer:
    """Lock a contact row for this transaction; raise ContactGone if deleted."""
    contact = Customer.objects.select_for_update().filter(pk=pk).first()
    if contact is None:
        raise ContactGone(pk)
    return contact


def lock_contact_for_visitor(visitor_id: str, *, create: bool) -> Customer | None:
    """Find (or create) the browser's contact and lock its row.

    Requests of one browser run one at a time: otherwise a track could create
    a visitor row that an identify running at the same moment cannot see,
    and the track's events would stay on that visitor. A merge deletes the
    visitor row after moving its events. A request that found the visitor
    just before the merge then finds the row gone, so it looks again through
    the alias the merge left behind.
    """
    advisory_lock(f"visitor:{visitor_id}")
    for _attempt in range(3):
        if create:
            contact = get_or_create_visitor(visitor_id)
        else:
            contact = find_contact_for_visitor(visitor_id)
            if contact is None:
                return None
        try:
            return lock_contact(contact.pk)
        except ContactGone:
            continue
    raise ContactGone(visitor_id)


def advisory_lock(key: str) -> None:
    """Hold a PostgreSQL advisory lock on `key` until the transaction ends.

    SQLite has one writer at a time for the whole file, so it needs none.
    """
    if connection.vendor != "postgresql":
        return
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s)",
            [int.from_bytes(digest, "big", signed=True)],
        )


def lock_identifiers(identity: dict[str, str]) -> None:
    """Serialise identify calls that name the same email, phone or code.

    Without it, two browsers identifying with one new email at the same
    moment would each promote their own visitor to a lead.
    """
    for kind, value in sorted(identity.items()):
        advisory_lock(f"identity:{kind}:{_normalise(kind, value)}")


def _normalise(kind: str, value: str) -> str:
    return value.strip().lower() if kind == "email" else value.strip()


def find_known_contact(identity: dict[str, str], *, exclude_pk=None) -> Customer | None:
    """Return the customer or lead with this email, else phone, else code.

    Email matches case-insensitively. Customers win over leads, then the
    oldest record wins.
    """
    known = Customer.objects.exclude(state=CustomerState.VISITOR)
    if exclude_pk is not None:
        known = known.exclude(pk=exclude_pk)
    known = known.order_by(
        Case(
            When(state=CustomerState.CUSTOMER, then=Value(0)),
            default=Value(1),
            output_field=IntegerField(),
        ),
        "created_at",
        "pk",
    )
    lookups = [
        ("email", "primary_email__iexact"),
        ("phone", "primary_phone"),
        ("code", "code"),
    ]
    for kind, lookup in lookups:
        if kind in identity:
            match = known.filter(**{lookup: identity[kind]}).first()
            if match is not None:
                return match
    return None


IDENTITY_FIELDS = {"email": "primary_email", "phone": "primary_phone", "code": "code"}


def identify(*, visitor_id: str, identity: dict[str, str]) -> IdentifyResult:
    """Attach a browser to the contact its email, phone or code names.

    A known contact absorbs the browser's visitor (see `merge_visitor`). With
    no known contact the visitor becomes a lead, or a new lead is created
    when the browser has no contact yet.
    """
    with transaction.atomic():
        lock_identifiers(identity)
        visitor = lock_contact_for_visitor(visitor_id, create=False)
        known = find_known_contact(
            identity, exclude_pk=visitor.pk if visitor is not None else None
        )

        if known is not None:
            return _attach_to_known(visitor_id=visitor_id, visitor=visitor, known=known)

        if visitor is not None and visitor.state == CustomerState.VISITOR:
            return IdentifyResult(customer=_promote_to_lead(visitor, identity))

        if visitor is not None and not _conflicts(visitor, identity):
            _fill_blank_identifiers(visitor, identity)
            return IdentifyResult(customer=visitor)

        # The browser is new, or belongs to a contact with a different
        # identity: someone else signed in on it.
        lead = Customer.objects.create(
            state=CustomerState.LEAD,
            **{IDENTITY_FIELDS[kind]: value for kind, value in identity.items()},
        )
        VisitorAlias.objects.update_or_create(
            visitor_id=visitor_id, defaults={"customer": lead}
        )
        return IdentifyResult(customer=lead, created=True)


def _attach_to_known(*, visitor_id, visitor, known) -> IdentifyResult:
    if visitor is not None and visitor.state == CustomerState.VISITOR:
        merge_visitor(visitor=visitor, customer=known)
        return IdentifyResult(customer=lock_contact(known.pk), merged=True)

    # No visitor row yet, or the browser belonged to another known contact:
    # known contacts are never merged automatically, the browser moves.
    VisitorAlias.objects.update_or_create(
        visitor_id=visitor_id, defaults={"customer": known}
    )
    return IdentifyResult(customer=known)


def _conflicts(contact: Customer, identity: dict[str, str]) -> bool:
    for kind, value in identity.items():
        current = getattr(contact, IDENTITY_FIELDS[kind])
        if current and _normalise(kind, current) != _normalise(kind, value):
            return True
    return False


def _fill_blank_identifiers(contact: Customer, identity: dict[str, str]) -> None:
    changed = []
    for kind, value in identity.items():
        field = IDENTITY_FIELDS[kind]
        if not getattr(contact, field):
            setattr(contact, field, value)
            changed.append(field)
    if changed:
        contact.save(update_fields=[*changed, "updated_at"])


def _promote_to_lead(visitor: Customer, identity: dict[str, str]) -> Customer:
    visitor.state = CustomerState.LEAD
    for kind, value in identity.items():
        setattr(visitor, IDENTITY_FIELDS[kind], value)
    visitor.save(
        update_fields=[
            "state",
            *(IDENTITY_FIELDS[kind] for kind in identity),
            "updated_at",
        ]
    )
    logger.info("Visitor %s became a lead on identify.", visitor.pk)
    return visitor


def merge_visitor(*, visitor: Customer, customer: Customer) -> VisitorMerge:
    """Move a visitor's events, data and browser id into `customer`.

    The customer keeps its id. Rollups are rebuilt from the moved events, so
    they stay exact. Tracked data takes the newer contact's value for a key
    both have (by `updated_at`), and every such key is logged with the value
    kept and the value dropped. The visitor row is deleted; its browser id
    stays reachable through a VisitorAlias.
    """
    with transaction.atomic():
        first, second = sorted([visitor.pk, customer.pk])
        locked = {first: lock_contact(first), second: lock_contact(second)}
        visitor, customer = locked[visitor.pk], locked[customer.pk]

        events_moved = Event.objects.filter(customer=visitor).update(customer=customer)
        CustomerEventStats.objects.filter(customer=visitor).delete()
        rebuild_event_stats(customer)

        conflicts = _merge_profile(visitor=visitor, customer=customer)
        customer.tags.add(*visitor.tags.all())
        customer.companies.add(*visitor.companies.all())

        VisitorAlias.objects.filter(customer=visitor).update(customer=customer)
        if visitor.visitor_id:
            VisitorAlias.objects.update_or_create(
                visitor_id=visitor.visitor_id, defaults={"customer": customer}
            )
        record = VisitorMerge.objects.create(
            customer=customer,
            visitor_pk=visitor.pk,
            visitor_id=visitor.visitor_id or "",
            events_moved=events_moved,
            tracked_data_conflicts=conflicts,
        )
        visitor_pk = visitor.pk
        visitor.delete()

    logger.info(
        "Merged visitor %s into contact %s: %d events moved, %d tracked keys "
        "in conflict.",
        visitor_pk,
        customer.pk,
        events_moved,
        len(conflicts),
    )
    return record


def _merge_profile(*, visitor: Customer, customer: Customer) -> dict:
    """Copy the visitor's data into the customer and return the conflicts."""
    visitor_is_newer = visitor.updated_at >= customer.updated_at
    newer, older = (visitor, customer) if visitor_is_newer else (customer, visitor)
    conflicts = {
        key: {"kept": newer.tracked_data[key], "dropped": older.tracked_data[key]}
        for key in newer.tracked_data.keys() & older.tracked_data.keys()
        if newer.tracked_data[key] != older.tracked_data[key]
    }
    customer.tracked_data = {**older.tracked_data, **newer.tracked_data}
    customer.custom_fields = {**visitor.custom_fields, **customer.custom_fields}

    for field in FILLED_ON_MERGE:
        if not getattr(customer, field) and getattr(visitor, field):
            setattr(customer, field, getattr(visitor, field))
    customer.session_count += visitor.session_count
    if visitor.last_seen_at and (
        customer.last_seen_at is None or visitor.last_seen_at > customer.last_seen_at
    ):
        customer.last_seen_at = visitor.last_seen_at

    customer.save(
        update_fields=[
            "tracked_data",
            "custom_fields",
            *FILLED_ON_MERGE,
            "session_count",
            "last_seen_at",
            "updated_at",
        ]
    )
    return conflicts


def rebuild_event_stats(customer: Customer) -> None:
    """Recompute a customer's rollups from its events; call under its lock."""
    rows = (
        Event.objects.filter(customer=customer)
        .order_by()
        .values("name")
        .annotate(count=Count("pk"), first=Min("occurred_at"), last=Max("occurred_at"))
    )
    CustomerEventStats.objects.filter(customer=customer).delete()
    CustomerEventStats.objects.bulk_create(
        CustomerEventStats(
            customer=customer,
            name=row["name"],
            count=row["count"],
            first_occurred_at=row["first"],
            last_occurred_at=row["last"],
        )
        for row in rows
    )
