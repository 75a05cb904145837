"""Validation of custom field values against their FieldDefinition.

Every write path (admin forms, the API, the website widget, the demo loader)
calls `clean_custom_fields`, so a stored value always has the declared type.
Values are stored in JSON as: text and choice as strings, number as a JSON
number, date as an ISO string `YYYY-MM-DD`, boolean as true / false, multiple
choice as a list of distinct strings. `None` means "not set".
"""

import datetime
import math
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from contacts.models import FieldDefinition, FieldType

MAX_TEXT_LENGTH = 2000


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def clean_value(definition: FieldDefinition, value: Any) -> Any:
    """Return `value` in its stored form, or raise ValidationError naming the
    field."""
    params = {"key": definition.key, "value": _describe(value)}

    if value is None or value == "" or value == []:
        if definition.required:
            raise ValidationError(
                _('The custom field "%(key)s" is required. Give it a value.'),
                code="required",
                params=params,
            )
        return None

    kind = definition.field_type
    if kind == FieldType.TEXT:
        if not isinstance(value, str):
            raise ValidationError(
                _('The custom field "%(key)s" takes text; %(value)s is not text.'),
                code="invalid_text",
                params=params,
            )
        if len(value) > MAX_TEXT_LENGTH:
            raise ValidationError(
                _(
                    'The custom field "%(key)s" takes at most %(limit)d '
                    "characters. Shorten the value."
                ),
                code="too_long",
                params={**params, "limit": MAX_TEXT_LENGTH},
            )
        return value

    if kind == FieldType.NUMBER:
        return _clean_number(value, params)

    if kind == FieldType.DATE:
        return _clean_date(value, params)

    if kind == FieldType.BOOLEAN:
        if not isinstance(value, bool):
            raise ValidationError(
                _(
                    'The custom field "%(key)s" takes true or false; '
                    "%(value)s is neither."
                ),
                code="invalid_boolean",
                params=params,
            )
        return value

    options = [str(option) for option in definition.options]
    options_text = ", ".join(options)
    if kind == FieldType.CHOICE:
        if not isinstance(value, str) or value not in options:
            raise ValidationError(
                _(
                    '%(value)s is not an option of the custom field "%(key)s". '
                    "Use one of: %(options)s."
                ),
                code="invalid_choice",
                params={**params, "options": options_text},
            )
        return value

    if kind == FieldType.MULTIPLE_CHOICE:
        if not isinstance(value, list):
            raise ValidationError(
                _(
                    'The custom field "%(key)s" takes a list of options; '
                    "%(value)s is not a list."
                ),
                code="invalid_list",
                params=params,
            )
        unknown = [item for item in value if item not in options]
        if unknown:
            raise ValidationError(
                _(
                    '%(value)s is not an option of the custom field "%(key)s". '
                    "Use some of: %(options)s."
                ),
                code="invalid_choice",
                params={
                    **params,
                    "value": _describe(unknown[0]),
                    "options": options_text,
                },
            )
        # Keep the first occurrence of each option, in the order given.
        return list(dict.fromkeys(value))

    raise ValidationError(
        _('The custom field "%(key)s" has an unknown type %(type)s.'),
        code="unknown_type",
        params={**params, "type": kind},
    )


def _clean_number(value: Any, params: dict) -> int | float:
    number = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
        else:
            if number.is_integer() and "." not in value and "e" not in value.lower():
                number = int(number)
    if number is None or (isinstance(number, float) and not math.isfinite(number)):
        raise ValidationError(
            _('The custom field "%(key)s" takes a number; %(value)s is not one.'),
            code="invalid_number",
            params=params,
        )
    return number


def _clean_date(value: Any, params: dict) -> str:
    if isinstance(value, datetime.datetime):
        return value.date().isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, str):
        try:
            return datetime.date.fromisoformat(value.strip()).isoformat()
        except ValueError:
            pass
    raise ValidationError(
        _(
            'The custom field "%(key)s" takes a date written YYYY-MM-DD; '
            "%(value)s is not one."
        ),
        code="invalid_date",
        params=params,
    )


def clean_custom_fields(
    owner_type: str, values: Any, *, partial: bool = False
) -> dict[str, Any]:
    """Validate a whole `custom_fields` mapping and return its stored form.

    Errors are collected for every field at once and raised as one
    ValidationError whose dict is keyed by the custom field's key. With
    `partial`, missing required fields are not reported (an update that sets
    some keys only).
    """
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise ValidationError(
            _("Custom fields must be an object of key and value pairs."),
            code="invalid_custom_fields",
        )

    definitions = {
        definition.key: definition
        for definition in FieldDefinition.objects.filter(owner_type=owner_type)
    }
    cleaned: dict[str, Any] = {}
    errors: dict[str, list[ValidationError]] = {}
    for key, value in values.items():
        definition = definitions.get(key)
        if definition is None:
            errors[key] = [
                ValidationError(
                    _(
                        'The custom field "%(key)s" is not declared for '
                        "%(owner_type)s records. Declare it under Field "
                        "definitions or remove it."
                    ),
                    code="unknown_field",
                    params={"key": key, "owner_type": owner_type},
                )
            ]
            continue
        try:
            stored = clean_value(definition, value)
        except ValidationError as error:
            errors[key] = [error]
            continue
        if stored is not None:
            cleaned[key] = stored

    if not partial:
        for key, definition in definitions.items():
            if definition.required and key not in values:
                errors[key] = [
                    ValidationError(
                        _('The custom field "%(key)s" is required. Give it a value.'),
                        code="required",
                        params={"key": key},
                    )
                ]

    if errors:
        raise ValidationError(errors)
    return cleaned


def validate_custom_fields_on(instance, owner_type: str) -> None:
    """Clean `instance.custom_fields` in place for a model's `clean()`."""
    try:
        instance.custom_fields = clean_custom_fields(owner_type, instance.custom_fields)
    except ValidationError as error:
        messages = []
        if hasattr(error, "error_dict"):
            for field_errors in error.error_dict.values():
                messages.extend(field_errors)
        else:
            messages.extend(error.error_list)
        raise ValidationError({"custom_fields": messages}) from None


def validate_field_definition(definition: FieldDefinition) -> None:
    """Check that a definition's options suit its type."""
    choice_types = (FieldType.CHOICE, FieldType.MULTIPLE_CHOICE)
    options = definition.options
    if not isinstance(options, list) or not all(
        isinstance(option, str) and option for option in options
    ):
        raise ValidationError(
            {"options": _("Options must be a list of non-empty strings.")},
            code="invalid_options",
        )
    if definition.field_type in choice_types and not options:
        raise ValidationError(
            {"options": _("Choice fields need at least one option. Add the options.")},
            code="missing_options",
        )
    if definition.field_type not in choice_types and options:
        raise ValidationError(
            {"options": _("Only choice fields take options. Clear the options.")},
            code="unexpected_options",
        )
    if len(set(options)) != len(options):
        raise ValidationError(
            {"options": _("Each option may appear once. Remove the repeated ones.")},
            code="duplicate_options",
        )
