"""Data for the segment admin pages: the builder's configuration, the size
history chart, the latest entered and exited contacts, the members CSV and
the segment panel of a contact's page."""

from collections.abc import Iterator

from django.urls import reverse
from django.utils.translation import gettext as _

from contacts.models import OwnerType, Tag
from segments import services
from segments.api import COMPANY_CSV_COLUMNS, CUSTOMER_CSV_COLUMNS
from segments.models import Segment, SegmentMembership, SegmentType
from segments.operators import OPERATORS, RELATIVE_UNITS

CHART_WIDTH = 600
CHART_HEIGHT = 160
CHART_SNAPSHOTS = 90
LATEST_STAYS = 10
MAX_OBSERVED_TAGS = 200
MAX_CONTACT_SEGMENTS = 50


def builder_config(request, *, segment: Segment | None, editable: bool) -> dict:
    """Return what the rule builder reads at start: operators, the segments
    it may reference, the API addresses and whether the user may edit."""
    segment_rows = Segment.objects.order_by("content_type", "name").values(
        "id", "name", "content_type", "parent_id"
    )
    tags = Tag.objects.order_by("name").values_list("owner_type", "name")
    observed_tags = {OwnerType.CUSTOMER: [], OwnerType.COMPANY: []}
    for owner_type, name in tags[: MAX_OBSERVED_TAGS * 2]:
        observed_tags.setdefault(owner_type, []).append(name)
    return {
        "segment": segment.pk if segment else None,
        "rules": segment.rules if segment else None,
        "memberCount": segment.member_count if segment else None,
        "countedAt": segment.counted_at.isoformat()
        if segment and segment.counted_at
        else None,
        "contentType": segment.content_type if segment else SegmentType.CUSTOMER,
        "editable": editable,
        "superuser": request.user.is_superuser,
        "operators": [
            {
                "name": operator.name,
                "label": operator.label,
                "types": sorted(operator.types),
                "shape": str(operator.shape),
                "description": operator.description,
            }
            for operator in OPERATORS.values()
        ],
        "relativeUnits": list(RELATIVE_UNITS),
        "contentTypes": {value: str(label) for value, label in SegmentType.choices},
        "segments": list(segment_rows),
        "observedTags": {
            "customer": observed_tags[OwnerType.CUSTOMER][:MAX_OBSERVED_TAGS],
            "company": observed_tags[OwnerType.COMPANY][:MAX_OBSERVED_TAGS],
        },
        "urls": {
            "catalogue": reverse("catalogue"),
            "preview": reverse("segment-preview"),
            "explainPreview": reverse("segment-explain-preview"),
            "explain": reverse("segment-explain", args=[segment.pk])
            if segment
            else None,
        },
    }


def size_history(segment: Segment) -> dict | None:
    """Return the points of an SVG line chart of the segment's size over its
    latest snapshots, or None without snapshots."""
    snapshots = list(
        segment.snapshots.order_by("-taken_at").values_list("taken_at", "member_count")[
            :CHART_SNAPSHOTS
        ]
    )
    if not snapshots:
        return None
    snapshots.reverse()
    highest = max(count for _taken_at, count in snapshots) or 1
    step = CHART_WIDTH / max(len(snapshots) - 1, 1)
    points = " ".join(
        f"{index * step:.1f},{CHART_HEIGHT - count / highest * CHART_HEIGHT:.1f}"
        for index, (_taken_at, count) in enumerate(snapshots)
    )
    return {
        "points": points,
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "highest": highest,
        "first": snapshots[0],
        "last": snapshots[-1],
        "count": len(snapshots),
    }


def stays(segment: Segment) -> dict:
    """Return the latest contacts to enter and to leave the segment."""
    memberships = SegmentMembership.objects.filter(segment=segment).select_related(
        "customer", "company"
    )
    return {
        "entered": list(memberships.order_by("-entered_at", "-pk")[:LATEST_STAYS]),
        "exited": list(
            memberships.filter(exited_at__isnull=False).order_by("-exited_at", "-pk")[
                :LATEST_STAYS
            ]
        ),
    }


