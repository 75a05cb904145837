import re

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db

ASSET_ADDRESS = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")


def asset_addresses(html):
    return ASSET_ADDRESS.findall(html)


def external_addresses(html):
    """Every script, style or icon address that points at another host."""
    return [
        address
        for address in asset_addresses(html)
        if address.startswith(("http:", "https:", "//"))
    ]


def test_schema_documents_every_endpoint_and_rule_tree(client):
    response = client.get("/api/schema/", {"format": "json"})

    assert response.status_code == 200
    schema = response.json()
    paths = set(schema["paths"])
    for path in [
        "/api/v1/customers/",
        "/api/v1/companies/",
        "/api/v1/segments/",
        "/api/v1/segments/preview/",
        "/api/v1/segments/{id}/count/",
        "/api/v1/segments/{id}/members/",
        "/api/v1/segments/{id}/explain/",
        "/api/v1/segments/{id}/why/{contact_id}/",
        "/api/v1/catalogue/",
        "/api/v1/events/",
    ]:
        assert path in paths
    rule_group = schema["components"]["schemas"]["RuleGroup"]
    operator_enum = rule_group["properties"]["conditions"]["items"]["oneOf"][1][
        "properties"
    ]["operator"]["enum"]
    assert {"contains", "gte", "in_last", "includes_any", "is_set"} <= set(
        operator_enum
    )
    assert rule_group["example"]["conditions"][0]["property"] == "country"


def test_swagger_and_redoc_served_from_local_static(client):
    swagger = client.get("/api/docs/")
    redoc = client.get("/api/redoc/")

    assert swagger.status_code == 200
    assert redoc.status_code == 200
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in swagger.text
    assert "/static/drf_spectacular_sidecar/redoc/" in redoc.text
    for page in (swagger, redoc):
        assert asset_addresses(page.text), page.text
        assert external_addresses(page.text) == []


def test_schema_generates_valid_without_warnings(tmp_path):
    # Warnings mark a schema that clients would read wrongly, such as one
    # set of choices under several enum names.
    call_command(
        "spectacular",
        "--validate",
        "--fail-on-warn",
        "--file",
        str(tmp_path / "schema.yml"),
    )

    assert (tmp_path / "schema.yml").read_text().startswith("openapi: 3.0.3")


def test_every_operation_has_summary(client):
    schema = client.get("/api/schema/", {"format": "json"}).json()

    operations = [
        operation
        for operations in schema["paths"].values()
        for operation in operations.values()
    ]
    untitled = [op["operationId"] for op in operations if not op.get("summary")]
    assert untitled == []
    summaries = {op["operationId"]: op["summary"] for op in operations}
    assert summaries["v1_customers_partial_update"] == (
        "Change some fields of a contact"
    )
    assert summaries["v1_segments_count_retrieve"] == (
        "Count the segment's members now, with the same query as its list"
    )
