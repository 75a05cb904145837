import datetime

from django.conf import settings
from django.contrib import admin, messages
from django.db import transaction
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from events.models import CustomerEventStats, Event, Site, VisitorAlias, VisitorMerge


@admin.register(Site)
class SiteAdmin(admin.ModelAdmin):
    list_display = ["name", "write_key", "is_enabled", "created_at", "key_rotated_at"]
    list_filter = ["is_enabled"]
    search_fields = ["name", "write_key"]
    readonly_fields = ["write_key", "created_at", "key_rotated_at"]
    actions = ["rotate_write_keys", "revoke_write_keys"]

    @admin.action(
        description=_("Rotate the write key of the selected sites"),
        permissions=["change"],
    )
    def rotate_write_keys(self, request, queryset):
        grace = datetime.timedelta(seconds=settings.ERXSEG_WRITE_KEY_GRACE_SECONDS)
        sites = self.rotate(request, queryset, grace=grace)
        if not sites:
            return
        count = len(sites)
        rotated = ngettext(
            "Rotated the key of %(count)d site. Put the new key in its widget snippet.",
            "Rotated the keys of %(count)d sites. Put the new keys in their "
            "widget snippets.",
            count,
        ) % {"count": count}
        if grace > datetime.timedelta(0):
            expires_at = max(site.previous_key_expires_at for site in sites)
            old_keys = ngettext(
                "The old key keeps writing for %(grace)s, until %(until)s, so "
                "that retries queued by widgets are stored. After that it is "
                "rejected.",
                "The old keys keep writing for %(grace)s, until %(until)s, so "
                "that retries queued by widgets are stored. After that they are "
                "rejected.",
                count,
            ) % {"grace": describe_duration(grace), "until": format_moment(expires_at)}
        else:
            old_keys = ngettext(
                "The old key is rejected from now on, because "
                "ERXSEG_WRITE_KEY_GRACE_SECONDS is 0.",
                "The old keys are rejected from now on, because "
                "ERXSEG_WRITE_KEY_GRACE_SECONDS is 0.",
                count,
            )
        self.message_user(request, f"{rotated} {old_keys}", messages.SUCCESS)

    @admin.action(
        description=_("Rotate and revoke the old key now"),
        permissions=["change"],
    )
    def revoke_write_keys(self, request, queryset):
        sites = self.rotate(request, queryset, grace=datetime.timedelta(0))
        if not sites:
            return
        count = len(sites)
        self.message_user(
            request,
            ngettext(
                "Rotated the key of %(count)d site and revoked the old one. "
                "The old key is rejected from now on, also for retries queued "
                "by widgets. Put the new key in its widget snippet.",
                "Rotated the keys of %(count)d sites and revoked the old ones. "
                "The old keys are rejected from now on, also for retries queued "
                "by widgets. Put the new keys in their widget snippets.",
                count,
            )
            % {"count": count},
            messages.SUCCESS,
        )

    def rotate(self, request, queryset, *, grace: datetime.timedelta) -> list[Site]:
        """Rotate the write key of each site and log it in the admin history.

        A zero grace also ends the grace period of a key rotated earlier, so
        no old key of the site writes any more.
        """
        with transaction.atomic():
            sites = list(queryset.select_for_update().order_by("pk"))
            for site in sites:
                site.rotate_write_key(grace=grace)
                if grace > datetime.timedelta(0):
                    until = format_moment(site.previous_key_expires_at)
                    note = f"Rotated the write key; the old key writes until {until}."
                else:
                    note = "Rotated the write key and revoked the old key."
                self.log_change(request, site, note)
        return sites


def describe_duration(duration: datetime.timedelta) -> str:
    """Return a duration in words, exact to the second."""
    seconds = int(duration.total_seconds())
    if seconds % 3600 == 0:
        hours = seconds // 3600
        return ngettext("%(count)d hour", "%(count)d hours", hours) % {"count": hours}
    if seconds % 60 == 0:
        minutes = seconds // 60
        return ngettext("%(count)d minute", "%(count)d minutes", minutes) % {
            "count": minutes
        }
    return ngettext("%(count)d second", "%(count)d seconds", seconds) % {
        "count": seconds
    }


def format_moment(moment: datetime.datetime) -> str:
    """Return a moment in the configured time zone, with the zone's name."""
    return date_format(timezone.localtime(moment), "Y-m-d H:i:s T")


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
