import io
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from contacts.factories import CustomerFactory, FieldDefinitionFactory
from segments.erxes import OPERATORS, convert_erxes
from segments.models import Segment
from segments.rules import validate_rules

pytestmark = pytest.mark.django_db

EXPORT_PATH = Path(__file__).parent / "fixtures" / "erxes_export.json"


def erxes_segment(*conditions, content_type="core:customer", conjunction="and"):
    return {
        "_id": "seg0000000000000A",
        "name": "Imported",
        "contentType": content_type,
        "conditionsConjunction": conjunction,
        "conditions": list(conditions),
    }


def erxes_property(name, token, value=""):
    return {
        "type": "property",
        "propertyType": "core:customer",
        "propertyName": name,
        "propertyOperator": token,
        "propertyValue": value,
    }


def converted_condition(condition):
    conversion = convert_erxes([erxes_segment(condition)])
    assert conversion.unmapped == []
    return conversion.payload["segments"][0]["rules"]["conditions"][0]


def prop(name, operator, *value):
    node = {"type": "property", "property": name, "operator": operator}
    if value:
        node["value"] = value[0]
    return node


# Every erxes token with a property of the type the erxes UI offers it for.
TOKEN_CASES = [
    ("e", "firstName", "Ada", prop("first_name", "is", "Ada")),
    ("dne", "firstName", "Ada", prop("first_name", "is_not", "Ada")),
    ("c", "primaryEmail", "@gmail.", prop("primary_email", "contains", "@gmail.")),
    ("dnc", "primaryEmail", "spam", prop("primary_email", "not_contains", "spam")),
    ("is", "primaryPhone", "", prop("primary_phone", "is_set")),
    ("ins", "primaryPhone", "", prop("primary_phone", "is_not_set")),
    ("it", "doNotDisturb", "", prop("do_not_disturb", "is_true")),
    ("if", "doNotDisturb", "", prop("do_not_disturb", "is_false")),
    ("numbere", "sessionCount", "5", prop("session_count", "eq", 5)),
    ("numberdne", "sessionCount", "5", prop("session_count", "ne", 5)),
    ("numberigt", "sessionCount", "5", prop("session_count", "gte", 5)),
    ("numberilt", "sessionCount", "5", prop("session_count", "lte", 5)),
    ("igt", "sessionCount", "2.5", prop("session_count", "gte", 2.5)),
    ("ilt", "sessionCount", "10", prop("session_count", "lte", 10)),
    (
        "dateigt",
        "createdAt",
        "2024-01-01T00:00:00.000Z",
        prop("created_at", "on_or_after", "2024-01-01"),
    ),
    (
        "dateilt",
        "createdAt",
        "2024-01-31",
        prop("created_at", "on_or_before", "2024-01-31"),
    ),
    (
        "wobm",
        "lastSeenAt",
        "30",
        prop("last_seen_at", "exactly_ahead", {"amount": 30, "unit": "minutes"}),
    ),
    (
        "woam",
        "lastSeenAt",
        "30",
        prop("last_seen_at", "exactly_ago", {"amount": 30, "unit": "minutes"}),
    ),
    (
        "wobd",
        "lastSeenAt",
        "3",
        prop("last_seen_at", "exactly_ahead", {"amount": 3, "unit": "days"}),
    ),
    (
        "woad",
        "lastSeenAt",
        "3",
        prop("last_seen_at", "exactly_ago", {"amount": 3, "unit": "days"}),
    ),
    (
        "drlt",
        "createdAt",
        "2024-02-01",
        prop("created_at", "on_or_before", "2024-02-01"),
    ),
    (
        "drgt",
        "createdAt",
        "2024-02-01",
        prop("created_at", "on_or_after", "2024-02-01"),
    ),
    ("dateis", "birthDate", "", prop("birth_date", "is_set")),
    ("dateins", "birthDate", "", prop("birth_date", "is_not_set")),
]


def test_erxes_token_cases_cover_every_token():
    assert {case[0] for case in TOKEN_CASES} == set(OPERATORS)


