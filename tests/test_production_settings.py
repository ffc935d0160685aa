"""Production mode (issue 14): a server process refuses DEBUG or a missing/weak secret key, the demo
key is random and kept, `check --deploy` passes with the documented production environment, and
TUNELOOP_HTTPS turns on redirect, secure cookies and HSTS. Each case runs in a fresh interpreter,
since settings are read once per process."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STRONG = secrets.token_urlsafe(50)


def run(code: str, tmp_path, **env) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "TUNELOOP_"))}
    base.pop("DATABASE_URL", None)
    base.update({"TUNELOOP_DATA_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}, **env)
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=base, capture_output=True, text=True, timeout=120
    )


WSGI = "import config.wsgi; print('started')"


@pytest.mark.parametrize(
    "env,message",
    [
        ({}, "DJANGO_SECRET_KEY must be set"),
        ({"DJANGO_SECRET_KEY": "short"}, "DJANGO_SECRET_KEY must be set"),
        ({"DJANGO_SECRET_KEY": "django-insecure-" + STRONG}, "DJANGO_SECRET_KEY must be set"),
        ({"DJANGO_SECRET_KEY": "a" * 60}, "DJANGO_SECRET_KEY must be set"),
        ({"DJANGO_SECRET_KEY": STRONG, "DJANGO_DEBUG": "1"}, "DJANGO_DEBUG is on in production mode"),
    ],
)
def test_server_process_refuses_unsafe_settings(tmp_path, env, message):
    proc = run(WSGI, tmp_path, **env)
    assert proc.returncode != 0 and message in proc.stderr, proc.stderr[-2000:]
    assert "started" not in proc.stdout


def test_server_process_starts_with_production_settings_or_in_demo_mode(tmp_path):
    assert "started" in run(WSGI, tmp_path, DJANGO_SECRET_KEY=STRONG, DJANGO_DEBUG="0").stdout
    assert "started" in run(WSGI, tmp_path, TUNELOOP_DEMO="1").stdout


def test_demo_key_is_random_private_and_kept(tmp_path):
    code = "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='config.settings'; django.setup(); from django.conf import settings; print(settings.SECRET_KEY)"
    first = run(code, tmp_path).stdout.strip()
    assert first == run(code, tmp_path).stdout.strip()  # kept across starts
    (tmp_path / "other").mkdir()
    other = run(code, tmp_path / "other").stdout.strip()
    assert first != other and len(first) > 50 and "dev-only" not in first
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_check_deploy_passes_in_production_mode(tmp_path):
    proc = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "TUNELOOP_"))},
            "TUNELOOP_DATA_DIR": str(tmp_path),
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": STRONG,
            "TUNELOOP_HTTPS": "1",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    # and without TLS settings it does warn: the check can fail
    proc = run(
        "import sys; from django.core.management import execute_from_command_line as e; "
        "e(['manage.py', 'check', '--deploy', '--fail-level', 'WARNING'])",
        tmp_path,
        DJANGO_SETTINGS_MODULE="config.settings",
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY=STRONG,
    )
    assert proc.returncode != 0 and "security.W" in proc.stderr + proc.stdout


def test_https_mode_redirects_and_marks_cookies_secure(tmp_path):
    code = """
import django, os
os.environ['DJANGO_SETTINGS_MODULE'] = 'config.settings'
django.setup()
from django.test import Client
c = Client()
r = c.get('/login/')
print('plain', r.status_code, r.get('Location'))
r = c.get('/login/', HTTP_X_FORWARDED_PROTO='https')
print('proxied', r.status_code, r.get('Strict-Transport-Security'), r.cookies['csrftoken']['secure'])
"""
    out = run(code, tmp_path, TUNELOOP_HTTPS="1").stdout
    assert "plain 301 https://testserver/login/" in out, out
    assert "proxied 200 max-age=31536000; includeSubDomains; preload True" in out, out
