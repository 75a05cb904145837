"""A drf-spectacular hook that gives every API operation a summary.

Redoc titles an operation by its summary, and without one by its operation
id (such as "v1_segments_count_retrieve").
"""

# The noun of each resource path, singular and plural.
NOUNS = {
    "customers": ("contact", "contacts"),
    "companies": ("company", "companies"),
    "segments": ("segment", "segments"),
    "events": ("event", "events"),
}

# The summary of each standard viewset action.
ACTIONS = {
    "list": "List {plural}",
    "create": "Create a {singular}",
    "retrieve": "Read one {singular}",
    "update": "Replace a {singular}",
    "partial_update": "Change some fields of a {singular}",
    "destroy": "Delete a {singular}",
}


def add_summaries(result, generator, request, public):
    """Fill in the summary of every operation that has none.

    A custom action gets the first sentence of its description. A standard
    action gets a summary made from ACTIONS and NOUNS.
    """
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            if operation.get("summary"):
                continue
            description = (operation.get("description") or "").strip()
            if description:
                first, _dot, rest = description.partition(". ")
                operation["summary"] = first.rstrip(".")
                if not rest.strip():
                    # A one-sentence description would repeat the summary.
                    del operation["description"]
                continue
            summary = standard_summary(operation.get("operationId", ""))
            if summary:
                operation["summary"] = summary
    return result


def standard_summary(operation_id: str) -> str | None:
    """Return the summary of a standard viewset action, or None.

    Operation ids read v1_<resource>_<action>, e.g. v1_customers_partial_update.
    """
    _version, _sep, name = operation_id.partition("_")
    resource, _sep, action = name.partition("_")
    if resource in NOUNS and action in ACTIONS:
        singular, plural = NOUNS[resource]
        return ACTIONS[action].format(singular=singular, plural=plural)
    return None
