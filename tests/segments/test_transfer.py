import io
import json

import pytest
from django.core.management import CommandError, call_command

from segments.models import Segment, SegmentType
from segments.transfer import (
    FORMAT_NAME,
    SegmentImportError,
    export_payload,
    import_payload,
)
from tests.segments.fixtures.builders import (
    country_is,
    make_segment,
    property_is,
    rules_of,
    segment_ref,
)

pytestmark = pytest.mark.django_db


def comparable(segment: Segment, names_by_id: dict) -> dict:
    """Describe a segment with its links as names, which survive an import
    that assigns new ids."""

    def swap(node):
        if isinstance(node, dict):
            node = {key: swap(value) for key, value in node.items()}
            if node.get("type") == "segment":
                node["segment"] = names_by_id[node["segment"]]
            return node
        if isinstance(node, list):
            return [swap(item) for item in node]
        return node

    return {
        "name": segment.name,
        "description": segment.description,
        "color": segment.color,
        "content_type": segment.content_type,
        "parent": names_by_id.get(segment.parent_id),
        "is_static": segment.is_static,
        "rules": swap(segment.rules),
    }


def snapshot_all() -> list[dict]:
    segments = list(Segment.objects.order_by("name"))
    names_by_id = {segment.pk: segment.name for segment in segments}
    return [comparable(segment, names_by_id) for segment in segments]


@pytest.fixture
def family():
    """A parent, its sub-segment, a segment that references the child, and a
    company segment."""
    germany = make_segment(
        "Customers in Germany",
        country_is("Germany"),
        description="Both shops.",
        color="#f59e0b",
    )
    berliners = make_segment("Berliners", property_is("city", "Berlin"), parent=germany)
    make_segment(
        "Berliners or French",
        rules_of(segment_ref(berliners), country_is("France"), conjunction="or"),
    )
    make_segment("US companies", country_is("USA"), content_type=SegmentType.COMPANY)
    return germany, berliners


def test_export_import_round_trip_recreates_segments(family):
    before = snapshot_all()
    payload = export_payload(Segment.objects.all())
    Segment.objects.filter(name="Berliners or French").delete()
    Segment.objects.filter(name="Berliners").delete()
    Segment.objects.all().delete()

    result = import_payload(json.loads(json.dumps(payload)))

    assert len(result.created) == 4
    assert snapshot_all() == before


def test_export_payload_includes_dependencies_first(family):
    referrer = Segment.objects.get(name="Berliners or French")

    payload = export_payload([referrer])

    assert payload["format"] == FORMAT_NAME
    assert payload["version"] == 1
    assert [entry["name"] for entry in payload["segments"]] == [
        "Customers in Germany",
        "Berliners",
        "Berliners or French",
    ]


def test_import_payload_maps_file_ids_to_new_ids(family):
    germany, berliners = family
    payload = export_payload(Segment.objects.all())

    result = import_payload(payload)

    new_germany = Segment.objects.get(pk=result.id_map[germany.pk])
    new_berliners = Segment.objects.get(pk=result.id_map[berliners.pk])
    new_referrer = next(
        segment for segment in result.created if segment.name == "Berliners or French"
    )
    assert new_germany.pk != germany.pk
    assert new_berliners.parent == new_germany
    assert new_referrer.rules["conditions"][0]["conditions"][0]["segment"] == (
        new_berliners.pk
    )


def test_import_payload_dry_run_writes_nothing(family):
    payload = export_payload(Segment.objects.all())

    result = import_payload(payload, dry_run=True)

    assert len(result.created) == 4
    assert Segment.objects.count() == 4


def envelope(*entries):
    return {"format": FORMAT_NAME, "version": 1, "segments": list(entries)}


def entry(file_id, name, *conditions, **fields):
    return {
        "id": file_id,
        "name": name,
        "content_type": "customer",
        "rules": rules_of(*conditions),
        **fields,
    }


@pytest.mark.parametrize(
    ("payload", "errors"),
    [
        (
            [],
            [
                'The file is not an erxseg segment export: "format" must be '
                '"erxseg.segments". Use --format erxes for an erxes export.'
            ],
        ),
        (
            {"format": FORMAT_NAME, "version": 7, "segments": []},
            [
                "version: 7 is not supported. Export the segments again with this "
                "erxseg (version 1)."
            ],
        ),
        (
            envelope(entry(1, "")),
            ["segments[0].name: Give the segment a name."],
        ),
        (
            envelope({**entry(1, "Deals"), "content_type": "deal"}),
            [
                "segments[0].content_type: 'deal' is not a segment type. Use one "
                "of customer, lead, visitor, company."
            ],
        ),
        (
            envelope(entry(1, "One"), entry(1, "Two")),
            ["segments[1].id: The id 1 is used twice in the file."],
        ),
        (
            envelope({**entry(1, "Extra"), "owner": "ada"}),
            [
                "segments[0]: Unknown keys owner. Remove them; the known keys are "
                "color, content_type, description, id, is_static, name, parent, "
                "rules, rules_version."
            ],
        ),
        (
            envelope(entry(1, "Orphan", parent=9)),
            [
                'segments[0] "Orphan": The segment with id 9 is not in the file. '
                "Export it together with this segment."
            ],
        ),
        (
            envelope(
                entry(1, "Ping", {"type": "segment", "segment": 2, "negate": False}),
                entry(2, "Pong", {"type": "segment", "segment": 1, "negate": False}),
            ),
            [
                'segments: The segments "Ping", "Pong" depend on each other in a '
                "cycle. Remove the parent or segment reference that closes it."
            ],
        ),
    ],
)
def test_import_payload_bad_input_rejected(payload, errors):
    Segment.objects.create(name="Existing")

    with pytest.raises(SegmentImportError) as raised:
        import_payload(payload)

    assert raised.value.errors == errors
    assert list(Segment.objects.values_list("name", flat=True)) == ["Existing"]


