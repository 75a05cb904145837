"""Database expressions that return the same results on SQLite and
PostgreSQL for the rule compiler.

Text is folded with Python's `str.lower()` on SQLite (a function registered on
every connection) and with `lower()` on PostgreSQL; under a UTF-8 database
both fold the same way for everything but the final sigma and the dotted
capital I. Values inside JSON are read with a type guard first: a value of
the wrong JSON type comes out as NULL, and nothing is ever cast without a
guard, because a failed cast aborts the whole PostgreSQL query.
"""

import json
import re
from typing import Any

from django.db import NotSupportedError
from django.db.models import BooleanField, CharField, Expression, F, FloatField

# A numeric string in tracked data: optional minus, up to 20 digits, an
# optional fraction of up to 20 digits. The bound keeps every accepted string
# inside the double precision range, so the cast can never fail.
NUMBER_PATTERN = r"^-?[0-9]{1,20}(\.[0-9]{1,20})?$"
NUMBER_RE = re.compile(NUMBER_PATTERN)
# JSON numbers beyond this magnitude count as not numbers, for the same reason.
MAX_JSON_NUMBER = 1e300
# Half the smallest subnormal double (2**-1075, to 17 digits): a JSON number
# of smaller magnitude reads as 0.0 in Python and fails a float8 cast.
SMALLEST_DOUBLE_HALF = "2.4703282292062328e-324"
DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
DATE_RE = re.compile(DATE_PATTERN)
SQLITE_DATE_GLOB = "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]"


def fold_text(value: str) -> str:
    """Fold text for case-insensitive comparison, as the database does."""
    return value.lower()


def json_number(value: Any) -> float | None:
    """Return a JSON value as a number, or None when it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:
            return None
        if abs(number) <= MAX_JSON_NUMBER:
            return number
        return None
    if isinstance(value, str) and NUMBER_RE.match(value):
        return float(value)
    return None


def regex_search(pattern: str, text: str) -> bool:
    # NOTE: on SQLite this runs per row in Python's backtracking engine, so a
    # pathological pattern such as (a+)+$ can be slow; only its length is
    # bounded.
    return re.search(pattern, text, re.IGNORECASE) is not None


# SQLite functions, registered on every new connection by SegmentsConfig.


def _sqlite_lower(value):
    if isinstance(value, str):
        return fold_text(value)
    return value


def _sqlite_regexp(pattern, value):
    if pattern is None or not isinstance(value, str):
        return None
    return regex_search(pattern, value)


def _sqlite_number(json_type, value):
    if json_type in ("integer", "real"):
        return json_number(value)
    if json_type == "text":
        return json_number(value)
    return None


def register_sqlite_functions(sender, connection, **kwargs) -> None:
    """Register erxseg's deterministic SQL functions on a SQLite connection."""
    if connection.vendor != "sqlite":
        return
    db = connection.connection
    db.create_function("erxseg_lower", 1, _sqlite_lower, deterministic=True)
    db.create_function("erxseg_regexp", 2, _sqlite_regexp, deterministic=True)
    db.create_function("erxseg_number", 2, _sqlite_number, deterministic=True)


def _sqlite_path(key: str | None) -> str:
    if key is None:
        return "$"
    # Keys are checked against KEY_PATTERN in the catalogue, so they hold no
    # double quote and the quoted path names exactly one key.
    return f'$."{key}"'


class _SqlExpression(Expression):
    """An expression over one source expression (usually a column) with SQL
    written per backend in `sqlite()` and `postgresql()`."""

    def __init__(self, source, *, output_field=None):
        super().__init__(output_field=output_field)
        self.source = F(source) if isinstance(source, str) else source

    def get_source_expressions(self):
        return [self.source]

    def set_source_expressions(self, exprs):
        (self.source,) = exprs

    def as_sql(self, compiler, connection, **extra_context):
        raise NotSupportedError(
            "erxseg segment rules run on SQLite and PostgreSQL only; "
            f"{connection.vendor} is not supported."
        )

    def as_sqlite(self, compiler, connection, **extra_context):
        source_sql, source_params = compiler.compile(self.source)
        return self.sqlite(source_sql, list(source_params))

    def as_postgresql(self, compiler, connection, **extra_context):
        source_sql, source_params = compiler.compile(self.source)
        return self.postgresql(source_sql, list(source_params))


class Fold(_SqlExpression):
    """Text folded for case-insensitive comparison."""

    def __init__(self, source):
        super().__init__(source, output_field=CharField())

    def sqlite(self, sql, params):
        return f"erxseg_lower({sql})", params

    def postgresql(self, sql, params):
        return f"lower({sql})", params


class MatchesRegex(_SqlExpression):
    """True when the text matches the pattern, ignoring case; NULL on NULL."""

    def __init__(self, source, pattern: str):
        super().__init__(source, output_field=BooleanField())
        self.pattern = pattern

    def sqlite(self, sql, params):
        return f"erxseg_regexp(%s, {sql})", [self.pattern, *params]

    def postgresql(self, sql, params):
        return f"({sql} ~* %s)", [*params, self.pattern]


