"""REST endpoints for segments: CRUD, preview, count, members, explain, why."""

import csv
from collections.abc import Iterable, Iterator

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import renderers, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from contacts.api import CompanySerializer, CustomerSerializer
from contacts.models import Company, Customer
from erxseg.api import Conflict, MemberCursorPagination
from erxseg.permissions import ModelPermissions
from events.catalogue import event_catalogue
from segments import services
from segments.audit import record_segment_change, stored_snapshot
from segments.catalogue import catalogue_for
from segments.deletion import SegmentInUseError, delete_segment
from segments.models import Segment, SegmentType
from segments.operators import PropertyType
from segments.rules import validate_rules
from segments.rules_schema import GROUP, RULES_EXAMPLE

PREVIEW_SAMPLE_MAX = 50

CUSTOMER_CSV_COLUMNS = [
    "id",
    "state",
    "first_name",
    "last_name",
    "primary_email",
    "primary_phone",
    "code",
    "country",
    "city",
    "created_at",
]
COMPANY_CSV_COLUMNS = ["id", "name", "industry", "country", "plan", "created_at"]
CSV_CHUNK_SIZE = 2000
CSV_PIECE_SIZE = 64 * 1024


def rules_error_fields(error: DjangoValidationError) -> dict:
    """Key rule errors under "rules" by the condition's path in the tree."""
    if hasattr(error, "error_dict"):
        return {"rules": error.message_dict}
    return {"rules": {"rules": error.messages}}


def checked_rules(rules, *, content_type, segment=None, parent=None) -> dict:
    try:
        return validate_rules(
            rules, content_type=content_type, segment=segment, parent=parent
        )
    except DjangoValidationError as error:
        raise serializers.ValidationError(rules_error_fields(error)) from None


@extend_schema_field({"$ref": GROUP})
class RulesField(serializers.JSONField):
    """The rule tree; its JSON schema is published in the OpenAPI document."""


class SegmentSerializer(serializers.ModelSerializer):
    rules = RulesField(required=False)

    class Meta:
        model = Segment
        fields = [
            "id",
            "name",
            "description",
            "color",
            "content_type",
            "parent",
            "rules",
            "is_static",
            "member_count",
            "counted_at",
            "owner",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "member_count",
            "counted_at",
            "owner",
            "created_at",
            "updated_at",
        ]

    def validate_color(self, value: str) -> str:
        if (
            len(value) != 7
            or value[0] != "#"
            or not all(char in "0123456789abcdefABCDEF" for char in value[1:])
        ):
            raise serializers.ValidationError(
                "Enter a colour as # and six hex digits, for example #4f46e5."
            )
        return value

    def validate(self, attrs):
        instance = self.instance
        content_type = attrs.get(
            "content_type", instance.content_type if instance else SegmentType.CUSTOMER
        )
        parent = attrs.get("parent", instance.parent if instance else None)
        if parent is not None and parent.content_type != content_type:
            raise serializers.ValidationError(
                {
                    "parent": [
                        f'The parent segment "{parent.name}" selects '
                        f"{parent.get_content_type_display().lower()}; a sub-segment "
                        "must select the same type."
                    ]
                }
            )
        rules = attrs.get("rules", instance.rules if instance else None)
        if rules is None:
            rules = Segment._meta.get_field("rules").get_default()
        attrs["rules"] = checked_rules(
            rules, content_type=content_type, segment=instance, parent=parent
        )
        return attrs


class PreviewSerializer(serializers.Serializer):
    content_type = serializers.ChoiceField(choices=SegmentType.choices)
    rules = RulesField()
    parent = serializers.PrimaryKeyRelatedField(
        queryset=Segment.objects.all(), required=False, allow_null=True
    )
    sample_size = serializers.IntegerField(
        min_value=0, max_value=PREVIEW_SAMPLE_MAX, default=10
    )

    def validate(self, attrs):
        parent = attrs.get("parent")
        if parent is not None and parent.content_type != attrs["content_type"]:
            raise serializers.ValidationError(
                {"parent": ["The parent segment selects another type of contact."]}
            )
        attrs["rules"] = checked_rules(
            attrs["rules"], content_type=attrs["content_type"], parent=parent
        )
        return attrs


