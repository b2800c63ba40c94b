"""Admin users and the password policy, as the platform's operator writes them.

The platform's ``operator/configure.py`` (``cmd_admin``, lines 51-111): an existing user
gets the new bcrypt hash and nothing else (its role stays: the seeded ``admin`` is a
``platform_admin``); a new one is inserted with role ``admin`` and joins the ``admins``
group (``kg_auth.user_groups``, added by the ``system`` user, id 1). Usernames are matched
exactly, as the api's login matches them (``api/app/routes/oauth.py:152``:
``WHERE username = %s``).
"""

from __future__ import annotations

import re

import bcrypt

from kgop_tui.errors import UsageError
from kgop_tui.services.platform.config.base import ConfigBase

MIN_PASSWORD = 12
ADMIN_ROLES = ("admin", "platform_admin")
"""The platform's admin roles (``kg_auth.roles``; ``platform_admin`` inherits ``admin``)."""
FACTORY_HASHES = frozenset({"$2b$12$LQv3c1yqBWVHxkd0LHAkCOYz6TtxMQJqhN8/LewY5oCDxDO1b5tZK"})
"""The hash the platform seeds its ``admin`` with (migration 020 line 42, the 0.17.1 baseline
line 6851): published with its source, so anyone may know its password."""
_USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,99}")  # users.username: varchar(100)


def check_password(username: str, password: str) -> None:
    """The password policy: at least 12 characters, not the username, bcrypt's 72 bytes."""
    if len(password) < MIN_PASSWORD:
        raise UsageError(
            f"The password is too short ({len(password)} characters)",
            hint=f"use at least {MIN_PASSWORD} characters, e.g. four random words",
        )
    if password.strip().lower() == username.strip().lower():
        raise UsageError("The password is the username", hint="choose a different password")
    if len(password.encode()) > 72:
        raise UsageError(
            "The password is longer than 72 bytes, which bcrypt would silently cut",
            hint="use a shorter password",
        )


def check_username(username: str) -> None:
    if not _USERNAME.fullmatch(username):
        raise UsageError(
            f"{username!r} is not a valid username",
            hint="use letters, digits, '.', '_', '-' or '@' (at most 100)",
        )


def is_factory_hash(stored: str) -> bool:
    """True when ``stored`` is the platform's published seed hash."""
    return stored in FACTORY_HASHES


class AdminConfig(ConfigBase):
    """The platform's admin users (bcrypt hashes, as the platform verifies them)."""

    async def set_admin(self, username: str, password: str) -> tuple[bool, str]:
        """Create the admin or set its password; (created, its role)."""
        check_username(username)
        check_password(username, password)
        hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=12)).decode()
        async with self._conn("admin") as conn, conn.transaction():
            role = await conn.fetchval(
                "UPDATE kg_auth.users SET password_hash = $2 WHERE username = $1 "
                "RETURNING primary_role",
                username,
                hashed,
            )
            if role is not None:
                return False, str(role)
            user_id = await conn.fetchval(
                "INSERT INTO kg_auth.users (username, password_hash, primary_role, disabled) "
                "VALUES ($1, $2, 'admin', false) RETURNING id",
                username,
                hashed,
            )
            await conn.execute(
                "INSERT INTO kg_auth.user_groups (user_id, group_id, added_by) "
                "SELECT $1, g.id, (SELECT id FROM kg_auth.users WHERE id = 1) "
                "FROM kg_auth.groups g WHERE g.group_name = 'admins' "
                "ON CONFLICT (user_id, group_id) DO NOTHING",
                user_id,
            )
            return True, "admin"

    async def verify_admin(self, username: str, password: str) -> bool:
        async with self._conn("verify") as conn:
            stored = await conn.fetchval(
                "SELECT password_hash FROM kg_auth.users WHERE username = $1 AND NOT disabled",
                username,
            )
        try:
            return bool(stored) and bcrypt.checkpw(password.encode(), str(stored).encode())
        except ValueError:
            return False
