"""Validation of what the public ingest endpoints receive.

Every check here runs before anything is written, so a rejected event or
property stores nothing. Errors are `Rejection`s: the path of the bad value
in the request body and a sentence that names the fix.
"""

import datetime
import json
import math
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

MAX_EVENT_NAME_LENGTH = 200
MAX_ATTRIBUTES = 50
MAX_ATTRIBUTE_KEY_LENGTH = 100
# Levels of objects and lists, counting the attributes object itself:
# {"cart": {"items": ["a"]}} is three levels deep.
MAX_NESTING = 3
MAX_VALUE_BYTES = 2048
MAX_PAGE_URL_LENGTH = 2000
MAX_TRACKED_KEY_LENGTH = 100
MAX_TRACKED_KEYS = 200
MAX_PROPERTIES = 50

VISITOR_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
IDEMPOTENCY_KEY_PATTERN = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
PHONE_PATTERN = re.compile(r"^\+?[0-9 ().-]{3,50}$")

# Property names the widget may set directly on the contact, with the model
# field each one writes. The camelCase names are the ones erxes' widget sends.
STANDARD_PROPERTIES = {
    "first_name": "first_name",
    "firstName": "first_name",
    "last_name": "last_name",
    "lastName": "last_name",
    "email": "primary_email",
    "primary_email": "primary_email",
    "primaryEmail": "primary_email",
    "phone": "primary_phone",
    "primary_phone": "primary_phone",
    "primaryPhone": "primary_phone",
    "code": "code",
}
STANDARD_MAX_LENGTHS = {
    "first_name": 150,
    "last_name": 150,
    "primary_email": 254,
    "primary_phone": 50,
    "code": 100,
}
CUSTOM_PREFIX = "custom."


class Rejection(Exception):
    """A value in the request that cannot be stored."""

    def __init__(self, path: str, message: str):
        super().__init__(message)
        self.path = path
        self.message = message

    def as_dict(self, index: int | None = None) -> dict:
        body = {"field": self.path, "reason": self.message}
        if index is not None:
            body = {"index": index, **body}
        return body


class MalformedJSON(ValueError):
    pass


def _reject_constant(name: str):
    raise MalformedJSON(f"{name} is not valid JSON.")


