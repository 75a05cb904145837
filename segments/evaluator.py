"""The reference evaluator: the rule tree applied to plain Python records.

It reads values through the same catalogue properties and applies the same
operator registry as the compiler, but in Python. It is the oracle of the
differential tests (SQL result == evaluator result), not a second engine:
nothing in the app counts contacts with it.
"""

import datetime
from dataclasses import dataclass, field
from typing import Any

from contacts.models import Company, Customer
from segments.catalogue import COMPANY_SEGMENT, Catalogue, Property, Source
from segments.operators import OPERATORS, Operator


@dataclass
class Record:
    """A contact (customer or company) as plain data."""

    pk: int
    state: str | None
    fields: dict[str, Any]
    custom: dict[str, Any] = field(default_factory=dict)
    tracked: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    emails: list[Any] = field(default_factory=list)
    companies: list["Record"] = field(default_factory=list)
    contacts: list["Record"] = field(default_factory=list)
    events: list[Any] = field(default_factory=list)
    static_segments: frozenset[int] = frozenset()


@dataclass(frozen=True)
class SegmentInfo:
    pk: int
    content_type: str
    rules: dict
    parent_id: int | None
    is_static: bool


def property_matches(
    prop: Property, operator: Operator, value, record: Record, now
) -> bool:
    """Apply one property condition to a record."""
    if operator.complement_of:
        positive = OPERATORS[operator.complement_of]
        return not property_matches(prop, positive, value, record, now)
    if operator.is_presence:
        return prop.is_set(record)
    if prop.source == Source.COMPANY:
        return any(
            property_matches(prop.inner, operator, value, company, now)
            for company in record.companies
        )
    type_ = prop.type_for(operator, value)
    typed = prop.typed(record, type_)
    if operator.name in ("includes_any", "includes_all"):
        return operator.test(typed, value, now, None, type_)
    if typed is None:
        return False
    return operator.test(typed, value, now, prop.date_kind(type_), type_)


class Evaluator:
    """Evaluate rule trees of one content type at one moment `now`."""

    def __init__(
        self,
        content_type: str,
        *,
        now: datetime.datetime,
        segments: dict[int, SegmentInfo] | None = None,
    ):
        self.content_type = content_type
        self.now = now
        self.segments = segments or {}
        self.catalogue = Catalogue(content_type, discover_tracked=False)
        self.contact_catalogue = Catalogue("customer", discover_tracked=False)

    def matches(self, rules: dict, record: Record) -> bool:
        return self.node(rules or {}, record, self.catalogue)

    def node(self, node: dict, record: Record, catalogue: Catalogue) -> bool:
        kind = node.get("type", "group")
        if kind == "group":
            results = [
                self.node(child, record, catalogue)
                for child in node.get("conditions") or []
            ]
            if not results:
                result = True
            elif node.get("conjunction", "and") == "or":
                result = any(results)
            else:
                result = all(results)
            return not result if node.get("negate") else result
        if kind == "property":
            prop = catalogue.get(node["property"])
            operator = OPERATORS[node["operator"]]
            return property_matches(prop, operator, node.get("value"), record, self.now)
        if kind == "segment":
            result = self.member_of(self.segments[node["segment"]], record)
            return not result if node.get("negate") else result
        if kind == "contacts":
            return self.contacts(node, record)
        if kind == "event":
            from events.conditions import evaluate_event_condition

            return evaluate_event_condition(node, record.events, now=self.now)
        raise ValueError(f"The condition type {kind!r} is unknown.")

    def contacts(self, node: dict, record: Record) -> bool:
        where = node.get("where") or {}
        found = sum(
            1
            for contact in record.contacts
            if self.node(where, contact, self.contact_catalogue)
        )
        occurrence, count = node.get("occurrence", "at_least"), node.get("count", 1)
        if occurrence == "none":
            return found == 0
        if occurrence == "at_least":
            return found >= count
        if occurrence == "at_most":
            return found <= count
        return found == count

    def in_base(self, content_type: str, record: Record) -> bool:
        if content_type == COMPANY_SEGMENT:
            return record.state is None
        return record.state == content_type

    def member_of(self, segment: SegmentInfo, record: Record) -> bool:
        """Return whether the record is a member of a saved segment."""
        if not self.in_base(segment.content_type, record):
            return False
        if segment.is_static:
            return segment.pk in record.static_segments
        nested = Evaluator(segment.content_type, now=self.now, segments=self.segments)
        if not nested.matches(segment.rules, record):
            return False
        if segment.parent_id:
            return self.member_of(self.segments[segment.parent_id], record)
        return True


