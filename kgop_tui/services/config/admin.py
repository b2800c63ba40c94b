"""Admin users and the password policy."""

from __future__ import annotations

import asyncpg
import bcrypt

from kgop_tui.errors import UsageError
from kgop_tui.services.config.base import ConfigBase

MIN_PASSWORD = 12


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


class AdminConfig(ConfigBase):
    """The platform's admin users (bcrypt hashes, as the platform verifies them)."""

    async def set_admin(self, username: str, password: str) -> bool:
        """Create the admin or set its password; True when created."""
        check_password(username, password)
        hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=12)).decode()
        async with self._conn("admin") as conn:
            updated = await conn.execute(
                "UPDATE kg_auth.users SET password_hash = $2, primary_role = 'admin', "
                "disabled = false, updated_at = now() WHERE lower(username) = lower($1)",
                username,
                hashed,
            )
            if updated != "UPDATE 0":
                return False
            try:
                await conn.execute(
                    "INSERT INTO kg_auth.users (username, password_hash, primary_role) "
                    "VALUES ($1, $2, 'admin')",
                    username,
                    hashed,
                )
            except asyncpg.CheckViolationError:
                raise UsageError(
                    f"{username!r} is not a valid username",
                    hint="use letters, digits, '.', '_', '-' or '@' (at most 64)",
                ) from None
            return True

    async def verify_admin(self, username: str, password: str) -> bool:
        async with self._conn("verify") as conn:
            stored = await conn.fetchval(
                "SELECT password_hash FROM kg_auth.users WHERE lower(username) = lower($1)",
                username,
            )
        return bool(stored) and bcrypt.checkpw(password.encode(), str(stored).encode())
