"""Hypothesis strategies for hostile ingest payloads and rule trees."""

from hypothesis import strategies as st

from segments.catalogue import COMPANY_FIELDS, CUSTOMER_FIELDS
from segments.operators import OPERATORS

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=10,
)

# Names that must never reach SQL: columns outside the catalogue, Django
# lookups and relations, JSON path syntax and SQL fragments.
HOSTILE_PROPERTY_NAMES = [
    "password",
    "id",
    "pk",
    "owner",
    "owner_id",
    "owner__password",
    "owner.password",
    "company.owner__password",
    "company.owner",
    "custom.undeclared",
    "custom.plan'--",
    "tracked.a'b",
    'tracked."); DROP TABLE auth_user; --',
    "tracked.x->>'y'",
    "tracked.$.a",
    "tracked.a.b",
    "tracked.__class__",
    "tracked.",
    "tags__name",
    "first_name__regex",
    "events__name",
    "segment_memberships",
    "auth_user.password",
    "custom_fields",
    "tracked_data",
]
CATALOGUE_PROPERTY_NAMES = [
    *CUSTOMER_FIELDS,
    *COMPANY_FIELDS,
    *(f"company.{name}" for name in COMPANY_FIELDS),
    "tags",
    "emails",
    "companies",
    "custom.plan",
    "custom.seats",
    "tracked.cart_value",
    "tracked.favourite-colour",
]
PROPERTY_NAMES = (
    st.sampled_from(CATALOGUE_PROPERTY_NAMES)
    | st.sampled_from(HOSTILE_PROPERTY_NAMES)
    | st.text(max_size=20)
)
OPERATOR_NAMES = st.sampled_from(list(OPERATORS)) | st.text(max_size=12)
EVENT_NAMES = st.sampled_from(["pricing_viewed", "signed_up", "x' OR 1=1 --"]) | (
    st.text(max_size=20)
)


def property_nodes():
    return st.fixed_dictionaries(
        {
            "type": st.just("property"),
            "property": PROPERTY_NAMES,
            "operator": OPERATOR_NAMES,
            "value": JSON_VALUES,
        }
    )


def plausible_property_nodes():
    """Property conditions that are often valid, so the compiler runs."""
    value = (
        st.none()
        | st.text(max_size=10)
        | st.integers(min_value=0, max_value=100)
        | st.sampled_from(["2026-03-01", "pro", "red", "12", "Germany"])
        | st.lists(st.text(max_size=6), min_size=1, max_size=2)
        | st.lists(st.integers(min_value=0, max_value=100), min_size=2, max_size=2)
        | st.fixed_dictionaries(
            {
                "last": st.integers(min_value=1, max_value=30),
                "unit": st.sampled_from(["days", "weeks"]),
            }
        )
    )
    return st.fixed_dictionaries(
        {
            "type": st.just("property"),
            "property": st.sampled_from(CATALOGUE_PROPERTY_NAMES),
            "operator": st.sampled_from(list(OPERATORS)),
            "value": value,
        }
    )


def event_nodes():
    attribute = st.fixed_dictionaries(
        {
            "attribute": st.sampled_from(["plan", "price", "a'b", "x->>'y'", ""])
            | st.text(max_size=12),
            "operator": OPERATOR_NAMES,
            "value": JSON_VALUES,
        }
    )
    within = (
        st.none()
        | st.fixed_dictionaries(
            {
                "last": st.integers(min_value=-5, max_value=400),
                "unit": st.sampled_from(["minutes", "hours", "days", "weeks", "x"]),
            }
        )
        | JSON_VALUES
    )
    return st.fixed_dictionaries(
        {
            "type": st.just("event"),
            "event": EVENT_NAMES,
            "occurrence": st.sampled_from(
                ["at_least", "at_most", "exactly", "none", "never"]
            ),
            "count": st.integers(min_value=-3, max_value=10) | JSON_VALUES,
        },
        optional={
            "within": within,
            "attributes": st.lists(attribute, max_size=3) | JSON_VALUES,
        },
    )


def segment_nodes():
    return st.fixed_dictionaries(
        {
            "type": st.just("segment"),
            "segment": st.integers(min_value=-2, max_value=5)
            | st.integers(min_value=-(2**64), max_value=2**64)
            | JSON_VALUES,
            "negate": st.booleans(),
        }
    )


RULE_TREES = st.recursive(
    plausible_property_nodes()
    | plausible_property_nodes()
    | property_nodes()
    | event_nodes()
    | segment_nodes()
    | JSON_VALUES,
    lambda children: st.fixed_dictionaries(
        {
            "type": st.just("group"),
            "conjunction": st.sampled_from(["and", "or", "xor"]),
            "negate": st.booleans(),
            "conditions": st.lists(children, max_size=4),
        }
    ),
    max_leaves=8,
)
ROOT_RULE_TREES = st.fixed_dictionaries(
    {
        "type": st.just("group"),
        "conjunction": st.sampled_from(["and", "or"]),
        "negate": st.booleans(),
        "conditions": st.lists(RULE_TREES, max_size=4)
        # One or two plausible conditions pass validation more often, so the
        # compiler and the database see more of the accepted trees.
        | st.lists(plausible_property_nodes() | event_nodes(), min_size=1, max_size=2),
    }
)


def ingest_events():
    return st.fixed_dictionaries(
        {},
        optional={
            "name": st.sampled_from(["signed_up", "pricing_viewed", " ", ""])
            | JSON_VALUES,
            "attributes": JSON_VALUES,
            "occurred_at": st.sampled_from(
                ["2026-03-15T12:00:00Z", "yesterday", "9999-12-31T00:00:00Z"]
            )
            | JSON_VALUES,
            "idempotency_key": st.text(min_size=1, max_size=80) | JSON_VALUES,
            "page_url": JSON_VALUES,
        },
    )


TRACK_BODIES = st.fixed_dictionaries(
    {},
    optional={
        "visitor_id": st.sampled_from(["visitor-0000000001", "", "a" * 200])
        | JSON_VALUES,
        "events": st.lists(ingest_events(), max_size=5) | JSON_VALUES,
        "sent_at": JSON_VALUES,
        "name": JSON_VALUES,
        "attributes": JSON_VALUES,
    },
)
PROPERTY_BODIES = st.fixed_dictionaries(
    {},
    optional={
        "visitor_id": st.sampled_from(["visitor-0000000001", ""]) | JSON_VALUES,
        "properties": st.lists(
            st.fixed_dictionaries(
                {"name": PROPERTY_NAMES | st.sampled_from(["email", "first_name"])},
                optional={"value": JSON_VALUES},
            ),
            max_size=4,
        )
        | JSON_VALUES,
        "name": PROPERTY_NAMES,
        "value": JSON_VALUES,
    },
)
IDENTIFY_BODIES = st.fixed_dictionaries(
    {},
    optional={
        "visitor_id": st.sampled_from(["visitor-0000000001", ""]) | JSON_VALUES,
        "email": st.sampled_from(["ada@example.com", "not an email"]) | JSON_VALUES,
        "phone": JSON_VALUES,
        "code": JSON_VALUES,
    },
)