# Loading plain records from the database -------------------------------------


def _field_values(instance) -> dict[str, Any]:
    return {
        model_field.name: getattr(instance, model_field.attname)
        for model_field in instance._meta.concrete_fields
        if not model_field.is_relation
    }


def _company_record(company: Company) -> Record:
    return Record(
        pk=company.pk,
        state=None,
        fields=_field_values(company),
        custom=company.custom_fields or {},
        tracked=company.tracked_data or {},
        tags=[tag.name for tag in company.tags.all()],
    )


def _customer_record(customer: Customer, *, with_companies: bool = True) -> Record:
    return Record(
        pk=customer.pk,
        state=customer.state,
        fields=_field_values(customer),
        custom=customer.custom_fields or {},
        tracked=customer.tracked_data or {},
        tags=[tag.name for tag in customer.tags.all()],
        emails=list(customer.emails) if isinstance(customer.emails, list) else [],
        companies=[_company_record(company) for company in customer.companies.all()]
        if with_companies
        else [],
    )


def _open_memberships(column: str) -> dict[int, set[int]]:
    from segments.models import SegmentMembership

    found: dict[int, set[int]] = {}
    rows = SegmentMembership.objects.filter(
        exited_at__isnull=True, **{f"{column}__isnull": False}
    ).values_list(column, "segment_id")
    for contact_id, segment_id in rows:
        found.setdefault(contact_id, set()).add(segment_id)
    return found


def load_records(content_type: str, *, with_events: bool = False) -> list[Record]:
    """Load every customer (any state) or every company as plain records,
    with a fixed number of queries."""
    if content_type == COMPANY_SEGMENT:
        memberships = _open_memberships("company_id")
        companies = Company.objects.prefetch_related(
            "tags", "customers__tags", "customers__companies__tags"
        )
        records = []
        for company in companies:
            record = _company_record(company)
            record.contacts = [
                _customer_record(customer) for customer in company.customers.all()
            ]
            record.static_segments = frozenset(memberships.get(company.pk, ()))
            records.append(record)
        return records

    memberships = _open_memberships("customer_id")
    customers = Customer.objects.prefetch_related("tags", "companies__tags")
    records = []
    for customer in customers:
        record = _customer_record(customer)
        record.static_segments = frozenset(memberships.get(customer.pk, ()))
        records.append(record)
    if with_events:
        from events.conditions import load_event_records

        events = load_event_records([record.pk for record in records])
        for record in records:
            record.events = events.get(record.pk, [])
    return records


def load_segments() -> dict[int, SegmentInfo]:
    """Load every saved segment for the evaluator's segment references."""
    from segments.models import Segment

    rows = Segment.objects.values_list(
        "pk", "content_type", "rules", "parent_id", "is_static"
    )
    return {row[0]: SegmentInfo(*row) for row in rows}


def evaluate(
    rules: dict,
    records: list[Record],
    *,
    content_type: str,
    now: datetime.datetime,
    parent: SegmentInfo | None = None,
    segments: dict[int, SegmentInfo] | None = None,
) -> set[int]:
    """Return the pks of the records a rule tree selects: base ∩ parent's
    members ∩ the rules."""
    evaluator = Evaluator(content_type, now=now, segments=segments)
    return {
        record.pk
        for record in records
        if evaluator.in_base(content_type, record)
        and (parent is None or evaluator.member_of(parent, record))
        and evaluator.matches(rules, record)
    }
