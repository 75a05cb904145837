"""Compile a validated rule tree into one Q over Customer or Company.

Each condition kind becomes one Q, joined with &, | and ~. Conditions on
other tables (tags, companies, contacts, referenced segments, events) are
subqueries, so a count is one SQL statement (plus lookups of custom fields
and referenced segments) whatever the number of contacts. Every leaf is
two-valued (never NULL), which makes a negated condition the exact
complement of the condition.
"""

import datetime

from django.core.exceptions import ValidationError
from django.db.models import Count, Exists, OuterRef, Q
from django.utils.translation import gettext as _

from contacts.models import Company, Customer
from segments.catalogue import COMPANY_SEGMENT, Catalogue, Property, Source
from segments.operators import OPERATORS, Operator, SetTarget

# Far more than any valid tree needs, so it is reached only when stored
# segments form a cycle that validation did not see.
MAX_COMPILE_DEPTH = 64

# Always-true and always-false conditions. An empty Q() cannot be used for
# either, because Django drops it, so ~Q() would still match everything.
TRUE = Q(pk__isnull=False)
FALSE = Q(pk__in=[])


def contact_model(content_type: str):
    """Return the model whose rows segments of this content type select."""
    return Company if content_type == COMPANY_SEGMENT else Customer


def base_q(content_type: str) -> Q:
    """Return the Q that keeps, on its model's whole table, every contact a
    segment of this content type can select."""
    if content_type == COMPANY_SEGMENT:
        return Q()
    return Q(state=content_type)


def base_queryset(content_type: str):
    """Return every contact a segment of this content type can select."""
    return contact_model(content_type).objects.filter(base_q(content_type))


def in_through_own_row(model, ids) -> Q:
    """Return the Q "pk IN ids", written as an EXISTS over the row itself.

    Use it where the Q is negated. PostgreSQL turns NOT EXISTS into an
    anti-join at any size, but may run NOT (pk IN ...) once per row when
    the subquery's result outgrows work_mem.
    """
    return Q(Exists(model.objects.filter(pk=OuterRef("pk"), pk__in=ids)))