def test_import_payload_invalid_rules_rejected():
    payload = envelope(
        entry(1, "Fine", country_is("Germany")),
        entry(
            2,
            "Bad",
            country_is("Germany"),
            {"type": "property", "property": "no_such_field", "operator": "is"},
        ),
    )

    with pytest.raises(SegmentImportError) as raised:
        import_payload(payload)

    assert len(raised.value.errors) == 1
    assert raised.value.errors[0].startswith(
        'segments[1] "Bad".rules.conditions[1].property: '
    )
    assert Segment.objects.count() == 0


def test_import_payload_dependent_of_failed_segment_reported():
    payload = envelope(
        entry(1, "Bad", {"type": "property", "property": "nope", "operator": "is"}),
        entry(2, "Child", country_is("Germany"), parent=1),
    )

    with pytest.raises(SegmentImportError) as raised:
        import_payload(payload)

    assert raised.value.errors[1] == (
        'segments[1] "Child": The segment with id 1 was not imported because of '
        "its own errors."
    )
    assert Segment.objects.count() == 0


def test_export_command_writes_file_and_import_command_reads_it(family, tmp_path):
    path = tmp_path / "segments.json"
    before = snapshot_all()
    stderr = io.StringIO()

    call_command("export_segments", "--output", str(path), stderr=stderr)
    Segment.objects.filter(parent__isnull=False).delete()
    Segment.objects.exclude(name="Customers in Germany").delete()
    Segment.objects.all().delete()
    stdout = io.StringIO()
    call_command("import_segments", str(path), stdout=stdout, no_color=True)

    assert stderr.getvalue().strip() == f"Exported 4 segments to {path}."
    assert stdout.getvalue().splitlines()[-1] == (f"Imported 4 segments from {path}.")
    assert snapshot_all() == before


def test_export_command_by_type_prints_json(family):
    stdout = io.StringIO()

    call_command("export_segments", "--type", "company", stdout=stdout)

    payload = json.loads(stdout.getvalue())
    assert [item["name"] for item in payload["segments"]] == ["US companies"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--type", "deal"], '--type "deal" is not a segment type.'),
        (["--id", "x"], '--id "x" is not a segment id.'),
        (["--id", "424242"], '--id "424242" matches no segment.'),
        (["--output", "/nonexistent/dir/s.json"], '--output "/nonexistent/dir/'),
    ],
)
def test_export_command_bad_option_names_value(family, args, message):
    with pytest.raises(CommandError) as raised:
        call_command("export_segments", *args, stdout=io.StringIO())

    assert str(raised.value).startswith(message)


def test_import_command_bad_json_writes_nothing(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"format": "erxseg.segments", ')

    with pytest.raises(CommandError) as raised:
        call_command("import_segments", str(path))

    assert str(raised.value).startswith(f'The file "{path}" is not valid JSON (')
    assert Segment.objects.count() == 0


def test_import_command_missing_file_names_path(tmp_path):
    path = tmp_path / "missing.json"

    with pytest.raises(CommandError) as raised:
        call_command("import_segments", str(path))

    assert str(raised.value) == (
        f'The file "{path}" could not be read: No such file or directory. '
        "Check the path."
    )


def test_import_command_invalid_segment_lists_errors_and_writes_nothing(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(envelope(entry(1, ""), entry(2, "Ok"))))
    stderr = io.StringIO()

    with pytest.raises(CommandError) as raised:
        call_command("import_segments", str(path), stderr=stderr)

    assert str(raised.value) == (
        f'"{path}" was not imported because of 1 error(s), listed above. Fix '
        "them and import again; nothing was written."
    )
    assert stderr.getvalue() == "  segments[0].name: Give the segment a name.\n"
    assert Segment.objects.count() == 0


def test_import_command_bad_format_option():
    with pytest.raises(CommandError) as raised:
        call_command("import_segments", "x.json", "--format", "csv")

    assert str(raised.value) == (
        '--format "csv" is not a format. Use one of: auto, erxseg, erxes.'
    )
