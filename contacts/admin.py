import json

from django import forms
from django.conf import settings
from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import connections, models
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from contacts.filters import filter_by_segment
from contacts.models import Company, Customer, FieldDefinition, Tag

LATEST_EVENTS = 20


class ReadableJSONField(forms.JSONField):
    """A JSON form field that shows its value indented and with non-ASCII
    characters as they are, so "São Paulo" stays readable."""

    def prepare_value(self, value):
        if isinstance(value, forms.fields.InvalidJSONInput):
            return value
        return json.dumps(value, indent=2, ensure_ascii=False, cls=self.encoder)


JSON_FORM_FIELD = {
    models.JSONField: {
        "form_class": ReadableJSONField,
        "widget": forms.Textarea(
            attrs={"rows": 6, "cols": 60, "style": "font-family: monospace"}
        ),
    }
}


def planner_row_estimate(queryset) -> int | None:
    """Return PostgreSQL's estimate of the rows of an unfiltered queryset's
    table, or None when the queryset is filtered, the database is not
    PostgreSQL or the table was never analysed."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql" or queryset.query.where:
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
            [queryset.model._meta.db_table],
        )
        row = cursor.fetchone()
    if row is None or row[0] < 0:
        return None
    return int(row[0])


class EstimatedCountPaginator(Paginator):
    """Page an unfiltered list of a large table without counting every row.

    Above `estimate_above` rows, an unfiltered list on PostgreSQL takes the
    planner's estimate (as fresh as the last ANALYZE) for its page count.
    A filtered list, such as the members of a segment, is counted exactly.
    """

    estimate_above = 100_000

    @cached_property
    def count(self) -> int:
        estimate = planner_row_estimate(self.object_list)
        if estimate is not None and estimate > self.estimate_above:
            return estimate
        return super().count


class StateFilter(admin.SimpleListFilter):
    title = _("state")
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return Customer._meta.get_field("state").choices

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(state=self.value())
        return queryset


class CountryFilter(admin.SimpleListFilter):
    """Countries that occur in the data, most common first.

    Finding them groups the whole table (about 300 ms at a million
    contacts), so the list is cached for ERXSEG_ADMIN_COUNTRIES_CACHE_SECONDS;
    a country that first appears within that time is missing from the
    sidebar until then, and ?country= still filters by it.
    """

    title = _("country")
    parameter_name = "country"
    max_choices = 40

    def lookups(self, request, model_admin):
        seconds = settings.ERXSEG_ADMIN_COUNTRIES_CACHE_SECONDS
        cache_key = f"erxseg:admin-countries:{model_admin.model._meta.label_lower}"
        countries = cache.get(cache_key) if seconds > 0 else None
        if countries is None:
            rows = (
                model_admin.model.objects.exclude(country="")
                .values("country")
                .annotate(total=models.Count("id"))
                .order_by("-total", "country")[: self.max_choices]
            )
            countries = [row["country"] for row in rows]
            if seconds > 0:
                cache.set(cache_key, countries, seconds)
        return [(country, country) for country in countries]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(country=self.value())
        return queryset


class SegmentFilter(admin.SimpleListFilter):
    """Members of one segment, with the same queryset as the API, the counts
    and the exports. Sub-segments are listed under their parent."""

    title = _("segment")
    parameter_name = "segment"
    company_list = False

    def lookups(self, request, model_admin):
        from segments.models import Segment, SegmentType

        segments = Segment.objects.order_by("name").values_list(
            "pk", "name", "parent_id", "content_type"
        )
        if self.company_list:
            segments = segments.filter(content_type=SegmentType.COMPANY)
        else:
            segments = segments.exclude(content_type=SegmentType.COMPANY)
        children: dict = {}
        for pk, name, parent_id, _content_type in segments:
            children.setdefault(parent_id, []).append((pk, name))
        choices = []

        def add(parent_id, depth):
            for pk, name in children.get(parent_id, []):
                choices.append((str(pk), "— " * depth + name))
                add(pk, depth + 1)

        add(None, 0)
        return choices

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        try:
            segment_id = int(self.value())
            return filter_by_segment(
                queryset, segment_id, company_list=self.company_list
            )
        except (ValueError, ValidationError) as error:
            raise IncorrectLookupParameters(error) from None


class CompanySegmentFilter(SegmentFilter):
    company_list = True


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ["name", "owner_type", "colour_swatch"]
    list_filter = ["owner_type"]
    search_fields = ["name"]

    @admin.display(description=_("colour"))
    def colour_swatch(self, tag):
        return format_html(
            '<span style="display:inline-block;width:1em;height:1em;'
            'background:{};border-radius:2px"></span> {}',
            tag.color,
            tag.color,
        )


@admin.register(FieldDefinition)
class FieldDefinitionAdmin(admin.ModelAdmin):
    list_display = ["key", "label", "owner_type", "field_type", "required"]
    list_filter = ["owner_type", "field_type", "required"]
    search_fields = ["key", "label"]
    formfield_overrides = JSON_FORM_FIELD


class CascadingDeleteMixin:
    """Admin delete that needs no delete permission on the rows that cascade
    from the contact (see `cascaded_model_names`)."""

    def get_deleted_objects(self, objs, request):
        deleted, model_count, perms_needed, protected = super().get_deleted_objects(
            objs, request
        )
        return (
            deleted,
            model_count,
            perms_needed - cascaded_model_names(self.model),
            protected,
        )


@admin.register(Customer)
class CustomerAdmin(CascadingDeleteMixin, admin.ModelAdmin):
    list_display = [
        "__str__",
        "primary_email",
        "code",
        "state",
        "country",
        "owner",
        "created_at",
    ]
    list_filter = [
        SegmentFilter,
        StateFilter,
        CountryFilter,
        "is_subscribed",
        "tags",
        "created_at",
    ]
    search_fields = [
        "first_name",
        "last_name",
        "primary_email",
        "primary_phone",
        "code",
        "visitor_id",
    ]
    autocomplete_fields = ["owner", "companies", "tags"]
    list_select_related = ["owner"]
    # A full COUNT(*) on every page is the slowest query of a large list.
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    list_per_page = 50
    readonly_fields = ["created_at", "updated_at"]
    formfield_overrides = JSON_FORM_FIELD
    fieldsets = [
        (None, {"fields": ["state", ("first_name", "last_name"), "owner", "code"]}),
        (
            _("Contact details"),
            {"fields": ["primary_email", "emails", "primary_phone", "phones"]},
        ),
        (
            _("Person"),
            {"fields": ["birth_date", "sex", "position", "department", "lead_status"]},
        ),
        (
            _("Location"),
            {"fields": [("country", "city", "region"), "language", "user_agent"]},
        ),
        (
            _("Website"),
            {"fields": ["visitor_id", "session_count", "last_seen_at", "tracked_data"]},
        ),
        (_("Subscriptions"), {"fields": ["is_subscribed", "do_not_disturb"]}),
        (
            _("Custom fields and relations"),
            {"fields": ["custom_fields", "tags", "companies"]},
        ),
        (_("History"), {"fields": ["created_at", "updated_at"]}),
    ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        from events.models import Event
        from segments.admin_builder import contact_segments

        extra_context = extra_context or {}
        customer = self.get_object(request, object_id)
        if customer is not None:
            extra_context["segment_panels"] = contact_segments(
                customer, content_type=customer.state
            )
            events = (
                Event.objects.filter(customer=customer)
                .select_related("site")
                .order_by("-occurred_at", "-pk")[:LATEST_EVENTS]
            )
            extra_context["latest_events"] = [
                {
                    "name": event.name,
                    "occurred_at": event.occurred_at,
                    "attributes": json.dumps(event.attributes, ensure_ascii=False),
                    "site": event.site.name,
                }
                for event in events
            ]
            extra_context["tracked_items"] = tracked_items(customer.tracked_data)
        return super().change_view(request, object_id, form_url, extra_context)


@admin.register(Company)
class CompanyAdmin(CascadingDeleteMixin, admin.ModelAdmin):
    list_display = ["name", "industry", "country", "plan", "owner", "created_at"]
    list_filter = [CompanySegmentFilter, CountryFilter, "industry", "plan", "tags"]
    search_fields = ["name", "website", "industry"]
    autocomplete_fields = ["owner", "parent", "tags"]
    list_select_related = ["owner"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    readonly_fields = ["created_at", "updated_at"]
    # A website typed without a scheme ("acme.example") is stored as https,
    # which Django 6.0 makes the default anyway.
    formfield_overrides = {
        **JSON_FORM_FIELD,
        models.URLField: {"assume_scheme": "https"},
    }

    def change_view(self, request, object_id, form_url="", extra_context=None):
        from segments.admin_builder import contact_segments

        extra_context = extra_context or {}
        company = self.get_object(request, object_id)
        if company is not None:
            extra_context["segment_panels"] = contact_segments(
                company, content_type="company"
            )
        return super().change_view(request, object_id, form_url, extra_context)


def cascaded_model_names(model) -> set[str]:
    """Return the verbose names of the models whose rows cascade from `model`.

    Events, rollups, memberships, visitor aliases and merge records belong to
    their contact and have read-only admins that deny every delete. Without
    this, Django would ask for a delete permission nobody has and reject the
    contact's delete, even for a superuser. A user who may delete a contact
    may delete everything stored about it.
    """
    return {
        str(relation.related_model._meta.verbose_name)
        for relation in model._meta.related_objects
        if relation.on_delete is models.CASCADE
    }


def tracked_items(data) -> list[tuple[str, str]]:
    """Lay tracked data out as sorted (key, readable value) pairs; lists and
    objects are shown as compact JSON."""
    if not isinstance(data, dict):
        return []
    return [
        (
            str(key),
            value if isinstance(value, str) else json.dumps(value, ensure_ascii=False),
        )
        for key, value in sorted(data.items())
    ]
