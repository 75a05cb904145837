"""Website events: sites that send them, one row per occurrence, exact
per-customer rollups, and the trail that identify leaves behind.

`CustomerEventStats` is written only by `events.ingest` and
`events.identity`, in the same transaction as the events it counts, so a
lifetime-count condition can read it instead of scanning `Event`.
"""

import datetime
import secrets
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

WRITE_KEY_PREFIX = "wk_"


def generate_write_key() -> str:
    """Return a new random public write key, for example wk_3Jx...."""
    return WRITE_KEY_PREFIX + secrets.token_urlsafe(24)


def normalize_origin(origin: str) -> str:
    """Return `scheme://host[:port]` in lower case, as browsers send Origin."""
    origin = origin.strip().rstrip("/").lower()
    if origin == "*":
        return origin
    parts = urlsplit(origin)
    if not parts.scheme or not parts.netloc:
        return origin
    return f"{parts.scheme}://{parts.netloc}"


class SiteQuerySet(models.QuerySet):
    def for_write_key(self, key: str, *, now: datetime.datetime | None = None):
        """Filter to the site whose current key is `key`, or whose previous
        key is `key` and still inside its grace period."""
        now = now or timezone.now()
        return self.filter(
            Q(write_key=key)
            | Q(previous_write_key=key, previous_key_expires_at__gt=now)
        )


class Site(models.Model):
    """A website that sends events with a public write key."""

    name = models.CharField(max_length=200)
    write_key = models.CharField(
        max_length=64,
        unique=True,
        default=generate_write_key,
        editable=False,
        help_text=_("Public key the widget sends. Rotate it to cut off old copies."),
    )
    allowed_origins = models.JSONField(
        default=list,
        blank=True,
        help_text=_(
            'Origins that may send events, for example ["https://shop.example"]. '
            '"*" allows any origin.'
        ),
    )
    is_enabled = models.BooleanField(
        default=True, help_text=_("A disabled site's events are rejected.")
    )
    created_at = models.DateTimeField(default=timezone.now)
    key_rotated_at = models.DateTimeField(null=True, blank=True, editable=False)
    previous_write_key = models.CharField(
        max_length=64,
        blank=True,
        default="",
        editable=False,
        db_index=True,
        help_text=_(
            "The key before the last rotation. It still writes until "
            "previous_key_expires_at, so queued widget retries are not lost."
        ),
    )
    previous_key_expires_at = models.DateTimeField(
        null=True, blank=True, editable=False
    )

    objects = SiteQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    def clean(self):
        origins = self.allowed_origins
        if not isinstance(origins, list) or not all(
            isinstance(origin, str) for origin in origins
        ):
            raise ValidationError(
                {
                    "allowed_origins": _(
                        "Allowed origins must be a list of texts, for example "
                        '["https://shop.example"].'
                    )
                }
            )
        for origin in origins:
            parts = urlsplit(origin.strip())
            well_formed = parts.scheme in ("http", "https") and parts.netloc
            if origin.strip() != "*" and not (well_formed and parts.path in ("", "/")):
                raise ValidationError(
                    {
                        "allowed_origins": _(
                            "%(origin)s is not an origin. Write the scheme and "
                            "host only, for example https://shop.example, or * "
                            "for any origin."
                        )
                        % {"origin": origin}
                    }
                )

    def rotate_write_key(self, *, grace: datetime.timedelta | None = None) -> str:
        """Replace the write key and return the new one.

        The old key keeps writing for `grace` (ERXSEG_WRITE_KEY_GRACE_SECONDS
        when None), so retries that widgets queued before the rotation are
        stored. A zero grace rejects the old key at once, for a leaked key.
        """
        if grace is None:
            grace = datetime.timedelta(seconds=settings.ERXSEG_WRITE_KEY_GRACE_SECONDS)
        now = timezone.now()
        if grace > datetime.timedelta(0):
            self.previous_write_key = self.write_key
            self.previous_key_expires_at = now + grace
        else:
            self.previous_write_key = ""
            self.previous_key_expires_at = None
        self.write_key = generate_write_key()
        self.key_rotated_at = now
        self.save(
            update_fields=[
                "write_key",
                "key_rotated_at",
                "previous_write_key",
                "previous_key_expires_at",
            ]
        )
        return self.write_key

    def allows_origin(self, origin: str) -> bool:
        origins = self.allowed_origins if isinstance(self.allowed_origins, list) else []
        allowed = {normalize_origin(item) for item in origins if isinstance(item, str)}
        return "*" in allowed or normalize_origin(origin) in allowed


