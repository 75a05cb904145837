import pytest
from django.core.exceptions import ValidationError

from contacts.models import FieldDefinition, FieldType
from segments.models import Segment
from segments.rules import regex_problem, validate_rules
from tests.segments.conftest import group, prop

pytestmark = pytest.mark.django_db


def errors_of(rules, **kwargs) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as caught:
        validate_rules(rules, **{"content_type": "customer", **kwargs})
    return caught.value.message_dict


def nested(depth: int) -> dict:
    tree = group(prop("first_name", "is_set"))
    for _level in range(depth - 1):
        tree = group(tree)
    return tree


def test_validate_rules_fills_defaults_and_converts_numeric_strings():
    # given
    rules = {
        "conditions": [
            {
                "type": "property",
                "property": "session_count",
                "operator": "gt",
                "value": "12",
            },
            {"type": "group", "conditions": []},
        ]
    }

    # when
    normalised = validate_rules(rules, content_type="customer")

    # then
    assert normalised == {
        "type": "group",
        "conjunction": "and",
        "negate": False,
        "conditions": [
            {
                "type": "property",
                "property": "session_count",
                "operator": "gt",
                "value": 12,
            },
            {"type": "group", "conjunction": "and", "negate": False, "conditions": []},
        ],
    }


def test_validate_rules_unknown_property_names_path():
    # when
    errors = errors_of(group(prop("first_name", "is_set"), prop("password", "is_set")))

    # then
    assert errors == {
        "conditions[1].property": [
            "The property 'password' is not in the catalogue of customer segments. "
            "Pick a property from the catalogue."
        ]
    }


def test_validate_rules_undeclared_custom_field_rejected():
    # when
    errors = errors_of(group(prop("custom.plan", "is", "pro")))

    # then
    assert list(errors) == ["conditions[0].property"]


def test_validate_rules_unknown_operator_lists_allowed_ones():
    # when
    errors = errors_of(group(group(prop("session_count", "contains", "1"))))

    # then
    assert errors == {
        "conditions[0].conditions[0].operator": [
            "The operator 'contains' does not apply to session_count. Use one of: "
            "eq, ne, lt, lte, gt, gte, between, is_set, is_not_set."
        ]
    }


@pytest.mark.parametrize(
    ("condition", "path", "message"),
    [
        (
            prop("session_count", "gt", "many"),
            "conditions[0].value",
            "The value must be a number, not 'many'.",
        ),
        (
            prop("session_count", "gt", True),
            "conditions[0].value",
            "The value must be a number, not True.",
        ),
        (
            prop("session_count", "between", [5, 1]),
            "conditions[0].value",
            "The range starts at 5, after its end 1. Swap them.",
        ),
        (
            prop("birth_date", "on", "31/12/1990"),
            "conditions[0].value",
            "The value must be a date written YYYY-MM-DD, not '31/12/1990'.",
        ),
        (
            prop("birth_date", "on", "1990-02-30"),
            "conditions[0].value",
            "The value must be a date written YYYY-MM-DD, not '1990-02-30'.",
        ),
        (
            prop("birth_date", "in_last", {"amount": 3, "unit": "fortnights"}),
            "conditions[0].value.unit",
            "The unit 'fortnights' is unknown. Use one of: minutes, hours, days, "
            "weeks, months, years.",
        ),
        (
            prop("birth_date", "in_last", {"amount": -1, "unit": "days"}),
            "conditions[0].value.amount",
            "The amount must be a whole number from 0 to 100000 days, not -1.",
        ),
        (
            prop("birth_date", "anniversary_within", {"amount": 400, "unit": "days"}),
            "conditions[0].value.amount",
            "The amount must be a whole number of days from 0 to 366, not 400.",
        ),
        (
            prop("first_name", "contains", ""),
            "conditions[0].value",
            "The value must be a non-empty text, not ''.",
        ),
        (
            prop("first_name", "in", ["ada", 3]),
            "conditions[0].value[1]",
            "The value must be a non-empty text, not 3.",
        ),
        (
            prop("sex", "is", "robot"),
            "conditions[0].value",
            "'robot' is not an option of sex. Use one of: female, male, other.",
        ),
        (
            prop("is_subscribed", "is_true", "yes"),
            "conditions[0].value",
            "This operator takes no value; remove 'yes'.",
        ),
    ],
)
def test_validate_rules_wrong_value_type_or_format_names_path(condition, path, message):
    # when
    errors = errors_of(group(condition))

    # then
    assert errors == {path: [message]}


