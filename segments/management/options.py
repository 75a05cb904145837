"""Parsing of the --type and --id options that segment commands share."""

from django.core.management.base import CommandError

from segments.models import SegmentType


def filter_by_type(segments, content_type: str | None):
    """Keep the segments of `content_type`, or raise CommandError for an
    unknown type."""
    if content_type is None:
        return segments
    if content_type not in SegmentType.values:
        raise CommandError(
            f'--type "{content_type}" is not a segment type. Use one of: '
            f"{', '.join(SegmentType.values)}."
        )
    return segments.filter(content_type=content_type)


def requested_ids(ids: list[str], segments, *, scope: str = "") -> list[int]:
    """Return the --id values as integers, or raise CommandError for one that
    is not a number or matches none of `segments`. `scope` follows "matches
    no segment" in the message, for example ' of type "company"'."""
    parsed = []
    for raw in ids:
        try:
            parsed.append(int(raw))
        except ValueError:
            raise CommandError(
                f'--id "{raw}" is not a segment id. Give a whole number, '
                "such as --id 3."
            ) from None
    found = set(segments.filter(pk__in=parsed).values_list("pk", flat=True))
    for segment_id in parsed:
        if segment_id not in found:
            raise CommandError(
                f'--id "{segment_id}" matches no segment{scope}. Check the id in '
                "the admin segment list."
            )
    return parsed
