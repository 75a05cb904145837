"""Query services over segments: members, counts, previews of unsaved rules,
explain and why. Every caller (admin, API, recount, exports, list filters)
goes through these, so a count and a member list always agree."""

import copy
import datetime
from typing import Any

from django.db.models import Count, F, Q, QuerySet, Subquery
from django.db.models.constants import LOOKUP_SEP
from django.db.models.sql import Query
from django.utils import timezone

from segments.compiler import Compiler, base_q, base_queryset, contact_model
from segments.rules import validate_rules

__all__ = [
    "base_queryset",
    "count_segment",
    "explain",
    "members_q",
    "members_queryset",
    "preview_count",
    "preview_queryset",
    "why",
]


def _now(now: datetime.datetime | None) -> datetime.datetime:
    return now if now is not None else timezone.now()


def segment_q(segment, *, now: datetime.datetime | None = None) -> Q:
    """Return the Q that selects a saved segment's members within its base
    queryset: its parent chain's rules and its own (open memberships for a
    static segment)."""
    return Compiler(segment.content_type, now=_now(now)).segment_q(segment)


def members_q(segment, *, now: datetime.datetime | None = None) -> Q:
    """Return the Q that keeps the segment's members on its model's whole
    table: base ∩ parent chain ∩ own rules. Every part tests the row itself
    or an EXISTS / IN subquery, so it filters any queryset of that model
    without joining rows in or out."""
    return base_q(segment.content_type) & segment_q(segment, now=now)


def members_queryset(segment, *, now: datetime.datetime | None = None) -> QuerySet:
    """Return the segment's members: base ∩ parent chain ∩ own rules."""
    model = contact_model(segment.content_type)
    return model.objects.filter(members_q(segment, now=now))


def count_segment(segment, *, now: datetime.datetime | None = None) -> int:
    return members_queryset(segment, now=now).count()


def _parent_q(parent, content_type: str, now) -> Q:
    if parent is None:
        return Q()
    return Compiler(content_type, now=now).segment_q(parent)


def _preview_q(rules, *, content_type: str, parent, segment, now) -> Q:
    """Validate unsaved rules and return the Q of base ∩ parent ∩ rules."""
    normalised = validate_rules(
        rules, content_type=content_type, segment=segment, parent=parent
    )
    q = Compiler(content_type, now=now).compile(normalised)
    return _parent_q(parent, content_type, now) & q


def preview_queryset(
    rules,
    *,
    content_type: str,
    parent=None,
    segment=None,
    now: datetime.datetime | None = None,
) -> QuerySet:
    """Validate unsaved rules and return the contacts they would select:
    base ∩ parent's members ∩ the rules."""
    q = _preview_q(
        rules, content_type=content_type, parent=parent, segment=segment, now=_now(now)
    )
    return base_queryset(content_type).filter(q)


def preview_count(
    rules,
    *,
    content_type: str,
    parent=None,
    segment=None,
    now: datetime.datetime | None = None,
) -> dict[str, int]:
    """Count what unsaved rules select ("count") out of every contact of the
    content type ("total").

    When the rules read only the contact's own row, one scan counts both
    (COUNT ... FILTER), so a preview costs what the saved count costs. Rules
    with subqueries count in two queries, because as a FILTER each subquery
    would run once per contact instead of as a join.
    """
    q = _preview_q(
        rules, content_type=content_type, parent=parent, segment=segment, now=_now(now)
    )
    base = base_queryset(content_type)
    if reads_other_tables(q):
        return {"count": base.filter(q).count(), "total": base.count()}
    return base.aggregate(count=Count("pk", filter=q), total=Count("pk"))


def reads_other_tables(node) -> bool:
    """Return True when a Q or expression contains a subquery or a lookup
    that joins another table, which a COUNT ... FILTER would evaluate row by
    row."""
    if isinstance(node, Q):
        return any(_child_reads_other_tables(child) for child in node.children)
    if isinstance(node, QuerySet | Query | Subquery):
        return True
    if isinstance(node, F):
        return LOOKUP_SEP in node.name
    if hasattr(node, "get_source_expressions"):
        parts = list(node.get_source_expressions())
        parts += [getattr(node, name, None) for name in ("lhs", "rhs")]
        return any(reads_other_tables(part) for part in parts if part is not None)
    if isinstance(node, list | tuple | set):
        return any(reads_other_tables(item) for item in node)
    return False


