"""The property catalogue: what a segment of each content type can filter on.

A property is a model field, a declared custom field (`custom.<key>`), a key
of the free `tracked_data` JSON (`tracked.<key>`, discovered from stored data
with its observed types), a field of any linked company (`company.<field>`,
customer segments only) or a set: `tags`, `emails`, `companies`. The compiler
and the evaluator read values only through a Property, so no rule can name
an arbitrary column or JSON path.
"""

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import Exists, F, OuterRef, Q
from django.db.models.lookups import In

from contacts.models import (
    Company,
    Customer,
    FieldDefinition,
    FieldType,
    OwnerType,
    Tag,
)
from segments.operators import (
    OPERATORS,
    DateKind,
    Operator,
    PropertyType,
    ScalarTarget,
    SetTarget,
    operators_for,
)
from segments.sql import (
    DATE_PATTERN,
    DATE_RE,
    NUMBER_PATTERN,
    SQLITE_DATE_GLOB,
    Fold,
    JsonBoolean,
    JsonDate,
    JsonIsSet,
    JsonListHas,
    JsonNumber,
    JsonText,
    fold_text,
    json_number,
)

# Custom field keys are slugs; tracked keys that do not fit this pattern are
# left out of the catalogue and cannot be filtered on.
KEY_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_\-]{0,63}$")
MAX_TRACKED_KEYS = 500

COMPANY_SEGMENT = "company"


class Source(StrEnum):
    FIELD = "field"
    CUSTOM = "custom"
    TRACKED = "tracked"
    COMPANY = "company"
    TAGS = "tags"
    EMAILS = "emails"
    COMPANIES = "companies"


T = PropertyType

CUSTOMER_FIELDS: dict[str, PropertyType] = {
    "first_name": T.TEXT,
    "last_name": T.TEXT,
    "primary_email": T.TEXT,
    "primary_phone": T.TEXT,
    "birth_date": T.DATE,
    "sex": T.CHOICE,
    "position": T.TEXT,
    "department": T.TEXT,
    "lead_status": T.CHOICE,
    "code": T.TEXT,
    "visitor_id": T.TEXT,
    "country": T.TEXT,
    "city": T.TEXT,
    "region": T.TEXT,
    "language": T.TEXT,
    "user_agent": T.TEXT,
    "session_count": T.NUMBER,
    "last_seen_at": T.DATETIME,
    "is_subscribed": T.BOOLEAN,
    "do_not_disturb": T.BOOLEAN,
    "created_at": T.DATETIME,
    "updated_at": T.DATETIME,
}

COMPANY_FIELDS: dict[str, PropertyType] = {
    "name": T.TEXT,
    "website": T.TEXT,
    "industry": T.TEXT,
    "size": T.NUMBER,
    "plan": T.TEXT,
    "business_type": T.TEXT,
    "country": T.TEXT,
    "created_at": T.DATETIME,
    "updated_at": T.DATETIME,
}

CUSTOM_FIELD_TYPES = {
    FieldType.TEXT: T.TEXT,
    FieldType.NUMBER: T.NUMBER,
    FieldType.DATE: T.DATE,
    FieldType.BOOLEAN: T.BOOLEAN,
    FieldType.CHOICE: T.CHOICE,
    FieldType.MULTIPLE_CHOICE: T.MULTIPLE_CHOICE,
}

# The type an operator reads a tracked value as, since free JSON has no
# declared type.
TRACKED_OPERATOR_TYPES: dict[str, PropertyType] = {
    **{
        name: T.TEXT
        for name in (
            "is",
            "is_not",
            "contains",
            "not_contains",
            "starts_with",
            "ends_with",
            "matches_regex",
            "in",
            "not_in",
        )
    },
    **{name: T.NUMBER for name in ("eq", "ne", "lt", "lte", "gt", "gte")},
    **{
        name: T.DATE
        for name in (
            "on",
            "not_on",
            "before",
            "after",
            "on_or_before",
            "on_or_after",
            "in_last",
            "more_than_ago",
            "in_next",
            "exactly_ago",
            "exactly_ahead",
            "anniversary_within",
        )
    },
    "is_true": T.BOOLEAN,
    "is_false": T.BOOLEAN,
    **{
        name: T.MULTIPLE_CHOICE for name in ("includes_any", "includes_all", "excludes")
    },
}