class _JsonKey(_SqlExpression):
    """A value read from one key of a JSON column (the column itself when
    `key` is None)."""

    def __init__(self, source, key: str | None, *, output_field=None):
        super().__init__(source, output_field=output_field)
        self.key = key

    def pg_value(self, sql, params):
        if self.key is None:
            return sql, params
        return f"({sql} -> %s)", [*params, self.key]

    def pg_text(self, sql, params):
        if self.key is None:
            return f"({sql} #>> '{{}}')", params
        return f"({sql} ->> %s)", [*params, self.key]

    def sqlite_type(self, sql, params):
        return f"json_type({sql}, %s)", [*params, _sqlite_path(self.key)]

    def sqlite_extract(self, sql, params):
        return f"json_extract({sql}, %s)", [*params, _sqlite_path(self.key)]


def reads_json(expression) -> bool:
    """True when `expression` reads a key of a JSON column."""
    return isinstance(expression, _JsonKey)


class JsonText(_JsonKey):
    """The key's value when it is a JSON string, else NULL."""

    def __init__(self, source, key):
        super().__init__(source, key, output_field=CharField())

    def sqlite(self, sql, params):
        type_sql, type_params = self.sqlite_type(sql, params)
        value_sql, value_params = self.sqlite_extract(sql, params)
        return (
            f"(CASE WHEN {type_sql} = 'text' THEN {value_sql} END)",
            type_params + value_params,
        )

    def postgresql(self, sql, params):
        value_sql, value_params = self.pg_value(sql, params)
        text_sql, text_params = self.pg_text(sql, params)
        return (
            f"(CASE WHEN jsonb_typeof({value_sql}) = 'string' THEN {text_sql} END)",
            value_params + text_params,
        )


class JsonTextUnchecked(JsonText):
    """The key's value as text with no type check on PostgreSQL
    (`column ->> key`), for comparisons that no other JSON type can pass.

    A number, boolean, array or object reads as its JSON text ("5", "true",
    "[...]"). So this may stand in for JsonText only where no compared value
    could equal such text, which `could_be_json_text` checks. SQLite keeps
    the type check, which costs it nothing extra.
    """

    def postgresql(self, sql, params):
        return self.pg_text(sql, params)


NON_STRING_JSON_TEXT = re.compile(r"^[-+0-9.eE]+$|^(true|false|null)$|^[\[{]")


def could_be_json_text(value: str) -> bool:
    """True when `value` could be how `->>` writes a JSON number, boolean,
    array or object, so a text comparison with it needs the type check."""
    return bool(NON_STRING_JSON_TEXT.search(value))


class JsonStringIn(_JsonKey):
    """True when the key's value is a JSON string equal to one of `values`
    (compared exactly, not folded), else FALSE; never NULL.

    On PostgreSQL this is jsonb containment, `column @> '{"key": "v"}'`, which
    reads the key once and needs no type check: an object contains
    {"key": "v"} exactly when the value of the key is the string "v". It counted a
    custom choice field 1.3 times faster than the typed text comparison at a
    million contacts (docs/benchmarks.md).
    """

    def __init__(self, source, key: str, values: list[str]):
        super().__init__(source, key, output_field=BooleanField())
        self.values = sorted(set(values))

    def sqlite(self, sql, params):
        type_sql, type_params = self.sqlite_type(sql, params)
        value_sql, value_params = self.sqlite_extract(sql, params)
        marks = ", ".join(["%s"] * len(self.values))
        return (
            f"COALESCE((CASE WHEN {type_sql} = 'text' THEN {value_sql} END) "
            f"IN ({marks}), 0)",
            type_params + value_params + self.values,
        )

    def postgresql(self, sql, params):
        wanted = [json.dumps({self.key: value}) for value in self.values]
        if len(wanted) == 1:
            return f"({sql} @> %s::jsonb)", [*params, wanted[0]]
        return f"({sql} @> ANY(%s::jsonb[]))", [*params, wanted]


class JsonDate(_JsonKey):
    """The key's value when it is a string written YYYY-MM-DD, else NULL."""

    def __init__(self, source, key):
        super().__init__(source, key, output_field=CharField())

    def sqlite(self, sql, params):
        type_sql, type_params = self.sqlite_type(sql, params)
        value_sql, value_params = self.sqlite_extract(sql, params)
        return (
            f"(CASE WHEN {type_sql} = 'text' AND {value_sql} GLOB %s "
            f"THEN {value_sql} END)",
            type_params + value_params + [SQLITE_DATE_GLOB] + value_params,
        )

    def postgresql(self, sql, params):
        value_sql, value_params = self.pg_value(sql, params)
        text_sql, text_params = self.pg_text(sql, params)
        return (
            f"(CASE WHEN jsonb_typeof({value_sql}) = 'string' "
            f"AND {text_sql} ~ %s THEN {text_sql} END)",
            value_params + text_params + [DATE_PATTERN] + text_params,
        )


