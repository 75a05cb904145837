from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class OwnerType(models.TextChoices):
    """The kind of record a tag or a custom field belongs to."""

    CUSTOMER = "customer", _("Customer")
    COMPANY = "company", _("Company")


class Tag(models.Model):
    name = models.CharField(max_length=100)
    owner_type = models.CharField(
        max_length=20, choices=OwnerType.choices, default=OwnerType.CUSTOMER
    )
    color = models.CharField(max_length=7, default="#6c757d", help_text="Hex colour.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["owner_type", "name"], name="tag_unique_name_per_type"
            )
        ]

    def __str__(self) -> str:
        return self.name


class FieldType(models.TextChoices):
    TEXT = "text", _("Text")
    NUMBER = "number", _("Number")
    DATE = "date", _("Date")
    BOOLEAN = "boolean", _("Yes / no")
    CHOICE = "choice", _("Choice")
    MULTIPLE_CHOICE = "multiple_choice", _("Multiple choice")


class FieldDefinition(models.Model):
    """A custom field: a key in `custom_fields` whose values are typed and
    validated on every write."""

    owner_type = models.CharField(
        max_length=20, choices=OwnerType.choices, default=OwnerType.CUSTOMER
    )
    key = models.SlugField(
        max_length=64,
        help_text="Name of the key in custom_fields, for example plan.",
    )
    label = models.CharField(max_length=200)
    field_type = models.CharField(
        max_length=20, choices=FieldType.choices, default=FieldType.TEXT
    )
    options = models.JSONField(
        default=list,
        blank=True,
        help_text="Allowed values for choice and multiple choice fields.",
    )
    required = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["owner_type", "key"]
        constraints = [
            models.UniqueConstraint(
                fields=["owner_type", "key"], name="field_unique_key_per_type"
            )
        ]

    def __str__(self) -> str:
        return f"{self.label} ({self.key})"

    def clean(self):
        from contacts.fields import validate_field_definition

        validate_field_definition(self)


class CustomerState(models.TextChoices):
    VISITOR = "visitor", _("Visitor")
    LEAD = "lead", _("Lead")
    CUSTOMER = "customer", _("Customer")


class Sex(models.TextChoices):
    UNKNOWN = "", _("Unknown")
    FEMALE = "female", _("Female")
    MALE = "male", _("Male")
    OTHER = "other", _("Other")


class LeadStatus(models.TextChoices):
    NONE = "", _("None")
    NEW = "new", _("New")
    ATTEMPTED = "attempted", _("Attempted to contact")
    IN_PROGRESS = "in_progress", _("In progress")
    CONNECTED = "connected", _("Connected")
    UNQUALIFIED = "unqualified", _("Unqualified")
    BAD_TIMING = "bad_timing", _("Bad timing")


class CustomerQuerySet(models.QuerySet):
    def customers(self):
        return self.filter(state=CustomerState.CUSTOMER)

    def leads(self):
        return self.filter(state=CustomerState.LEAD)

    def visitors(self):
        return self.filter(state=CustomerState.VISITOR)

    def search(self, text: str):
        """Filter by name, email, phone or code containing `text`."""
        return self.filter(
            Q(first_name__icontains=text)
            | Q(last_name__icontains=text)
            | Q(primary_email__icontains=text)
            | Q(primary_phone__icontains=text)
            | Q(code__icontains=text)
        )


class Company(models.Model):
    name = models.CharField(max_length=255)
    website = models.URLField(blank=True)
    industry = models.CharField(max_length=100, blank=True)
    size = models.PositiveIntegerField(
        null=True, blank=True, help_text="Number of employees."
    )
    plan = models.CharField(max_length=100, blank=True)
    business_type = models.CharField(max_length=100, blank=True)
    country = models.CharField(max_length=100, blank=True)
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="subsidiaries",
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_companies",
    )
    custom_fields = models.JSONField(default=dict, blank=True)
    tracked_data = models.JSONField(default=dict, blank=True)
    tags = models.ManyToManyField(Tag, blank=True, related_name="companies")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        verbose_name_plural = "companies"
        indexes = [models.Index(fields=["name"]), models.Index(fields=["country"])]

    def __str__(self) -> str:
        return self.name

    def clean(self):
        from contacts.fields import validate_custom_fields_on

        validate_custom_fields_on(self, OwnerType.COMPANY)


class Customer(models.Model):
    """A contact: a customer, a lead or an anonymous website visitor."""

    state = models.CharField(
        max_length=20, choices=CustomerState.choices, default=CustomerState.CUSTOMER
    )
    first_name = models.CharField(max_length=150, blank=True)
    last_name = models.CharField(max_length=150, blank=True)
    primary_email = models.EmailField(blank=True)
    emails = models.JSONField(
        default=list, blank=True, help_text="Further email addresses."
    )
    primary_phone = models.CharField(max_length=50, blank=True)
    phones = models.JSONField(
        default=list, blank=True, help_text="Further phone numbers."
    )
    birth_date = models.DateField(null=True, blank=True)
    sex = models.CharField(max_length=10, choices=Sex.choices, blank=True)
    position = models.CharField(max_length=150, blank=True)
    department = models.CharField(max_length=150, blank=True)
    lead_status = models.CharField(
        max_length=20, choices=LeadStatus.choices, blank=True
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_customers",
    )
    code = models.CharField(
        max_length=100, blank=True, help_text="An id from another system."
    )
    visitor_id = models.CharField(
        max_length=64,
        null=True,
        blank=True,
        unique=True,
        help_text="The browser id the website widget keeps for this contact.",
    )
    country = models.CharField(max_length=100, blank=True)
    city = models.CharField(max_length=100, blank=True)
    region = models.CharField(max_length=100, blank=True)
    language = models.CharField(max_length=20, blank=True)
    user_agent = models.TextField(blank=True)
    session_count = models.PositiveIntegerField(default=0)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    is_subscribed = models.BooleanField(default=True)
    do_not_disturb = models.BooleanField(default=False)
    custom_fields = models.JSONField(default=dict, blank=True)
    tracked_data = models.JSONField(
        default=dict,
        blank=True,
        help_text="Free keys sent by the website widget.",
    )
    tags = models.ManyToManyField(Tag, blank=True, related_name="customers")
    companies = models.ManyToManyField(Company, blank=True, related_name="customers")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = CustomerQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["state", "created_at"]),
            models.Index(fields=["primary_email"]),
            models.Index(fields=["primary_phone"]),
            models.Index(fields=["code"]),
            models.Index(fields=["country"]),
        ]

    def __str__(self) -> str:
        name = self.full_name
        if name:
            return name
        if self.primary_email:
            return self.primary_email
        if self.code:
            return self.code
        return f"{self.get_state_display()} #{self.pk}"

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    def clean(self):
        from contacts.fields import validate_custom_fields_on

        validate_custom_fields_on(self, OwnerType.CUSTOMER)