def test_validate_rules_too_deep_rejected():
    # given ten levels pass, eleven do not
    validate_rules(nested(10), content_type="customer")

    # when
    errors = errors_of(nested(11))

    # then
    path = ".".join(["conditions[0]"] * 10)
    assert errors == {
        path: [
            "Groups are nested 11 levels deep here; at most 10 levels are "
            "allowed. Flatten the rules."
        ]
    }


def test_validate_rules_too_many_conditions_rejected():
    # given
    validate_rules(
        group(*[prop("first_name", "is_set")] * 200), content_type="customer"
    )

    # when
    errors = errors_of(group(*[prop("first_name", "is_set")] * 201))

    # then
    assert errors == {
        "rules": [
            "The rules have 201 conditions; at most 200 are allowed. Remove some "
            "or split the segment."
        ]
    }


def test_validate_rules_oversized_text_and_list_rejected():
    # when
    errors = errors_of(
        group(
            prop("first_name", "contains", "a" * 1001),
            prop("first_name", "in", ["a"] * 101),
        )
    )

    # then
    assert errors == {
        "conditions[0].value": [
            "The value has 1001 characters; at most 1000 are allowed. Shorten it."
        ],
        "conditions[1].value": [
            "The list has 101 items; at most 100 are allowed. Shorten it."
        ],
    }


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        (
            "a(b",
            "The regular expression 'a(b' is invalid: missing ), unterminated "
            "subpattern at position 1. Fix it.",
        ),
        (
            "a" * 201,
            "The regular expression has 201 characters; at most 200 are allowed. "
            "Shorten it.",
        ),
        (
            "(?=a)b",
            "The regular expression '(?=a)b' cannot be used: lookarounds, named "
            "groups and inline flags are not supported.",
        ),
        (
            "\\bword",
            "The regular expression '\\\\bword' cannot be used: the escape \\b is "
            "not supported.",
        ),
        (
            "(a)\\1",
            "The regular expression '(a)\\\\1' cannot be used: the escape \\1 is "
            "not supported.",
        ),
        (
            "a{1,300}",
            "The regular expression 'a{1,300}' cannot be used: repetition counts "
            "above 255 are not supported.",
        ),
    ],
)
def test_validate_rules_invalid_or_oversized_regex_rejected(pattern, message):
    # when
    errors = errors_of(group(prop("first_name", "matches_regex", pattern)))

    # then
    assert errors == {"conditions[0].value": [message]}


def test_regex_problem_accepts_shared_syntax():
    for pattern in ["^a.b$", "[a-z]+", "(?:ab)|c", "\\d{2,3}", "x*?", "\\.", "é"]:
        assert regex_problem(pattern) is None


def test_validate_rules_missing_segment_reference_rejected():
    # when
    errors = errors_of(group({"type": "segment", "segment": 999, "negate": False}))

    # then
    assert errors == {
        "conditions[0].segment": [
            "The segment 999 does not exist. Pick an existing segment."
        ]
    }


def test_validate_rules_reference_cycle_rejected():
    # given A references B; saving B with a reference to A closes a cycle
    b = Segment.objects.create(name="B", rules=group())
    a = Segment.objects.create(
        name="A", rules=group({"type": "segment", "segment": b.pk, "negate": False})
    )

    # when
    errors = errors_of(
        group({"type": "segment", "segment": a.pk, "negate": True}), segment=b
    )

    # then
    assert errors == {
        "conditions[0].segment": [
            "The segment A depends on this segment, which would form a cycle. "
            "Remove the reference."
        ]
    }


def test_validate_rules_self_reference_rejected():
    # given
    a = Segment.objects.create(name="A", rules=group())

    # when
    errors = errors_of(group({"type": "segment", "segment": a.pk}), segment=a)

    # then
    assert list(errors) == ["conditions[0].segment"]


def test_validate_rules_parent_cycle_rejected():
    # given C is a sub-segment of B, B of A; making A a sub-segment of C loops
    a = Segment.objects.create(name="A", rules=group())
    b = Segment.objects.create(name="B", parent=a, rules=group())
    c = Segment.objects.create(name="C", parent=b, rules=group())

    # when
    errors = errors_of(group(), segment=a, parent=c)

    # then
    assert errors == {
        "parent": [
            "The parent C depends on this segment, which would form a cycle. "
            "Pick another parent."
        ]
    }


