"""Celery tasks for deployments that schedule recounts on a worker."""

from celery import shared_task

from segments.models import Segment
from segments.recount import recount_segments


@shared_task(name="segments.recount_segments")
def recount_segments_task(
    segment_ids: list[int] | None = None, content_type: str | None = None
) -> dict:
    """Recount the given segments (all when no filter is given) and return
    the summary as a dict. A run that finds the lock taken fails at once."""
    segments = Segment.objects.all()
    if segment_ids:
        segments = segments.filter(pk__in=segment_ids)
    if content_type:
        segments = segments.filter(content_type=content_type)
    return recount_segments(segments).as_dict()
