"""django-filter filtersets for the customer and company endpoints."""

import django_filters
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from contacts.models import Company, Customer, CustomerState


def filter_by_segment(queryset, segment_id: int, *, company_list: bool):
    """Keep the members of segment `segment_id`.

    The filter is the same Q that counts, exports and recounts use, so a
    filtered list always has the segment's count. It applies to the list's
    own rows, so the list needs one scan rather than a second pass over the
    table to match the members' ids.
    """
    from segments.models import Segment, SegmentType
    from segments.services import members_q

    segment = Segment.objects.filter(pk=segment_id).first()
    if segment is None:
        raise ValidationError(
            {"segment": _("Segment %(id)s does not exist.") % {"id": segment_id}}
        )
    selects_companies = segment.content_type == SegmentType.COMPANY
    if selects_companies != company_list:
        kind = _("companies") if selects_companies else _("contacts")
        raise ValidationError(
            {
                "segment": _(
                    "Segment %(id)s selects %(kind)s; filter the %(kind)s list with it."
                )
                % {"id": segment_id, "kind": kind}
            }
        )
    return queryset.filter(members_q(segment))


class CustomerFilter(django_filters.FilterSet):
    segment = django_filters.NumberFilter(
        method="filter_segment", label="Members of the segment with this id"
    )
    state = django_filters.ChoiceFilter(choices=CustomerState.choices)
    created_after = django_filters.IsoDateTimeFilter(
        field_name="created_at", lookup_expr="gte"
    )
    created_before = django_filters.IsoDateTimeFilter(
        field_name="created_at", lookup_expr="lt"
    )
    tag = django_filters.CharFilter(field_name="tags__name", label="Tag name")
    company = django_filters.NumberFilter(field_name="companies", label="Company id")

    class Meta:
        model = Customer
        fields = ["state", "country", "city", "is_subscribed", "owner", "code"]

    def filter_segment(self, queryset, name, value):
        return filter_by_segment(queryset, int(value), company_list=False)


class CompanyFilter(django_filters.FilterSet):
    segment = django_filters.NumberFilter(
        method="filter_segment", label="Members of the segment with this id"
    )
    tag = django_filters.CharFilter(field_name="tags__name", label="Tag name")

    class Meta:
        model = Company
        fields = ["industry", "country", "plan", "business_type", "owner"]

    def filter_segment(self, queryset, name, value):
        return filter_by_segment(queryset, int(value), company_list=True)
