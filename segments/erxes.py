"""Convert erxes segment JSON into an erxseg export.

erxes stores a segment as {_id, name, description, color, contentType, subOf,
conditionsConjunction, conditions}. A condition is a property condition
(propertyType, propertyName, propertyOperator, propertyValue), an event
condition (eventName, eventOccurence, eventOccurenceValue,
eventAttributeFilters) or a subSegment condition (subSegmentId). Since 2022
the erxes UI stores each group of conditions as a nameless segment, which the
named segment references with a subSegment condition. The converter inlines
those groups as nested groups.

The semantics follow erxes's Elasticsearch query builder: "greater than" and
"less than" are inclusive, "contains" ignores case, and property values are
always strings. Anything without an erxseg equivalent is listed in the
report with its erxes path and left out of the converted segment.
"""

import re
from dataclasses import dataclass, field
from datetime import date, datetime

from segments.models import SegmentType
from segments.transfer import FORMAT_NAME, FORMAT_VERSION

# erxes operator token -> (erxseg operator, kind of value it takes).
OPERATORS = {
    "e": ("is", "text"),
    "dne": ("is_not", "text"),
    "c": ("contains", "text"),
    "dnc": ("not_contains", "text"),
    "is": ("is_set", "none"),
    "ins": ("is_not_set", "none"),
    "it": ("is_true", "none"),
    "if": ("is_false", "none"),
    "numbere": ("eq", "number"),
    "numberdne": ("ne", "number"),
    # erxes compiles both to an inclusive range (gte / lte) despite the
    # "greater than" and "less than" labels.
    "numberigt": ("gte", "number"),
    "numberilt": ("lte", "number"),
    "igt": ("gte", "number"),
    "ilt": ("lte", "number"),
    "dateigt": ("on_or_after", "date"),
    "dateilt": ("on_or_before", "date"),
    # wobm and wobd match a date in the minute or day N units from now.
    # woam and woad match a date in the minute or day N units ago.
    "wobm": ("exactly_ahead", "minutes"),
    "woam": ("exactly_ago", "minutes"),
    "wobd": ("exactly_ahead", "days"),
    "woad": ("exactly_ago", "days"),
    "drlt": ("on_or_before", "date_or_math"),
    "drgt": ("on_or_after", "date_or_math"),
    "dateis": ("is_set", "none"),
    "dateins": ("is_not_set", "none"),
}

NEGATIVE_TOKENS = {"dne", "dnc", "ins", "numberdne", "dateins"}

CONTENT_TYPES = {
    "customer": SegmentType.CUSTOMER,
    "core:customer": SegmentType.CUSTOMER,
    "contacts:customer": SegmentType.CUSTOMER,
    "core:contacts.customers": SegmentType.CUSTOMER,
    "lead": SegmentType.LEAD,
    "core:lead": SegmentType.LEAD,
    "contacts:lead": SegmentType.LEAD,
    "visitor": SegmentType.VISITOR,
    "core:visitor": SegmentType.VISITOR,
    "contacts:visitor": SegmentType.VISITOR,
    "company": SegmentType.COMPANY,
    "core:company": SegmentType.COMPANY,
    "contacts:company": SegmentType.COMPANY,
    "core:contacts.companies": SegmentType.COMPANY,
}

CUSTOMER_PROPERTIES = {
    "firstName": "first_name",
    "lastName": "last_name",
    "primaryEmail": "primary_email",
    "emails": "emails",
    "primaryPhone": "primary_phone",
    "birthDate": "birth_date",
    "sex": "sex",
    "position": "position",
    "department": "department",
    "leadStatus": "lead_status",
    "code": "code",
    "createdAt": "created_at",
    "modifiedAt": "updated_at",
    "updatedAt": "updated_at",
    "lastSeenAt": "last_seen_at",
    "sessionCount": "session_count",
    "isSubscribed": "is_subscribed",
    "doNotDisturb": "do_not_disturb",
    "location.country": "country",
    "location.countryCode": "country",
    "location.city": "city",
    "location.region": "region",
    "location.language": "language",
    "location.userAgent": "user_agent",
    "tagIds": "tags",
    "companies": "companies",
}