@pytest.mark.parametrize(
    ("token", "name", "value", "expected"),
    TOKEN_CASES,
    ids=[case[0] for case in TOKEN_CASES],
)
def test_erxes_token_maps_to_valid_condition(token, name, value, expected):
    condition = converted_condition(erxes_property(name, token, value))

    assert condition == expected
    validate_rules(
        {
            "type": "group",
            "conjunction": "and",
            "negate": False,
            "conditions": [condition],
        },
        content_type="customer",
    )


def test_erxes_numberigt_is_inclusive():
    condition = converted_condition(
        erxes_property("trackedData.spend_gbp", "numberigt", "1000")
    )

    assert condition == prop("tracked.spend_gbp", "gte", 1000)


@pytest.mark.parametrize(
    ("token", "value", "expected"),
    [
        (
            "drgt",
            "now-21d/d",
            prop("created_at", "in_last", {"amount": 21, "unit": "days"}),
        ),
        (
            "drlt",
            "now-2M",
            prop("created_at", "more_than_ago", {"amount": 2, "unit": "months"}),
        ),
    ],
)
def test_erxes_date_math_maps_to_relative_operator(token, value, expected):
    condition = converted_condition(erxes_property("createdAt", token, value))

    assert condition == expected


@pytest.mark.parametrize(
    ("condition", "path", "reason"),
    [
        (
            erxes_property("firstName", "startsWith", "A"),
            "propertyOperator",
            "erxseg has no such operator",
        ),
        (
            erxes_property("sessionCount", "numberigt", "many"),
            "propertyValue",
            "the value is not a number",
        ),
        (
            erxes_property("createdAt", "drgt", "now+1d"),
            "propertyValue",
            "the value is not an ISO date (YYYY-MM-DD) or a date expression such "
            'as "now-21d/d"',
        ),
        (
            erxes_property("birthDate", "wobd", "3"),
            "propertyOperator",
            "erxes matches a birthday on one exact day; use erxseg's "
            "anniversary_within operator instead",
        ),
        (
            erxes_property("sex", "e", "7"),
            "propertyValue",
            "the value is not one of 1, 2, 9",
        ),
        (
            erxes_property("state", "e", "customer"),
            "propertyName",
            "erxseg selects the state through the segment's content type",
        ),
        (
            {
                **erxes_property("amount", "numberigt", "5"),
                "propertyType": "sales:deal",
            },
            "propertyType",
            "erxseg filters only by contact and company properties",
        ),
        (
            {"type": "form", "formId": "x"},
            "type",
            'erxseg converts "property", "event" and "subSegment" conditions',
        ),
        (
            {"type": "subSegment", "subSegmentId": "missing0000000000"},
            "subSegmentId",
            "the referenced segment is not in the file",
        ),
    ],
)
def test_erxes_unmappable_condition_reported_with_path(condition, path, reason):
    conversion = convert_erxes([erxes_segment(condition)])

    assert [(item.path, item.reason) for item in conversion.unmapped] == [
        (f'segments[0] "Imported".conditions[0].{path}', reason)
    ]
    assert conversion.payload["segments"][0]["rules"]["conditions"] == []


def test_erxes_sex_and_lead_status_values_mapped():
    sex = converted_condition(erxes_property("sex", "e", "2"))
    status = converted_condition(
        erxes_property("leadStatus", "dne", "attemptedToContact")
    )

    assert sex == prop("sex", "is", "female")
    assert status == prop("lead_status", "is_not", "attempted")


def test_erxes_custom_field_maps_only_to_declared_key():
    FieldDefinitionFactory(key="tier")
    condition = erxes_property("customFieldsData.tier", "e", "gold")

    conversion = convert_erxes([erxes_segment(condition)], custom_field_keys={"tier"})

    rules = conversion.payload["segments"][0]["rules"]
    assert rules["conditions"] == [prop("custom.tier", "is", "gold")]


