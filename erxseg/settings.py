"""Settings for erxseg, read from the environment.

Every variable has a default that suits the local demo; production sets
DEBUG=false, SECRET_KEY and ALLOWED_HOSTS, and the secure defaults below
switch on with DEBUG off.
"""

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from erxseg.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", default=False)

# The fallback key only serves DEBUG runs (the demo, the tests); a production
# start without SECRET_KEY fails instead of signing sessions with a public key.
_DEMO_SECRET_KEY = "erxseg-demo-key-do-not-use-in-production"
SECRET_KEY = env_str("SECRET_KEY", _DEMO_SECRET_KEY if DEBUG else "")
if not DEBUG and SECRET_KEY in ("", _DEMO_SECRET_KEY):
    raise ImproperlyConfigured(
        "SECRET_KEY is missing or is the public demo key while DEBUG is off. "
        "Set SECRET_KEY to a long random value, or DEBUG=true for a local run."
    )

ALLOWED_HOSTS = env_list(
    "ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"] if DEBUG else []
)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "contacts",
    "segments",
    "events",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "erxseg.middleware.ContentSecurityPolicyMiddleware",
]

ROOT_URLCONF = "erxseg.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "erxseg.wsgi.application"

# With no DATABASE_URL the app uses a local SQLite file: the embedded default
# that lets the demo run with nothing installed.
DATABASES = {
    "default": dj_database_url.config(
        env="DATABASE_URL",
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # SQLite locks the whole file per write; a timeout makes a concurrent
    # writer wait instead of failing with "database is locked". IMMEDIATE
    # takes the write lock when a transaction begins: a transaction that
    # reads first and writes later would otherwise fail at once when
    # another writer holds the lock, because SQLite cannot wait there
    # without risking a deadlock.
    DATABASES["default"]["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE"}
    DATABASES["default"]["CONN_MAX_AGE"] = 0

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": (
            "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"
        )
    },
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
# Dates in segment rules are calendar days in this zone.
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first, so an anonymous request gets 401 with a
        # WWW-Authenticate header rather than 403.
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["erxseg.permissions.ModelPermissions"],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "erxseg.api.StandardPagination",
    "EXCEPTION_HANDLER": "erxseg.api.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "erxseg API",
    "DESCRIPTION": (
        "Contacts, companies, segments and events. Authenticate with a session "
        "(admin users) or a token: `Authorization: Token <key>`."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # The catalogue lists property types in three fields; one name for all.
    "ENUM_NAME_OVERRIDES": {"PropertyTypeEnum": "segments.api.PROPERTY_TYPES"},
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "segments.rules_schema.add_rule_components",
        "erxseg.schema.add_summaries",
    ],
}

CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", default=False)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}

# Safe production defaults: they switch on when DEBUG is off and can be
# relaxed one by one from the environment, for example behind a TLS proxy.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https")
    if env_bool("SECURE_PROXY_SSL_HEADER", default=False)
    else None
)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", default=False)
# Preloading commits the whole domain to HTTPS in browsers for months, so it
# is the owner's decision: the deploy check's reminder (security.W021) stays
# silent until SECURE_HSTS_PRELOAD=true.
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True

# Website event ingest (events app). Rates use DRF's throttle syntax
# "<requests>/<second|minute|hour|day>".
ERXSEG_INGEST_RATE_PER_KEY = env_str("ERXSEG_INGEST_RATE_PER_KEY", "6000/minute")
ERXSEG_INGEST_RATE_PER_CLIENT = env_str("ERXSEG_INGEST_RATE_PER_CLIENT", "300/minute")
ERXSEG_INGEST_MAX_BODY_BYTES = env_int("ERXSEG_INGEST_MAX_BODY_BYTES", 256 * 1024)
ERXSEG_INGEST_MAX_BATCH = env_int("ERXSEG_INGEST_MAX_BATCH", 100)
# How long a rotated write key keeps writing. The widget retries a failed
# batch with backoff up to a minute, so an hour covers its queued retries.
ERXSEG_WRITE_KEY_GRACE_SECONDS = env_int("ERXSEG_WRITE_KEY_GRACE_SECONDS", 60 * 60)
# How far a client's event time may lie ahead of or behind the server's.
ERXSEG_EVENT_MAX_FUTURE_SKEW_SECONDS = env_int(
    "ERXSEG_EVENT_MAX_FUTURE_SKEW_SECONDS", 5 * 60
)
ERXSEG_EVENT_MAX_AGE_SECONDS = env_int("ERXSEG_EVENT_MAX_AGE_SECONDS", 7 * 24 * 60 * 60)

# Segments. Tracked-data keys are discovered by reading every contact's
# tracked data, which takes seconds at a million contacts, so the keys found
# are kept this long in the cache. A rule naming a key that is not in the
# cached list reads the data again, so a new key is never refused; 0 reads
# every time.
ERXSEG_TRACKED_KEYS_CACHE_SECONDS = env_int("ERXSEG_TRACKED_KEYS_CACHE_SECONDS", 300)
# The admin's country filter lists the countries found in the data, which
# groups the whole contact table; the list is kept this long.
ERXSEG_ADMIN_COUNTRIES_CACHE_SECONDS = env_int(
    "ERXSEG_ADMIN_COUNTRIES_CACHE_SECONDS", 300
)
