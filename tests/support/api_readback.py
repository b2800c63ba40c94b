"""Read the configuration back the way the platform's api reads it, with its own modules.

Run as a script with the platform's release tree first on ``sys.path`` (its ``api``
package) and the api's environment (``ENCRYPTION_KEY``, ``INTERNAL_KEY_SERVICE_SECRET``,
``POSTGRES_PASSWORD``); ``KGOP_READBACK_DSN`` names the database. Only
``api.app.lib.age_client.AGEClient`` is replaced: by a small psycopg2 connection pool (the
real one loads AGE's graph machinery). Prints one JSON document.

What is read, and where the api reads it (knowledge-graph-system 0.17.x):
- the login: ``api/app/routes/oauth.py:152`` selects the user ``WHERE username = %s``,
  refuses a disabled one (:164) and checks ``api.app.lib.auth.verify_password`` (:171);
  groups through the platform's ``kg_auth.get_user_groups``;
- ``api.app.lib.ai_extraction_config.load_active_extraction_config`` (line 15);
- ``api.app.lib.embedding_config.load_active_embedding_config`` (line 73);
- ``api.app.lib.encrypted_keys.get_system_api_key`` (line 386) for ``openai``;
- ``api.app.lib.garage.base._get_garage_credentials`` (line 31);
- ``registration_enabled`` as ``api/app/routes/auth.py:120-124`` reads and judges it;
- kg-web's redirect URIs as the authorization route selects them and checks a login's
  redirect against them (``api/app/routes/oauth.py:1163``, ``:1191``).
"""

from __future__ import annotations

import json
import os
import sys
import types
from typing import Any


def install_pool() -> None:
    from psycopg2.pool import SimpleConnectionPool

    pool = SimpleConnectionPool(1, 4, os.environ["KGOP_READBACK_DSN"])

    class AGEClient:  # the only stand-in: what these modules use of the real one
        def __init__(self) -> None:
            self.pool = pool

    module = types.ModuleType("api.app.lib.age_client")
    module.AGEClient = AGEClient  # type: ignore[attr-defined]
    sys.modules["api.app.lib.age_client"] = module


def login(conn: Any, username: str, password: str) -> dict[str, Any]:
    from api.app.lib.auth import verify_password

    with conn.cursor() as cur:
        cur.execute(
            "SELECT id, username, password_hash, primary_role, disabled FROM kg_auth.users "
            "WHERE username = %s",
            (username,),
        )
        row = cur.fetchone()
        if row is None:
            return {"ok": False}
        user_id, _, password_hash, role, disabled = row
        cur.execute("SELECT group_name FROM kg_auth.get_user_groups(%s) ORDER BY 1", (user_id,))
        groups = [r[0] for r in cur.fetchall()]
    ok = not disabled and verify_password(password, password_hash)
    return {"ok": ok, "role": role, "groups": groups}


def main() -> None:
    install_pool()
    from api.app.lib.age_client import AGEClient
    from api.app.lib.ai_extraction_config import load_active_extraction_config
    from api.app.lib.embedding_config import load_active_embedding_config
    from api.app.lib.encrypted_keys import get_system_api_key
    from api.app.lib.garage.base import _get_garage_credentials
    from api.app.lib.secrets import get_internal_key_service_secret

    wanted = json.loads(sys.stdin.read())
    pool = AGEClient().pool
    conn = pool.getconn()
    try:
        token = get_internal_key_service_secret()
        extraction = load_active_extraction_config() or {}
        embedding = load_active_embedding_config() or {}
        with conn.cursor() as cur:
            cur.execute("SELECT kg_api.get_platform_config('registration_enabled')")
            flag = cur.fetchone()
            cur.execute(
                "SELECT redirect_uris FROM kg_auth.oauth_clients WHERE client_id = 'kg-web'"
            )
            web = cur.fetchone()
        disabled = bool(flag) and str(flag[0]).strip().lower() in ("false", "0", "no", "off")
        doc = {
            "logins": {u: login(conn, u, p) for u, p in wanted["logins"].items()},
            "extraction": {k: extraction.get(k) for k in ("provider", "model_name", "max_tokens")},
            "embedding": {k: embedding.get(k) for k in ("id", "name", "text_model_name", "device")},
            "openai": get_system_api_key(conn, "openai", token),
            "garage": list(_get_garage_credentials()),
            "registration_enabled": not disabled,
            "kg_web_redirect_uris": list(web[0] or []) if web else None,
        }
    finally:
        pool.putconn(conn)
    print(json.dumps(doc))


if __name__ == "__main__":
    main()