COMPANY_PROPERTIES = {
    "primaryName": "name",
    "name": "name",
    "names": "name",
    "website": "website",
    "links.website": "website",
    "industry": "industry",
    "size": "size",
    "plan": "plan",
    "businessType": "business_type",
    "country": "country",
    "location.country": "country",
    "createdAt": "created_at",
    "modifiedAt": "updated_at",
    "updatedAt": "updated_at",
    "tagIds": "tags",
}

UNSUPPORTED_PROPERTIES = {
    "state": "erxseg selects the state through the segment's content type",
    "ownerId": "erxes stores owners as user ids that do not exist in erxseg",
    "integrationId": "erxseg has no integrations",
    "relatedIntegrationIds": "erxseg has no integrations",
    "scopeBrandIds": "erxseg has no brands",
    "parentCompanyId": "erxes stores the parent company as an id",
    "middleName": "erxseg customers have no middle name",
}

# erxes stores sex as an ISO/IEC 5218 code.
SEX_VALUES = {"1": "male", "2": "female", "9": "other"}
LEAD_STATUS_VALUES = {
    "new": "new",
    "attemptedToContact": "attempted",
    "inProgress": "in_progress",
    "badTiming": "bad_timing",
    "connected": "connected",
    "unqualified": "unqualified",
}
YES_NO_PROPERTIES = {"is_subscribed", "do_not_disturb"}
OCCURRENCES = {"exactly": "exactly", "atleast": "at_least", "atmost": "at_most"}
# ES date math such as "now-21d/d": a sign, an amount and a unit.
DATE_MATH = re.compile(r"^now-(\d+)([mhdwMy])(/[mhdwMy])?$")
DATE_MATH_UNITS = {
    "m": "minutes",
    "h": "hours",
    "d": "days",
    "w": "weeks",
    "M": "months",
    "y": "years",
}


@dataclass(frozen=True)
class UnmappedItem:
    path: str
    value: object
    reason: str

    def __str__(self) -> str:
        return f"{self.path} = {self.value!r}: {self.reason}"