MISSING = object()


def _model_for(content_type: str):
    return Company if content_type == COMPANY_SEGMENT else Customer


def _text_or_none(value: Any) -> str | None:
    if isinstance(value, str) and value != "":
        return value
    return None


def _json_is_set(value: Any) -> bool:
    if value is MISSING or value is None:
        return False
    if isinstance(value, str | list | dict):
        return len(value) > 0
    return True


def _folded_elements(values: Any) -> list[str]:
    if not isinstance(values, list):
        return []
    return [fold_text(item) for item in values if isinstance(item, str) and item]


@dataclass(frozen=True)
class Property:
    """One filterable property and how to read it in SQL and in Python."""

    name: str
    label: str
    type: PropertyType
    source: Source
    model: type = Customer
    key: str | None = None
    options: tuple[str, ...] = ()
    observed: tuple[PropertyType, ...] = ()
    inner: "Property | None" = field(default=None, repr=False)

    def operators(self) -> list[Operator]:
        if self.source == Source.TRACKED:
            # Free JSON has no declared type: every operator applies and
            # reads the value as its own type (a value of another type is
            # missing). `observed` only shows the builder what the data contains.
            return list(OPERATORS.values())
        return operators_for(self.type)

    def type_for(self, operator: Operator, value: Any = None) -> PropertyType:
        """Return the type the operator reads this property's value as."""
        if self.source != Source.TRACKED:
            return self.type
        if operator.name == "between":
            if isinstance(value, list) and value and isinstance(value[0], str):
                return T.DATE
            return T.NUMBER
        return TRACKED_OPERATOR_TYPES.get(operator.name, self.type)

    @property
    def json_column(self) -> str:
        return "custom_fields" if self.source == Source.CUSTOM else "tracked_data"

    # SQL -----------------------------------------------------------------

    def target(self, type_: PropertyType) -> ScalarTarget | SetTarget:
        """Return the SQL target operators compare against."""
        if self.source == Source.FIELD:
            kind = {T.DATE: DateKind.DATE, T.DATETIME: DateKind.DATETIME}.get(type_)
            return ScalarTarget(F(self.key), type_, kind)
        if self.source in (Source.CUSTOM, Source.TRACKED):
            return self._json_target(type_)
        if self.source == Source.TAGS:
            return SetTarget(self._tags_q)
        if self.source == Source.EMAILS:
            return SetTarget(self._emails_q)
        if self.source == Source.COMPANIES:
            return SetTarget(self._companies_q)
        raise ValueError(f"The property {self.name} has no direct SQL target.")

    def _json_target(self, type_: PropertyType) -> ScalarTarget | SetTarget:
        column, key = self.json_column, self.key
        if type_ == T.MULTIPLE_CHOICE:
            return SetTarget(lambda values: Q(JsonListHas(column, key, values)))
        if type_ == T.NUMBER:
            return ScalarTarget(JsonNumber(column, key), type_)
        if type_ in (T.DATE, T.DATETIME):
            return ScalarTarget(JsonDate(column, key), T.DATE, DateKind.ISO)
        if type_ == T.BOOLEAN:
            return ScalarTarget(JsonBoolean(column, key), type_)
        return ScalarTarget(JsonText(column, key), type_)

    def _tag_owner(self) -> str:
        return "companies" if self.model is Company else "customers"

    def _tags_q(self, values: list[str]) -> Q:
        tags = Tag.objects.filter(**{self._tag_owner(): OuterRef("pk")})
        return Q(Exists(tags.filter(In(Fold(F("name")), values))))

    def _emails_q(self, values: list[str]) -> Q:
        return Q(In(Fold(F("primary_email")), values)) | Q(
            JsonListHas("emails", None, values)
        )

    def _companies_q(self, values: list[str]) -> Q:
        companies = Company.objects.filter(customers=OuterRef("pk"))
        return Q(Exists(companies.filter(In(Fold(F("name")), values))))

    def linked_companies_q(self, inner_q: Q) -> Q:
        """Match contacts with at least one linked company matching inner_q."""
        companies = Company.objects.filter(customers=OuterRef("pk"))
        return Q(Exists(companies.filter(inner_q)))

    def is_set_q(self) -> Q:
        if self.source == Source.FIELD:
            return self.target(self.type).present()
        if self.source in (Source.CUSTOM, Source.TRACKED):
            return Q(JsonIsSet(self.json_column, self.key))
        if self.source == Source.COMPANY:
            return self.linked_companies_q(self.inner.is_set_q())
        if self.source == Source.TAGS:
            tags = Tag.objects.filter(**{self._tag_owner(): OuterRef("pk")})
            return Q(Exists(tags.exclude(name="")))
        if self.source == Source.EMAILS:
            return ~Q(primary_email="") | Q(JsonListHas("emails", None, None))
        companies = Company.objects.filter(customers=OuterRef("pk"))
        return Q(Exists(companies.exclude(name="")))

    # Python --------------------------------------------------------------

    def raw(self, record) -> Any:
        if self.source == Source.FIELD:
            return record.fields.get(self.key)
        if self.source == Source.CUSTOM:
            return record.custom.get(self.key, MISSING)
        if self.source == Source.TRACKED:
            return record.tracked.get(self.key, MISSING)
        if self.source == Source.TAGS:
            return record.tags
        if self.source == Source.EMAILS:
            return [record.fields.get("primary_email", ""), *record.emails]
        return record.companies

    def typed(self, record, type_: PropertyType) -> Any:
        """Return the value as the operator sees it: None when missing or of
        the wrong type; for multiple choice, the folded non-empty texts."""
        raw = self.raw(record)
        if self.source in (Source.TAGS, Source.EMAILS):
            return _folded_elements(raw)
        if self.source == Source.COMPANIES:
            return _folded_elements([company.fields.get("name") for company in raw])
        if self.source == Source.FIELD:
            if type_ in (T.TEXT, T.CHOICE):
                return _text_or_none(raw)
            if type_ == T.NUMBER:
                return None if raw is None else float(raw)
            return raw
        if type_ == T.MULTIPLE_CHOICE:
            return _folded_elements(raw)
        if type_ in (T.TEXT, T.CHOICE):
            return _text_or_none(raw)
        if type_ == T.NUMBER:
            return json_number(raw)
        if type_ in (T.DATE, T.DATETIME):
            if isinstance(raw, str) and DATE_RE.match(raw):
                return raw
            return None
        if type_ == T.BOOLEAN:
            return raw if isinstance(raw, bool) else None
        return None

    def date_kind(self, type_: PropertyType) -> DateKind | None:
        if self.source in (Source.CUSTOM, Source.TRACKED):
            return DateKind.ISO
        if type_ == T.DATE:
            return DateKind.DATE
        if type_ == T.DATETIME:
            return DateKind.DATETIME
        return None

    def is_set(self, record) -> bool:
        raw = self.raw(record)
        if self.source == Source.FIELD:
            return self.typed(record, self.type) is not None
        if self.source in (Source.CUSTOM, Source.TRACKED):
            return _json_is_set(raw)
        if self.source == Source.COMPANY:
            return any(self.inner.is_set(company) for company in raw)
        return bool(self.typed(record, self.type))

    def describe(self) -> dict:
        """Return the property as the builder and the API list it."""
        return {
            "name": self.name,
            "label": self.label,
            "type": self.type.value,
            "observed_types": [type_.value for type_ in self.observed],
            "options": list(self.options),
            "operators": [operator.name for operator in self.operators()],
        }


