import json

from django.contrib import admin, messages
from django.db import transaction
from django.http import HttpResponse, StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from contacts.admin import JSON_FORM_FIELD
from segments.admin_builder import (
    builder_config,
    export_rows,
    size_history,
    stays,
)
from segments.api import stream_csv
from segments.deletion import delete_segment, delete_segments, segment_users
from segments.models import (
    Segment,
    SegmentMembership,
    SegmentSizeSnapshot,
    SegmentType,
)
from segments.recount import RecountError, recount_segments
from segments.transfer import export_payload


@admin.register(Segment)
class SegmentAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "colour_swatch",
        "content_type",
        "parent",
        "member_count",
        "counted",
        "members_link",
    ]
    list_filter = ["content_type", "is_static"]
    search_fields = ["name", "description"]
    list_select_related = ["parent"]
    autocomplete_fields = ["parent"]
    readonly_fields = ["member_count", "counted_at", "created_at", "updated_at"]
    fields = [
        "name",
        "description",
        "color",
        "content_type",
        "parent",
        "is_static",
        "rules",
        "owner",
        ("member_count", "counted_at"),
        ("created_at", "updated_at"),
    ]
    formfield_overrides = JSON_FORM_FIELD
    actions = ["recount", "export_csv", "duplicate", "export_json"]

    @admin.display(description=_("members"))
    def members_link(self, segment):
        list_name = (
            "admin:contacts_company_changelist"
            if segment.content_type == SegmentType.COMPANY
            else "admin:contacts_customer_changelist"
        )
        return format_html(
            '<a href="{}?segment={}">{}</a>',
            reverse(list_name),
            segment.pk,
            _("View members"),
        )

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        formfield = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name == "rules":
            formfield.widget.attrs["rows"] = 20
            formfield.help_text = _(
                "Build the rules with the builder above, or edit them as JSON. "
                "Errors name the path of the condition, such as "
                "conditions[1].value."
            )
        return formfield

    def save_model(self, request, obj, form, change):
        from segments.audit import record_segment_change, stored_snapshot

        if not change and obj.owner_id is None:
            obj.owner = request.user
        # The form has already changed obj, so the previous values come from
        # the database. changeform_view runs in a transaction, so the audit
        # row commits with the save.
        before = stored_snapshot(obj) if change else None
        super().save_model(request, obj, form, change)
        record_segment_change(obj, before=before, user=request.user)

    def render_change_form(self, request, context, add=False, change=False, **kwargs):
        segment = context.get("original")
        context["builder_config"] = builder_config(
            request,
            segment=segment,
            editable=self.has_change_permission(request, segment)
            if change
            else self.has_add_permission(request),
        )
        if segment is not None:
            context["size_history"] = size_history(segment)
            context["stays"] = stays(segment)
        return super().render_change_form(
            request, context, add=add, change=change, **kwargs
        )

    @admin.display(description=_("colour"))
    def colour_swatch(self, segment):
        return format_html(
            '<span title="{}" style="display:inline-block;width:1em;height:1em;'
            'background:{};border-radius:2px"></span>',
            segment.color,
            segment.color,
        )

    @admin.display(description=_("counted at"), ordering="counted_at")
    def counted(self, segment):
        if segment.counted_at is None:
            return _("never")
        return date_format(timezone.localtime(segment.counted_at), "Y-m-d H:i")

    @admin.action(description=_("Recount selected segments"), permissions=["change"])
    def recount(self, request, queryset):
        try:
            summary = recount_segments(queryset)
        except RecountError as error:
            self.message_user(request, str(error), messages.ERROR)
            return
        count = len(summary.results)
        self.message_user(
            request,
            ngettext(
                "Recounted %(count)d segment: %(members)s members, "
                "%(entered)s entered, %(exited)s exited.",
                "Recounted %(count)d segments: %(members)s members, "
                "%(entered)s entered, %(exited)s exited.",
                count,
            )
            % {
                "count": count,
                "members": f"{summary.members:,}",
                "entered": f"{summary.entered:,}",
                "exited": f"{summary.exited:,}",
            },
            messages.SUCCESS,
        )

    @admin.action(description=_("Export members of selected segments as CSV"))
    def export_csv(self, request, queryset):
        kinds = {segment.content_type == SegmentType.COMPANY for segment in queryset}
        if len(kinds) > 1:
            self.message_user(
                request,
                _(
                    "The selection mixes company segments with contact segments. "
                    "Select segments of one kind and export again."
                ),
                messages.ERROR,
            )
            return None
        columns, rows = export_rows(list(queryset.order_by("pk")))
        response = StreamingHttpResponse(
            stream_csv(columns, rows), content_type="text/csv; charset=utf-8"
        )
        filename = f"segment-members-{timezone.now():%Y%m%d-%H%M%S}.csv"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response

    @admin.action(description=_("Duplicate selected segments"), permissions=["add"])
    def duplicate(self, request, queryset):
        from segments.audit import record_segment_change

        copies = []
        # Admin actions run outside a transaction; this one makes each copy
        # commit together with its audit row.
        with transaction.atomic():
            for segment in queryset.order_by("pk"):
                copy = Segment.objects.create(
                    name=_("%(name)s (copy)") % {"name": segment.name},
                    description=segment.description,
                    color=segment.color,
                    content_type=segment.content_type,
                    parent=segment.parent,
                    rules=segment.rules,
                    rules_version=segment.rules_version,
                    is_static=segment.is_static,
                    owner=request.user,
                )
                record_segment_change(
                    copy,
                    before=None,
                    user=request.user,
                    source=f'Duplicate of segment {segment.pk} "{segment.name}"',
                )
                copies.append(copy)
        self.message_user(
            request,
            ngettext(
                "Duplicated %(count)d segment. A copy starts uncounted and "
                "without the members of a static segment.",
                "Duplicated %(count)d segments. A copy starts uncounted and "
                "without the members of a static segment.",
                len(copies),
            )
            % {"count": len(copies)},
            messages.SUCCESS,
        )

    @admin.action(description=_("Export selected segments as JSON"))
    def export_json(self, request, queryset):
        payload = export_payload(queryset)
        response = HttpResponse(
            json.dumps(payload, indent=2, ensure_ascii=False),
            content_type="application/json; charset=utf-8",
        )
        filename = f"segments-{timezone.now():%Y%m%d-%H%M%S}.json"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response

    def get_deleted_objects(self, objs, request):
        """List every segment that uses a deleted one as protected, so the
        admin rejects the delete and names them. Deleting history rows needs
        no permission of its own.

        The list replaces Django's own protected list, which also flags a
        sub-segment deleted together with its parent.
        """
        deleted, model_count, perms_needed, _protected = super().get_deleted_objects(
            objs, request
        )
        # Memberships and snapshots are a segment's history and go with it,
        # although nobody may delete them on their own.
        perms_needed = perms_needed - {
            SegmentMembership._meta.verbose_name,
            SegmentSizeSnapshot._meta.verbose_name,
        }
        objs = list(objs)
        deleted_ids = {segment.pk for segment in objs}
        protected = [
            self.user_link(user, segment)
            for segment in objs
            for user in segment_users(segment, excluding=deleted_ids)
        ]
        return deleted, model_count, perms_needed, protected

    def user_link(self, user: Segment, used: Segment) -> str:
        if user.parent_id == used.pk:
            template = '{}: <a href="{}">{}</a> (sub-segment of "{}")'
        else:
            template = '{}: <a href="{}">{}</a> (references "{}" in its rules)'
        return format_html(
            template,
            Segment._meta.verbose_name.capitalize(),
            reverse("admin:segments_segment_change", args=[user.pk]),
            user.name,
            used.name,
        )

    def delete_model(self, request, obj):
        delete_segment(obj)

    def delete_queryset(self, request, queryset):
        delete_segments(queryset)