class JsonNumber(_JsonKey):
    """The key's value as a number when it is a JSON number or a numeric
    string, else NULL."""

    def __init__(self, source, key):
        super().__init__(source, key, output_field=FloatField())

    def sqlite(self, sql, params):
        type_sql, type_params = self.sqlite_type(sql, params)
        value_sql, value_params = self.sqlite_extract(sql, params)
        return f"erxseg_number({type_sql}, {value_sql})", type_params + value_params

    def postgresql(self, sql, params):
        value_sql, value_params = self.pg_value(sql, params)
        text_sql, text_params = self.pg_text(sql, params)
        # Each cast sits behind its own guard in a CASE, which PostgreSQL
        # evaluates in order, so junk such as "80%" never reaches a cast.
        # jsonb writes numbers out in full, so one under 300 characters lies
        # between 1e-299 and 1e299 and casts safely. A longer one is missing
        # above MAX_JSON_NUMBER and 0 below the smallest double, as Python's
        # json reads it; a float8 cast would fail with "out of range".
        number = f"({value_sql})::numeric"
        return (
            f"(CASE jsonb_typeof({value_sql}) "
            f"WHEN 'number' THEN (CASE WHEN length({text_sql}) < 300 "
            f"THEN ({text_sql})::float8 "
            f"WHEN abs({number}) > %s::numeric THEN NULL "
            f"WHEN abs({number}) < %s::numeric THEN 0.0 "
            f"ELSE ({text_sql})::float8 END) "
            f"WHEN 'string' THEN (CASE WHEN {text_sql} ~ %s "
            f"THEN ({text_sql})::float8 END) END)",
            value_params
            + text_params
            + text_params
            + value_params
            + [str(MAX_JSON_NUMBER)]
            + value_params
            + [SMALLEST_DOUBLE_HALF]
            + text_params
            + text_params
            + [NUMBER_PATTERN]
            + text_params,
        )


class JsonBoolean(_JsonKey):
    """The key's value when it is a JSON boolean, else NULL."""

    def __init__(self, source, key):
        super().__init__(source, key, output_field=BooleanField())

    def sqlite(self, sql, params):
        type_sql, type_params = self.sqlite_type(sql, params)
        return (
            f"(CASE {type_sql} WHEN 'true' THEN 1 WHEN 'false' THEN 0 END)",
            type_params,
        )

    def postgresql(self, sql, params):
        value_sql, value_params = self.pg_value(sql, params)
        return (
            f"(CASE WHEN jsonb_typeof({value_sql}) = 'boolean' "
            f"THEN ({value_sql})::text::boolean END)",
            value_params + value_params,
        )


class JsonIsSet(_JsonKey):
    """True when the key is present and not null, "", [] or {}; never NULL."""

    def __init__(self, source, key):
        super().__init__(source, key, output_field=BooleanField())

    def sqlite(self, sql, params):
        type_sql, type_params = self.sqlite_type(sql, params)
        value_sql, value_params = self.sqlite_extract(sql, params)
        return (
            f"(COALESCE(CASE {type_sql} WHEN 'text' THEN {value_sql} <> '' "
            f"WHEN 'array' THEN {value_sql} <> '[]' "
            f"WHEN 'object' THEN {value_sql} <> '{{}}' "
            f"WHEN 'null' THEN 0 ELSE {type_sql} IS NOT NULL END, 0) = 1)",
            type_params + value_params + value_params + value_params + type_params,
        )

    def postgresql(self, sql, params):
        value_sql, value_params = self.pg_value(sql, params)
        return (
            f"COALESCE({value_sql} NOT IN ('null'::jsonb, '\"\"'::jsonb, "
            f"'[]'::jsonb, '{{}}'::jsonb), false)",
            value_params,
        )


class JsonListHas(_JsonKey):
    """True when the key contains a JSON list with a text element whose folded
    form is one of `values` (already folded); with `values` None, any
    non-empty text element. Never NULL."""

    def __init__(self, source, key, values: list[str] | None):
        super().__init__(source, key, output_field=BooleanField())
        self.values = values

    def _element_filter(self, element_sql, fold):
        if self.values is None:
            return f"{element_sql} <> ''", []
        marks = ", ".join(["%s"] * len(self.values))
        return f"{fold}({element_sql}) IN ({marks})", list(self.values)

    def sqlite(self, sql, params):
        type_sql, type_params = self.sqlite_type(sql, params)
        value_sql, value_params = self.sqlite_extract(sql, params)
        where, where_params = self._element_filter("e.value", "erxseg_lower")
        return (
            f"EXISTS (SELECT 1 FROM json_each(CASE WHEN {type_sql} = 'array' "
            f"THEN {value_sql} ELSE '[]' END) AS e "
            f"WHERE e.type = 'text' AND {where})",
            type_params + value_params + where_params,
        )

    def postgresql(self, sql, params):
        value_sql, value_params = self.pg_value(sql, params)
        where, where_params = self._element_filter("(e.value #>> '{}')", "lower")
        return (
            f"EXISTS (SELECT 1 FROM jsonb_array_elements(CASE WHEN "
            f"jsonb_typeof({value_sql}) = 'array' THEN {value_sql} "
            f"ELSE '[]'::jsonb END) AS e(value) "
            f"WHERE jsonb_typeof(e.value) = 'string' AND {where})",
            value_params + value_params + where_params,
        )