@dataclass
class Conversion:
    payload: dict
    unmapped: list[UnmappedItem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # erxes _id to the segment's path in the erxes file, for import errors.
    labels: dict[str, str] = field(default_factory=dict)


class Skip(Exception):
    """Raised inside the converter to leave out one item and report it."""

    def __init__(self, path: str, value, reason: str):
        super().__init__(reason)
        self.item = UnmappedItem(path, value, reason)


def convert_erxes(data, *, custom_field_keys: set[str] = frozenset()) -> Conversion:
    """Convert erxes segment JSON (a list of segment documents, one document,
    or {"segments": [...]}) into an erxseg export payload.

    `custom_field_keys` are the declared custom field keys; an erxes
    customFieldsData.<key> maps only onto one of them.
    """
    documents = segment_documents(data)
    by_id = {doc["_id"]: doc for doc in documents if isinstance(doc.get("_id"), str)}
    index_of = {doc_id: documents.index(doc) for doc_id, doc in by_id.items()}
    converter = Converter(by_id, index_of, custom_field_keys)
    entries = []
    labels = {}
    for index, doc in enumerate(documents):
        if not doc.get("name"):
            # Nameless documents are erxes condition groups; they are inlined
            # where a named segment references them.
            continue
        entry = converter.segment(doc, f"segments[{index}]")
        if entry is not None:
            entries.append(entry)
            labels[entry["id"]] = f'segments[{index}] "{doc["name"]}"'
    return Conversion(
        payload={"format": FORMAT_NAME, "version": FORMAT_VERSION, "segments": entries},
        unmapped=converter.unmapped,
        notes=converter.notes,
        labels=labels,
    )


def segment_documents(data) -> list[dict]:
    if isinstance(data, dict) and isinstance(data.get("segments"), list):
        data = data["segments"]
    elif isinstance(data, dict):
        data = [data]
    if not isinstance(data, list) or not all(isinstance(doc, dict) for doc in data):
        raise ValueError(
            "The file is not erxes segment JSON. Expected a list of segment "
            'objects, one segment object, or {"segments": [...]}.'
        )
    return data


class Converter:
    def __init__(self, by_id: dict, index_of: dict, custom_field_keys):
        self.by_id = by_id
        self.index_of = index_of
        self.custom_field_keys = set(custom_field_keys)
        self.unmapped: list[UnmappedItem] = []
        self.notes: list[str] = []

    def segment(self, doc: dict, path: str) -> dict | None:
        label = f'{path} "{doc["name"]}"'
        content_type = CONTENT_TYPES.get(doc.get("contentType"))
        if content_type is None:
            self.unmapped.append(
                UnmappedItem(
                    f"{label}.contentType",
                    doc.get("contentType"),
                    "erxseg segments select customers, leads, visitors or "
                    "companies, so this segment was left out",
                )
            )
            return None

        parent = doc.get("subOf") or None
        if parent is not None and not self.is_importable(parent, content_type):
            self.unmapped.append(
                UnmappedItem(
                    f"{label}.subOf",
                    parent,
                    "the parent segment is not in the file or selects another "
                    "content type, so the segment was imported without a parent",
                )
            )
            parent = None
        return {
            "id": doc["_id"],
            "name": doc["name"],
            "description": doc.get("description") or "",
            "color": doc.get("color") or "#4f46e5",
            "content_type": content_type,
            "parent": parent,
            "is_static": False,
            "rules": self.group(doc, label, content_type, seen={doc["_id"]}),
        }

    def is_importable(self, doc_id, content_type: str) -> bool:
        """Tell whether `doc_id` is a named segment of `content_type` in the
        file, so it is imported and can be linked to."""
        doc = self.by_id.get(doc_id)
        if doc is None or not doc.get("name"):
            return False
        return CONTENT_TYPES.get(doc.get("contentType")) == content_type

    def group(self, doc: dict, path: str, content_type: str, *, seen: set) -> dict:
        conjunction = doc.get("conditionsConjunction") or "and"
        if conjunction not in ("and", "or"):
            self.unmapped.append(
                UnmappedItem(
                    f"{path}.conditionsConjunction",
                    conjunction,
                    'erxseg groups join conditions with "and" or "or"; "and" was used',
                )
            )
            conjunction = "and"

        conditions = []
        for index, condition in enumerate(doc.get("conditions") or []):
            condition_path = f"{path}.conditions[{index}]"
            try:
                conditions.append(
                    self.condition(condition, condition_path, content_type, seen=seen)
                )
            except Skip as skipped:
                self.unmapped.append(skipped.item)
            negative = (
                isinstance(condition, dict)
                and condition.get("propertyOperator") in NEGATIVE_TOKENS
            )
            if conjunction == "or" and negative:
                self.notes.append(
                    f"{condition_path}: erxes applies a negative condition as "
                    'AND even in an "or" group; erxseg ORs it as written. '
                    "Check the imported segment's members."
                )
        return {
            "type": "group",
            "conjunction": conjunction,
            "negate": False,
            "conditions": conditions,
        }

    def condition(self, condition, path: str, content_type: str, *, seen: set):
        if not isinstance(condition, dict):
            raise Skip(path, condition, "a condition must be an object")
        kind = condition.get("type")
        if kind == "property":
            return self.property_condition(condition, path, content_type)
        if kind == "event":
            return self.event_condition(condition, path, content_type)
        if kind == "subSegment":
            return self.sub_segment(condition, path, content_type, seen=seen)
        raise Skip(
            f"{path}.type",
            kind,
            'erxseg converts "property", "event" and "subSegment" conditions',
        )

    def sub_segment(self, condition, path, content_type, *, seen):
        target_id = condition.get("subSegmentId")
        target = self.by_id.get(target_id)
        if target is None:
            raise Skip(
                f"{path}.subSegmentId",
                target_id,
                "the referenced segment is not in the file",
            )
        if target_id in seen:
            raise Skip(
                f"{path}.subSegmentId",
                target_id,
                "the reference closes a cycle of segments",
            )
        if target.get("name"):
            if not self.is_importable(target_id, content_type):
                raise Skip(
                    f"{path}.subSegmentId",
                    target_id,
                    "the referenced segment selects another content type",
                )
            return {"type": "segment", "segment": target_id, "negate": False}
        # A nameless group of the erxes UI becomes a nested group here. Its
        # conditions are reported with their own path in the file.
        return self.group(
            target,
            f"segments[{self.index_of[target_id]}]",
            content_type,
            seen=seen | {target_id},
        )

    def property_condition(self, condition, path, content_type):
        token = condition.get("propertyOperator")
        if token not in OPERATORS:
            raise Skip(f"{path}.propertyOperator", token, "erxseg has no such operator")
        name = condition.get("propertyName")
        property_type = condition.get("propertyType") or None
        own_type = property_type is None or (
            CONTENT_TYPES.get(property_type, property_type) == content_type
            or (
                content_type in (SegmentType.LEAD, SegmentType.VISITOR)
                and CONTENT_TYPES.get(property_type) == SegmentType.CUSTOMER
            )
        )
        if own_type:
            erxseg_name = self.property_name(name, f"{path}.propertyName", content_type)
            return self.comparison(
                {"type": "property", "property": erxseg_name},
                token,
                condition.get("propertyValue"),
                path,
                erxseg_name,
            )

        related_type = CONTENT_TYPES.get(property_type)
        if content_type != SegmentType.COMPANY and related_type == SegmentType.COMPANY:
            field_name = self.property_name(
                name, f"{path}.propertyName", SegmentType.COMPANY
            )
            erxseg_name = f"company.{field_name}"
            return self.comparison(
                {"type": "property", "property": erxseg_name},
                token,
                condition.get("propertyValue"),
                path,
                erxseg_name,
            )
        if content_type == SegmentType.COMPANY and related_type in (
            SegmentType.CUSTOMER,
            SegmentType.LEAD,
        ):
            field_name = self.property_name(
                name, f"{path}.propertyName", SegmentType.CUSTOMER
            )
            inner = self.comparison(
                {"type": "property", "property": field_name},
                token,
                condition.get("propertyValue"),
                path,
                field_name,
            )
            return {
                "type": "contacts",
                "occurrence": "at_least",
                "count": 1,
                "where": {
                    "type": "group",
                    "conjunction": "and",
                    "negate": False,
                    "conditions": [inner],
                },
            }
        raise Skip(
            f"{path}.propertyType",
            property_type,
            "erxseg filters only by contact and company properties",
        )

    def property_name(self, name, path: str, content_type: str) -> str:
        if not isinstance(name, str) or not name:
            raise Skip(path, name, "the property name is missing")
        if name in UNSUPPORTED_PROPERTIES:
            raise Skip(path, name, UNSUPPORTED_PROPERTIES[name])
        if name.startswith("trackedData."):
            return "tracked." + name.removeprefix("trackedData.")
        if name.startswith("customFieldsData."):
            key = name.removeprefix("customFieldsData.")
            if key in self.custom_field_keys:
                return f"custom.{key}"
            raise Skip(
                path,
                name,
                "no custom field has this key. erxes names custom fields by "
                "id; declare a field with this key or edit the condition",
            )
        names = (
            COMPANY_PROPERTIES
            if content_type == SegmentType.COMPANY
            else CUSTOMER_PROPERTIES
        )
        if name in names:
            return names[name]
        raise Skip(path, name, "erxseg has no property with this name")

    def comparison(self, node: dict, token: str, raw, path: str, erxseg_name: str):
        operator, value_kind = OPERATORS[token]
        value_path = f"{path}.propertyValue"
        if erxseg_name == "tags" and value_kind != "none":
            raise Skip(
                value_path,
                raw,
                "erxes stores tags as ids; filter by tag name in erxseg instead",
            )
        if erxseg_name in YES_NO_PROPERTIES and value_kind == "text":
            return {**node, **yes_no_condition(token, raw, value_path)}
        if erxseg_name == "birth_date" and token in ("wobd", "woad"):
            raise Skip(
                f"{path}.propertyOperator",
                token,
                "erxes matches a birthday on one exact day; use erxseg's "
                "anniversary_within operator instead",
            )
        if erxseg_name == "sex" and value_kind == "text":
            raw = mapped_choice(raw, SEX_VALUES, value_path)
        if erxseg_name == "lead_status" and value_kind == "text":
            raw = mapped_choice(raw, LEAD_STATUS_VALUES, value_path)

        operator, value = convert_value(operator, value_kind, raw, value_path)
        node["operator"] = operator
        if value_kind != "none":
            node["value"] = value
        return node

    def event_condition(self, condition, path, content_type):
        if content_type == SegmentType.COMPANY:
            raise Skip(
                f"{path}.eventName",
                condition.get("eventName"),
                "events belong to customers, so company segments cannot use them",
            )
        name = condition.get("eventName")
        if not isinstance(name, str) or not name:
            raise Skip(f"{path}.eventName", name, "the event name is missing")
        # erxes spells it "eventOccurence"; its 2025 backend "eventOccurrence".
        key = "eventOccurrence" if "eventOccurrence" in condition else "eventOccurence"
        occurrence = OCCURRENCES.get(condition.get(key))
        if occurrence is None:
            raise Skip(
                f"{path}.{key}",
                condition.get(key),
                'use "exactly", "atleast" or "atmost"',
            )
        count = condition.get("eventOccurenceValue")
        try:
            count = int(count)
        except (TypeError, ValueError):
            raise Skip(
                f"{path}.eventOccurenceValue", count, "the count must be a number"
            ) from None

        attributes = []
        for index, attribute_filter in enumerate(
            condition.get("eventAttributeFilters") or []
        ):
            filter_path = f"{path}.eventAttributeFilters[{index}]"
            try:
                attributes.append(self.attribute_filter(attribute_filter, filter_path))
            except Skip as skipped:
                self.unmapped.append(skipped.item)
        return {
            "type": "event",
            "event": name,
            "occurrence": occurrence,
            "count": count,
            "within": None,
            "attributes": attributes,
        }

    def attribute_filter(self, attribute_filter, path: str) -> dict:
        if not isinstance(attribute_filter, dict):
            raise Skip(path, attribute_filter, "an attribute filter must be an object")
        token = attribute_filter.get("operator")
        if token not in OPERATORS:
            raise Skip(f"{path}.operator", token, "erxseg has no such operator")
        name = attribute_filter.get("name")
        if not isinstance(name, str) or not name:
            raise Skip(f"{path}.name", name, "the attribute name is missing")
        operator, value_kind = OPERATORS[token]
        operator, value = convert_value(
            operator, value_kind, attribute_filter.get("value"), f"{path}.value"
        )
        converted = {"attribute": name, "operator": operator}
        if value_kind != "none":
            converted["value"] = value
        return converted


def convert_value(operator: str, value_kind: str, raw, path: str):
    """Return the erxseg operator and value for an erxes string value."""
    if value_kind == "none":
        return operator, None
    if value_kind == "text":
        if raw is None:
            raise Skip(path, raw, "the value is missing")
        return operator, str(raw)
    if value_kind == "number":
        return operator, parse_number(raw, path)
    if value_kind in ("minutes", "days"):
        amount = parse_number(raw, path)
        if amount != int(amount) or amount < 0:
            raise Skip(path, raw, "the amount must be a whole number of 0 or more")
        return operator, {"amount": int(amount), "unit": value_kind}
    if value_kind == "date_or_math":
        match = DATE_MATH.match(str(raw or "").strip())
        if match:
            relative = {
                "amount": int(match.group(1)),
                "unit": DATE_MATH_UNITS[match.group(2)],
            }
            # "on or after now-N" is "in the last N"; "on or before now-N" is
            # "more than N ago". Future dates also pass erxes's drgt, which
            # in_last excludes.
            if operator == "on_or_after":
                return "in_last", relative
            return "more_than_ago", relative
    return operator, parse_date(raw, path)


def parse_number(raw, path: str) -> int | float:
    try:
        number = float(str(raw).strip())
    except (TypeError, ValueError):
        raise Skip(path, raw, "the value is not a number") from None
    return int(number) if number.is_integer() else number


def parse_date(raw, path: str) -> str:
    text = str(raw or "").strip()
    try:
        return date.fromisoformat(text[:10]).isoformat()
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).date().isoformat()
    except ValueError:
        raise Skip(
            path,
            raw,
            "the value is not an ISO date (YYYY-MM-DD) or a date expression "
            'such as "now-21d/d"',
        ) from None


def mapped_choice(raw, choices: dict, path: str) -> str:
    if str(raw) in choices:
        return choices[str(raw)]
    if str(raw) in choices.values():
        return str(raw)
    raise Skip(path, raw, f"the value is not one of {', '.join(sorted(choices))}")


def yes_no_condition(token: str, raw, path: str) -> dict:
    """Map erxes's "Yes" / "No" text flags onto is_true / is_false."""
    answer = str(raw).strip().lower()
    if answer not in ("yes", "no", "true", "false"):
        raise Skip(path, raw, 'use "Yes" or "No"')
    expected = answer in ("yes", "true")
    if token == "dne":
        expected = not expected
    elif token != "e":
        raise Skip(path, raw, "only equals and is-not-equal apply to yes / no flags")
    return {"operator": "is_true" if expected else "is_false"}
