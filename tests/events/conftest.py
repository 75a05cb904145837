import datetime
import json

import pytest
from django.core.cache import cache
from django.test import Client

from events.models import Site

ORIGIN = "https://shop.example"
VISITOR_ID = "visitor-0000000001"


@pytest.fixture(autouse=True)
def empty_throttle_cache():
    # Throttle counters live in the default cache and would leak between tests.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def site(db):
    return Site.objects.create(name="Shop", allowed_origins=[ORIGIN])


@pytest.fixture
def ingest(site):
    """POST a JSON body to an ingest endpoint with the site's key and origin."""
    client = Client()

    def post(endpoint, body, *, key=site.write_key, origin=ORIGIN, raw=None):
        headers = {}
        if key is not None:
            headers["X-Erxseg-Key"] = key
        if origin is not None:
            headers["Origin"] = origin
        data = raw if raw is not None else json.dumps(body)
        return client.post(
            f"/api/v1/{endpoint}",
            data=data,
            content_type="application/json",
            headers=headers,
        )

    return post


@pytest.fixture
def now():
    return datetime.datetime(2026, 3, 15, 12, 0, tzinfo=datetime.UTC)