class Compiler:
    """Compile rule trees of one content type at one moment `now`."""

    def __init__(
        self,
        content_type: str,
        *,
        now: datetime.datetime,
        depth: int = 0,
        segments: dict | None = None,
    ):
        self.content_type = content_type
        self.now = now
        self.depth = depth
        self.catalogue = Catalogue(content_type, discover_tracked=False)
        self.contact_catalogue: Catalogue | None = None
        # Referenced and parent segments, by id, shared by nested compilers.
        self.segments = segments if segments is not None else {}

    def compile(self, rules: dict) -> Q:
        return self.node(rules or {}, "", self.catalogue)

    def node(self, node: dict, path: str, catalogue: Catalogue) -> Q:
        kind = node.get("type", "group")
        if kind == "group":
            return self.group(node, path, catalogue)
        if kind == "property":
            return self.property(node, path, catalogue)
        if kind == "segment":
            return self.segment_reference(node, path)
        if kind == "contacts":
            return self.contacts(node, path)
        if kind == "event":
            return self.event(node, path)
        raise ValidationError(
            {path or "rules": _("The condition type %(value)s is unknown.")},
            params={"value": kind},
        )

    def group(self, node: dict, path: str, catalogue: Catalogue) -> Q:
        parts = [
            self.node(child, _join(path, f"conditions[{index}]"), catalogue)
            for index, child in enumerate(node.get("conditions") or [])
        ]
        if not parts:
            q = TRUE
        elif node.get("conjunction", "and") == "or":
            q = parts[0]
            for part in parts[1:]:
                q |= part
        else:
            q = parts[0]
            for part in parts[1:]:
                q &= part
        return ~q if node.get("negate") else q

    def property(self, node: dict, path: str, catalogue: Catalogue) -> Q:
        prop = catalogue.get(node.get("property"))
        operator = OPERATORS.get(node.get("operator"))
        if prop is None or operator is None:
            raise ValidationError(
                {
                    _join(path, "property"): _(
                        "The property %(property)s with operator %(operator)s "
                        "is no longer in the catalogue. Edit the condition."
                    )
                },
                params={
                    "property": node.get("property"),
                    "operator": node.get("operator"),
                },
            )
        return property_q(prop, operator, node.get("value"), self.now)

    def segment_reference(self, node: dict, path: str) -> Q:
        segment = self.load_segment(node["segment"], path)
        members = self.nested(segment.content_type).members(segment)
        q = Q(pk__in=members.values("pk"))
        return ~q if node.get("negate") else q

    def contacts(self, node: dict, path: str) -> Q:
        if self.contact_catalogue is None:
            self.contact_catalogue = Catalogue("customer", discover_tracked=False)
        where = self.node(
            node.get("where") or {}, _join(path, "where"), self.contact_catalogue
        )
        linked = Customer.objects.filter(companies=OuterRef("pk")).filter(where)
        occurrence, count = node.get("occurrence", "at_least"), node.get("count", 1)
        if occurrence == "none" or (occurrence != "at_least" and count == 0):
            return ~Q(Exists(linked))
        if occurrence == "at_least" and count <= 1:
            return TRUE if count == 0 else Q(Exists(linked))
        # Count every company's matching contacts in one grouped pass, as a
        # hand-written GROUP BY ... HAVING would. A correlated count per
        # company took 5 times as long at 50,000 companies for "at least"
        # (docs/benchmarks.md).
        links = Customer.companies.through.objects.filter(
            customer__in=Customer.objects.filter(where)
        )

        def grouped(lookup: str, number: int):
            return (
                links.order_by()
                .values("company")
                .annotate(matching=Count("pk"))
                .filter(**{f"matching__{lookup}": number})
                .values("company")
            )

        if occurrence == "at_least":
            return Q(pk__in=grouped("gte", count))
        if occurrence == "exactly":
            return Q(pk__in=grouped("exact", count))
        # At most N is "not at least N + 1".
        return ~in_through_own_row(Company, grouped("gte", count + 1))

    def event(self, node: dict, path: str) -> Q:
        try:
            from events.conditions import event_condition_q
        except ImportError:
            raise ValidationError(
                {
                    path or "rules": _(
                        "Event conditions need the events app, which is not installed."
                    )
                }
            ) from None
        return event_condition_q(node, now=self.now)

    # Segments --------------------------------------------------------------

    def nested(self, content_type: str) -> "Compiler":
        if self.depth >= MAX_COMPILE_DEPTH:
            raise ValidationError(
                {
                    "rules": _(
                        "Segments reference each other in a cycle. Remove one of the "
                        "references."
                    )
                }
            )
        return Compiler(
            content_type, now=self.now, depth=self.depth + 1, segments=self.segments
        )

    def load_segment(self, segment_id: int, path: str):
        from segments.models import Segment

        if segment_id not in self.segments:
            self.segments[segment_id] = Segment.objects.filter(pk=segment_id).first()
        segment = self.segments[segment_id]
        if segment is None:
            raise ValidationError(
                {
                    _join(path, "segment"): _(
                        "The segment %(id)s does not exist. Pick an existing segment."
                    )
                },
                params={"id": segment_id},
            )
        return segment

    def segment_q(self, segment) -> Q:
        """Return the Q of a saved segment's own rules and its parents'."""
        if segment.is_static:
            return Q(pk__in=static_members(segment))
        q = self.compile(segment.rules)
        if segment.parent_id:
            parent = self.load_segment(segment.parent_id, "parent")
            q &= self.nested(parent.content_type).segment_q(parent)
        return q

    def members(self, segment):
        return base_queryset(segment.content_type).filter(self.segment_q(segment))


def static_members(segment):
    """Return the ids of a static segment's members (open memberships)."""
    from segments.models import SegmentMembership

    column = "company_id" if segment.content_type == COMPANY_SEGMENT else "customer_id"
    return SegmentMembership.objects.filter(
        segment=segment, exited_at__isnull=True
    ).values(column)


def _join(path: str, part: str) -> str:
    if not path:
        return part
    return f"{path}.{part}"


def property_q(prop: Property, operator: Operator, value, now) -> Q:
    """Compile one property condition."""
    if operator.complement_of:
        return ~property_q(prop, OPERATORS[operator.complement_of], value, now)
    if operator.is_presence:
        return prop.is_set_q()
    if prop.source == Source.COMPANY:
        return prop.linked_companies_q(property_q(prop.inner, operator, value, now))
    type_ = prop.type_for(operator, value)
    target = prop.target(type_)
    if isinstance(target, SetTarget) != (
        operator.name in ("includes_any", "includes_all")
    ):
        raise ValueError(f"{operator.name} does not apply to {prop.name}.")
    return operator.sql(target, value, now)


def compile_rules(rules: dict, *, content_type: str, now: datetime.datetime) -> Q:
    """Compile a validated rule tree into a Q over the content type's model."""
    return Compiler(content_type, now=now).compile(rules)