def _child_reads_other_tables(child) -> bool:
    if isinstance(child, tuple) and len(child) == 2 and isinstance(child[0], str):
        lookup, value = child
        return LOOKUP_SEP in lookup or reads_other_tables(value)
    return reads_other_tables(child)


# Explain and why -------------------------------------------------------------


def _numbered(node: dict, path: str, nodes: list) -> dict:
    """Copy the tree, numbering every node in `nodes` for the aggregate."""
    copied = {
        key: value for key, value in node.items() if key not in ("conditions", "where")
    }
    copied["path"] = path or "rules"
    nodes.append((copied, node, path))
    if node.get("type", "group") == "group":
        prefix = f"{path}." if path else ""
        copied["conditions"] = [
            _numbered(child, f"{prefix}conditions[{index}]", nodes)
            for index, child in enumerate(node.get("conditions") or [])
        ]
    elif node.get("type") == "contacts" and isinstance(node.get("where"), dict):
        copied["where"] = copy.deepcopy(node["where"])
    return copied


def _node_counts(scope: QuerySet, rules: dict, content_type: str, now) -> tuple:
    """Count, in one query, the rows of `scope` each node of the tree matches
    on its own."""
    compiler = Compiler(content_type, now=now)
    nodes: list = []
    tree = _numbered(rules, "", nodes)
    aggregates: dict[str, Any] = {"total": Count("pk")}
    for index, (_copied, node, path) in enumerate(nodes):
        q = compiler.node(node, path, compiler.catalogue)
        aggregates[f"n{index}"] = Count("pk", filter=q)
    counts = scope.order_by().aggregate(**aggregates)
    for index, (copied, _node, _path) in enumerate(nodes):
        copied["matches"] = counts[f"n{index}"]
    return tree, counts["total"]


def _target(rules_or_segment, content_type, parent):
    if isinstance(rules_or_segment, dict) or rules_or_segment is None:
        return None, rules_or_segment, content_type, parent
    segment = rules_or_segment
    parent = segment.parent if segment.parent_id else None
    return segment, segment.rules, segment.content_type, parent


def explain(
    rules_or_segment,
    *,
    content_type: str | None = None,
    parent=None,
    now: datetime.datetime | None = None,
) -> dict:
    """Explain a segment or unsaved rules: the tree with the number of
    contacts each condition and group matches on its own (within the base
    and the parent's members), the final count and the SQL."""
    now = _now(now)
    segment, rules, content_type, parent = _target(
        rules_or_segment, content_type, parent
    )
    if segment is not None and segment.is_static:
        members = members_queryset(segment, now=now)
        return {
            "static": True,
            "count": members.count(),
            "total": base_queryset(content_type).count(),
            "sql": str(members.query),
        }
    rules = validate_rules(
        rules, content_type=content_type, segment=segment, parent=parent
    )
    scope = base_queryset(content_type).filter(_parent_q(parent, content_type, now))
    tree, scope_count = _node_counts(scope, rules, content_type, now)
    members = scope.filter(Compiler(content_type, now=now).compile(rules))
    return {
        "static": False,
        "tree": tree,
        "count": tree["matches"],
        "parent_members": scope_count if parent is not None else None,
        "total": base_queryset(content_type).count(),
        "sql": str(members.query),
    }


def _mark(node: dict) -> None:
    node["matched"] = bool(node.pop("matches"))
    for child in node.get("conditions", []):
        _mark(child)


def why(segment, contact, *, now: datetime.datetime | None = None) -> dict:
    """Explain why one contact is or is not in a segment: every condition of
    the tree marked true or false for that contact."""
    now = _now(now)
    model = contact_model(segment.content_type)
    in_base = base_queryset(segment.content_type).filter(pk=contact.pk).exists()
    if segment.is_static:
        member = members_queryset(segment, now=now).filter(pk=contact.pk).exists()
        return {"static": True, "in_base": in_base, "member": member}
    one = model.objects.filter(pk=contact.pk)
    in_parent = True
    if segment.parent_id:
        parent_q = _parent_q(segment.parent, segment.content_type, now)
        in_parent = one.filter(parent_q).exists()
    tree, _found = _node_counts(one, segment.rules, segment.content_type, now)
    _mark(tree)
    return {
        "static": False,
        "in_base": in_base,
        "in_parent": in_parent if segment.parent_id else None,
        "tree": tree,
        "member": in_base and in_parent and tree["matched"],
    }
