import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

from erxseg.middleware import ADMIN_CONTENT_SECURITY_POLICY

PROJECT_DIR = Path(__file__).resolve().parents[2]
PRODUCTION_ENVIRONMENT = {
    "DJANGO_SETTINGS_MODULE": "erxseg.settings",
    "DEBUG": "false",
    "SECRET_KEY": "k3Yq9-production-like-secret-8Vw2pLm4Zr7Tn1Xc6Hb5Jd0Fs3Ga9Qe",
    "ALLOWED_HOSTS": "erxseg.example",
}


def production_environment() -> dict[str, str]:
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("DJANGO_", "SECURE_", "SESSION_", "CSRF_"))
        and name not in ("DEBUG", "SECRET_KEY", "ALLOWED_HOSTS")
    }
    return {**environment, **PRODUCTION_ENVIRONMENT}


def test_check_deploy_production_settings_reports_no_issues():
    # given the production settings: DEBUG off, a real key, one host
    # when
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "DEBUG"],
        cwd=PROJECT_DIR,
        env=production_environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )

    # then
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "System check identified no issues (1 silenced)."


def test_settings_without_secret_key_refuse_to_start():
    # given production settings that lack SECRET_KEY
    environment = production_environment()
    del environment["SECRET_KEY"]

    # when
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=PROJECT_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )

    # then
    assert result.returncode == 1
    assert "SECRET_KEY is missing or is the public demo key" in result.stderr


@pytest.mark.parametrize(
    "path",
    ["/admin/login/", "/admin/", "/api/v1/segments/", "/api/v1/track"],
)
def test_security_headers_every_response_has_them(db, path):
    # given
    client = Client()

    # when
    response = client.get(path)

    # then
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["Cross-Origin-Opener-Policy"] == "same-origin"


@pytest.mark.parametrize(
    "path", ["/admin/login/", "/admin/", "/admin/segments/segment/"]
)
def test_admin_response_has_content_security_policy(db, path):
    # given
    client = Client()

    # when
    response = client.get(path)

    # then
    assert response.headers["Content-Security-Policy"] == (
        ADMIN_CONTENT_SECURITY_POLICY
    )
    assert "script-src 'self'" in ADMIN_CONTENT_SECURITY_POLICY


def test_api_response_has_no_admin_policy(db):
    # given the Swagger page, which needs its inline script
    client = Client()

    # when
    response = client.get("/api/docs/")

    # then
    assert "Content-Security-Policy" not in response.headers
