from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


def empty_rules() -> dict:
    return {"type": "group", "conjunction": "and", "negate": False, "conditions": []}


class SegmentType(models.TextChoices):
    """What a segment selects. Customer, lead and visitor segments select
    Customer rows of that state; company segments select Company rows."""

    CUSTOMER = "customer", _("Customers")
    LEAD = "lead", _("Leads")
    VISITOR = "visitor", _("Visitors")
    COMPANY = "company", _("Companies")


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

    class Meta:
        ordering = ["content_type", "name", "id"]

    def __str__(self) -> str:
        return self.name


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
