"""Settings for the benchmark scripts: the test settings (fixed key, plain
HTTP for the test client, DEBUG off) with the production caches back on, so
previews and the admin list are timed as a deployment runs them."""

from erxseg.test_settings import *  # noqa: F403

ERXSEG_TRACKED_KEYS_CACHE_SECONDS = 300
ERXSEG_ADMIN_COUNTRIES_CACHE_SECONDS = 300