def test_validate_rules_cycle_through_parent_and_reference_rejected():
    # given B is a sub-segment of A; A may not reference B
    a = Segment.objects.create(name="A", rules=group())
    Segment.objects.create(name="B", parent=a, rules=group())
    b = Segment.objects.get(name="B")

    # when
    errors = errors_of(group({"type": "segment", "segment": b.pk}), segment=a)

    # then
    assert list(errors) == ["conditions[0].segment"]


def test_validate_rules_parent_of_other_content_type_rejected():
    # given
    leads = Segment.objects.create(name="Leads", content_type="lead", rules=group())

    # when
    errors = errors_of(group(), parent=leads)

    # then
    assert errors == {
        "parent": [
            "The parent Leads selects lead; a sub-segment must select the same. "
            "Pick another parent."
        ]
    }


def test_validate_rules_reports_every_error_at_once():
    # when
    errors = errors_of(
        group(
            prop("nope", "is_set"),
            group(prop("session_count", "gt", "x"), conjunction="xor"),
        )
    )

    # then
    assert sorted(errors) == [
        "conditions[0].property",
        "conditions[1].conditions[0].value",
        "conditions[1].conjunction",
    ]


def test_validate_rules_contacts_condition_only_in_company_segments():
    # given
    contacts = {
        "type": "contacts",
        "occurrence": "at_least",
        "count": 2,
        "where": group(prop("country", "is", "Germany")),
    }

    # when
    errors = errors_of(group(contacts))
    normalised = validate_rules(group(contacts), content_type="company")

    # then
    assert errors == {
        "conditions[0].type": [
            "The condition type 'contacts' is not allowed here. Use one of: group, "
            "property, segment, event."
        ]
    }
    assert normalised["conditions"][0]["where"]["conditions"][0]["value"] == "Germany"


def test_validate_rules_contacts_where_names_nested_path():
    # when
    errors = errors_of(
        group({"type": "contacts", "count": 1, "where": group(prop("size", "gt", 3))}),
        content_type="company",
    )

    # then
    assert list(errors) == ["conditions[0].where.conditions[0].property"]


def test_validate_rules_event_shape_checked():
    # when
    errors = errors_of(
        group(
            {
                "type": "event",
                "event": "pricing_viewed",
                "occurrence": "often",
                "count": -1,
                "within": {"last": 0, "unit": "days"},
                "attributes": [{"attribute": "plan", "operator": "nope", "value": 1}],
            }
        )
    )

    # then
    assert sorted(errors) == [
        "conditions[0].attributes[0].operator",
        "conditions[0].count",
        "conditions[0].occurrence",
        "conditions[0].within.last",
    ]


def test_validate_rules_event_normalised():
    # when
    normalised = validate_rules(
        group(
            {
                "type": "event",
                "event": "pricing_viewed",
                "count": 3,
                "within": {"between": ["2026-01-01", "2026-01-31"]},
                "attributes": [{"attribute": "plan", "operator": "is", "value": "pro"}],
            }
        ),
        content_type="customer",
    )

    # then
    assert normalised["conditions"][0] == {
        "type": "event",
        "event": "pricing_viewed",
        "occurrence": "at_least",
        "count": 3,
        "within": {"between": ["2026-01-01", "2026-01-31"]},
        "attributes": [{"attribute": "plan", "operator": "is", "value": "pro"}],
    }


def test_validate_rules_choice_value_checked_against_custom_field_options():
    # given
    FieldDefinition.objects.create(
        key="plan", label="Plan", field_type=FieldType.CHOICE, options=["free", "pro"]
    )

    # when
    errors = errors_of(group(prop("custom.plan", "in", ["pro", "gold"])))

    # then
    assert errors == {
        "conditions[0].value[1]": [
            "'gold' is not an option of custom.plan. Use one of: free, pro."
        ]
    }


def test_validate_rules_unknown_key_in_condition_rejected():
    # when
    errors = errors_of(group({**prop("first_name", "is_set"), "column": "password"}))

    # then
    assert errors == {
        "conditions[0].column": ['A property condition has no "column". Remove it.']
    }


def test_validate_rules_root_must_be_group():
    # when
    errors = errors_of([prop("first_name", "is_set")])

    # then
    assert errors == {
        "rules": [
            'The rules must be a group: an object with type "group", a '
            "conjunction and a list of conditions."
        ]
    }
