"""Single sign-on through django-allauth's OpenID Connect provider: off by default; with the
TUNELOOP_OIDC_* settings on (in a fresh process: they decide the installed apps), the provider's login
URL is routed, the login page shows its button, and allauth's password sign-up stays closed. No network:
nothing here asks the provider anything."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import NoReverseMatch, reverse

ROOT = Path(__file__).resolve().parents[2]

ON = r"""
import json, django
django.setup()
from django.conf import settings
from django.core.management import call_command
from django.test import Client
from django.urls import resolve, reverse

call_command("migrate", "socialaccount", verbosity=0)
call_command("migrate", "sessions", verbosity=0)
url = reverse("openid_connect_login", kwargs={"provider_id": "sso"})
client = Client()
login_page = client.get("/login/").content.decode()
provider = client.get(url)
signup = client.get("/accounts/signup/")
print(json.dumps({
    "apps": [a for a in settings.INSTALLED_APPS if a.startswith("allauth")],
    "url": url,
    "view": resolve(url).url_name,
    "button": f'action="{url}" id="sso"' in login_page and "Log in with Example IdP" in login_page,
    "provider": [provider.status_code, "Example IdP" in provider.content.decode()],
    "signup": [signup.status_code, "closed" in signup.content.decode().lower()],
    "server": settings.SOCIALACCOUNT_PROVIDERS["openid_connect"]["APPS"][0]["settings"]["server_url"],
}))
"""


def test_sso_is_off_by_default(client):
    assert not settings.TUNELOOP_OIDC_ENABLED
    assert not any(app.startswith("allauth") for app in settings.INSTALLED_APPS)
    with pytest.raises(NoReverseMatch):
        reverse("openid_connect_login", kwargs={"provider_id": "sso"})
    assert client.get("/accounts/oidc/sso/login/").status_code == 404
    assert 'id="sso"' not in client.get("/login/").content.decode()


@pytest.mark.slow  # a fresh Django process and allauth's migrations: seconds
def test_sso_settings_route_the_providers_login(tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": "sqlite://:memory:",
        "TUNELOOP_DATA_DIR": str(tmp_path),
        "TUNELOOP_OIDC_SERVER_URL": "https://idp.example.test/realms/lab",
        "TUNELOOP_OIDC_CLIENT_ID": "tuneloop",
        "TUNELOOP_OIDC_CLIENT_SECRET": "not-a-real-secret",
        "TUNELOOP_OIDC_NAME": "Example IdP",
    }
    done = subprocess.run(
        [sys.executable, "-c", ON], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {
        "apps": [
            "allauth",
            "allauth.account",
            "allauth.socialaccount",
            "allauth.socialaccount.providers.openid_connect",
        ],
        "url": "/accounts/oidc/sso/login/",
        "view": "openid_connect_login",
        "button": True,
        "provider": [200, True],  # allauth's "continue to Example IdP?" page: routed, nothing fetched
        "signup": [200, True],
        "server": "https://idp.example.test/realms/lab",
    }