class ReadOnlyAdmin(admin.ModelAdmin):
    """History rows are written by the recount, never by hand."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class OpenMembershipFilter(admin.SimpleListFilter):
    title = _("stay")
    parameter_name = "stay"

    def lookups(self, request, model_admin):
        return [("open", _("Current members")), ("closed", _("Left"))]

    def queryset(self, request, queryset):
        if self.value() == "open":
            return queryset.filter(exited_at__isnull=True)
        if self.value() == "closed":
            return queryset.filter(exited_at__isnull=False)
        return queryset


@admin.register(SegmentMembership)
class SegmentMembershipAdmin(ReadOnlyAdmin):
    list_display = ["segment", "contact", "entered_at", "exited_at"]
    list_filter = [
        OpenMembershipFilter,
        ("segment", admin.RelatedOnlyFieldListFilter),
        "entered_at",
    ]
    list_select_related = ["segment", "customer", "company"]
    show_full_result_count = False
    date_hierarchy = "entered_at"

    @admin.display(description=_("contact"))
    def contact(self, membership):
        return membership.customer or membership.company


@admin.register(SegmentSizeSnapshot)
class SegmentSizeSnapshotAdmin(ReadOnlyAdmin):
    list_display = ["segment", "member_count", "entered", "exited", "taken_at"]
    list_filter = [("segment", admin.RelatedOnlyFieldListFilter), "taken_at"]
    list_select_related = ["segment"]
    date_hierarchy = "taken_at"
