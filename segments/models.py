from collections.abc import Iterator

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


def empty_rules() -> dict:
    return {"type": "group", "conjunction": "and", "negate": False, "conditions": []}


def iter_segment_references(rules) -> Iterator[int]:
    """Yield the id of every segment that a rule tree references.

    The walk follows groups and the customer rules of "contacts" conditions,
    so it finds references at any depth. Ids that are not integers (an
    unsaved import, a malformed tree) are skipped, because validation reports
    them with their path.
    """
    if not isinstance(rules, dict):
        return
    if rules.get("type") == "segment":
        segment_id = rules.get("segment")
        if isinstance(segment_id, int) and not isinstance(segment_id, bool):
            yield segment_id
    for condition in rules.get("conditions") or ():
        yield from iter_segment_references(condition)
    if isinstance(rules.get("where"), dict):
        yield from iter_segment_references(rules["where"])


class SegmentType(models.TextChoices):
    """What a segment selects. Customer, lead and visitor segments select
    Customer rows of that state; company segments select Company rows."""

    CUSTOMER = "customer", _("Customers")
    LEAD = "lead", _("Leads")
    VISITOR = "visitor", _("Visitors")
    COMPANY = "company", _("Companies")


class SegmentQuerySet(models.QuerySet):
    def referencing(self, segment: "Segment") -> "SegmentQuerySet":
        """Filter to the segments that use `segment` as their parent or
        reference it in their rules."""
        # Rule trees are JSON of any depth, so references are found by walking
        # the trees in Python. This reads every segment's rules once: fine for
        # thousands of segments, never a loop over contacts.
        referencing_ids = [
            other_id
            for other_id, rules in self.exclude(pk=segment.pk).values_list(
                "pk", "rules"
            )
            if segment.pk in set(iter_segment_references(rules))
        ]
        return self.filter(models.Q(parent=segment) | models.Q(pk__in=referencing_ids))


class Segment(models.Model):
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    color = models.CharField(max_length=7, default="#4f46e5", help_text="Hex colour.")
    content_type = models.CharField(
        max_length=20, choices=SegmentType.choices, default=SegmentType.CUSTOMER
    )
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
        verbose_name=_("sub-segment of"),
        help_text=_("Members are the parent's members that also match these rules."),
    )
    rules = models.JSONField(default=empty_rules, blank=True)
    rules_version = models.PositiveSmallIntegerField(default=1)
    is_static = models.BooleanField(
        default=False,
        help_text=_("Members are added by hand or by CSV instead of by rules."),
    )
    member_count = models.PositiveIntegerField(null=True, blank=True, editable=False)
    counted_at = models.DateTimeField(null=True, blank=True, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="segments",
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = SegmentQuerySet.as_manager()

    class Meta:
        ordering = ["content_type", "name", "id"]

    def __str__(self) -> str:
        return self.name

    @property
    def contact_field(self) -> str:
        """The SegmentMembership field that contains this segment's contacts."""
        return "company" if self.content_type == SegmentType.COMPANY else "customer"

    def dependency_ids(self) -> set[int]:
        """Return the ids of the parent and of every referenced segment."""
        ids = set(iter_segment_references(self.rules))
        if self.parent_id:
            ids.add(self.parent_id)
        return ids

    def clean(self):
        """Validate the parent and the rules, and store the normalised rules.

        Rule errors are reported on the rules field, each prefixed with the
        path of its condition, because a form can only show errors on its own
        fields.
        """
        from segments.rules import validate_rules

        if self.parent_id and self.parent_id == self.pk:
            raise ValidationError(
                {"parent": _("A segment cannot be a sub-segment of itself.")}
            )
        if self.parent_id and self.parent.content_type != self.content_type:
            raise ValidationError(
                {
                    "parent": _(
                        "The parent segment selects %(parent_type)s, but this "
                        "segment selects %(type)s. Choose a parent of the same type."
                    )
                    % {
                        "parent_type": self.parent.get_content_type_display(),
                        "type": self.get_content_type_display(),
                    }
                }
            )
        try:
            self.rules = validate_rules(
                self.rules,
                content_type=self.content_type,
                segment=self if self.pk else None,
                parent=self.parent if self.parent_id else None,
            )
        except ValidationError as error:
            raise ValidationError(form_errors(error)) from None


def form_errors(error: ValidationError) -> dict[str, list[str]]:
    """Map a validate_rules error onto the parent and rules fields.

    Condition errors become messages that start with the condition path,
    such as "conditions[2].value: Use a number.".
    """
    if not hasattr(error, "error_dict"):
        return {"rules": list(error.messages)}
    errors: dict[str, list[str]] = {}
    for path, messages in error.message_dict.items():
        if path in ("rules", "parent"):
            errors.setdefault(path, []).extend(messages)
        else:
            errors.setdefault("rules", []).extend(
                f"{path}: {message}" for message in messages
            )
    return errors


class SegmentMembership(models.Model):
    """One stay of a contact in a segment: open while `exited_at` is null.

    A contact that leaves and comes back gets a second row, so history
    ("who entered this week") stays answerable.
    """

    segment = models.ForeignKey(
        Segment, on_delete=models.CASCADE, related_name="memberships"
    )
    customer = models.ForeignKey(
        "contacts.Customer",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="segment_memberships",
    )
    company = models.ForeignKey(
        "contacts.Company",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="segment_memberships",
    )
    entered_at = models.DateTimeField(default=timezone.now)
    exited_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(customer__isnull=False, company__isnull=True)
                | Q(customer__isnull=True, company__isnull=False),
                name="membership_one_contact",
            ),
            models.UniqueConstraint(
                fields=["segment", "customer"],
                condition=Q(exited_at__isnull=True, customer__isnull=False),
                name="membership_one_open_stay_per_customer",
            ),
            models.UniqueConstraint(
                fields=["segment", "company"],
                condition=Q(exited_at__isnull=True, company__isnull=False),
                name="membership_one_open_stay_per_company",
            ),
        ]
        indexes = [
            models.Index(fields=["segment", "entered_at"]),
            models.Index(fields=["segment", "exited_at"]),
        ]

    def __str__(self) -> str:
        contact = self.customer_id or self.company_id
        return f"{self.segment_id}:{contact}"


class SegmentSizeSnapshot(models.Model):
    segment = models.ForeignKey(
        Segment, on_delete=models.CASCADE, related_name="snapshots"
    )
    member_count = models.PositiveIntegerField()
    entered = models.PositiveIntegerField(default=0)
    exited = models.PositiveIntegerField(default=0)
    taken_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-taken_at"]
        indexes = [models.Index(fields=["segment", "taken_at"])]

    def __str__(self) -> str:
        return (
            f"{self.segment_id}: {self.member_count} at {self.taken_at:%Y-%m-%d %H:%M}"
        )


# The audit model lives in its own module and is imported here so that
# Django registers it with the segments app.
from segments.audit import SegmentRulesChange  # noqa: E402,F401
