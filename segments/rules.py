"""Validation and normalisation of segment rule trees.

`validate_rules` checks a whole tree before anything is saved or run and
reports every problem at once, keyed by the condition's path in the tree
(`conditions[2].conditions[0].value`). Problems with the tree as a whole are
under "rules". It returns the normalised tree: defaults filled in, numeric
strings turned into numbers.
"""

import datetime
import math
import re
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from segments.catalogue import (
    COMPANY_SEGMENT,
    KEY_PATTERN,
    TRACKED_OPERATOR_TYPES,
    Catalogue,
    Property,
)
from segments.operators import (
    MAX_ANNIVERSARY_DAYS,
    MAX_RELATIVE_AMOUNT,
    OPERATORS,
    RELATIVE_UNITS,
    PropertyType,
    ValueShape,
    value_shape,
)
from segments.sql import DATE_RE, NUMBER_RE

MAX_DEPTH = 10
MAX_CONDITIONS = 200
MAX_TEXT_LENGTH = 1000
MAX_LIST_LENGTH = 100
MAX_REGEX_LENGTH = 200
MAX_NUMBER = 1e15
MAX_EVENT_COUNT = 1_000_000
MAX_EVENT_ATTRIBUTES = 20
# Segment ids are 64-bit integers (BigAutoField).
MAX_SEGMENT_ID = 2**63 - 1
OCCURRENCES = ("at_least", "at_most", "exactly", "none")
EVENT_UNITS = ("minutes", "hours", "days", "weeks", "months")
CONJUNCTIONS = ("and", "or")
CUSTOMER_TYPES = ("customer", "lead", "visitor")
CONTENT_TYPES = (*CUSTOMER_TYPES, COMPANY_SEGMENT)

NODE_KEYS = {
    "group": {"type", "conjunction", "negate", "conditions"},
    "property": {"type", "property", "operator", "value"},
    "segment": {"type", "segment", "negate"},
    "contacts": {"type", "occurrence", "count", "where"},
    "event": {
        "type",
        "event",
        "occurrence",
        "count",
        "within",
        "attributes",
        "first_occurred",
        "last_occurred",
    },
}

# Escapes that mean the same in Python's re and in PostgreSQL's regular
# expressions. Any other backslash-letter (\b, \A, \Z, \1, ...) differs or is
# missing on one side.
REGEX_CLASS_ESCAPES = set("dDsSwWnt")
REGEX_BOUND = re.compile(r"\{(\d+)(,(\d*))?\}")
PG_MAX_REPEAT = 255


def describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def regex_problem(pattern: str) -> str | None:
    """Return why `pattern` is outside the syntax both databases share, or
    None when it is inside."""
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            following = pattern[index + 1 : index + 2]
            if following.isalnum() and following not in REGEX_CLASS_ESCAPES:
                return _("the escape \\%(char)s is not supported") % {"char": following}
            index += 2
            continue
        if char == "(" and pattern[index + 1 : index + 2] == "?":
            if pattern[index + 2 : index + 3] != ":":
                return _("lookarounds, named groups and inline flags are not supported")
        if char == "[" and pattern[index + 1 : index + 2] in (":", "=", "."):
            return _("POSIX classes such as [:alpha:] are not supported")
        if char == "{":
            bound = REGEX_BOUND.match(pattern, index)
            if not bound:
                return _("write a literal { as \\{")
            numbers = [int(part) for part in (bound.group(1), bound.group(3)) if part]
            if any(number > PG_MAX_REPEAT for number in numbers):
                return _("repetition counts above %(limit)d are not supported") % {
                    "limit": PG_MAX_REPEAT
                }
            index = bound.end()
            if pattern[index : index + 1] == "+":
                return _("possessive quantifiers are not supported")
            continue
        if char in "*+?" and pattern[index + 1 : index + 2] == "+":
            return _("possessive quantifiers are not supported")
        index += 1
    return None