def test_erxes_or_group_negative_adds_note():
    segment = erxes_segment(
        erxes_property("firstName", "e", "Ada"),
        erxes_property("lastName", "dne", "Lovelace"),
        conjunction="or",
    )

    conversion = convert_erxes([segment])

    assert conversion.notes == [
        'segments[0] "Imported".conditions[1]: erxes applies a negative condition '
        'as AND even in an "or" group; erxseg ORs it as written. Check the '
        "imported segment's members."
    ]


def test_erxes_export_fixture_reports_every_unmapped_item():
    conversion = convert_erxes(json.loads(EXPORT_PATH.read_text()))

    assert [str(item) for item in conversion.unmapped] == [
        "segments[2].conditions[2].propertyName = 'ownerId': erxes stores "
        "owners as user ids that do not exist in erxseg",
        'segments[3] "Big spenders in Engaged German customers".conditions[1]'
        ".propertyName = 'customFieldsData.hKzP8q2sYw4LrN6dT': no custom field "
        "has this key. erxes names custom fields by id; declare a field with "
        "this key or edit the condition",
        'segments[4] "Pricing visitors".conditions[3].propertyValue = '
        "'tG7nE2wQ9xR4sB1mK': erxes stores tags as ids; filter by tag name in "
        "erxseg instead",
        "segments[6] \"Open deals over 5000\".contentType = 'sales:deal': erxseg "
        "segments select customers, leads, visitors or companies, so this "
        "segment was left out",
    ]


def test_erxes_export_fixture_converts_groups_events_and_associations():
    conversion = convert_erxes(json.loads(EXPORT_PATH.read_text()))
    segments = {item["name"]: item for item in conversion.payload["segments"]}

    assert segments["Engaged German customers"]["rules"] == {
        "type": "group",
        "conjunction": "and",
        "negate": False,
        "conditions": [
            {
                "type": "group",
                "conjunction": "and",
                "negate": False,
                "conditions": [
                    prop("country", "is", "Germany"),
                    prop("is_subscribed", "is_true"),
                    prop("session_count", "gte", 5),
                ],
            },
            {
                "type": "group",
                "conjunction": "or",
                "negate": False,
                "conditions": [
                    prop("primary_email", "contains", "@gmail."),
                    prop("last_seen_at", "in_last", {"amount": 30, "unit": "days"}),
                ],
            },
        ],
    }
    assert segments["Big spenders in Engaged German customers"]["parent"] == (
        "Qx7bNw3kRz5YpLm2A"
    )
    assert segments["Pricing visitors"]["rules"]["conditions"][:3] == [
        {
            "type": "event",
            "event": "pricing_viewed",
            "occurrence": "at_least",
            "count": 3,
            "within": None,
            "attributes": [
                {"attribute": "plan", "operator": "is", "value": "pro"},
                {"attribute": "seats", "operator": "lte", "value": 50},
            ],
        },
        {"type": "segment", "segment": "Qx7bNw3kRz5YpLm2A", "negate": False},
        prop("company.industry", "is_not", "Retail"),
    ]
    assert segments["Software companies with leads"]["rules"]["conditions"] == [
        prop("industry", "is", "Software"),
        prop("size", "lte", 500),
        {
            "type": "contacts",
            "occurrence": "at_least",
            "count": 1,
            "where": {
                "type": "group",
                "conjunction": "and",
                "negate": False,
                "conditions": [prop("lead_status", "is", "in_progress")],
            },
        },
    ]
    assert "Open deals over 5000" not in segments


def test_import_command_erxes_unmapped_rejected_and_writes_nothing():
    stderr = io.StringIO()

    with pytest.raises(CommandError) as raised:
        call_command("import_segments", str(EXPORT_PATH), stderr=stderr)

    assert str(raised.value) == (
        "Nothing was imported because some erxes items could not be mapped "
        "(listed above). Edit the file, or pass --skip-unmapped to import the "
        "segments without them."
    )
    report = stderr.getvalue().splitlines()
    assert report[0] == "4 item(s) could not be mapped to erxseg:"
    assert len(report) == 5
    assert Segment.objects.count() == 0