def _field_property(model, name: str, type_: PropertyType, prefix: str = ""):
    model_field = model._meta.get_field(name)
    options = ()
    if type_ == T.CHOICE:
        options = tuple(value for value, _label in model_field.choices if value)
    label = str(model_field.verbose_name).capitalize()
    return Property(
        name=prefix + name,
        label=label,
        type=type_,
        source=Source.FIELD,
        model=model,
        key=name,
        options=options,
    )


def _company_property(name: str, type_: PropertyType) -> Property:
    inner = _field_property(Company, name, type_)
    return Property(
        name=f"company.{name}",
        label=f"Company: {inner.label.lower()}",
        type=type_,
        source=Source.COMPANY,
        model=Customer,
        key=name,
        inner=inner,
    )


def static_properties(content_type: str) -> dict[str, Property]:
    """Return the properties that need no query: model fields and sets."""
    model = _model_for(content_type)
    fields = COMPANY_FIELDS if model is Company else CUSTOMER_FIELDS
    properties = {
        name: _field_property(model, name, type_) for name, type_ in fields.items()
    }
    properties["tags"] = Property(
        "tags", "Tags", T.MULTIPLE_CHOICE, Source.TAGS, model=model
    )
    if model is Customer:
        properties["emails"] = Property(
            "emails", "Email addresses", T.MULTIPLE_CHOICE, Source.EMAILS
        )
        properties["companies"] = Property(
            "companies", "Company names", T.MULTIPLE_CHOICE, Source.COMPANIES
        )
        for name, type_ in COMPANY_FIELDS.items():
            prop = _company_property(name, type_)
            properties[prop.name] = prop
    return properties


