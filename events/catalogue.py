"""The event catalogue: event names with counts, and the attribute keys seen
on each with their observed types, for the rule builder and the API.

Counts come from the rollup table. Attribute keys come from a sample of each
event's latest occurrences, so a key used only on old events may be missing.
"""

from collections import Counter
from typing import Any

from django.db.models import Count, Sum

from events.models import CustomerEventStats, Event
from segments.catalogue import KEY_PATTERN
from segments.sql import DATE_RE, json_number

MAX_EVENT_NAMES = 200
SAMPLE_SIZE = 500
MAX_KEYS_PER_EVENT = 100


def observed_type(value: Any) -> str | None:
    """Return the segment property type a JSON value reads as, or None.

    Strings holding a number or a YYYY-MM-DD date count as number or date,
    as the number and date operators read them.
    """
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        if json_number(value) is not None:
            return "number"
        if DATE_RE.match(value):
            return "date"
        return "text"
    if isinstance(value, list):
        return "multiple_choice"
    return None


def attribute_keys(name: str, *, sample_size: int = SAMPLE_SIZE) -> list[dict]:
    """Return the attribute keys of an event's latest occurrences, the most
    frequent first, each with its types, the most frequent first."""
    samples = (
        Event.objects.filter(name=name)
        .order_by("-occurred_at")
        .values_list("attributes", flat=True)[:sample_size]
    )
    seen: dict[str, Counter] = {}
    for attributes in samples:
        if not isinstance(attributes, dict):
            continue
        for key, value in attributes.items():
            type_ = observed_type(value)
            if type_ is None or not KEY_PATTERN.match(key):
                continue
            seen.setdefault(key, Counter())[type_] += 1

    ranked = sorted(seen, key=lambda key: (-sum(seen[key].values()), key))
    return [
        {
            "key": key,
            "types": [type_ for type_, _count in seen[key].most_common()],
        }
        for key in ranked[:MAX_KEYS_PER_EVENT]
    ]


def event_catalogue(
    *, max_names: int = MAX_EVENT_NAMES, sample_size: int = SAMPLE_SIZE
) -> list[dict]:
    """Return the most frequent event names with their total count, the
    number of contacts that did each, and their attribute keys.

    Costs one query for the names and one per name for the sample.
    """
    names = (
        CustomerEventStats.objects.order_by()
        .values("name")
        .annotate(count=Sum("count"), contacts=Count("customer"))
        .order_by("-count", "name")[:max_names]
    )
    return [
        {
            "name": row["name"],
            "count": row["count"],
            "contacts": row["contacts"],
            "attributes": attribute_keys(row["name"], sample_size=sample_size),
        }
        for row in names
    ]
