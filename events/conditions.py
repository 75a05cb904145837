"""Event conditions of the rule engine: compile to SQL and evaluate in Python.

A condition reads::

    {"type": "event", "event": "pricing_viewed",
     "occurrence": "at_least" | "at_most" | "exactly" | "none", "count": 3,
     "within": {"last": 30, "unit": "days"} | {"between": ["2024-01-01",
               "2024-01-31"]} | null,
     "attributes": [{"attribute": "plan", "operator": "is", "value": "pro"}],
     "first_occurred": {"operator": "before", "value": "2024-01-01"},
     "last_occurred": {"operator": "more_than_ago",
                       "value": {"amount": 30, "unit": "days"}}}

Semantics, the same in `event_condition_q` (SQL) and
`evaluate_event_condition` (the reference evaluator):

- The occurrences counted are the contact's events with that name, inside
  the window, that satisfy every attribute filter (one occurrence must
  satisfy all of them).
- "last N units" is the span from N units before `now` up to `now`
  inclusive: minutes and hours as elapsed time, longer units along the
  calendar of settings.TIME_ZONE. "between" takes whole local days, both
  included.
- "at_most" and "none" include contacts with no events at all. "Did not do X
  in the last N days" (none, or exactly 0, with a window) includes contacts
  created less than N days ago: they did not do X. To leave them out, add a
  property condition created_at more_than_ago N days.
- `first_occurred` and `last_occurred` apply a date operator to the first
  and last time the contact did the event with the attribute filters,
  ignoring the window. A contact that never did the event has no such time:
  positive operators fail and negative ones (not_on, is_not_set) match.
- Without a window, attribute filters or first/last times, counts are read
  from the CustomerEventStats rollup instead of the raw events.

Attribute filters use the segment operator registry with the rules of
tracked data: number operators compare JSON numbers and numeric strings,
and a value of another type never matches and never raises.
"""

import datetime
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Exists, F, Max, Min, OuterRef, Q
from django.utils.dateparse import parse_date

from contacts.models import Customer
from events.models import CustomerEventStats, Event
from segments.catalogue import MISSING, Property, Source
from segments.compiler import TRUE, in_through_own_row, property_q
from segments.evaluator import property_matches
from segments.operators import (
    OPERATORS,
    DateKind,
    PropertyType,
    ScalarTarget,
    shift,
    start_of_day,
)

TIME_KEYS = {"first_occurred": "first_occurred_at", "last_occurred": "last_occurred_at"}
LOAD_CHUNK = 500


@dataclass(frozen=True)
class EventRecord:
    """One event in the form the reference evaluator reads."""

    name: str
    attributes: dict = field(default_factory=dict)
    occurred_at: datetime.datetime | None = None


@dataclass(frozen=True)
class AttributeProperty(Property):
    """An event attribute, read like a tracked-data key but from the
    `attributes` column of Event."""

    @property
    def json_column(self) -> str:
        return "attributes"

    def raw(self, record) -> Any:
        attributes = record.attributes if isinstance(record.attributes, dict) else {}
        return attributes.get(self.key, MISSING)


def attribute_property(key: str) -> AttributeProperty:
    return AttributeProperty(
        name=f"attributes.{key}",
        label=key,
        type=PropertyType.TEXT,
        source=Source.TRACKED,
        model=Event,
        key=key,
    )


# Windows -------------------------------------------------------------------


def window_bounds(within: dict | None, now: datetime.datetime):
    """Return (low, high) aware instants of the window, both inclusive for
    "last" and [low, high) for "between"; (None, None) without a window."""
    if not within:
        return None, None
    if "last" in within:
        return shift(now, -within["last"], within["unit"]), now
    first, last = within["between"]
    after_last = _as_date(last) + datetime.timedelta(days=1)
    return start_of_day(_as_date(first)), start_of_day(after_last)


def _as_date(value) -> datetime.date:
    if isinstance(value, datetime.date):
        return value
    return parse_date(value)


def _in_window(moment, within, low, high) -> bool:
    if low is None:
        return True
    if "last" in within:
        return low <= moment <= high
    return low <= moment < high


def _window_q(within, now) -> Q:
    low, high = window_bounds(within, now)
    if low is None:
        return Q()
    if "last" in within:
        return Q(occurred_at__gte=low, occurred_at__lte=high)
    return Q(occurred_at__gte=low, occurred_at__lt=high)


# SQL -----------------------------------------------------------------------


def _attributes_q(filters: list[dict], now) -> Q:
    q = Q()
    for item in filters:
        operator = OPERATORS[item["operator"]]
        q &= property_q(
            attribute_property(item["attribute"]), operator, item.get("value"), now
        )
    return q


def _uses_rollup(condition: dict) -> bool:
    return not condition.get("within") and not condition.get("attributes")


def _occurrence_counts(condition: dict) -> tuple[str, int]:
    occurrence = condition.get("occurrence") or "at_least"
    count = condition.get("count")
    if count is None:
        count = 0 if occurrence == "none" else 1
    return occurrence, count


