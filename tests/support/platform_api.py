"""The platform's own api and web as a user reaches them: /health, the login kg-web makes,
and the release a running service says it is.

The api's routes are those of the platform's ``api/app/main.py`` (``/health``: its database
by a cypher ping and Garage by a signed HeadBucket) and ``api/app/routes/oauth.py``
(``POST /auth/oauth/login-and-authorize``: username, password, client id, redirect URI and a
PKCE challenge). The api reports no release of its own (its ``/`` says ``0.1.0``): which
release runs is the image's ``org.opencontainers.image.version`` label, as ``kgop status``
shows it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

BASELINE_REDIRECT = "http://localhost:3000/callback"
"""kg-web's redirect URI as the platform registers it (0.17.1's ``schema/00_baseline.sql``,
earlier releases' ``schema/migrations/022_oauth_client_management.sql``); install.sh adds
EXTERNAL_URL/callback."""


def http(url: str, data: dict[str, str] | None = None) -> tuple[int, str]:
    """(status, body) of a GET, or of a form POST with ``data``; 0 when nothing answers."""
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=body), timeout=15) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except OSError as error:  # not listening yet
        return 0, str(error)


def health(api: str) -> dict[str, Any]:
    """The api's /health answer, or a status naming what came back instead."""
    status, body = http(f"{api}/health")
    return json.loads(body) if status == 200 else {"status": f"HTTP {status}: {body[:200]}"}


def login(api: str, username: str, password: str, redirect_uri: str) -> tuple[int, str]:
    """The browser's first step as kg-web takes it: PKCE, then the api's own login."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return http(
        f"{api}/auth/oauth/login-and-authorize",
        {
            "username": username,
            "password": password,
            "client_id": "kg-web",
            "redirect_uri": redirect_uri,
            "code_challenge": challenge.decode().rstrip("="),
            "code_challenge_method": "S256",
        },
    )


def running_version(env: dict[str, str], container: str) -> str:
    """The release a running container's image is labelled with."""
    done = subprocess.run(
        ["docker", "inspect", "--format",
         '{{index .Config.Labels "org.opencontainers.image.version"}}', container],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def stored_key_sql(encryption_key: str, provider: str, key: str) -> str:
    """The statement that stores ``key`` as the platform's operator (configure.py) does: a
    Fernet token under ENCRYPTION_KEY in kg_api.system_api_keys, which its api's
    lib/encrypted_keys.py reads back."""
    from cryptography.fernet import Fernet

    token = Fernet(encryption_key.encode()).encrypt(key.encode()).decode()
    return (
        "INSERT INTO kg_api.system_api_keys (provider, encrypted_key) "
        f"VALUES ('{provider}', convert_to('{token}', 'UTF8')) ON CONFLICT (provider) DO UPDATE "
        "SET encrypted_key = EXCLUDED.encrypted_key;"
    )
