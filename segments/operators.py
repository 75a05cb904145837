"""The operator registry: one entry per operator, used by the validator, the
compiler, the reference evaluator, the catalogue and docs/rules.md.

Each positive operator has a SQL form (`sql`, returning a Q over a target
expression) and a Python form (`test`, applied to the same typed value by the
reference evaluator). A negative operator is the exact complement of a
positive one (`complement_of`), so a contact whose value is missing fails the
positive operator and matches the negative one. "is set" and "is not set"
depend on where the value is stored, so the property (not the operator)
implements them.
"""

import datetime
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from dateutil.relativedelta import relativedelta
from django.db.models import (
    BooleanField,
    DateField,
    DateTimeField,
    Expression,
    FloatField,
    Q,
    Value,
)
from django.db.models.functions import Coalesce, ExtractDay, ExtractMonth
from django.db.models.lookups import (
    Contains,
    EndsWith,
    Exact,
    GreaterThan,
    GreaterThanOrEqual,
    In,
    IsNull,
    LessThan,
    LessThanOrEqual,
    StartsWith,
)
from django.utils import timezone

from segments.sql import (
    Fold,
    JsonStringIn,
    JsonText,
    JsonTextUnchecked,
    MatchesRegex,
    could_be_json_text,
    fold_text,
    reads_json,
    regex_search,
)


class PropertyType(StrEnum):
    TEXT = "text"
    NUMBER = "number"
    DATE = "date"
    DATETIME = "datetime"
    BOOLEAN = "boolean"
    CHOICE = "choice"
    MULTIPLE_CHOICE = "multiple_choice"


class ValueShape(StrEnum):
    """What an operator's `value` holds."""

    NONE = "none"
    TEXT = "text"
    TEXT_LIST = "text_list"
    REGEX = "regex"
    NUMBER = "number"
    NUMBER_RANGE = "number_range"
    DATE = "date"
    DATE_RANGE = "date_range"
    RELATIVE = "relative"
    ANNIVERSARY = "anniversary"


class DateKind(StrEnum):
    """How a date property is stored, which decides the type of the bounds."""

    DATE = "date"  # a DateField: compared with date objects
    DATETIME = "datetime"  # a DateTimeField: compared with aware datetimes
    ISO = "iso"  # a JSON string YYYY-MM-DD: compared as text


RELATIVE_UNITS = ("minutes", "hours", "days", "weeks", "months", "years")
# Bounds keep every relative date inside the years 1 to 9999.
MAX_RELATIVE_AMOUNT = {
    "minutes": 1_000_000,
    "hours": 100_000,
    "days": 100_000,
    "weeks": 10_000,
    "months": 1_200,
    "years": 100,
}
MAX_ANNIVERSARY_DAYS = 366

TEXT = PropertyType.TEXT
NUMBER = PropertyType.NUMBER
DATE = PropertyType.DATE
DATETIME = PropertyType.DATETIME
BOOLEAN = PropertyType.BOOLEAN
CHOICE = PropertyType.CHOICE
MULTIPLE = PropertyType.MULTIPLE_CHOICE
ALL_TYPES = frozenset(PropertyType)
DATE_TYPES = frozenset({DATE, DATETIME})


@dataclass(frozen=True)
class ScalarTarget:
    """The SQL side of one scalar property: its typed expression (NULL when
    the value is missing or of the wrong type) and how dates are stored."""

    expr: Expression
    type: PropertyType
    date_kind: DateKind | None = None

    def present(self) -> Q:
        q = Q(IsNull(self.expr, False))
        if self.type in (TEXT, CHOICE):
            q &= ~Q(Exact(self.expr, ""))
        return q

    def matches(self, condition, *, value_is_empty: bool = False) -> Q:
        """`condition` (a lookup over this target) where the value is present,
        never NULL.

        A value read from JSON costs a key lookup and a type check each time
        the SQL names it, and `present()` names it twice more. When the
        condition can only hold for a non-empty value (`value_is_empty`
        False), COALESCE(condition, FALSE) gives the same result with one
        read, which made a custom field count 2.8 times faster at a million
        contacts (docs/benchmarks.md).
        """
        if reads_json(self.expr) and not value_is_empty:
            return Q(Coalesce(condition, Value(False), output_field=BooleanField()))
        return self.present() & Q(condition)