def event_condition_q(condition: dict, *, now: datetime.datetime) -> Q:
    """Compile an event condition into a Q over Customer rows.

    Every part is an EXISTS subquery, its negation, or an IN over the
    non-null contact ids of matching events, so the Q is never NULL and a
    negated group is its exact complement.
    """
    name = condition["event"]
    occurrence, count = _occurrence_counts(condition)

    if _uses_rollup(condition):
        stats = CustomerEventStats.objects.filter(customer=OuterRef("pk"), name=name)

        def at_least(number: int) -> Q:
            return Q(Exists(stats.filter(count__gte=number)))

        at_least_negated = at_least
    else:
        matching = Event.objects.filter(name=name).filter(
            _window_q(condition.get("within"), now),
            _attributes_q(condition.get("attributes") or [], now),
        )
        events = matching.filter(customer=OuterRef("pk"))

        def counted(number: int):
            # The contacts with `number` or more matching events, from one
            # grouped pass over the events, as a hand-written GROUP BY ...
            # HAVING would. A probe per contact with OFFSET number - 1 took
            # 9 times as long at 10,000 customers (docs/benchmarks.md).
            return (
                matching.order_by()
                .values("customer")
                .annotate(occurrences=Count("pk"))
                .filter(occurrences__gte=number)
                .values("customer")
            )

        def at_least(number: int) -> Q:
            if number == 1:
                return Q(Exists(events))
            return Q(pk__in=counted(number))

        def at_least_negated(number: int) -> Q:
            # Used only under NOT.
            if number == 1:
                return Q(Exists(events))
            return in_through_own_row(Customer, counted(number))

    q = _occurrence_q(occurrence, count, at_least, at_least_negated)
    for key in TIME_KEYS:
        if condition.get(key):
            q &= _time_q(condition, key, now)
    return q


def _occurrence_q(occurrence: str, count: int, at_least, at_least_negated) -> Q:
    """`at_least(n)` is used as it is; `at_least_negated(n)` only under NOT."""
    if occurrence == "none" or (occurrence in ("at_most", "exactly") and count == 0):
        return ~at_least_negated(1)
    if occurrence == "at_least":
        return TRUE if count == 0 else at_least(count)
    if occurrence == "at_most":
        return ~at_least_negated(count + 1)
    if occurrence == "exactly":
        return at_least(count) & ~at_least_negated(count + 1)
    raise ValueError(f"Unknown occurrence {occurrence!r}.")


def _time_q(condition: dict, key: str, now) -> Q:
    """Match contacts whose first or last time passes the date operator."""
    spec = condition[key]
    operator = OPERATORS[spec["operator"]]
    if operator.complement_of:
        positive = {**spec, "operator": operator.complement_of}
        return ~_time_q({**condition, key: positive}, key, now)

    column = TIME_KEYS[key]
    if not condition.get("attributes"):
        moments = CustomerEventStats.objects.filter(
            customer=OuterRef("pk"), name=condition["event"]
        )
    else:
        aggregate = Min if key == "first_occurred" else Max
        moments = (
            Event.objects.filter(customer=OuterRef("pk"), name=condition["event"])
            .filter(_attributes_q(condition["attributes"], now))
            .order_by()
            .values("customer")
            .annotate(**{column: aggregate("occurred_at")})
        )
    if operator.is_presence:
        return Q(Exists(moments))
    target = ScalarTarget(F(column), PropertyType.DATETIME, DateKind.DATETIME)
    return Q(Exists(moments.filter(operator.sql(target, spec.get("value"), now))))


# Python --------------------------------------------------------------------


def attribute_matches(item: dict, record, now) -> bool:
    """Apply one attribute filter to one event, as the SQL does."""
    return property_matches(
        attribute_property(item["attribute"]),
        OPERATORS[item["operator"]],
        item.get("value"),
        record,
        now,
    )


def _time_matches(spec: dict, moment, now) -> bool:
    operator = OPERATORS[spec["operator"]]
    if operator.complement_of:
        positive = {**spec, "operator": operator.complement_of}
        return not _time_matches(positive, moment, now)
    if moment is None:
        return False
    if operator.is_presence:
        return True
    return operator.test(
        moment, spec.get("value"), now, DateKind.DATETIME, PropertyType.DATETIME
    )


def evaluate_event_condition(condition: dict, events: list, *, now) -> bool:
    """Return whether a contact with these events meets the condition.

    `events` are objects with .name, .attributes and .occurred_at (aware),
    for example from `load_event_records`.
    """
    name = condition["event"]
    filters = condition.get("attributes") or []
    within = condition.get("within")
    low, high = window_bounds(within, now)

    matching = [
        event
        for event in events
        if event.name == name and all(attribute_matches(f, event, now) for f in filters)
    ]
    number = sum(
        1 for event in matching if _in_window(event.occurred_at, within, low, high)
    )

    occurrence, count = _occurrence_counts(condition)
    if occurrence == "none":
        passed = number == 0
    elif occurrence == "at_least":
        passed = number >= count
    elif occurrence == "at_most":
        passed = number <= count
    else:
        passed = number == count

    moments = [event.occurred_at for event in matching]
    times = {
        "first_occurred": min(moments) if moments else None,
        "last_occurred": max(moments) if moments else None,
    }
    for key, moment in times.items():
        if passed and condition.get(key):
            passed = _time_matches(condition[key], moment, now)
    return passed


def load_event_records(customer_ids) -> dict[int, list[EventRecord]]:
    """Return every event of these contacts, oldest first, by contact id."""
    ids = list(customer_ids)
    records: dict[int, list[EventRecord]] = defaultdict(list)
    for start in range(0, len(ids), LOAD_CHUNK):
        rows = (
            Event.objects.filter(customer_id__in=ids[start : start + LOAD_CHUNK])
            .order_by("customer_id", "occurred_at", "pk")
            .values_list("customer_id", "name", "attributes", "occurred_at")
        )
        for customer_id, name, attributes, occurred_at in rows:
            records[customer_id].append(EventRecord(name, attributes, occurred_at))
    return dict(records)
