"""The audit log of segment definitions: who changed a segment's rules, name,
parent or type, when, and what they were before and after.

The API, the admin (its save and its "Duplicate selected segments" action)
and `manage.py import_segments` call `record_segment_change` after each save,
inside the same transaction as the save, so a change is never stored without
its audit row.
"""

from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from segments.models import Segment

AUDITED_FIELDS = ("name", "content_type", "parent", "rules")


class SegmentRulesChange(models.Model):
    """One saved change to a segment's definition."""

    segment = models.ForeignKey(
        Segment,
        null=True,
        on_delete=models.SET_NULL,
        related_name="rule_changes",
        help_text=_("Empty once the segment is deleted; segment_name remains."),
    )
    segment_name = models.CharField(
        max_length=200, help_text=_("The segment's name after the change.")
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="segment_changes",
    )
    username = models.CharField(
        max_length=150,
        blank=True,
        help_text=_("Kept when the user is deleted; empty for a command or task."),
    )
    changed_at = models.DateTimeField(default=timezone.now, db_index=True)
    changed_fields = models.JSONField(default=list)
    before = models.JSONField(
        null=True,
        help_text=_("Name, type, parent id and rules before; empty on creation."),
    )
    after = models.JSONField()

    class Meta:
        app_label = "segments"
        ordering = ["-changed_at", "-id"]
        indexes = [models.Index(fields=["segment", "changed_at"])]
        verbose_name = _("segment change")

    def __str__(self) -> str:
        who = self.username or _("a command")
        return (
            f"{self.segment_name} changed by {who} at {self.changed_at:%Y-%m-%d %H:%M}"
        )


def segment_snapshot(segment: Segment) -> dict[str, Any]:
    """Return the audited fields of a segment as JSON-ready values."""
    return {
        "name": segment.name,
        "content_type": segment.content_type,
        "parent": segment.parent_id,
        "rules": segment.rules,
    }


def stored_snapshot(segment: Segment) -> dict[str, Any] | None:
    """Return the snapshot of the segment's row as stored in the database.

    The admin applies the form to the instance before save_model runs, so
    the previous values must be read from the database. Call it inside the
    transaction of the save: the row stays locked until the save commits, so
    a concurrent edit cannot slip between the snapshot and the save (SQLite
    locks the whole database on the first write instead). Returns None for an
    unsaved segment.
    """
    if segment.pk is None:
        return None
    return (
        Segment.objects.select_for_update()
        .filter(pk=segment.pk)
        .values(*AUDITED_FIELDS)
        .first()
    )


def record_segment_change(
    segment: Segment, *, before: dict[str, Any] | None, user, source: str = ""
) -> SegmentRulesChange | None:
    """Write an audit row for a saved segment, unless nothing audited changed.

    `before` is the snapshot taken before the save, or None when the save
    created the segment. `user` is the acting user, or None for a command.
    `source` says where a change came from when the user does not, such as
    the file of an import. It is stored under the "source" key of `after`,
    because the model has no column for it.
    """
    after = segment_snapshot(segment)
    if before is None:
        changed = list(AUDITED_FIELDS)
    else:
        changed = [
            field for field in AUDITED_FIELDS if before.get(field) != after[field]
        ]
    if not changed:
        return None
    if source:
        after["source"] = source

    acting_user = user if user is not None and user.is_authenticated else None
    return SegmentRulesChange.objects.create(
        segment=segment,
        segment_name=segment.name,
        user=acting_user,
        username=acting_user.get_username() if acting_user else "",
        changed_fields=changed,
        before=before,
        after=after,
    )
