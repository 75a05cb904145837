"""Read-only admin list of segment changes, registered from SegmentsConfig.ready
so segments/admin.py stays free of audit code."""

import json

from django.contrib import admin
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from segments.audit import SegmentRulesChange


@admin.register(SegmentRulesChange)
class SegmentRulesChangeAdmin(admin.ModelAdmin):
    """Audit rows are written by the API and the admin, never by hand."""

    list_display = ["segment_name", "segment", "username", "changed_at", "changed_list"]
    list_filter = ["changed_at"]
    list_select_related = ["segment"]
    search_fields = ["segment_name", "username"]
    date_hierarchy = "changed_at"
    fields = [
        "segment",
        "segment_name",
        "username",
        "changed_at",
        "changed_fields",
        "before_json",
        "after_json",
    ]
    readonly_fields = fields

    @admin.display(description=_("changed fields"))
    def changed_list(self, change):
        return ", ".join(change.changed_fields)

    @admin.display(description=_("before"))
    def before_json(self, change):
        return pretty_json(change.before)

    @admin.display(description=_("after"))
    def after_json(self, change):
        return pretty_json(change.after)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def pretty_json(value) -> str:
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, ensure_ascii=False))