def custom_properties(content_type: str) -> dict[str, Property]:
    """Return one property per declared custom field (one query)."""
    model = _model_for(content_type)
    owner = OwnerType.COMPANY if model is Company else OwnerType.CUSTOMER
    properties = {}
    for definition in FieldDefinition.objects.filter(owner_type=owner):
        name = f"custom.{definition.key}"
        properties[name] = Property(
            name=name,
            label=definition.label,
            type=CUSTOM_FIELD_TYPES[definition.field_type],
            source=Source.CUSTOM,
            model=model,
            key=definition.key,
            options=tuple(str(option) for option in definition.options),
        )
    return properties


def tracked_property(
    content_type: str, key: str, observed: tuple[PropertyType, ...] = ()
) -> Property:
    return Property(
        name=f"tracked.{key}",
        label=f"Tracked: {key}",
        type=observed[0] if observed else T.TEXT,
        source=Source.TRACKED,
        model=_model_for(content_type),
        key=key,
        observed=observed,
    )


def _observed_rows(content_type: str) -> list[tuple]:
    model = _model_for(content_type)
    table = connection.ops.quote_name(model._meta.db_table)
    # Keys are discovered across every state, so a lead segment can name a
    # key that only customers have so far.
    if connection.vendor == "postgresql":
        sql = f"""
            SELECT e.key, jsonb_typeof(e.value), count(*),
                count(*) FILTER (WHERE jsonb_typeof(e.value) = 'string'
                    AND (e.value #>> '{{}}') ~ %s),
                count(*) FILTER (WHERE jsonb_typeof(e.value) = 'string'
                    AND (e.value #>> '{{}}') ~ %s)
            FROM {table} t, jsonb_each(CASE WHEN jsonb_typeof(t.tracked_data)
                = 'object' THEN t.tracked_data ELSE '{{}}'::jsonb END) e
            GROUP BY 1, 2
        """
        params = [NUMBER_PATTERN, DATE_PATTERN]
    else:
        sql = f"""
            SELECT e.key, e.type, count(*),
                sum(e.type = 'text' AND erxseg_number('text', e.value)
                    IS NOT NULL),
                sum(e.type = 'text' AND e.value GLOB %s)
            FROM {table} t, json_each(CASE WHEN json_type(t.tracked_data)
                = 'object' THEN t.tracked_data ELSE '{{}}' END) e
            GROUP BY 1, 2
        """
        params = [SQLITE_DATE_GLOB]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


JSON_TYPES = {
    "number": T.NUMBER,
    "integer": T.NUMBER,
    "real": T.NUMBER,
    "boolean": T.BOOLEAN,
    "true": T.BOOLEAN,
    "false": T.BOOLEAN,
    "array": T.MULTIPLE_CHOICE,
}


