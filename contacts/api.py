"""REST endpoints for contacts (customers, leads, visitors) and companies."""

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, viewsets

from contacts.fields import clean_custom_fields
from contacts.filters import CompanyFilter, CustomerFilter
from contacts.models import Company, Customer, OwnerType


class CustomFieldsMixin(serializers.Serializer):
    """Typed JSON fields shared by contacts and companies.

    Declared explicitly because the model JSONFields would accept any JSON,
    including null, which the database then rejects.
    """

    owner_type: str

    custom_fields = serializers.DictField(required=False)
    tracked_data = serializers.DictField(required=False)

    def validate_custom_fields(self, value):
        try:
            return clean_custom_fields(self.owner_type, value)
        except DjangoValidationError as error:
            if hasattr(error, "error_dict"):
                raise serializers.ValidationError(error.message_dict) from None
            raise serializers.ValidationError(error.messages) from None


class CustomerSerializer(CustomFieldsMixin, serializers.ModelSerializer):
    owner_type = OwnerType.CUSTOMER

    emails = serializers.ListField(
        child=serializers.EmailField(), required=False, max_length=20
    )
    phones = serializers.ListField(
        child=serializers.CharField(max_length=50), required=False, max_length=20
    )

    def validate_visitor_id(self, value):
        # visitor_id is unique but optional: an empty string must be stored
        # as NULL, or the second contact without one would clash.
        return value or None

    class Meta:
        model = Customer
        fields = [
            "id",
            "state",
            "first_name",
            "last_name",
            "primary_email",
            "emails",
            "primary_phone",
            "phones",
            "birth_date",
            "sex",
            "position",
            "department",
            "lead_status",
            "owner",
            "code",
            "visitor_id",
            "country",
            "city",
            "region",
            "language",
            "session_count",
            "last_seen_at",
            "is_subscribed",
            "do_not_disturb",
            "custom_fields",
            "tracked_data",
            "tags",
            "companies",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["updated_at"]


class CompanySerializer(CustomFieldsMixin, serializers.ModelSerializer):
    owner_type = OwnerType.COMPANY

    class Meta:
        model = Company
        fields = [
            "id",
            "name",
            "website",
            "industry",
            "size",
            "plan",
            "business_type",
            "country",
            "parent",
            "owner",
            "custom_fields",
            "tracked_data",
            "tags",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["updated_at"]


@extend_schema_view(
    list=extend_schema(summary="List contacts (customers, leads and visitors)"),
    create=extend_schema(summary="Create a contact"),
)
class CustomerViewSet(viewsets.ModelViewSet):
    serializer_class = CustomerSerializer
    filterset_class = CustomerFilter
    search_fields = [
        "first_name",
        "last_name",
        "primary_email",
        "primary_phone",
        "code",
    ]
    ordering_fields = ["created_at", "last_name", "id"]

    def get_queryset(self):
        return (
            Customer.objects.select_related("owner")
            .prefetch_related("tags", "companies")
            .order_by("-id")
        )


@extend_schema_view(
    list=extend_schema(summary="List companies"),
    create=extend_schema(summary="Create a company"),
)
class CompanyViewSet(viewsets.ModelViewSet):
    serializer_class = CompanySerializer
    filterset_class = CompanyFilter
    search_fields = ["name", "website"]
    ordering_fields = ["created_at", "name", "id"]

    def get_queryset(self):
        return Company.objects.prefetch_related("tags").order_by("-id")