class CSVRenderer(renderers.BaseRenderer):
    """Marks `?format=csv` as acceptable; the members view streams the body."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data


class EchoBuffer:
    """A file-like object whose write returns the line for streaming."""

    def write(self, value: str) -> str:
        return value


def stream_csv(columns: list[str], rows: Iterable[tuple]) -> Iterator[str]:
    """Yield CSV text in pieces of about CSV_PIECE_SIZE characters.

    One piece per row would cost a WSGI write per member; pieces keep the
    overhead low while memory stays bounded by the piece size.
    """
    writer = csv.writer(EchoBuffer())
    piece = [writer.writerow(columns)]
    size = len(piece[0])
    for row in rows:
        line = writer.writerow(
            [
                value.isoformat() if hasattr(value, "isoformat") else value
                for value in row
            ]
        )
        piece.append(line)
        size += len(line)
        if size >= CSV_PIECE_SIZE:
            yield "".join(piece)
            piece, size = [], 0
    if piece:
        yield "".join(piece)


def contact_serializer_for(segment: Segment):
    if segment.content_type == SegmentType.COMPANY:
        return CompanySerializer
    return CustomerSerializer


class PreviewPermission(ModelPermissions):
    """Previewing rules needs the right to add or change segments, because it
    runs arbitrary rules against the whole contact base."""

    def has_permission(self, request, view):
        user = request.user
        if not (user and user.is_authenticated):
            return False
        return user.has_perm("segments.add_segment") or user.has_perm(
            "segments.change_segment"
        )


class SegmentViewPermission(BasePermission):
    """Reading the catalogue needs the right to view segments."""

    def has_permission(self, request, view):
        user = request.user
        return bool(
            user and user.is_authenticated and user.has_perm("segments.view_segment")
        )


COUNT_RESPONSE = inline_serializer(
    "SegmentCount",
    {"count": serializers.IntegerField(), "counted_at": serializers.DateTimeField()},
)
PREVIEW_RESPONSE = inline_serializer(
    "SegmentPreview",
    {
        "count": serializers.IntegerField(),
        "total": serializers.IntegerField(),
        "sample": serializers.ListField(child=serializers.DictField()),
    },
)

# The values of PropertyType, named once in the schema (ENUM_NAME_OVERRIDES).
PROPERTY_TYPES = [type_.value for type_ in PropertyType]
CATALOGUE_RESPONSE = inline_serializer(
    "Catalogue",
    {
        "content_type": serializers.ChoiceField(choices=SegmentType.choices),
        "properties": inline_serializer(
            "CatalogueProperty",
            {
                "name": serializers.CharField(),
                "label": serializers.CharField(),
                "type": serializers.ChoiceField(choices=PROPERTY_TYPES),
                "observed_types": serializers.ListField(
                    child=serializers.ChoiceField(choices=PROPERTY_TYPES)
                ),
                "options": serializers.ListField(child=serializers.CharField()),
                "operators": serializers.ListField(child=serializers.CharField()),
            },
            many=True,
        ),
        "events": inline_serializer(
            "CatalogueEvent",
            {
                "name": serializers.CharField(),
                "count": serializers.IntegerField(),
                "contacts": serializers.IntegerField(),
                "attributes": inline_serializer(
                    "CatalogueEventAttribute",
                    {
                        "key": serializers.CharField(),
                        "types": serializers.ListField(
                            child=serializers.ChoiceField(choices=PROPERTY_TYPES)
                        ),
                    },
                    many=True,
                ),
            },
            many=True,
        ),
    },
)


@extend_schema_view(
    create=extend_schema(
        examples=[
            OpenApiExample(
                "Customers in Germany who spent at least 1,000",
                value={
                    "name": "German big spenders",
                    "content_type": "customer",
                    "rules": RULES_EXAMPLE,
                },
                request_only=True,
            )
        ]
    )
)
class SegmentViewSet(viewsets.ModelViewSet):
    serializer_class = SegmentSerializer
    filterset_fields = ["content_type", "parent", "is_static"]
    search_fields = ["name", "description"]
    ordering_fields = ["name", "created_at", "member_count", "id"]

    def get_queryset(self):
        return Segment.objects.select_related("parent", "owner").order_by("id")

    def perform_create(self, serializer):
        with transaction.atomic():
            segment = serializer.save(owner=self.request.user)
            record_segment_change(segment, before=None, user=self.request.user)

    def perform_update(self, serializer):
        with transaction.atomic():
            before = stored_snapshot(serializer.instance)
            segment = serializer.save()
            record_segment_change(segment, before=before, user=self.request.user)

    def perform_destroy(self, instance):
        try:
            delete_segment(instance)
        except SegmentInUseError as error:
            raise Conflict(" ".join(error.messages)) from None

    @extend_schema(request=PreviewSerializer, responses=PREVIEW_RESPONSE)
    @action(
        detail=False,
        methods=["post"],
        permission_classes=[PreviewPermission],
        filter_backends=[],
        pagination_class=None,
    )
    def preview(self, request):
        """Count unsaved rules and return a sample of the contacts they select."""
        serializer = PreviewSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data

        result = services.preview_count(
            data["rules"], content_type=data["content_type"], parent=data.get("parent")
        )
        queryset = services.preview_queryset(
            data["rules"], content_type=data["content_type"], parent=data.get("parent")
        )
        sample = queryset.order_by("id")[: data["sample_size"]]
        if data["content_type"] == SegmentType.COMPANY:
            rows = CompanySerializer(sample, many=True).data
        else:
            rows = CustomerSerializer(sample, many=True).data
        return Response({**result, "sample": rows})

    @extend_schema(request=PreviewSerializer, responses={200: OpenApiTypes.OBJECT})
    @action(
        detail=False,
        methods=["post"],
        url_path="explain-preview",
        permission_classes=[PreviewPermission],
        filter_backends=[],
        pagination_class=None,
    )
    def explain_preview(self, request):
        """Count the matches of every condition and group of unsaved rules."""
        serializer = PreviewSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data

        result = services.explain(
            data["rules"], content_type=data["content_type"], parent=data.get("parent")
        )
        if not request.user.is_superuser:
            _drop_sql(result)
        return Response(result)

    @extend_schema(responses=COUNT_RESPONSE)
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def count(self, request, pk=None):
        """Count the segment's members now, with the same query as its list."""
        segment = self.get_object()
        return Response(
            {"count": services.count_segment(segment), "counted_at": timezone.now()}
        )

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "format",
                OpenApiTypes.STR,
                enum=["json", "csv"],
                description="csv streams every member as CSV, with no cap.",
            )
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    @action(
        detail=True,
        methods=["get"],
        filter_backends=[],
        pagination_class=MemberCursorPagination,
        renderer_classes=[
            renderers.JSONRenderer,
            renderers.BrowsableAPIRenderer,
            CSVRenderer,
        ],
    )
    def members(self, request, pk=None, format=None):
        """Page through the segment's members by id, or stream them as CSV."""
        segment = self.get_object()
        queryset = services.members_queryset(segment).order_by("id")

        if request.accepted_renderer.format == "csv":
            return self._members_csv(segment, queryset)

        # The serializers list each contact's tags (and a customer's
        # companies): fetch them for the whole page in two queries, not two
        # per contact.
        if segment.content_type == SegmentType.COMPANY:
            queryset = queryset.prefetch_related("tags")
        else:
            queryset = queryset.select_related("owner").prefetch_related(
                "tags", "companies"
            )
        page = self.paginate_queryset(queryset)
        serializer_class = contact_serializer_for(segment)
        return self.get_paginated_response(serializer_class(page, many=True).data)

    def _members_csv(self, segment, queryset):
        is_company = segment.content_type == SegmentType.COMPANY
        columns = COMPANY_CSV_COLUMNS if is_company else CUSTOMER_CSV_COLUMNS
        # values_list + iterator keeps memory flat: rows are fetched in
        # chunks (a server-side cursor on PostgreSQL) and written one by one.
        rows = queryset.values_list(*columns).iterator(chunk_size=CSV_CHUNK_SIZE)
        response = StreamingHttpResponse(
            stream_csv(columns, rows), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = (
            f'attachment; filename="segment-{segment.pk}-members.csv"'
        )
        return response

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def explain(self, request, pk=None):
        """Count the matches of every condition and group of the segment."""
        segment = self.get_object()
        result = services.explain(segment)
        if not request.user.is_superuser:
            _drop_sql(result)
        return Response(result)

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    @action(
        detail=True,
        methods=["get"],
        url_path=r"why/(?P<contact_id>\d+)",
        filter_backends=[],
        pagination_class=None,
    )
    def why(self, request, pk=None, contact_id=None):
        """Show, condition by condition, why a contact is or is not a member."""
        segment = self.get_object()
        model = Company if segment.content_type == SegmentType.COMPANY else Customer
        contact = get_object_or_404(model, pk=contact_id)
        return Response(services.why(segment, contact))


def _drop_sql(node) -> None:
    """Remove the SQL from an explain tree: only superusers may read it."""
    if isinstance(node, dict):
        node.pop("sql", None)
        for value in node.values():
            _drop_sql(value)
    elif isinstance(node, list):
        for value in node:
            _drop_sql(value)


class CatalogueView(APIView):
    """List what rules can select on for one content type."""

    permission_classes = [SegmentViewPermission]

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "content_type",
                OpenApiTypes.STR,
                enum=[choice for choice, _label in SegmentType.choices],
                required=True,
            )
        ],
        responses={200: CATALOGUE_RESPONSE},
        summary="Properties and events rules can select on",
    )
    def get(self, request):
        content_type = request.query_params.get("content_type", "")
        if content_type not in SegmentType.values:
            raise serializers.ValidationError(
                {
                    "content_type": [
                        f'"{content_type}" is not a content type. Use one of: '
                        + ", ".join(SegmentType.values)
                        + "."
                    ]
                }
            )
        events = [] if content_type == SegmentType.COMPANY else event_catalogue()
        return Response(
            {
                "content_type": content_type,
                "properties": catalogue_for(content_type),
                "events": events,
            }
        )
