"""Run every shell example of docs/api.md against a live server."""

import os
import re
import subprocess
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token

from contacts.factories import CustomerFactory

API_DOC = Path(settings.BASE_DIR) / "docs" / "api.md"
SHELL_BLOCK = re.compile(r"```sh\n(.*?)```", re.DOTALL)


def shell_examples() -> list[str]:
    return SHELL_BLOCK.findall(API_DOC.read_text())


def test_api_doc_has_examples_for_main_tasks():
    text = "\n".join(shell_examples())

    for endpoint in [
        "/api/v1/customers/",
        "/api/v1/segments/preview/",
        "/count/",
        "/members/",
        "format=csv",
        "/explain/",
        "/why/",
        "/api/v1/catalogue/",
        "/api/v1/events/",
    ]:
        assert endpoint in text


@pytest.mark.django_db(transaction=True)
def test_api_doc_examples_run_against_live_server(live_server, tmp_path):
    admin = get_user_model().objects.create_superuser("doc", "doc@example.com", "x")
    token = Token.objects.create(user=admin)
    CustomerFactory.create_batch(3, country="Germany")
    CustomerFactory(country="France")
    script = "set -euo pipefail\n" + "\n".join(shell_examples())

    result = subprocess.run(
        ["bash", "-c", script],
        cwd=tmp_path,
        env={**os.environ, "ERXSEG_URL": live_server.url, "TOKEN": token.key},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr + result.stdout
    assert re.search(r"segment \d+\n", result.stdout)
    csv_lines = (tmp_path / "members.csv").read_text().splitlines()
    assert len(csv_lines) == 1 + 3
