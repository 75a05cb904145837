"""The rule tree as a JSON Schema, for the OpenAPI document.

The schema describes the shape of each node for integrators. validate_rules
stays the authority on what is accepted (known properties, operators per
type, limits, cycles) and reports errors by the condition's path.
"""

GROUP = "#/components/schemas/RuleGroup"


def _operator_names() -> list[str]:
    from segments.operators import OPERATORS

    return sorted(OPERATORS)


def rules_schema() -> dict:
    relative = {
        "type": "object",
        "properties": {
            "amount": {"type": "integer", "minimum": 0},
            "unit": {
                "type": "string",
                "enum": ["minutes", "hours", "days", "weeks", "months", "years"],
            },
        },
        "required": ["amount", "unit"],
    }
    value = {
        "description": (
            "A string, number, boolean, list (in, not_in, between, includes_*), "
            "a relative period {amount, unit}, or absent for is_set, is_not_set, "
            "is_true and is_false."
        ),
        "oneOf": [
            {"type": "string"},
            {"type": "number"},
            {"type": "boolean"},
            {"type": "array", "items": {}},
            relative,
        ],
    }
    property_condition = {
        "type": "object",
        "properties": {
            "type": {"type": "string", "enum": ["property"]},
            "property": {
                "type": "string",
                "description": (
                    "A model field (country), custom.<key>, tracked.<key>, "
                    "company.<field>, tags, emails or companies. "
                    "GET /api/v1/catalogue lists them."
                ),
            },
            "operator": {"type": "string", "enum": _operator_names()},
            "value": value,
        },
        "required": ["type", "property", "operator"],
    }
    attribute_filter = {
        "type": "object",
        "properties": {
            "attribute": {"type": "string"},
            "operator": {"type": "string", "enum": _operator_names()},
            "value": value,
        },
        "required": ["attribute", "operator"],
    }
    event_condition = {
        "type": "object",
        "properties": {
            "type": {"type": "string", "enum": ["event"]},
            "event": {"type": "string", "maxLength": 200},
            "occurrence": {
                "type": "string",
                "enum": ["at_least", "at_most", "exactly", "none"],
            },
            "count": {"type": "integer", "minimum": 0},
            "within": {
                "nullable": True,
                "oneOf": [
                    {
                        "type": "object",
                        "properties": {
                            "last": {"type": "integer", "minimum": 1},
                            "unit": {
                                "type": "string",
                                "enum": ["minutes", "hours", "days", "weeks", "months"],
                            },
                        },
                        "required": ["last", "unit"],
                    },
                    {
                        "type": "object",
                        "properties": {
                            "between": {
                                "type": "array",
                                "items": {"type": "string", "format": "date"},
                                "minItems": 2,
                                "maxItems": 2,
                            }
                        },
                        "required": ["between"],
                    },
                ],
            },
            "attributes": {"type": "array", "items": attribute_filter},
        },
        "required": ["type", "event", "occurrence"],
    }
    segment_condition = {
        "type": "object",
        "properties": {
            "type": {"type": "string", "enum": ["segment"]},
            "segment": {"type": "integer"},
            "negate": {"type": "boolean", "default": False},
        },
        "required": ["type", "segment"],
    }
    contacts_condition = {
        "type": "object",
        "description": "Company segments only: companies by their contacts.",
        "properties": {
            "type": {"type": "string", "enum": ["contacts"]},
            "occurrence": {
                "type": "string",
                "enum": ["at_least", "at_most", "exactly", "none"],
            },
            "count": {"type": "integer", "minimum": 0},
            "where": {"$ref": GROUP},
        },
        "required": ["type", "occurrence", "where"],
    }
    return {
        "type": "object",
        "description": (
            "A group of conditions joined by and / or, optionally negated, "
            "nested at most 10 levels deep with at most 200 conditions in all."
        ),
        "properties": {
            "type": {"type": "string", "enum": ["group"]},
            "conjunction": {"type": "string", "enum": ["and", "or"]},
            "negate": {"type": "boolean", "default": False},
            "conditions": {
                "type": "array",
                "items": {
                    "oneOf": [
                        {"$ref": GROUP},
                        property_condition,
                        event_condition,
                        segment_condition,
                        contacts_condition,
                    ]
                },
            },
        },
        "required": ["type", "conjunction", "conditions"],
        "example": RULES_EXAMPLE,
    }


RULES_EXAMPLE = {
    "type": "group",
    "conjunction": "and",
    "negate": False,
    "conditions": [
        {
            "type": "property",
            "property": "country",
            "operator": "is",
            "value": "Germany",
        },
        {
            "type": "property",
            "property": "tracked.spend_gbp",
            "operator": "gte",
            "value": 1000,
        },
    ],
}


def add_rule_components(result, generator, request, public):
    """drf-spectacular postprocessing hook: publish the RuleGroup schema."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas["RuleGroup"] = rules_schema()
    return result