def parse_json(body: bytes) -> Any:
    """Decode a UTF-8 JSON body; NaN and Infinity are not JSON."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise MalformedJSON("The body is not UTF-8 text.") from error
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as error:
        raise MalformedJSON(
            f"{error.msg} at line {error.lineno}, column {error.colno}."
        ) from error


@dataclass
class CleanEvent:
    name: str
    attributes: dict
    occurred_at: datetime.datetime
    page_url: str = ""
    idempotency_key: str | None = None
    index: int = 0


@dataclass
class CleanProperty:
    """One property write: `kind` is standard, custom or tracked."""

    kind: str
    key: str
    value: Any
    index: int = 0
    name: str = ""
    path: str = ""


def join(path: str, name: str) -> str:
    """Return the path of `name` inside `path`; the body itself is ""."""
    return f"{path}.{name}" if path else name


def clean_visitor_id(value: Any, *, path: str = "visitor_id") -> str:
    if not isinstance(value, str) or not VISITOR_ID_PATTERN.match(value):
        raise Rejection(
            path,
            _(
                "%(path)s must be 8 to 64 letters, digits, hyphens or "
                "underscores, as the widget generates it."
            )
            % {"path": path},
        )
    return value


def _has_control_characters(text: str) -> bool:
    return any(unicodedata.category(char) == "Cc" for char in text)


def clean_event_name(value: Any, *, path: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Rejection(
            path, _("%(path)s is missing. Give the event a name.") % {"path": path}
        )
    name = value.strip()
    if len(name) > MAX_EVENT_NAME_LENGTH:
        raise Rejection(
            path,
            _("%(path)s is %(length)d characters long. Use at most %(limit)d.")
            % {"path": path, "length": len(name), "limit": MAX_EVENT_NAME_LENGTH},
        )
    if _has_control_characters(name):
        raise Rejection(
            path,
            _("%(path)s contains control characters. Remove them.") % {"path": path},
        )
    return name


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(item) for item in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(item) for item in value), default=0)
    return 0


def clean_free_value(value: Any, *, path: str, levels: int) -> Any:
    """Check a free JSON value: its size and how deeply it nests.

    `levels` is how many object or list levels the value may still open.
    """
    if _depth(value) > levels:
        raise Rejection(
            path,
            _(
                "%(path)s nests objects or lists more than %(limit)d levels "
                "deep. Flatten it."
            )
            % {"path": path, "limit": MAX_NESTING},
        )
    encoded = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    size = len(encoded.encode("utf-8"))
    if size > MAX_VALUE_BYTES:
        raise Rejection(
            path,
            _("%(path)s is %(size)d bytes as JSON. Keep each value under %(limit)d.")
            % {"path": path, "size": size, "limit": MAX_VALUE_BYTES},
        )
    return value


def clean_attributes(value: Any, *, path: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Rejection(
            path, _("%(path)s must be an object of names and values.") % {"path": path}
        )
    if len(value) > MAX_ATTRIBUTES:
        raise Rejection(
            path,
            _("%(path)s has %(count)d attributes. Send at most %(limit)d.")
            % {"path": path, "count": len(value), "limit": MAX_ATTRIBUTES},
        )
    for key, item in value.items():
        item_path = f"{path}.{key}"
        if not key or len(key) > MAX_ATTRIBUTE_KEY_LENGTH:
            raise Rejection(
                item_path,
                _("Attribute names must be 1 to %(limit)d characters long.")
                % {"limit": MAX_ATTRIBUTE_KEY_LENGTH},
            )
        # The attributes object is the first level.
        clean_free_value(item, path=item_path, levels=MAX_NESTING - 1)
    return value


def _parse_client_time(value: Any) -> datetime.datetime | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)) and math.isfinite(value):
        # Milliseconds since the epoch, as JavaScript's Date.now() returns.
        try:
            return datetime.datetime.fromtimestamp(value / 1000, tz=datetime.UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str):
        try:
            moment = parse_datetime(value.strip())
        except ValueError:
            return None
        if moment is not None and timezone.is_naive(moment):
            return None
        return moment
    return None


def _time_format_rejection(path: str) -> Rejection:
    return Rejection(
        path,
        _(
            "%(path)s must be an ISO 8601 time with a time zone, for example "
            "2026-03-01T12:00:00Z, or milliseconds since 1970."
        )
        % {"path": path},
    )


def clock_offset(sent_at: Any, *, now: datetime.datetime) -> datetime.timedelta:
    """Return how far the client's clock lags the server's.

    The widget sends `sent_at`, its own time at sending, so event times from
    a device whose clock is wrong can be moved onto the server's clock.
    """
    if sent_at is None:
        return datetime.timedelta(0)
    moment = _parse_client_time(sent_at)
    if moment is None:
        raise _time_format_rejection("sent_at")
    return now - moment


def clean_occurred_at(
    value: Any,
    *,
    path: str,
    now: datetime.datetime,
    offset: datetime.timedelta = datetime.timedelta(0),
):
    """Accept a client time within the allowed skew, or use the server's.

    `offset` (from `clock_offset`) is added first, so the bounds apply to
    the time on the server's clock.
    """
    if value is None:
        return now
    moment = _parse_client_time(value)
    if moment is None:
        raise _time_format_rejection(path)
    moment += offset
    future = datetime.timedelta(seconds=settings.ERXSEG_EVENT_MAX_FUTURE_SKEW_SECONDS)
    past = datetime.timedelta(seconds=settings.ERXSEG_EVENT_MAX_AGE_SECONDS)
    if moment > now + future:
        raise Rejection(
            path,
            _(
                "%(path)s lies more than %(seconds)d seconds ahead of the "
                "server's clock. Check the client's clock or leave the time out."
            )
            % {"path": path, "seconds": future.total_seconds()},
        )
    if moment < now - past:
        raise Rejection(
            path,
            _(
                "%(path)s lies more than %(seconds)d seconds in the past. Send "
                "events sooner or leave the time out."
            )
            % {"path": path, "seconds": past.total_seconds()},
        )
    return moment


def clean_event(
    raw: Any,
    *,
    index: int,
    path: str,
    now: datetime.datetime,
    offset: datetime.timedelta = datetime.timedelta(0),
) -> CleanEvent:
    if not isinstance(raw, dict):
        raise Rejection(path, _("%(path)s must be an object.") % {"path": path})

    name = clean_event_name(raw.get("name"), path=join(path, "name"))
    attributes = clean_attributes(raw.get("attributes"), path=join(path, "attributes"))
    occurred_at = clean_occurred_at(
        raw.get("occurred_at"), path=join(path, "occurred_at"), now=now, offset=offset
    )

    key = raw.get("idempotency_key")
    if key is not None and (
        not isinstance(key, str) or not IDEMPOTENCY_KEY_PATTERN.match(key)
    ):
        key_path = join(path, "idempotency_key")
        raise Rejection(
            key_path,
            _("%(path)s must be 1 to 64 letters, digits or the characters _ . : -")
            % {"path": key_path},
        )

    page_url = raw.get("page_url") or ""
    if not isinstance(page_url, str) or len(page_url) > MAX_PAGE_URL_LENGTH:
        url_path = join(path, "page_url")
        raise Rejection(
            url_path,
            _("%(path)s must be text of at most %(limit)d characters.")
            % {"path": url_path, "limit": MAX_PAGE_URL_LENGTH},
        )

    return CleanEvent(
        name=name,
        attributes=attributes,
        occurred_at=occurred_at,
        page_url=page_url,
        idempotency_key=key,
        index=index,
    )


def clean_email(value: Any, *, path: str) -> str:
    if not isinstance(value, str):
        raise Rejection(path, _("%(path)s must be an email address.") % {"path": path})
    email = value.strip()
    try:
        validate_email(email)
    except ValidationError:
        raise Rejection(
            path,
            _("%(path)s %(value)s is not a valid email address.")
            % {"path": path, "value": json.dumps(email[:60])},
        ) from None
    if len(email) > STANDARD_MAX_LENGTHS["primary_email"]:
        raise Rejection(path, _("%(path)s is too long.") % {"path": path})
    return email


def clean_phone(value: Any, *, path: str) -> str:
    if not isinstance(value, str) or not PHONE_PATTERN.match(value.strip()):
        raise Rejection(
            path,
            _(
                "%(path)s must be a phone number of 3 to 50 digits, spaces and "
                "the characters + ( ) - ."
            )
            % {"path": path},
        )
    return value.strip()


def clean_code(value: Any, *, path: str) -> str:
    limit = STANDARD_MAX_LENGTHS["code"]
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > limit:
        raise Rejection(
            path,
            _("%(path)s must be text of 1 to %(limit)d characters.")
            % {"path": path, "limit": limit},
        )
    return value.strip()


def clean_identity(raw: dict) -> dict[str, str]:
    """Return the non-empty email, phone and code of an identify call."""
    identity = {}
    cleaners = {"email": clean_email, "phone": clean_phone, "code": clean_code}
    for key, cleaner in cleaners.items():
        value = raw.get(key)
        if value in (None, ""):
            continue
        identity[key] = cleaner(value, path=key)
    if not identity:
        raise Rejection(
            "email",
            _("Identify needs an email, a phone or a code. Send at least one."),
        )
    return identity


def clean_property(raw: Any, *, index: int, path: str) -> CleanProperty:
    """Sort one {name, value} pair into a standard, custom or tracked write.

    Custom field values are checked against their definitions later, in one
    query for the whole request.
    """
    if not isinstance(raw, dict) or "name" not in raw:
        raise Rejection(
            path or "name",
            _("Each property must be an object with a name and a value."),
        )
    name = raw["name"]
    value = raw.get("value")
    name_path, value_path = join(path, "name"), join(path, "value")
    if not isinstance(name, str) or not name.strip():
        raise Rejection(
            name_path,
            _("%(path)s is missing. Name the property.") % {"path": name_path},
        )
    name = name.strip()

    if name in STANDARD_PROPERTIES:
        field_name = STANDARD_PROPERTIES[name]
        return CleanProperty(
            kind="standard",
            key=field_name,
            value=_clean_standard(field_name, value, path=value_path),
            index=index,
            name=name,
            path=path,
        )

    if name.startswith(CUSTOM_PREFIX):
        key = name[len(CUSTOM_PREFIX) :]
        if not key:
            raise Rejection(
                name_path,
                _("%(path)s needs a key after custom., for example custom.plan.")
                % {"path": name_path},
            )
        return CleanProperty(
            kind="custom", key=key, value=value, index=index, name=name, path=path
        )

    if len(name) > MAX_TRACKED_KEY_LENGTH or _has_control_characters(name):
        raise Rejection(
            name_path,
            _(
                "%(path)s must be at most %(limit)d characters without control "
                "characters."
            )
            % {"path": name_path, "limit": MAX_TRACKED_KEY_LENGTH},
        )
    if value is not None:
        clean_free_value(value, path=value_path, levels=MAX_NESTING - 1)
    return CleanProperty(
        kind="tracked", key=name, value=value, index=index, name=name, path=path
    )


def _clean_standard(field_name: str, value: Any, *, path: str) -> str:
    if value is None or value == "":
        return ""
    if field_name == "primary_email":
        return clean_email(value, path=path)
    if field_name == "primary_phone":
        return clean_phone(value, path=path)
    limit = STANDARD_MAX_LENGTHS[field_name]
    if not isinstance(value, str) or len(value.strip()) > limit:
        raise Rejection(
            path,
            _("%(path)s must be text of at most %(limit)d characters.")
            % {"path": path, "limit": limit},
        )
    if _has_control_characters(value):
        raise Rejection(
            path,
            _("%(path)s contains control characters. Remove them.") % {"path": path},
        )
    return value.strip()
