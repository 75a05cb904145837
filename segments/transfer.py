"""Export segments to erxseg JSON and import them back.

The file format:

    {"format": "erxseg.segments", "version": 1, "exported_at": "...",
     "segments": [{"id": 3, "name": "...", "description": "", "color": "#4f46e5",
                   "content_type": "customer", "parent": 2, "is_static": false,
                   "rules_version": 1, "rules": {...}}]}

Ids in the file only link segments inside the file: "parent" and the
"segment" of segment conditions name another entry's "id". An import creates
new segments and rewrites those links to the new ids.
"""

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from segments.audit import record_segment_change
from segments.models import Segment, SegmentType
from segments.recount import recount_order

FORMAT_NAME = "erxseg.segments"
FORMAT_VERSION = 1
SEGMENT_KEYS = {
    "id",
    "name",
    "description",
    "color",
    "content_type",
    "parent",
    "is_static",
    "rules_version",
    "rules",
}


class SegmentImportError(Exception):
    """Raised when a file cannot be imported; `errors` lists every problem,
    each starting with the path of the bad value."""

    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__(
            f"The file was not imported because of {len(errors)} error(s): "
            + " ".join(errors)
        )


@dataclass
class ImportResult:
    created: list[Segment] = field(default_factory=list)
    # File id to the id of the segment created for it.
    id_map: dict = field(default_factory=dict)


def export_payload(segments: Iterable[Segment]) -> dict:
    """Build the export for `segments` plus every parent and referenced
    segment they need, dependencies first, so the file imports on its own."""
    requested = {segment.pk for segment in segments}
    closure = set()
    pending = list(requested)
    by_id = {segment.pk: segment for segment in Segment.objects.all()}
    while pending:
        pk = pending.pop()
        if pk in closure or pk not in by_id:
            continue
        closure.add(pk)
        pending.extend(by_id[pk].dependency_ids())

    ordered = recount_order(by_id[pk] for pk in closure)
    return {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "exported_at": timezone.now().isoformat(),
        "segments": [segment_entry(segment) for segment in ordered],
    }


def segment_entry(segment: Segment) -> dict:
    return {
        "id": segment.pk,
        "name": segment.name,
        "description": segment.description,
        "color": segment.color,
        "content_type": segment.content_type,
        "parent": segment.parent_id,
        "is_static": segment.is_static,
        "rules_version": segment.rules_version,
        "rules": segment.rules,
    }


def import_payload(
    payload,
    *,
    dry_run: bool = False,
    labels: dict | None = None,
    source: str = "Segment import",
) -> ImportResult:
    """Create the segments of an erxseg export, or raise SegmentImportError
    and create nothing.

    Every segment is validated with validate_rules after its links are
    rewritten. With `dry_run` the work is done and then rolled back, so the
    caller learns whether the file would import. `labels` maps file ids to
    the names errors use for them, such as the path in the original file of
    a converted erxes export. Each created segment gets an audit row with no
    user and `source` as its note, written and rolled back with the segment.
    """
    entries = check_payload(payload)
    result = ImportResult()
    errors: list[str] = []

    with transaction.atomic():
        for index in import_order(entries, errors):
            create_entry(entries, index, result, errors, labels or {})
        if not errors:
            for segment in result.created:
                record_segment_change(segment, before=None, user=None, source=source)
        if errors:
            transaction.set_rollback(True)
            raise SegmentImportError(errors)
        if dry_run:
            transaction.set_rollback(True)
    return result


def check_payload(payload) -> list[dict]:
    """Check the envelope and each entry's keys and types, and return the
    entries; raise SegmentImportError listing every problem."""
    if not isinstance(payload, dict) or payload.get("format") != FORMAT_NAME:
        raise SegmentImportError(
            [
                f'The file is not an erxseg segment export: "format" must be '
                f'"{FORMAT_NAME}". Use --format erxes for an erxes export.'
            ]
        )
    if payload.get("version") != FORMAT_VERSION:
        raise SegmentImportError(
            [
                f"version: {payload.get('version')!r} is not supported. "
                f"Export the segments again with this erxseg (version "
                f"{FORMAT_VERSION})."
            ]
        )
    entries = payload.get("segments")
    if not isinstance(entries, list):
        raise SegmentImportError(["segments: Expected a list of segments."])

    errors = []
    seen_ids = set()
    for index, entry in enumerate(entries):
        errors.extend(entry_errors(entry, f"segments[{index}]", seen_ids))
    if errors:
        raise SegmentImportError(errors)
    return entries


