"""Delete segments only when no other segment depends on them."""

from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from segments.models import Segment


class SegmentInUseError(ValidationError):
    """Raised when a segment to delete is the parent of, or is referenced by,
    a segment that stays."""


def describe_use(user: Segment, used: Segment) -> str:
    """Return how `user` depends on `used`, for example
    '"UK big spenders" (sub-segment)'."""
    if user.parent_id == used.pk:
        return _('"%(name)s" (sub-segment)') % {"name": user.name}
    return _('"%(name)s" (rule reference)') % {"name": user.name}


def segment_users(segment: Segment, *, excluding: Iterable[int] = ()) -> list[Segment]:
    """Return the segments that use `segment`, leaving out `excluding`
    (the other segments deleted in the same request)."""
    users = Segment.objects.referencing(segment).exclude(pk__in=list(excluding))
    return list(users.order_by("name", "pk"))


def in_use_message(segment: Segment, users: list[Segment]) -> str:
    return _(
        'The segment "%(name)s" cannot be deleted because %(users)s use it. '
        "Remove it from their parent and rules first."
    ) % {
        "name": segment.name,
        "users": ", ".join(describe_use(user, segment) for user in users),
    }


def ensure_deletable(segments: Iterable[Segment]) -> None:
    """Raise SegmentInUseError naming every segment that still uses one of
    `segments`. Segments deleted together may use each other."""
    segments = list(segments)
    deleted_ids = {segment.pk for segment in segments}
    messages = []
    for segment in segments:
        users = segment_users(segment, excluding=deleted_ids)
        if users:
            messages.append(in_use_message(segment, users))
    if messages:
        raise SegmentInUseError(messages)


@transaction.atomic
def delete_segments(segments: Iterable[Segment]) -> int:
    """Delete `segments` with their memberships and snapshots, or raise
    SegmentInUseError and delete nothing. Return the number deleted."""
    segments = list(segments)
    ensure_deletable(segments)

    # Children first, so the PROTECT on Segment.parent never fires when a
    # parent and its sub-segments are deleted together.
    deleted = 0
    for segment in sorted(segments, key=lambda item: -depth_of(item)):
        segment.delete()
        deleted += 1
    return deleted


def delete_segment(segment: Segment) -> None:
    """Delete one segment, or raise SegmentInUseError and delete nothing."""
    delete_segments([segment])


def depth_of(segment: Segment) -> int:
    """Return how many ancestors `segment` has."""
    depth = 0
    seen = {segment.pk}
    parent = segment.parent
    while parent is not None and parent.pk not in seen:
        seen.add(parent.pk)
        depth += 1
        parent = parent.parent
    return depth
