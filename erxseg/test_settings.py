"""Settings for the test suite: the real settings with a fixed key and no
HTTPS redirect, so the test client talks plain HTTP on either database."""

import os

os.environ.setdefault("SECRET_KEY", "erxseg-test-key-not-secret-0123456789abcdef")

from erxseg.settings import *  # noqa: E402,F403

SECURE_SSL_REDIRECT = False
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
SECURE_HSTS_SECONDS = 0
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CELERY_TASK_ALWAYS_EAGER = True
# Each test writes its own contacts, so tracked keys or countries cached by
# an earlier test must not leak into the next. Tests of the caches turn them
# on themselves.
ERXSEG_TRACKED_KEYS_CACHE_SECONDS = 0
ERXSEG_ADMIN_COUNTRIES_CACHE_SECONDS = 0