def export_rows(segments: list[Segment]) -> tuple[list[str], Iterator[tuple]]:
    """Return the CSV columns and the rows of every member of `segments`,
    each row starting with the segment's id and name.

    All segments must select the same kind of contact, customers or companies.
    """
    is_company = bool(segments) and segments[0].content_type == SegmentType.COMPANY
    columns = COMPANY_CSV_COLUMNS if is_company else CUSTOMER_CSV_COLUMNS

    def rows() -> Iterator[tuple]:
        for segment in segments:
            members = (
                services.members_queryset(segment)
                .order_by("pk")
                .values_list(*columns)
                .iterator(chunk_size=2000)
            )
            for row in members:
                yield (segment.pk, segment.name, *row)

    return ["segment_id", "segment", *columns], rows()


def contact_segments(contact, *, content_type: str) -> list[dict]:
    """Return, for every segment of `content_type`'s kind, whether `contact`
    is a member and why, condition by condition.

    Costs a few queries per segment, so the contact page shows at most
    MAX_CONTACT_SEGMENTS segments.
    """
    if content_type == SegmentType.COMPANY:
        segments = Segment.objects.filter(content_type=SegmentType.COMPANY)
    else:
        segments = Segment.objects.filter(content_type=content_type)
    panels = []
    for segment in segments.select_related("parent").order_by("name")[
        :MAX_CONTACT_SEGMENTS
    ]:
        result = services.why(segment, contact)
        rows = why_rows(result["tree"]) if "tree" in result else []
        panels.append({"segment": segment, "rows": rows, "member": result["member"]})
    panels.sort(key=lambda panel: (not panel["member"], panel["segment"].name))
    return panels


def describe(node: dict) -> str:
    """Describe one condition of a rule tree in words, for the why tree."""
    kind = node.get("type", "group")
    if kind == "group":
        words = _("all of") if node.get("conjunction") == "and" else _("any of")
        return f"{_('not') + ' ' if node.get('negate') else ''}{words}"
    if kind == "property":
        operator = OPERATORS.get(node.get("operator"))
        label = operator.label if operator else node.get("operator")
        value = _value_words(node.get("value"))
        return " ".join(part for part in [node.get("property"), label, value] if part)
    if kind == "event":
        occurrence = (node.get("occurrence") or "at_least").replace("_", " ")
        count = node.get("count")
        times = "" if occurrence == "none" else f" {count if count is not None else 1}"
        filters = ", ".join(
            f"{item.get('attribute')} {_operator_label(item.get('operator'))} "
            f"{_value_words(item.get('value'))}".strip()
            for item in node.get("attributes") or []
        )
        text = _("did %(event)s %(occurrence)s%(times)s") % {
            "event": node.get("event"),
            "occurrence": occurrence,
            "times": times,
        }
        return f"{text} ({filters})" if filters else text
    if kind == "segment":
        name = (
            Segment.objects.filter(pk=node.get("segment"))
            .values_list("name", flat=True)
            .first()
        )
        prefix = _("not in segment") if node.get("negate") else _("in segment")
        return f'{prefix} "{name or node.get("segment")}"'
    return kind


def _operator_label(name) -> str:
    operator = OPERATORS.get(name)
    return operator.label if operator else str(name)


def _value_words(value) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    if isinstance(value, dict):
        return " ".join(str(item) for item in value.values())
    return str(value)


def why_rows(node: dict, depth: int = 0) -> list[dict]:
    """Flatten a why tree into rows with their depth, for a template."""
    rows = [{"depth": depth, "text": describe(node), "matched": node.get("matched")}]
    for child in node.get("conditions", []):
        rows.extend(why_rows(child, depth + 1))
    return rows
