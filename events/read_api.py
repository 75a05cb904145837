"""Read-only REST endpoint for stored events, for integrations and the admin.

The public ingest endpoints (track, identify, customer-properties) live in
events/api.py and authenticate by site write key. This one takes the API's
sessions and tokens and needs the view permission on events.
"""

import django_filters
from rest_framework import serializers, viewsets
from rest_framework.pagination import CursorPagination

from events.models import Event


class EventSerializer(serializers.ModelSerializer):
    class Meta:
        model = Event
        fields = [
            "id",
            "site",
            "customer",
            "visitor_id",
            "name",
            "attributes",
            "occurred_at",
            "received_at",
            "page_url",
        ]
        read_only_fields = fields


class EventFilter(django_filters.FilterSet):
    occurred_after = django_filters.IsoDateTimeFilter(
        field_name="occurred_at", lookup_expr="gte"
    )
    occurred_before = django_filters.IsoDateTimeFilter(
        field_name="occurred_at", lookup_expr="lt"
    )

    class Meta:
        model = Event
        fields = ["customer", "name", "site", "visitor_id"]


class NewestFirstPagination(CursorPagination):
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000
    ordering = ("-occurred_at", "-id")


class EventViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = EventSerializer
    filterset_class = EventFilter
    pagination_class = NewestFirstPagination
    search_fields = []
    ordering_fields = []

    def get_queryset(self):
        return Event.objects.all()
