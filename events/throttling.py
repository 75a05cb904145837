"""Rate limits of the public ingest endpoints, in DRF's throttle syntax.

The rates come from settings (ERXSEG_INGEST_RATE_PER_CLIENT and
ERXSEG_INGEST_RATE_PER_KEY). The counters live in the default cache, so
several processes share them only when that cache is shared (Redis,
Memcached). The local-memory cache counts per process.
"""

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle


class IngestClientThrottle(SimpleRateThrottle):
    """Limit requests per client address, before the key is even checked."""

    scope = "erxseg_ingest_client"

    def get_rate(self) -> str:
        return settings.ERXSEG_INGEST_RATE_PER_CLIENT

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {
            "scope": self.scope,
            "ident": self.get_ident(request),
        }


class IngestSiteThrottle(SimpleRateThrottle):
    """Limit requests per site write key, across all its visitors."""

    scope = "erxseg_ingest_site"

    def get_rate(self) -> str:
        return settings.ERXSEG_INGEST_RATE_PER_KEY

    def get_cache_key(self, request, view) -> str | None:
        site = getattr(view, "site", None)
        if site is None:
            return None
        return self.cache_format % {"scope": self.scope, "ident": site.pk}
