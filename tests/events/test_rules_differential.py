"""Differential test of whole rule trees with event conditions: the segment
compiler and the reference evaluator select the same contacts.

Event conditions sit in nested and / or groups, negated or not, next to
property conditions, so their SQL must compose with the rest of the tree.
The trees go through validate_rules first, as a saved segment's would.
"""

import random

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given, reject
from hypothesis import strategies as st

from segments.compiler import Compiler, base_queryset
from segments.evaluator import evaluate, load_records
from segments.rules import validate_rules
from tests.events.test_conditions_differential import (
    NOW,
    event_conditions,
    make_population,
)
from tests.segments.conftest import DIFFERENTIAL

pytestmark = pytest.mark.django_db

PROPERTY_CONDITIONS = [
    {"type": "property", "property": "first_name", "operator": "is", "value": "ann"},
    {"type": "property", "property": "tracked.cart", "operator": "gt", "value": 6},
    {
        "type": "property",
        "property": "created_at",
        "operator": "in_last",
        "value": {"amount": 20, "unit": "days"},
    },
]


def groups(children):
    return st.fixed_dictionaries(
        {
            "type": st.just("group"),
            "conjunction": st.sampled_from(["and", "or"]),
            "negate": st.booleans(),
            "conditions": st.lists(children, min_size=1, max_size=3),
        }
    )


leaves = st.one_of(
    event_conditions(with_times=False),
    event_conditions(with_times=False),
    st.sampled_from(PROPERTY_CONDITIONS),
)
rule_trees = groups(st.one_of(leaves, groups(leaves)))


@pytest.fixture
def rules_population(db):
    make_population(random.Random(7))


@DIFFERENTIAL
@given(rules=rule_trees, content_type=st.sampled_from(["customer", "lead"]))
def test_rule_tree_with_events_sql_equals_evaluator(
    rules_population, rules, content_type
):
    # Given: trees the validator rejects (empty texts, for one) are skipped.
    try:
        normalised = validate_rules(rules, content_type=content_type)
    except ValidationError:
        reject()
    records = load_records(content_type, with_events=True)

    # When
    q = Compiler(content_type, now=NOW).compile(normalised)
    by_sql = set(base_queryset(content_type).filter(q).values_list("pk", flat=True))
    by_python = evaluate(normalised, records, content_type=content_type, now=NOW)

    # Then
    assert by_sql == by_python, normalised
