import datetime
import os

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, settings

# The differential tests run 300 examples per backend in the normal suite
# (100 where each example writes its own contacts).
# ERXSEG_HYPOTHESIS_PROFILE=long (scripts/test_differential_long) selects
# 20,000 (5,000).
_SHARED = {
    "deadline": None,
    "suppress_health_check": [
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
    "derandomize": False,
}
settings.register_profile("erxseg-normal", max_examples=300, **_SHARED)
settings.register_profile("erxseg-long", max_examples=20_000, **_SHARED)
settings.register_profile("erxseg-normal-contacts", max_examples=100, **_SHARED)
settings.register_profile("erxseg-long-contacts", max_examples=5_000, **_SHARED)
_PROFILE = os.environ.get("ERXSEG_HYPOTHESIS_PROFILE", "normal")
DIFFERENTIAL = settings.get_profile(f"erxseg-{_PROFILE}")
# Fewer examples where each one writes its own contacts.
RANDOM_CONTACTS = settings.get_profile(f"erxseg-{_PROFILE}-contacts")
# ERXSEG_HYPOTHESIS_EXAMPLES overrides the number of examples, for runs split
# into batches with different --hypothesis-seed values.
if os.environ.get("ERXSEG_HYPOTHESIS_EXAMPLES"):
    _EXAMPLES = int(os.environ["ERXSEG_HYPOTHESIS_EXAMPLES"])
    DIFFERENTIAL = settings(DIFFERENTIAL, max_examples=_EXAMPLES)
    RANDOM_CONTACTS = settings(RANDOM_CONTACTS, max_examples=_EXAMPLES)


def group(*conditions, conjunction="and", negate=False) -> dict:
    return {
        "type": "group",
        "conjunction": conjunction,
        "negate": negate,
        "conditions": list(conditions),
    }


def prop(name: str, operator: str, value=None) -> dict:
    return {"type": "property", "property": name, "operator": operator, "value": value}


@pytest.fixture
def now() -> datetime.datetime:
    """A fixed moment: Wednesday 30 December 2026, 10:30 UTC."""
    return timezone.make_aware(datetime.datetime(2026, 12, 30, 10, 30), datetime.UTC)
