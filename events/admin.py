from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from events.models import CustomerEventStats, Event, Site, VisitorAlias, VisitorMerge


@admin.register(Site)
class SiteAdmin(admin.ModelAdmin):
    list_display = ["name", "write_key", "is_enabled", "created_at", "key_rotated_at"]
    list_filter = ["is_enabled"]
    search_fields = ["name", "write_key"]
    readonly_fields = ["write_key", "created_at", "key_rotated_at"]
    actions = ["rotate_write_keys"]

    @admin.action(description=_("Rotate the write key of the selected sites"))
    def rotate_write_keys(self, request, queryset):
        for site in queryset:
            site.rotate_write_key()
        count = len(queryset)
        self.message_user(
            request,
            ngettext(
                "Rotated the key of %(count)d site. Put the new key in its "
                "widget snippet.",
                "Rotated the keys of %(count)d sites. Put the new keys in their "
                "widget snippets.",
                count,
            )
            % {"count": count},
            messages.SUCCESS,
        )


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written only by ingest and identify, so rollups stay exact."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ["name", "customer", "site", "occurred_at", "received_at"]
    list_filter = ["site"]
    list_select_related = ["customer", "site"]
    search_fields = ["name", "visitor_id", "idempotency_key"]
    date_hierarchy = "occurred_at"
    # A full count of millions of events on every page is too slow to pay.
    show_full_result_count = False


@admin.register(CustomerEventStats)
class CustomerEventStatsAdmin(ReadOnlyAdmin):
    list_display = [
        "name",
        "customer",
        "count",
        "first_occurred_at",
        "last_occurred_at",
    ]
    list_select_related = ["customer"]
    search_fields = ["name"]
    show_full_result_count = False


@admin.register(VisitorAlias)
class VisitorAliasAdmin(ReadOnlyAdmin):
    list_display = ["visitor_id", "customer", "created_at"]
    list_select_related = ["customer"]
    search_fields = ["visitor_id"]


@admin.register(VisitorMerge)
class VisitorMergeAdmin(ReadOnlyAdmin):
    list_display = ["customer", "visitor_pk", "visitor_id", "events_moved", "merged_at"]
    list_select_related = ["customer"]
    search_fields = ["visitor_id"]