def entry_errors(entry, path: str, seen_ids: set) -> list[str]:
    if not isinstance(entry, dict):
        return [f"{path}: Expected an object with a name, content_type and rules."]

    errors = []
    unknown = sorted(set(entry) - SEGMENT_KEYS)
    if unknown:
        errors.append(
            f"{path}: Unknown keys {', '.join(unknown)}. Remove them; the known "
            f"keys are {', '.join(sorted(SEGMENT_KEYS))}."
        )
    file_id = entry.get("id")
    if not isinstance(file_id, int | str) or isinstance(file_id, bool):
        errors.append(f"{path}.id: Give each segment a number or text id.")
    elif file_id in seen_ids:
        errors.append(f"{path}.id: The id {file_id!r} is used twice in the file.")
    else:
        seen_ids.add(file_id)
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        errors.append(f"{path}.name: Give the segment a name.")
    elif len(name) > Segment._meta.get_field("name").max_length:
        errors.append(f"{path}.name: Shorten the name to 200 characters or fewer.")
    if entry.get("content_type") not in SegmentType.values:
        errors.append(
            f"{path}.content_type: {entry.get('content_type')!r} is not a segment "
            f"type. Use one of {', '.join(SegmentType.values)}."
        )
    if not isinstance(entry.get("rules"), dict):
        errors.append(f"{path}.rules: Expected a rule group object.")
    for key in ("description", "color"):
        if key in entry and not isinstance(entry[key], str):
            errors.append(f"{path}.{key}: Expected text.")
    if "is_static" in entry and not isinstance(entry["is_static"], bool):
        errors.append(f"{path}.is_static: Expected true or false.")
    return errors


def import_order(entries: list[dict], errors: list[str]) -> list[int]:
    """Return entry indexes with parents and referenced segments first."""
    index_of = {entry["id"]: index for index, entry in enumerate(entries)}
    dependencies = {}
    for index, entry in enumerate(entries):
        needed = set(file_references(entry["rules"]))
        if entry.get("parent") is not None:
            needed.add(entry["parent"])
        dependencies[index] = {index_of[ref] for ref in needed if ref in index_of}

    ordered: list[int] = []
    remaining = list(range(len(entries)))
    while remaining:
        ready = [i for i in remaining if dependencies[i] <= set(ordered)]
        if not ready:
            names = ", ".join(f'"{entries[i]["name"]}"' for i in remaining)
            errors.append(
                f"segments: The segments {names} depend on each other in a "
                "cycle. Remove the parent or segment reference that closes it."
            )
            return ordered
        ordered.extend(ready)
        remaining = [i for i in remaining if i not in ready]
    return ordered


def file_references(rules) -> list:
    """Return the file ids that segment conditions in `rules` point to,
    which may be text ids in a converted erxes export."""
    found = []
    if not isinstance(rules, dict):
        return found
    if rules.get("type") == "segment" and "segment" in rules:
        found.append(rules["segment"])
    for condition in rules.get("conditions") or ():
        found.extend(file_references(condition))
    if isinstance(rules.get("where"), dict):
        found.extend(file_references(rules["where"]))
    return found


def create_entry(
    entries, index: int, result: ImportResult, errors: list[str], labels: dict
):
    """Validate one entry with its links rewritten and create its segment,
    or append its errors."""
    from segments.rules import validate_rules

    entry = entries[index]
    path = labels.get(entry["id"], f'segments[{index}] "{entry["name"]}"')
    missing = [
        ref
        for ref in [entry.get("parent"), *file_references(entry["rules"])]
        if ref is not None and ref not in result.id_map
    ]
    if missing:
        known = {item["id"] for item in entries}
        for ref in missing:
            if ref in known:
                reason = "was not imported because of its own errors"
            else:
                reason = "is not in the file. Export it together with this segment"
            errors.append(f"{path}: The segment with id {ref!r} {reason}.")
        return

    parent = None
    if entry.get("parent") is not None:
        parent = Segment.objects.get(pk=result.id_map[entry["parent"]])
        if parent.content_type != entry["content_type"]:
            errors.append(
                f"{path}.parent: The parent selects {parent.content_type}, but "
                f"this segment selects {entry['content_type']}. Use a parent of "
                "the same type."
            )
            return
    rules = rewrite_references(entry["rules"], result.id_map)
    try:
        rules = validate_rules(rules, content_type=entry["content_type"], parent=parent)
    except ValidationError as error:
        errors.extend(f"{path}.{message}" for message in rule_messages(error))
        return

    segment = Segment.objects.create(
        name=entry["name"].strip(),
        description=entry.get("description", ""),
        color=entry.get("color") or Segment._meta.get_field("color").default,
        content_type=entry["content_type"],
        parent=parent,
        is_static=entry.get("is_static", False),
        rules_version=entry.get("rules_version", 1),
        rules=rules,
    )
    result.created.append(segment)
    result.id_map[entry["id"]] = segment.pk


def rule_messages(error: ValidationError) -> list[str]:
    """Return "<condition path>: <message>" lines, with "rules" standing for
    the whole tree."""
    if not hasattr(error, "error_dict"):
        return [f"rules: {message}" for message in error.messages]
    lines = []
    for condition_path, messages in error.message_dict.items():
        if condition_path not in ("rules", "parent"):
            condition_path = f"rules.{condition_path}"
        lines.extend(f"{condition_path}: {message}" for message in messages)
    return lines


def rewrite_references(rules: dict, id_map: dict) -> dict:
    """Return a copy of `rules` whose segment conditions point to new ids."""
    rules = copy.deepcopy(rules)
    stack = [rules]
    while stack:
        node = stack.pop()
        if not isinstance(node, dict):
            continue
        if node.get("type") == "segment" and node.get("segment") in id_map:
            node["segment"] = id_map[node["segment"]]
        stack.extend(node.get("conditions") or ())
        if isinstance(node.get("where"), dict):
            stack.append(node["where"])
    return rules