class RuleValidator:
    """Walk a rule tree once, collecting errors by path."""

    def __init__(self, content_type: str, *, segment=None, parent=None):
        self.content_type = content_type
        self.segment = segment
        self.parent = parent
        self.catalogue = Catalogue(content_type)
        self.contact_catalogue: Catalogue | None = None
        self.errors: dict[str, list[ValidationError]] = {}
        self.condition_count = 0
        self.references: list[tuple[str, int]] = []

    def add(self, path: str, message: str, **params) -> None:
        key = path or "rules"
        self.errors.setdefault(key, []).append(
            ValidationError(message, params=params or None)
        )

    @staticmethod
    def join(path: str, part: str) -> str:
        if not path:
            return part
        if part.startswith("["):
            return path + part
        return f"{path}.{part}"

    # Tree ----------------------------------------------------------------

    def validate(self, rules: Any) -> dict:
        if self.content_type not in CONTENT_TYPES:
            self.add(
                "",
                _("The content type %(value)s is unknown. Use one of: %(choices)s."),
                value=describe(self.content_type),
                choices=", ".join(CONTENT_TYPES),
            )
            return {}
        if rules is None:
            rules = {"type": "group", "conjunction": "and", "conditions": []}
        if not isinstance(rules, dict) or rules.get("type", "group") != "group":
            self.add(
                "",
                _(
                    "The rules must be a group: an object with type "
                    '"group", a conjunction and a list of conditions.'
                ),
            )
            return {}
        normalised = self.group(rules, "", depth=1, catalogue=self.catalogue)
        if self.condition_count > MAX_CONDITIONS:
            self.add(
                "",
                _(
                    "The rules have %(count)d conditions; at most %(limit)d are "
                    "allowed. Remove some or split the segment."
                ),
                count=self.condition_count,
                limit=MAX_CONDITIONS,
            )
        self.check_graph()
        return normalised

    def unknown_keys(self, node: dict, kind: str, path: str) -> None:
        for key in sorted(set(node) - NODE_KEYS[kind]):
            self.add(
                self.join(path, key),
                _('A %(kind)s condition has no "%(key)s". Remove it.'),
                kind=kind,
                key=key,
            )

    def negate(self, node: dict, path: str) -> bool:
        negate = node.get("negate", False)
        if not isinstance(negate, bool):
            self.add(
                self.join(path, "negate"),
                _("negate must be true or false, not %(value)s."),
                value=describe(negate),
            )
            return False
        return negate

    def group(self, node: dict, path: str, *, depth: int, catalogue) -> dict:
        self.unknown_keys(node, "group", path)
        if depth > MAX_DEPTH:
            self.add(
                path,
                _(
                    "Groups are nested %(depth)d levels deep here; at most "
                    "%(limit)d levels are allowed. Flatten the rules."
                ),
                depth=depth,
                limit=MAX_DEPTH,
            )
            return {}
        conjunction = node.get("conjunction", "and")
        if conjunction not in CONJUNCTIONS:
            self.add(
                self.join(path, "conjunction"),
                _('The conjunction %(value)s is unknown. Use "and" or "or".'),
                value=describe(conjunction),
            )
        conditions = node.get("conditions", [])
        if not isinstance(conditions, list):
            self.add(
                self.join(path, "conditions"),
                _("conditions must be a list of conditions, not %(value)s."),
                value=describe(conditions),
            )
            conditions = []
        normalised = []
        for index, child in enumerate(conditions):
            self.condition_count += 1
            if self.condition_count > MAX_CONDITIONS:
                break
            child_path = self.join(path, f"conditions[{index}]")
            normalised.append(
                self.condition(child, child_path, depth=depth, catalogue=catalogue)
            )
        return {
            "type": "group",
            "conjunction": conjunction,
            "negate": self.negate(node, path),
            "conditions": normalised,
        }

    def condition(self, node: Any, path: str, *, depth: int, catalogue) -> dict:
        kind = node.get("type") if isinstance(node, dict) else None
        if kind == "group":
            return self.group(node, path, depth=depth + 1, catalogue=catalogue)
        if kind == "property":
            return self.property(node, path, catalogue=catalogue)
        if kind == "segment" and catalogue is self.catalogue:
            return self.segment_reference(node, path)
        top = catalogue is self.catalogue
        if kind == "contacts" and top and not self.is_customer:
            return self.contacts(node, path, depth=depth)
        if kind == "event" and top and self.is_customer:
            return self.event(node, path)
        allowed = "group, property"
        if catalogue is self.catalogue:
            allowed += ", segment, event" if self.is_customer else ", segment, contacts"
        self.add(
            self.join(path, "type"),
            _(
                "The condition type %(value)s is not allowed here. Use one of: "
                "%(types)s."
            ),
            value=describe(kind),
            types=allowed,
        )
        return {}

    @property
    def is_customer(self) -> bool:
        return self.content_type in CUSTOMER_TYPES

    # Property conditions -------------------------------------------------

    def property(self, node: dict, path: str, *, catalogue: Catalogue) -> dict:
        self.unknown_keys(node, "property", path)
        name = node.get("property")
        prop = catalogue.get(name)
        if prop is None:
            self.add(
                self.join(path, "property"),
                _(
                    "The property %(value)s is not in the catalogue of %(type)s "
                    "segments. Pick a property from the catalogue."
                ),
                value=describe(name),
                type=catalogue.content_type,
            )
            return {}
        operator_name = node.get("operator")
        operator = (
            OPERATORS.get(operator_name) if isinstance(operator_name, str) else None
        )
        allowed = prop.operators()
        if operator is None or operator not in allowed:
            self.add(
                self.join(path, "operator"),
                _(
                    "The operator %(value)s does not apply to %(property)s. "
                    "Use one of: %(operators)s."
                ),
                value=describe(operator_name),
                property=name,
                operators=", ".join(item.name for item in allowed),
            )
            return {}
        value = self.value(
            node.get("value"),
            self.join(path, "value"),
            shape=self.shape(prop, operator, node.get("value")),
            prop=prop,
        )
        return {
            "type": "property",
            "property": name,
            "operator": operator.name,
            "value": value,
        }

    def shape(self, prop: Property, operator, value) -> ValueShape:
        return value_shape(operator, prop.type_for(operator, value))

    def value(self, value: Any, path: str, *, shape: ValueShape, prop=None) -> Any:
        check = getattr(self, f"value_{shape.value}")
        return check(value, path, prop)

    def value_none(self, value, path, prop):
        if value not in (None, "", [], {}):
            self.add(
                path,
                _("This operator takes no value; remove %(value)s."),
                value=describe(value),
            )
        return None

    def text(self, value, path) -> str | None:
        if not isinstance(value, str) or value == "":
            self.add(
                path,
                _("The value must be a non-empty text, not %(value)s."),
                value=describe(value),
            )
            return None
        if len(value) > MAX_TEXT_LENGTH:
            self.add(
                path,
                _(
                    "The value has %(length)d characters; at most %(limit)d are "
                    "allowed. Shorten it."
                ),
                length=len(value),
                limit=MAX_TEXT_LENGTH,
            )
            return None
        return value

    def option(self, value, path, prop) -> None:
        if prop is None or prop.type != PropertyType.CHOICE or not prop.options:
            return
        if value is not None and value not in prop.options:
            self.add(
                path,
                _(
                    "%(value)s is not an option of %(property)s. Use one of: "
                    "%(options)s."
                ),
                value=describe(value),
                property=prop.name,
                options=", ".join(prop.options),
            )

    def value_text(self, value, path, prop):
        text = self.text(value, path)
        self.option(text, path, prop)
        return text

    def value_text_list(self, value, path, prop):
        if not isinstance(value, list) or not value:
            self.add(
                path,
                _("The value must be a non-empty list of texts, not %(value)s."),
                value=describe(value),
            )
            return None
        if len(value) > MAX_LIST_LENGTH:
            self.add(
                path,
                _(
                    "The list has %(length)d items; at most %(limit)d are allowed. "
                    "Shorten it."
                ),
                length=len(value),
                limit=MAX_LIST_LENGTH,
            )
            return None
        items = []
        for index, item in enumerate(value):
            item_path = f"{path}[{index}]"
            text = self.text(item, item_path)
            self.option(text, item_path, prop)
            items.append(text)
        return items

    def value_regex(self, value, path, prop):
        if not isinstance(value, str) or value == "":
            self.add(
                path,
                _("The value must be a regular expression, not %(value)s."),
                value=describe(value),
            )
            return None
        if len(value) > MAX_REGEX_LENGTH:
            self.add(
                path,
                _(
                    "The regular expression has %(length)d characters; at most "
                    "%(limit)d are allowed. Shorten it."
                ),
                length=len(value),
                limit=MAX_REGEX_LENGTH,
            )
            return None
        try:
            re.compile(value)
        except re.error as error:
            self.add(
                path,
                _("The regular expression %(value)s is invalid: %(error)s. Fix it."),
                value=describe(value),
                error=str(error),
            )
            return None
        problem = regex_problem(value)
        if problem:
            self.add(
                path,
                _("The regular expression %(value)s cannot be used: %(problem)s."),
                value=describe(value),
                problem=problem,
            )
            return None
        return value

    def number(self, value, path):
        if isinstance(value, str) and NUMBER_RE.match(value.strip()):
            value = float(value.strip())
            if value.is_integer():
                value = int(value)
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.add(
                path,
                _("The value must be a number, not %(value)s."),
                value=describe(value),
            )
            return None
        if not math.isfinite(value) or abs(value) > MAX_NUMBER:
            self.add(
                path,
                _(
                    "The number %(value)s is out of range; use a number between "
                    "-10^15 and 10^15."
                ),
                value=describe(value),
            )
            return None
        return value

    def value_number(self, value, path, prop):
        return self.number(value, path)

    def pair(self, value, path) -> bool:
        if not isinstance(value, list) or len(value) != 2:
            self.add(
                path,
                _("The value must be a list of two items [from, to], not %(value)s."),
                value=describe(value),
            )
            return False
        return True

    def value_number_range(self, value, path, prop):
        if not self.pair(value, path):
            return None
        low, high = (
            self.number(item, f"{path}[{index}]") for index, item in enumerate(value)
        )
        if low is None or high is None:
            return None
        if low > high:
            self.add(
                path,
                _("The range starts at %(low)s, after its end %(high)s. Swap them."),
                low=low,
                high=high,
            )
        return [low, high]

    def date(self, value, path):
        if isinstance(value, str) and DATE_RE.match(value):
            try:
                datetime.date.fromisoformat(value)
            except ValueError:
                pass
            else:
                return value
        self.add(
            path,
            _("The value must be a date written YYYY-MM-DD, not %(value)s."),
            value=describe(value),
        )
        return None

    def value_date(self, value, path, prop):
        return self.date(value, path)

    def value_date_range(self, value, path, prop):
        if not self.pair(value, path):
            return None
        first, last = (
            self.date(item, f"{path}[{index}]") for index, item in enumerate(value)
        )
        if first is None or last is None:
            return None
        if first > last:
            self.add(
                path,
                _("The range starts on %(first)s, after its end %(last)s. Swap them."),
                first=first,
                last=last,
            )
        return [first, last]

    def value_relative(self, value, path, prop):
        if not isinstance(value, dict) or set(value) != {"amount", "unit"}:
            self.add(
                path,
                _(
                    'The value must be an object {"amount": N, "unit": U}, not '
                    "%(value)s."
                ),
                value=describe(value),
            )
            return None
        amount, unit = value["amount"], value["unit"]
        if unit not in RELATIVE_UNITS:
            self.add(
                self.join(path, "unit"),
                _("The unit %(value)s is unknown. Use one of: %(units)s."),
                value=describe(unit),
                units=", ".join(RELATIVE_UNITS),
            )
            return None
        limit = MAX_RELATIVE_AMOUNT[unit]
        if (
            isinstance(amount, bool)
            or not isinstance(amount, int)
            or not 0 <= amount <= limit
        ):
            self.add(
                self.join(path, "amount"),
                _(
                    "The amount must be a whole number from 0 to %(limit)d %(unit)s, "
                    "not %(value)s."
                ),
                limit=limit,
                unit=unit,
                value=describe(amount),
            )
            return None
        return {"amount": amount, "unit": unit}

    def value_anniversary(self, value, path, prop):
        if (
            not isinstance(value, dict)
            or value.get("unit", "days") != "days"
            or not set(value) <= {"amount", "unit"}
        ):
            self.add(
                path,
                _(
                    'The value must be an object {"amount": N, "unit": "days"}, not '
                    "%(value)s."
                ),
                value=describe(value),
            )
            return None
        amount = value.get("amount")
        if (
            isinstance(amount, bool)
            or not isinstance(amount, int)
            or not 0 <= amount <= MAX_ANNIVERSARY_DAYS
        ):
            self.add(
                self.join(path, "amount"),
                _(
                    "The amount must be a whole number of days from 0 to %(limit)d, "
                    "not %(value)s."
                ),
                limit=MAX_ANNIVERSARY_DAYS,
                value=describe(amount),
            )
            return None
        return {"amount": amount, "unit": "days"}

    # Segment references, contacts and events -------------------------------

    def segment_reference(self, node: dict, path: str) -> dict:
        self.unknown_keys(node, "segment", path)
        segment_id = node.get("segment")
        # An id past the 64-bit range would make SQLite's driver raise
        # OverflowError in the lookup, so it is rejected here like a non-id.
        if (
            isinstance(segment_id, bool)
            or not isinstance(segment_id, int)
            or not -MAX_SEGMENT_ID <= segment_id <= MAX_SEGMENT_ID
        ):
            self.add(
                self.join(path, "segment"),
                _("segment must be the id of a segment, not %(value)s."),
                value=describe(segment_id),
            )
            return {}
        self.references.append((self.join(path, "segment"), segment_id))
        return {
            "type": "segment",
            "segment": segment_id,
            "negate": self.negate(node, path),
        }

    def occurrence(self, node: dict, path: str) -> tuple[str, int]:
        occurrence = node.get("occurrence", "at_least")
        if occurrence not in OCCURRENCES:
            self.add(
                self.join(path, "occurrence"),
                _("The occurrence %(value)s is unknown. Use one of: %(choices)s."),
                value=describe(occurrence),
                choices=", ".join(OCCURRENCES),
            )
        count = node.get("count", 0 if occurrence == "none" else 1)
        if (
            isinstance(count, bool)
            or not isinstance(count, int)
            or not 0 <= count <= MAX_EVENT_COUNT
        ):
            self.add(
                self.join(path, "count"),
                _("count must be a whole number from 0 to %(limit)d, not %(value)s."),
                limit=MAX_EVENT_COUNT,
                value=describe(count),
            )
            count = 0
        return occurrence, count

    def contacts(self, node: dict, path: str, *, depth: int) -> dict:
        self.unknown_keys(node, "contacts", path)
        occurrence, count = self.occurrence(node, path)
        where = node.get("where") or {"type": "group", "conditions": []}
        if self.contact_catalogue is None:
            self.contact_catalogue = Catalogue("customer")
        where_path = self.join(path, "where")
        if not isinstance(where, dict) or where.get("type", "group") != "group":
            self.add(
                where_path, _("where must be a group of conditions on the contacts.")
            )
            return {}
        group = self.group(
            where, where_path, depth=depth + 1, catalogue=self.contact_catalogue
        )
        return {
            "type": "contacts",
            "occurrence": occurrence,
            "count": count,
            "where": group,
        }

    def event(self, node: dict, path: str) -> dict:
        self.unknown_keys(node, "event", path)
        name = node.get("event")
        if not isinstance(name, str) or not name or len(name) > 200:
            self.add(
                self.join(path, "event"),
                _("event must be an event name of 1 to 200 characters, not %(value)s."),
                value=describe(name),
            )
        occurrence, count = self.occurrence(node, path)
        within = self.within(node.get("within"), self.join(path, "within"))
        attributes = node.get("attributes") or []
        if not isinstance(attributes, list) or len(attributes) > MAX_EVENT_ATTRIBUTES:
            self.add(
                self.join(path, "attributes"),
                _("attributes must be a list of at most %(limit)d attribute filters."),
                limit=MAX_EVENT_ATTRIBUTES,
            )
            attributes = []
        cleaned = [
            self.attribute(item, self.join(path, f"attributes[{index}]"))
            for index, item in enumerate(attributes)
        ]
        normalised = {
            "type": "event",
            "event": name,
            "occurrence": occurrence,
            "count": count,
            "within": within,
            "attributes": cleaned,
        }
        for key in ("first_occurred", "last_occurred"):
            if node.get(key) is not None:
                normalised[key] = self.occurred(node[key], self.join(path, key))
        return normalised

    def occurred(self, item: Any, path: str) -> dict:
        """Validate a date condition on the first or last occurrence."""
        if not isinstance(item, dict) or not set(item) <= {"operator", "value"}:
            self.add(
                path,
                _('This must be {"operator": ..., "value": ...}, not %(value)s.'),
                value=describe(item),
            )
            return {}
        operator = OPERATORS.get(item.get("operator"))
        if operator is None or PropertyType.DATETIME not in operator.types:
            self.add(
                self.join(path, "operator"),
                _("The operator %(value)s is not a date operator."),
                value=describe(item.get("operator")),
            )
            return {}
        shape = value_shape(operator, PropertyType.DATETIME)
        value = self.value(item.get("value"), self.join(path, "value"), shape=shape)
        return {"operator": operator.name, "value": value}

    def within(self, within: Any, path: str):
        if within is None:
            return None
        if isinstance(within, dict) and set(within) == {"last", "unit"}:
            last, unit = within["last"], within["unit"]
            if unit not in EVENT_UNITS:
                self.add(
                    self.join(path, "unit"),
                    _("The unit %(value)s is unknown. Use one of: %(units)s."),
                    value=describe(unit),
                    units=", ".join(EVENT_UNITS),
                )
                return None
            if (
                isinstance(last, bool)
                or not isinstance(last, int)
                or not 1 <= last <= MAX_RELATIVE_AMOUNT[unit]
            ):
                self.add(
                    self.join(path, "last"),
                    _(
                        "last must be a whole number from 1 to %(limit)d, not "
                        "%(value)s."
                    ),
                    limit=MAX_RELATIVE_AMOUNT[unit],
                    value=describe(last),
                )
                return None
            return {"last": last, "unit": unit}
        if isinstance(within, dict) and set(within) == {"between"}:
            between = self.value_date_range(
                within["between"], self.join(path, "between"), None
            )
            return {"between": between} if between else None
        self.add(
            path,
            _(
                'within must be null, {"last": N, "unit": U} or {"between": [from, '
                "to]}, not %(value)s."
            ),
            value=describe(within),
        )
        return None

    def attribute(self, item: Any, path: str) -> dict:
        if not isinstance(item, dict) or not set(item) <= {
            "attribute",
            "operator",
            "value",
        }:
            self.add(
                path,
                _(
                    'An attribute filter must be {"attribute", "operator", "value"}, '
                    "not %(value)s."
                ),
                value=describe(item),
            )
            return {}
        key = item.get("attribute")
        if not isinstance(key, str) or not KEY_PATTERN.match(key):
            self.add(
                self.join(path, "attribute"),
                _(
                    "The attribute %(value)s is not a valid key: use letters, digits, "
                    "_ and -."
                ),
                value=describe(key),
            )
            return {}
        operator = (
            OPERATORS.get(item.get("operator"))
            if isinstance(item.get("operator"), str)
            else None
        )
        if operator is None:
            self.add(
                self.join(path, "operator"),
                _("The operator %(value)s is unknown."),
                value=describe(item.get("operator")),
            )
            return {}
        type_ = TRACKED_OPERATOR_TYPES.get(operator.name)
        if operator.name == "between":
            value = item.get("value")
            dated = isinstance(value, list) and value and isinstance(value[0], str)
            type_ = PropertyType.DATE if dated else PropertyType.NUMBER
        shape = value_shape(operator, type_) if type_ else ValueShape.NONE
        value = self.value(item.get("value"), self.join(path, "value"), shape=shape)
        return {"attribute": key, "operator": operator.name, "value": value}

    # Cycles ----------------------------------------------------------------

    def check_graph(self) -> None:
        from segments.models import Segment

        if self.parent is not None:
            self.check_parent()
        if not self.references:
            if self.parent is not None and self.segment is not None and self.segment.pk:
                if self.segment.pk in self.reachable([self.parent.pk]):
                    self.add(
                        "parent",
                        _(
                            "The parent %(name)s depends on this segment, which would "
                            "form a cycle. Pick another parent."
                        ),
                        name=str(self.parent),
                    )
            return
        ids = {segment_id for _path, segment_id in self.references}
        found = {segment.pk: segment for segment in Segment.objects.filter(pk__in=ids)}
        own_pk = self.segment.pk if self.segment is not None else None
        for path, segment_id in self.references:
            referenced = found.get(segment_id)
            if referenced is None:
                self.add(
                    path,
                    _("The segment %(id)s does not exist. Pick an existing segment."),
                    id=segment_id,
                )
                continue
            if (referenced.content_type == COMPANY_SEGMENT) != (
                self.content_type == COMPANY_SEGMENT
            ):
                self.add(
                    path,
                    _(
                        "The segment %(name)s selects %(type)s, which this segment "
                        "cannot reference. Pick a segment of the same kind."
                    ),
                    name=str(referenced),
                    type=referenced.content_type,
                )
                continue
            if own_pk is not None and (
                segment_id == own_pk or own_pk in self.reachable([segment_id])
            ):
                self.add(
                    path,
                    _(
                        "The segment %(name)s depends on this segment, which would "
                        "form a cycle. Remove the reference."
                    ),
                    name=str(referenced),
                )
        if (
            self.parent is not None
            and own_pk is not None
            and own_pk in self.reachable([self.parent.pk])
        ):
            self.add(
                "parent",
                _(
                    "The parent %(name)s depends on this segment, which would form a "
                    "cycle. Pick another parent."
                ),
                name=str(self.parent),
            )

    def check_parent(self) -> None:
        if self.parent.content_type != self.content_type:
            self.add(
                "parent",
                _(
                    "The parent %(name)s selects %(type)s; a sub-segment must select "
                    "the same. Pick another parent."
                ),
                name=str(self.parent),
                type=self.parent.content_type,
            )
        if (
            self.segment is not None
            and self.segment.pk
            and self.parent.pk == self.segment.pk
        ):
            self.add(
                "parent", _("A segment cannot be its own parent. Pick another parent.")
            )

    def reachable(self, start: list[int]) -> set[int]:
        """Return the ids of segments reachable through parents and
        references from `start` (one query per level)."""
        from segments.models import Segment

        seen: set[int] = set()
        frontier = set(start)
        while frontier:
            seen |= frontier
            rows = Segment.objects.filter(pk__in=frontier).values_list(
                "parent_id", "rules"
            )
            following = set()
            for parent_id, rules in rows:
                if parent_id:
                    following.add(parent_id)
                following |= set(segment_references(rules))
            frontier = following - seen
        return seen


def segment_references(rules: Any) -> list[int]:
    """Return the ids of segments referenced anywhere in a rule tree."""
    found = []
    stack = [rules]
    while stack:
        node = stack.pop()
        if not isinstance(node, dict):
            continue
        if node.get("type") == "segment" and isinstance(node.get("segment"), int):
            found.append(node["segment"])
        stack.extend(node.get("conditions") or [])
        if isinstance(node.get("where"), dict):
            stack.append(node["where"])
    return found


def validate_rules(rules, *, content_type, segment=None, parent=None) -> dict:
    """Validate and normalise a rule tree, or raise ValidationError keyed by
    the path of each bad condition."""
    validator = RuleValidator(content_type, segment=segment, parent=parent)
    normalised = validator.validate(rules)
    if validator.errors:
        raise ValidationError(validator.errors)
    return normalised
