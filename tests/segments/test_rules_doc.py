"""docs/rules.md must match the operator registry and the validator."""

import json
import re
from pathlib import Path

import pytest

from contacts.models import Customer, FieldDefinition, FieldType
from segments.operators import OPERATORS, PropertyType, operators_for
from segments.rules import MAX_CONDITIONS, MAX_DEPTH, validate_rules

DOC = Path(__file__).resolve().parents[2] / "docs" / "rules.md"
SECTIONS = {
    "Text": PropertyType.TEXT,
    "Number": PropertyType.NUMBER,
    "Date": PropertyType.DATE,
    "Datetime": PropertyType.DATETIME,
    "Boolean": PropertyType.BOOLEAN,
    "Choice": PropertyType.CHOICE,
    "Multiple choice": PropertyType.MULTIPLE_CHOICE,
}


def section(title: str) -> str:
    text = DOC.read_text()
    start = text.index(f"\n### {title}\n")
    end = text.find("\n##", start + 1)
    return text[start:end]


def table_rows(text: str) -> list[list[str]]:
    rows = []
    for line in text.splitlines():
        if line.startswith("| `"):
            cells = [cell.strip() for cell in line.strip("|").split(" | ")]
            rows.append(cells)
    return rows


@pytest.mark.parametrize("title", SECTIONS)
def test_rules_doc_lists_every_operator_of_each_type(title):
    # given
    documented = [row[0].strip("`") for row in table_rows(section(title))]

    # when
    registered = [operator.name for operator in operators_for(SECTIONS[title])]

    # then
    assert sorted(documented) == sorted(registered)


def test_rules_doc_mentions_every_registered_operator():
    text = DOC.read_text()
    missing = [name for name in OPERATORS if f"`{name}`" not in text]
    assert missing == []


def test_rules_doc_states_the_validator_limits():
    text = DOC.read_text()
    assert f"at most {MAX_DEPTH} levels" in text
    assert f"at most {MAX_CONDITIONS} in the whole tree" in text


@pytest.mark.django_db
@pytest.mark.parametrize("title", SECTIONS)
def test_rules_doc_examples_are_valid_rules(title):
    # given the custom fields and tracked keys the examples name
    for key, field_type, options in [
        ("plan", FieldType.CHOICE, ["free", "pro"]),
        ("seats", FieldType.NUMBER, []),
        ("renewal", FieldType.DATE, []),
        ("vip", FieldType.BOOLEAN, []),
        ("interests", FieldType.MULTIPLE_CHOICE, ["music", "tech"]),
    ]:
        FieldDefinition.objects.create(
            key=key, label=key, field_type=field_type, options=options
        )
    Customer.objects.create(tracked_data={"cart_value": 12})
    examples = [
        json.loads(re.search(r"`(\{.*\})`", row[2]).group(1))
        for row in table_rows(section(title))
    ]

    # when
    conditions = [{"type": "property", **example} for example in examples]
    normalised = validate_rules(
        {"type": "group", "conditions": conditions}, content_type="customer"
    )

    # then
    assert [item["operator"] for item in normalised["conditions"]] == [
        example["operator"] for example in examples
    ]
