"""Settings come from the environment: embedded defaults (SQLite + filesystem broker under var/), real services
when their URLs are given, and a loud refusal of insecure production settings. Each case imports the settings in
a fresh interpreter, as a process started with that environment would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import json
from django.conf import settings
db = settings.DATABASES["default"]
print(json.dumps({"engine": db["ENGINE"], "name": str(db["NAME"]), "host": db.get("HOST"),
                  "broker": settings.CELERY_BROKER_URL, "prefect": settings.PREFECT_API_URL,
                  "start_prefect": settings.PREFECT_START_LOCAL_SERVER, "debug": settings.DEBUG,
                  "secure_cookies": settings.SESSION_COOKIE_SECURE}))
"""
PRODUCTION_ENV = {
    "PRODUCTION": "true",
    "SECRET_KEY": "x" * 64 + "-not-a-default-key-" + "y" * 10,
    "AUDIT_HMAC_KEY": "z" * 48,
    "ALLOWED_HOSTS": "controlplane.example.com",
    "DATABASE_URL": "postgres://cp@db.example.com:5432/cp",
    "CELERY_BROKER_URL": "redis://redis.example.com:6379/0",
    "PREFECT_API_URL": "http://prefect.example.com:4200/api",
}


def _environment(tmp_path: Path, **overrides: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    return {**keep, "DJANGO_SETTINGS_MODULE": "controlplane.settings", "VAR_DIR": str(tmp_path), **overrides}


def _run(tmp_path: Path, code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup()\n{code}"],
        cwd=REPO_ROOT,
        env=_environment(tmp_path, **env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def _settings(tmp_path: Path, **env: str) -> dict:
    result = _run(tmp_path, PROBE, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_defaults_are_the_embedded_mode(tmp_path):
    values = _settings(tmp_path)
    assert values["engine"] == "django.db.backends.sqlite3"
    assert values["name"] == str(tmp_path / "controlplane.sqlite3")
    assert values["broker"] == "filesystem://"
    assert (tmp_path / "celery-broker" / "queue").is_dir()
    assert values["prefect"] == "http://127.0.0.1:4200/api" and values["start_prefect"] is True
    assert values["debug"] is False


def test_database_and_broker_urls_switch_to_real_services(tmp_path):
    values = _settings(
        tmp_path,
        DATABASE_URL="postgres://cp@127.0.0.1:5432/controlplane",
        CELERY_BROKER_URL="redis://127.0.0.1:6379/2",
        PREFECT_API_URL="http://prefect.internal:4200/api",
    )
    assert values["engine"] == "django.db.backends.postgresql"
    assert (values["name"], values["host"]) == ("controlplane", "127.0.0.1")
    assert values["broker"] == "redis://127.0.0.1:6379/2"
    assert values["prefect"] == "http://prefect.internal:4200/api"
    assert values["start_prefect"] is False  # an existing Prefect server is used, not started


def test_embedded_secret_key_is_random_and_kept_in_var(tmp_path):
    code = "from django.conf import settings; print(settings.SECRET_KEY)"
    first, second = _run(tmp_path, code), _run(tmp_path, code)
    assert first.stdout == second.stdout and len(first.stdout.strip()) >= 50
    other = _run(tmp_path / "elsewhere", code)
    assert other.stdout != first.stdout


def test_production_without_secret_key_refuses_to_start(tmp_path):
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "SECRET_KEY"}
    result = _run(tmp_path, "pass", **env)
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_empty_allowed_hosts_refuses_to_start(tmp_path):
    result = _run(tmp_path, "pass", ALLOWED_HOSTS="")
    assert result.returncode != 0
    assert "ALLOWED_HOSTS is empty" in result.stderr


def test_production_settings_pass_django_deploy_checks(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO_ROOT,
        env=_environment(tmp_path, **PRODUCTION_ENV),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert _settings(tmp_path, **PRODUCTION_ENV)["secure_cookies"] is True