class EventQuerySet(models.QuerySet):
    def for_customer(self, customer):
        return self.filter(customer=customer)

    def named(self, name: str):
        return self.filter(name=name)

    def since(self, moment):
        return self.filter(occurred_at__gte=moment)


class Event(models.Model):
    """One occurrence of something a contact did on a site."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="events")
    # No index of its own: event_customer_time below starts with customer.
    customer = models.ForeignKey(
        "contacts.Customer",
        on_delete=models.CASCADE,
        related_name="events",
        db_index=False,
    )
    visitor_id = models.CharField(
        max_length=64,
        blank=True,
        help_text=_("The browser id the event came from; kept after a merge."),
    )
    name = models.CharField(max_length=200)
    attributes = models.JSONField(default=dict, blank=True)
    occurred_at = models.DateTimeField(
        help_text=_("When it happened, by the client's clock within the skew.")
    )
    received_at = models.DateTimeField(default=timezone.now)
    page_url = models.CharField(max_length=2000, blank=True)
    idempotency_key = models.CharField(max_length=64, null=True, blank=True)

    objects = EventQuerySet.as_manager()

    class Meta:
        ordering = ["-occurred_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["site", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="event_unique_idempotency_key_per_site",
            )
        ]
        indexes = [
            # Time-window and attribute conditions: name first, then the
            # correlated customer, then the window.
            # Event conditions with a window read one name's events in a
            # time range and join them to contacts by id: a range scan of
            # this index, without visiting the table once it is vacuumed.
            models.Index(
                fields=["name", "occurred_at", "customer"],
                name="event_name_time_customer",
            ),
            # Moving a visitor's events on merge and listing one contact's.
            models.Index(
                fields=["customer", "occurred_at"], name="event_customer_time"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} at {self.occurred_at:%Y-%m-%d %H:%M}"


class CustomerEventStats(models.Model):
    """How often and when a customer did one event: exact at all times."""

    customer = models.ForeignKey(
        "contacts.Customer", on_delete=models.CASCADE, related_name="event_stats"
    )
    name = models.CharField(max_length=200)
    count = models.PositiveIntegerField(default=0)
    first_occurred_at = models.DateTimeField()
    last_occurred_at = models.DateTimeField()

    class Meta:
        verbose_name = _("customer event stats")
        verbose_name_plural = _("customer event stats")
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "name"], name="event_stats_unique_customer_name"
            )
        ]
        indexes = [
            models.Index(fields=["name", "count"], name="event_stats_name_count"),
        ]

    def __str__(self) -> str:
        return f"{self.name} × {self.count}"


class VisitorAlias(models.Model):
    """A browser's visitor id that now belongs to a known contact.

    Identify writes one when a visitor is merged into a customer, or when a
    browser identifies as a contact it never was, so later events sent with
    the old id still reach the customer.
    """

    visitor_id = models.CharField(max_length=64, unique=True)
    customer = models.ForeignKey(
        "contacts.Customer", on_delete=models.CASCADE, related_name="visitor_aliases"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = _("visitor aliases")

    def __str__(self) -> str:
        return f"{self.visitor_id} → {self.customer_id}"


class VisitorMerge(models.Model):
    """The record of one visitor merged into a known contact."""

    customer = models.ForeignKey(
        "contacts.Customer", on_delete=models.CASCADE, related_name="visitor_merges"
    )
    visitor_pk = models.BigIntegerField(help_text=_("Id of the deleted visitor."))
    visitor_id = models.CharField(max_length=64, blank=True)
    events_moved = models.PositiveIntegerField(default=0)
    tracked_data_conflicts = models.JSONField(
        default=dict,
        blank=True,
        help_text=_(
            "Keys both contacts had with different values: the value kept and "
            "the value dropped."
        ),
    )
    merged_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-merged_at", "-id"]

    def __str__(self) -> str:
        return f"visitor {self.visitor_pk} → {self.customer_id}"
