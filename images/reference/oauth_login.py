"""POST /auth/oauth/login-and-authorize as the api answers it (upstream
api/app/routes/oauth.py): the form read, the user's password and the client checked, a code
issued and kept where the api keeps it."""

import secrets
import urllib.parse
from email.parser import BytesParser
from email.policy import HTTP

from standin import connect, first_line

REQUIRED = ("username", "password", "client_id", "redirect_uri", "code_challenge")
OPTIONAL = {"scope": "read:* write:*", "code_challenge_method": "S256", "state": None}


class Refused(Exception):
    def __init__(self, status, detail):
        super().__init__(detail)
        self.status, self.detail = status, detail


def form_fields(content_type, body):
    """The form's fields, urlencoded or multipart (curl -F), as text."""
    if content_type.startswith("multipart/form-data"):
        head = f"Content-Type: {content_type}\r\n\r\n".encode()
        message = BytesParser(policy=HTTP).parsebytes(head + body)
        fields = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if name:
                fields[name] = part.get_payload(decode=True).decode("utf-8", "replace")
        return fields
    pairs = urllib.parse.parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    return dict(pairs)


def scopes_allowed(requested, allowed):
    """(valid, granted), by the wildcard rules of api/app/lib/oauth_utils.py:260-314."""
    requested = requested or ["read:*"]
    if not allowed or "*" in allowed or ("read:*" in allowed and "write:*" in allowed):
        return True, requested
    granted = [
        s for s in requested
        if s in allowed or (":" in s and s.split(":", 1)[0] + ":*" in allowed)
    ]  # fmt: skip
    return len(granted) == len(requested), granted


def login_and_authorize(fields):
    """The checks of api/app/routes/oauth.py:1129-1240, in its order; the JSON to answer."""
    import bcrypt

    # FastAPI: a required form field that is missing or empty is a 422.
    missing = [name for name in REQUIRED if not fields.get(name)]
    if missing:
        raise Refused(422, [
            {"type": "missing", "loc": ["body", name], "msg": "Field required", "input": None}
            for name in missing
        ])  # fmt: skip
    values = {**OPTIONAL, **{k: v for k, v in fields.items() if k in OPTIONAL}}
    conn = connect()
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT id, password_hash, disabled FROM kg_auth.users WHERE username = %s",
                (fields["username"],),
            )
            user = cur.fetchone()
            if user is None:
                raise Refused(401, "Invalid username or password")
            user_id, password_hash, disabled = user
            if disabled:
                raise Refused(403, "User account is disabled")
            if not bcrypt.checkpw(fields["password"].encode(), password_hash.encode()):
                raise Refused(401, "Invalid username or password")
            client_id, redirect_uri = fields["client_id"], fields["redirect_uri"]
            cur.execute(
                "SELECT client_type, grant_types, redirect_uris, scopes, is_active "
                "FROM kg_auth.oauth_clients WHERE client_id = %s",
                (client_id,),
            )
            client = cur.fetchone()
            if client is None:
                raise Refused(400, f"OAuth client '{client_id}' not found")
            _type, grants, uris, allowed, active = client
            if not active:
                raise Refused(400, f"OAuth client '{client_id}' is inactive")
            if "authorization_code" not in (grants or []):
                raise Refused(
                    400, f"Client '{client_id}' does not support authorization_code grant"
                )
            if redirect_uri not in (uris or []):
                raise Refused(
                    400, f"Redirect URI '{redirect_uri}' not registered for client '{client_id}'"
                )
            valid, granted = scopes_allowed((values["scope"] or "").split(), allowed)
            if not valid:
                raise Refused(400, "Requested scopes not allowed for this client")
            code = secrets.token_urlsafe(32)
            # The code is kept where the api keeps it, when the schema has that table.
            cur.execute("SELECT to_regclass('kg_auth.oauth_authorization_codes') IS NOT NULL")
            if cur.fetchone()[0]:
                cur.execute(
                    "INSERT INTO kg_auth.oauth_authorization_codes (code, client_id, user_id, "
                    "redirect_uri, scopes, code_challenge, code_challenge_method, expires_at) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s, now() + interval '10 minutes')",
                    (code, client_id, user_id, redirect_uri, granted, fields["code_challenge"],
                     values["code_challenge_method"]),
                )  # fmt: skip
        conn.commit()
        return {"code": code, "state": values["state"]}
    except Refused:
        conn.rollback()
        raise
    except Exception as exc:
        conn.rollback()
        raise Refused(500, f"Failed to authorize: {first_line(exc)}") from None
    finally:
        conn.close()