@pytest.fixture
def retail_buyer():
    """A customer whose tracked data puts tracked.spend_gbp in the catalogue."""
    return CustomerFactory(tracked_data={"spend_gbp": 1250.5})


def test_import_command_erxes_skip_unmapped_creates_linked_segments(retail_buyer):
    stdout = io.StringIO()

    call_command(
        "import_segments",
        str(EXPORT_PATH),
        "--skip-unmapped",
        stdout=stdout,
        stderr=io.StringIO(),
        no_color=True,
    )

    assert stdout.getvalue().splitlines()[-1] == (
        f"Imported 4 segments from {EXPORT_PATH}."
    )
    engaged = Segment.objects.get(name="Engaged German customers")
    spenders = Segment.objects.get(name="Big spenders in Engaged German customers")
    pricing = Segment.objects.get(name="Pricing visitors")
    companies = Segment.objects.get(name="Software companies with leads")
    assert spenders.parent == engaged
    assert pricing.rules["conditions"][1]["segment"] == engaged.pk
    assert companies.content_type == "company"
    assert engaged.color == "#5629B6"


def test_import_command_erxes_dry_run_writes_nothing(retail_buyer):
    stdout = io.StringIO()

    call_command(
        "import_segments",
        str(EXPORT_PATH),
        "--skip-unmapped",
        "--dry-run",
        stdout=stdout,
        stderr=io.StringIO(),
        no_color=True,
    )

    assert stdout.getvalue().splitlines()[-1] == (
        f"Checked 4 segments from {EXPORT_PATH}; nothing was written (--dry-run)."
    )
    assert Segment.objects.count() == 0


def test_import_command_erxes_invalid_rules_writes_nothing(tmp_path):
    path = tmp_path / "erxes.json"
    good = erxes_segment(erxes_property("firstName", "e", "Ada"))
    bad = {
        **erxes_segment(erxes_property("trackedData.", "e", "x")),
        "_id": "seg0000000000000B",
        "name": "Bad",
    }
    path.write_text(json.dumps([good, bad]))

    with pytest.raises(CommandError):
        call_command("import_segments", str(path), stderr=io.StringIO())

    assert Segment.objects.count() == 0


def test_import_command_not_erxes_json_rejected(tmp_path):
    path = tmp_path / "numbers.json"
    path.write_text("[1, 2, 3]")

    with pytest.raises(CommandError) as raised:
        call_command("import_segments", str(path), "--format", "erxes")

    assert str(raised.value) == (
        "The file is not erxes segment JSON. Expected a list of segment objects, "
        'one segment object, or {"segments": [...]}.'
    )


def test_import_command_erxes_error_names_erxes_path():
    stderr = io.StringIO()

    with pytest.raises(CommandError):
        call_command(
            "import_segments", str(EXPORT_PATH), "--skip-unmapped", stderr=stderr
        )

    assert stderr.getvalue().splitlines()[-1] == (
        '  segments[3] "Big spenders in Engaged German customers".rules'
        ".conditions[0].property: The property 'tracked.spend_gbp' is not in the "
        "catalogue of customer segments. Pick a property from the catalogue."
    )
    assert Segment.objects.count() == 0


def test_erxes_sub_of_skipped_parent_reported():
    deals = {**erxes_segment(), "_id": "deals000000000000", "contentType": "sales:deal"}
    child = {**erxes_segment(), "subOf": "deals000000000000"}

    conversion = convert_erxes([deals, child])

    assert [(item.path, item.value) for item in conversion.unmapped] == [
        ('segments[0] "Imported".contentType', "sales:deal"),
        ('segments[1] "Imported".subOf', "deals000000000000"),
    ]
    assert conversion.payload["segments"][0]["parent"] is None


def test_erxes_event_occurrence_new_spelling_accepted():
    condition = {
        "type": "event",
        "eventName": "signed_up",
        "eventOccurrence": "exactly",
        "eventOccurenceValue": 0,
    }

    converted = converted_condition(condition)

    assert (converted["occurrence"], converted["count"]) == ("exactly", 0)
