"""factory-boy factories for the contacts models, used by tests and benchmarks."""

import factory
from django.contrib.auth import get_user_model
from factory.django import DjangoModelFactory

from contacts.models import (
    Company,
    Customer,
    CustomerState,
    FieldDefinition,
    FieldType,
    OwnerType,
    Tag,
)


class UserFactory(DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    is_staff = True


class TagFactory(DjangoModelFactory):
    class Meta:
        model = Tag

    name = factory.Sequence(lambda n: f"tag-{n}")
    owner_type = OwnerType.CUSTOMER


class FieldDefinitionFactory(DjangoModelFactory):
    class Meta:
        model = FieldDefinition

    owner_type = OwnerType.CUSTOMER
    key = factory.Sequence(lambda n: f"field_{n}")
    label = factory.LazyAttribute(lambda field: field.key.replace("_", " ").title())
    field_type = FieldType.TEXT
    options = factory.LazyAttribute(
        lambda field: (
            ["free", "pro", "enterprise"]
            if field.field_type in (FieldType.CHOICE, FieldType.MULTIPLE_CHOICE)
            else []
        )
    )


class CompanyFactory(DjangoModelFactory):
    class Meta:
        model = Company

    name = factory.Faker("company")
    website = factory.Faker("url")
    industry = factory.Iterator(["Retail", "Software", "Music", "Aerospace"])
    country = factory.Faker("country")


class CustomerFactory(DjangoModelFactory):
    class Meta:
        model = Customer
        skip_postgeneration_save = True

    state = CustomerState.CUSTOMER
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    primary_email = factory.Sequence(lambda n: f"customer{n}@example.com")
    country = factory.Faker("country")

    @factory.post_generation
    def tags(self, create, extracted, **kwargs):
        if create and extracted:
            self.tags.set(extracted)

    @factory.post_generation
    def companies(self, create, extracted, **kwargs):
        if create and extracted:
            self.companies.set(extracted)


class LeadFactory(CustomerFactory):
    state = CustomerState.LEAD


class VisitorFactory(CustomerFactory):
    state = CustomerState.VISITOR
    first_name = ""
    last_name = ""
    primary_email = ""
    visitor_id = factory.Sequence(lambda n: f"visitor-{n:08d}")