def _cached_observed_rows(content_type: str, *, fresh: bool) -> list[tuple]:
    """`_observed_rows`, kept ERXSEG_TRACKED_KEYS_CACHE_SECONDS in the cache;
    `fresh` reads the data again and refreshes the cache."""
    seconds = settings.ERXSEG_TRACKED_KEYS_CACHE_SECONDS
    if seconds <= 0:
        return _observed_rows(content_type)
    model = _model_for(content_type)
    cache_key = (
        f"erxseg:tracked-keys:{connection.settings_dict['NAME']}:{model._meta.db_table}"
    )
    rows = None if fresh else cache.get(cache_key)
    if rows is None:
        rows = [tuple(row) for row in _observed_rows(content_type)]
        cache.set(cache_key, rows, seconds)
    return rows


def tracked_properties(
    content_type: str, *, fresh: bool = False
) -> dict[str, Property]:
    """Discover tracked-data keys and their observed types from stored data
    (one query that reads every row of the content type's model, or the
    cached result of an earlier one unless `fresh`)."""
    counts: dict[str, dict[PropertyType, int]] = {}
    rows = _cached_observed_rows(content_type, fresh=fresh)
    for key, json_type, total, numeric, dated in rows:
        if not KEY_PATTERN.match(key):
            continue
        if json_type in ("string", "text"):
            # A key whose strings are partly numeric or ISO dates is offered
            # with the number or date operators as well as the text ones.
            found = {
                T.NUMBER: numeric or 0,
                T.DATE: dated or 0,
                T.TEXT: total - (numeric or 0) - (dated or 0),
            }
        elif json_type in JSON_TYPES:
            found = {JSON_TYPES[json_type]: total}
        else:
            continue
        for type_, number in found.items():
            if number:
                seen = counts.setdefault(key, {})
                seen[type_] = seen.get(type_, 0) + number
    properties = {}
    for key in sorted(counts)[:MAX_TRACKED_KEYS]:
        observed = tuple(
            sorted(counts[key], key=lambda type_: (-counts[key][type_], type_.value))
        )
        prop = tracked_property(content_type, key, observed)
        properties[prop.name] = prop
    return properties


class Catalogue:
    """The properties of one content type, loaded lazily: model fields cost
    no query, custom fields one, tracked keys one (only when asked)."""

    def __init__(self, content_type: str, *, discover_tracked: bool = True):
        self.content_type = content_type
        self.discover_tracked = discover_tracked
        self._static = static_properties(content_type)
        self._custom: dict[str, Property] | None = None
        self._tracked: dict[str, Property] | None = None
        self._tracked_fresh = False

    @property
    def model(self):
        return _model_for(self.content_type)

    def custom(self) -> dict[str, Property]:
        if self._custom is None:
            self._custom = custom_properties(self.content_type)
        return self._custom

    def tracked(self) -> dict[str, Property]:
        if self._tracked is None:
            self._tracked = tracked_properties(self.content_type)
            # Without the cache the data was just read.
            self._tracked_fresh = settings.ERXSEG_TRACKED_KEYS_CACHE_SECONDS <= 0
        return self._tracked

    def get(self, name: str) -> Property | None:
        """Return the named property, or None when it is not in the catalogue."""
        if not isinstance(name, str):
            return None
        if name in self._static:
            return self._static[name]
        if name.startswith("custom."):
            return self.custom().get(name)
        if name.startswith("tracked."):
            key = name.removeprefix("tracked.")
            if not KEY_PATTERN.match(key):
                return None
            if not self.discover_tracked:
                return tracked_property(self.content_type, key)
            found = self.tracked().get(name)
            if found is None and not self._tracked_fresh:
                # The cached keys may predate this one: read the data again.
                self._tracked = tracked_properties(self.content_type, fresh=True)
                self._tracked_fresh = True
                found = self._tracked.get(name)
            return found
        return None

    def all(self) -> list[Property]:
        properties = {**self._static, **self.custom(), **self.tracked()}
        return list(properties.values())

    def describe(self) -> list[dict]:
        return [prop.describe() for prop in self.all()]


def catalogue_for(content_type: str) -> list[dict]:
    """Return every property of a content type as the builder lists it."""
    return Catalogue(content_type).describe()