@dataclass(frozen=True)
class SetTarget:
    """The SQL side of a multiple choice property: `has_any(values)` matches
    when an element's folded form is one of `values` (already folded)."""

    has_any: Callable[[list[str]], Q]


@dataclass(frozen=True)
class Operator:
    name: str
    label: str
    types: frozenset[PropertyType]
    shape: ValueShape
    description: str
    complement_of: str | None = None
    sql: Callable[..., Q] | None = field(default=None, repr=False)
    test: Callable[..., bool] | None = field(default=None, repr=False)

    @property
    def is_negative(self) -> bool:
        return self.complement_of is not None

    @property
    def is_presence(self) -> bool:
        return self.name in ("is_set", "is_not_set")


# Date windows --------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """A span of local calendar days (for date properties) or of instants
    (for datetime properties): `low` inclusive, `high` exclusive unless
    `high_inclusive`; None is unbounded."""

    low: Any
    high: Any
    high_inclusive: bool = False

    def contains(self, value) -> bool:
        if self.low is not None and value < self.low:
            return False
        if self.high is None:
            return True
        return value <= self.high if self.high_inclusive else value < self.high

    def q(self, expr) -> Q:
        q = Q()
        if self.low is not None:
            q &= Q(GreaterThanOrEqual(expr, self.low))
        if self.high is not None:
            lookup = LessThanOrEqual if self.high_inclusive else LessThan
            q &= Q(lookup(expr, self.high))
        return q


def local_now(now: datetime.datetime) -> datetime.datetime:
    return timezone.localtime(now, timezone.get_default_timezone())


def start_of_day(day: datetime.date) -> datetime.datetime:
    naive = datetime.datetime.combine(day, datetime.time.min)
    return timezone.make_aware(naive, timezone.get_default_timezone())


def shift(now: datetime.datetime, amount: int, unit: str) -> datetime.datetime:
    """Move `now` by `amount` units: minutes and hours as elapsed time,
    longer units along the local calendar."""
    if unit in ("minutes", "hours"):
        return now + datetime.timedelta(**{unit: amount})
    local = local_now(now).replace(tzinfo=None)
    moved = local + relativedelta(**{unit: amount})
    return timezone.make_aware(moved, timezone.get_default_timezone())


def unit_span(moment: datetime.datetime, unit: str):
    """Return the whole unit (minute, hour, day, week from Monday, month or
    year) that contains `moment`, as local naive [start, end)."""
    local = local_now(moment).replace(tzinfo=None)
    if unit == "minutes":
        start = local.replace(second=0, microsecond=0)
        return start, start + datetime.timedelta(minutes=1)
    if unit == "hours":
        start = local.replace(minute=0, second=0, microsecond=0)
        return start, start + datetime.timedelta(hours=1)
    midnight = datetime.datetime.combine(local.date(), datetime.time.min)
    if unit == "days":
        return midnight, midnight + datetime.timedelta(days=1)
    if unit == "weeks":
        start = midnight - datetime.timedelta(days=midnight.weekday())
        return start, start + datetime.timedelta(days=7)
    if unit == "months":
        start = midnight.replace(day=1)
        return start, start + relativedelta(months=1)
    start = midnight.replace(month=1, day=1)
    return start, start + relativedelta(years=1)


def _day_after(moment: datetime.datetime) -> datetime.date:
    return local_now(moment).date() + datetime.timedelta(days=1)


def date_window(operator: str, value, now: datetime.datetime, *, days: bool):
    """Return the Window an absolute or relative date operator selects, in
    local days when `days`, else in aware instants."""
    if operator in ("on", "before", "after", "on_or_before", "on_or_after"):
        day = datetime.date.fromisoformat(value)
        low, high = {
            "on": (day, day + datetime.timedelta(days=1)),
            "before": (None, day),
            "after": (day + datetime.timedelta(days=1), None),
            "on_or_before": (None, day + datetime.timedelta(days=1)),
            "on_or_after": (day, None),
        }[operator]
        if days:
            return Window(low, high)
        return Window(
            start_of_day(low) if low else None, start_of_day(high) if high else None
        )
    if operator == "between":
        first = datetime.date.fromisoformat(value[0])
        after_last = datetime.date.fromisoformat(value[1]) + datetime.timedelta(days=1)
        if days:
            return Window(first, after_last)
        return Window(start_of_day(first), start_of_day(after_last))

    amount, unit = value["amount"], value["unit"]
    if operator == "in_last":
        then = shift(now, -amount, unit)
        if days:
            return Window(local_now(then).date(), _day_after(now))
        return Window(then, now, high_inclusive=True)
    if operator == "more_than_ago":
        then = shift(now, -amount, unit)
        if days:
            return Window(None, local_now(then).date())
        return Window(None, then)
    if operator == "in_next":
        then = shift(now, amount, unit)
        if days:
            return Window(local_now(now).date(), _day_after(then))
        return Window(now, then, high_inclusive=True)
    if operator in ("exactly_ago", "exactly_ahead"):
        sign = -1 if operator == "exactly_ago" else 1
        start, end = unit_span(shift(now, sign * amount, unit), unit)
        if days:
            last = (end - datetime.timedelta(microseconds=1)).date()
            return Window(start.date(), last + datetime.timedelta(days=1))
        zone = timezone.get_default_timezone()
        return Window(timezone.make_aware(start, zone), timezone.make_aware(end, zone))
    raise ValueError(f"{operator} is not a date operator.")


def anniversary_days(amount: int, now: datetime.datetime) -> set[tuple[int, int]]:
    """Return the (month, day) pairs from today to `amount` days ahead. In a
    year without 29 February, a 29 February anniversary falls on the 28th."""
    today = local_now(now).date()
    pairs = set()
    for offset in range(amount + 1):
        day = today + datetime.timedelta(days=offset)
        pairs.add((day.month, day.day))
        if day.month == 2 and day.day == 28:
            leap = (day + datetime.timedelta(days=1)).month == 2
            if not leap:
                pairs.add((2, 29))
    return pairs


def _bound(value, kind: DateKind):
    if value is None:
        return None
    if kind == DateKind.ISO:
        return value.isoformat()
    return value


def _date_bounds(target_kind: DateKind, window: Window) -> Window:
    return Window(
        _bound(window.low, target_kind),
        _bound(window.high, target_kind),
        window.high_inclusive,
    )


def _window_for(operator: str, value, now, kind: DateKind) -> Window:
    window = date_window(operator, value, now, days=kind != DateKind.DATETIME)
    return _date_bounds(kind, window)


def _date_value(bound, kind: DateKind):
    if bound is None:
        return None
    if kind == DateKind.DATE:
        return Value(bound, output_field=DateField())
    if kind == DateKind.DATETIME:
        return Value(bound, output_field=DateTimeField())
    return bound


def _date_sql(operator: str):
    def build(target: ScalarTarget, value, now) -> Q:
        kind = target.date_kind
        window = _window_for(operator, value, now, kind)
        bounded = Window(
            _date_value(window.low, kind),
            _date_value(window.high, kind),
            window.high_inclusive,
        )
        return target.present() & bounded.q(target.expr)

    return build


def _date_test(operator: str):
    def test(typed, value, now, kind: DateKind) -> bool:
        return _window_for(operator, value, now, kind).contains(typed)

    return test


def _anniversary_sql(target: ScalarTarget, value, now) -> Q:
    pairs = anniversary_days(value["amount"], now)
    if target.date_kind == DateKind.ISO:
        from django.db.models.functions import Substr

        texts = sorted(f"{month:02d}-{day:02d}" for month, day in pairs)
        return target.present() & Q(In(Substr(target.expr, 6, 5), texts))
    zone = timezone.get_default_timezone()
    extra = {"tzinfo": zone} if target.date_kind == DateKind.DATETIME else {}
    month_day = ExtractMonth(target.expr, **extra) * 100 + ExtractDay(
        target.expr, **extra
    )
    numbers = sorted(month * 100 + day for month, day in pairs)
    return target.present() & Q(In(month_day, numbers))


def _anniversary_test(typed, value, now, kind: DateKind) -> bool:
    pairs = anniversary_days(value["amount"], now)
    if kind == DateKind.ISO:
        try:
            month, day = int(typed[5:7]), int(typed[8:10])
        except ValueError:
            return False
        return (month, day) in pairs
    if kind == DateKind.DATETIME:
        typed = local_now(typed).date()
    return (typed.month, typed.day) in pairs


# Text and choice -----------------------------------------------------------


def _folds(target: ScalarTarget) -> bool:
    return target.type == TEXT


def _text_lookup(lookup):
    def build(target: ScalarTarget, value, now) -> Q:
        return target.matches(
            lookup(Fold(target.expr), fold_text(value)), value_is_empty=value == ""
        )

    return build


def _is_sql(target: ScalarTarget, value, now) -> Q:
    return _in_sql(target, [value], now)


def _in_sql(target: ScalarTarget, value, now) -> Q:
    if _folds(target):
        folded = sorted({fold_text(item) for item in value})
        expr = target.expr
        if (
            isinstance(expr, JsonText)
            and expr.key
            and not any(could_be_json_text(item) for item in folded)
        ):
            # No number, boolean, array or object reads as one of these
            # texts, so the type check can go: one key read instead of two.
            expr = JsonTextUnchecked(expr.source, expr.key)
        condition = In(Fold(expr), folded)
    elif isinstance(target.expr, JsonText) and target.expr.key and "" not in value:
        # A JSON string compared exactly, such as a custom choice field.
        expr = target.expr
        return Q(JsonStringIn(expr.source, expr.key, list(value)))
    else:
        condition = In(target.expr, sorted(set(value)))
    return target.matches(condition, value_is_empty="" in value)


def _is_test(typed, value, now, kind, type_) -> bool:
    if type_ == TEXT:
        return fold_text(typed) == fold_text(value)
    return typed == value


def _in_test(typed, value, now, kind, type_) -> bool:
    if type_ == TEXT:
        return fold_text(typed) in {fold_text(item) for item in value}
    return typed in value


def _regex_sql(target: ScalarTarget, value, now) -> Q:
    return target.present() & Q(MatchesRegex(target.expr, value))


# Numbers -------------------------------------------------------------------


def _number_sql(lookup):
    def build(target: ScalarTarget, value, now) -> Q:
        return target.matches(
            lookup(target.expr, Value(float(value), output_field=FloatField()))
        )

    return build


def _between_number_sql(target: ScalarTarget, value, now) -> Q:
    low, high = (Value(float(item), output_field=FloatField()) for item in value)
    return (
        target.present()
        & Q(GreaterThanOrEqual(target.expr, low))
        & Q(LessThanOrEqual(target.expr, high))
    )


def _between_sql(target: ScalarTarget, value, now) -> Q:
    if target.type == NUMBER:
        return _between_number_sql(target, value, now)
    return _date_sql("between")(target, value, now)


def _between_test(typed, value, now, kind, type_) -> bool:
    if type_ == NUMBER:
        return float(value[0]) <= typed <= float(value[1])
    return _date_test("between")(typed, value, now, kind)


# Sets ----------------------------------------------------------------------


def _includes_any_sql(target: SetTarget, value, now) -> Q:
    return target.has_any(sorted({fold_text(item) for item in value}))


def _includes_all_sql(target: SetTarget, value, now) -> Q:
    q = Q()
    for item in sorted({fold_text(item) for item in value}):
        q &= target.has_any([item])
    return q


def _includes_any_test(elements, value, now, kind, type_) -> bool:
    return bool(set(elements) & {fold_text(item) for item in value})


def _includes_all_test(elements, value, now, kind, type_) -> bool:
    return {fold_text(item) for item in value} <= set(elements)


# The registry --------------------------------------------------------------


def _scalar(test):
    """Adapt a (typed, value) test to the evaluator's full signature."""
    return lambda typed, value, now, kind, type_: test(typed, value)


def _dated(operator):
    inner = _date_test(operator)
    return lambda typed, value, now, kind, type_: inner(typed, value, now, kind)


TEXT_TYPES = frozenset({TEXT})
TEXT_AND_CHOICE = frozenset({TEXT, CHOICE})

OPERATORS: dict[str, Operator] = {}


def register(operator: Operator) -> Operator:
    OPERATORS[operator.name] = operator
    return operator


for _operator in [
    Operator(
        "is",
        "is",
        TEXT_AND_CHOICE,
        ValueShape.TEXT,
        "The value equals the given text (text ignores case; a choice must "
        "match exactly).",
        sql=_is_sql,
        test=_is_test,
    ),
    Operator(
        "is_not",
        "is not",
        TEXT_AND_CHOICE,
        ValueShape.TEXT,
        "The complement of is: also true when the value is missing.",
        complement_of="is",
    ),
    Operator(
        "contains",
        "contains",
        TEXT_TYPES,
        ValueShape.TEXT,
        "The value contains the given text, ignoring case.",
        sql=_text_lookup(Contains),
        test=_scalar(lambda typed, value: fold_text(value) in fold_text(typed)),
    ),
    Operator(
        "not_contains",
        "does not contain",
        TEXT_TYPES,
        ValueShape.TEXT,
        "The complement of contains: also true when the value is missing.",
        complement_of="contains",
    ),
    Operator(
        "starts_with",
        "starts with",
        TEXT_TYPES,
        ValueShape.TEXT,
        "The value starts with the given text, ignoring case.",
        sql=_text_lookup(StartsWith),
        test=_scalar(
            lambda typed, value: fold_text(typed).startswith(fold_text(value))
        ),
    ),
    Operator(
        "ends_with",
        "ends with",
        TEXT_TYPES,
        ValueShape.TEXT,
        "The value ends with the given text, ignoring case.",
        sql=_text_lookup(EndsWith),
        test=_scalar(lambda typed, value: fold_text(typed).endswith(fold_text(value))),
    ),
    Operator(
        "matches_regex",
        "matches regular expression",
        TEXT_TYPES,
        ValueShape.REGEX,
        "Part of the value matches the regular expression, ignoring case.",
        sql=_regex_sql,
        test=_scalar(lambda typed, value: regex_search(value, typed)),
    ),
    Operator(
        "in",
        "is one of",
        TEXT_AND_CHOICE,
        ValueShape.TEXT_LIST,
        "The value equals one of the given texts.",
        sql=_in_sql,
        test=_in_test,
    ),
    Operator(
        "not_in",
        "is none of",
        TEXT_AND_CHOICE,
        ValueShape.TEXT_LIST,
        "The complement of in: also true when the value is missing.",
        complement_of="in",
    ),
    Operator(
        "eq",
        "=",
        frozenset({NUMBER}),
        ValueShape.NUMBER,
        "The number equals the given number.",
        sql=_number_sql(Exact),
        test=_scalar(lambda typed, value: typed == float(value)),
    ),
    Operator(
        "ne",
        "≠",
        frozenset({NUMBER}),
        ValueShape.NUMBER,
        "The complement of =: also true when the value is missing or not a number.",
        complement_of="eq",
    ),
    Operator(
        "lt",
        "<",
        frozenset({NUMBER}),
        ValueShape.NUMBER,
        "The number is less than the given number.",
        sql=_number_sql(LessThan),
        test=_scalar(lambda typed, value: typed < float(value)),
    ),
    Operator(
        "lte",
        "≤",
        frozenset({NUMBER}),
        ValueShape.NUMBER,
        "The number is less than or equal to the given number.",
        sql=_number_sql(LessThanOrEqual),
        test=_scalar(lambda typed, value: typed <= float(value)),
    ),
    Operator(
        "gt",
        ">",
        frozenset({NUMBER}),
        ValueShape.NUMBER,
        "The number is greater than the given number.",
        sql=_number_sql(GreaterThan),
        test=_scalar(lambda typed, value: typed > float(value)),
    ),
    Operator(
        "gte",
        "≥",
        frozenset({NUMBER}),
        ValueShape.NUMBER,
        "The number is greater than or equal to the given number.",
        sql=_number_sql(GreaterThanOrEqual),
        test=_scalar(lambda typed, value: typed >= float(value)),
    ),
    Operator(
        "between",
        "is between",
        frozenset({NUMBER, DATE, DATETIME}),
        ValueShape.NUMBER_RANGE,
        "The number lies in [low, high], or the date lies in [from, to] "
        "(calendar days); both ends included.",
        sql=_between_sql,
        test=_between_test,
    ),
    Operator(
        "on",
        "is on",
        DATE_TYPES,
        ValueShape.DATE,
        "The date falls on the given calendar day.",
        sql=_date_sql("on"),
        test=_dated("on"),
    ),
    Operator(
        "not_on",
        "is not on",
        DATE_TYPES,
        ValueShape.DATE,
        "The complement of on: also true when the date is missing.",
        complement_of="on",
    ),
    Operator(
        "before",
        "is before",
        DATE_TYPES,
        ValueShape.DATE,
        "The date falls before the given day.",
        sql=_date_sql("before"),
        test=_dated("before"),
    ),
    Operator(
        "after",
        "is after",
        DATE_TYPES,
        ValueShape.DATE,
        "The date falls after the given day.",
        sql=_date_sql("after"),
        test=_dated("after"),
    ),
    Operator(
        "on_or_before",
        "is on or before",
        DATE_TYPES,
        ValueShape.DATE,
        "The date falls on or before the given day.",
        sql=_date_sql("on_or_before"),
        test=_dated("on_or_before"),
    ),
    Operator(
        "on_or_after",
        "is on or after",
        DATE_TYPES,
        ValueShape.DATE,
        "The date falls on or after the given day.",
        sql=_date_sql("on_or_after"),
        test=_dated("on_or_after"),
    ),
    Operator(
        "in_last",
        "is in the last",
        DATE_TYPES,
        ValueShape.RELATIVE,
        "The date lies between N units ago and now.",
        sql=_date_sql("in_last"),
        test=_dated("in_last"),
    ),
    Operator(
        "more_than_ago",
        "is more than … ago",
        DATE_TYPES,
        ValueShape.RELATIVE,
        "The date lies before N units ago.",
        sql=_date_sql("more_than_ago"),
        test=_dated("more_than_ago"),
    ),
    Operator(
        "in_next",
        "is in the next",
        DATE_TYPES,
        ValueShape.RELATIVE,
        "The date lies between now and N units ahead.",
        sql=_date_sql("in_next"),
        test=_dated("in_next"),
    ),
    Operator(
        "exactly_ago",
        "is exactly … ago",
        DATE_TYPES,
        ValueShape.RELATIVE,
        "The date lies in the whole unit N units ago, for example the whole "
        "calendar day 3 days ago.",
        sql=_date_sql("exactly_ago"),
        test=_dated("exactly_ago"),
    ),
    Operator(
        "exactly_ahead",
        "is exactly … ahead",
        DATE_TYPES,
        ValueShape.RELATIVE,
        "The date lies in the whole unit N units ahead.",
        sql=_date_sql("exactly_ahead"),
        test=_dated("exactly_ahead"),
    ),
    Operator(
        "anniversary_within",
        "has an anniversary within",
        DATE_TYPES,
        ValueShape.ANNIVERSARY,
        "The date's month and day come up within the next N days, today "
        "included (birthdays).",
        sql=_anniversary_sql,
        test=lambda typed, value, now, kind, type_: _anniversary_test(
            typed, value, now, kind
        ),
    ),
    Operator(
        "is_true",
        "is true",
        frozenset({BOOLEAN}),
        ValueShape.NONE,
        "The value is true.",
        sql=lambda target, value, now: target.present() & Q(Exact(target.expr, True)),
        test=_scalar(lambda typed, value: typed is True),
    ),
    Operator(
        "is_false",
        "is false",
        frozenset({BOOLEAN}),
        ValueShape.NONE,
        "The value is false (a missing value is neither true nor false).",
        sql=lambda target, value, now: target.present() & Q(Exact(target.expr, False)),
        test=_scalar(lambda typed, value: typed is False),
    ),
    Operator(
        "includes_any",
        "includes any of",
        frozenset({MULTIPLE}),
        ValueShape.TEXT_LIST,
        "At least one of the given values is among the property's values, "
        "ignoring case.",
        sql=_includes_any_sql,
        test=_includes_any_test,
    ),
    Operator(
        "includes_all",
        "includes all of",
        frozenset({MULTIPLE}),
        ValueShape.TEXT_LIST,
        "Every given value is among the property's values, ignoring case.",
        sql=_includes_all_sql,
        test=_includes_all_test,
    ),
    Operator(
        "excludes",
        "excludes",
        frozenset({MULTIPLE}),
        ValueShape.TEXT_LIST,
        "The complement of includes any: none of the given values is among "
        "the property's values.",
        complement_of="includes_any",
    ),
    Operator(
        "is_set",
        "is set",
        ALL_TYPES,
        ValueShape.NONE,
        "The value is present and not empty.",
    ),
    Operator(
        "is_not_set",
        "is not set",
        ALL_TYPES,
        ValueShape.NONE,
        "The complement of is set.",
        complement_of="is_set",
    ),
]:
    register(_operator)


def operators_for(type_: PropertyType) -> list[Operator]:
    """Return the operators that apply to a property type, in registry order."""
    return [operator for operator in OPERATORS.values() if type_ in operator.types]


def value_shape(operator: Operator, type_: PropertyType) -> ValueShape:
    """Return the value shape of `operator` on a property of `type_`."""
    if operator.name == "between" and type_ in DATE_TYPES:
        return ValueShape.DATE_RANGE
    return operator.shape


def positive(operator: Operator) -> Operator:
    if operator.complement_of:
        return OPERATORS[operator.complement_of]
    return operator
