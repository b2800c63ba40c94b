"""What the stand-in's parts share: its role and version, the environment with the api's
defaults, its log lines, and the api's database connection (images/reference/server.py)."""

import os
import sys

ROLE = os.environ.get("KG_ROLE", "api")
VERSION = os.environ.get("KG_VERSION", "0.0.0")


def env(name, default=""):
    return os.environ.get(name) or default


def connect():
    """The api's connection: POSTGRES_* with the api's own defaults (age_client/base.py:52-55)."""
    import psycopg2

    return psycopg2.connect(
        host=env("POSTGRES_HOST", "localhost"),
        port=int(env("POSTGRES_PORT", "5432")),
        dbname=env("POSTGRES_DB", "knowledge_graph"),
        user=env("POSTGRES_USER", "admin"),
        password=env("POSTGRES_PASSWORD"),
        connect_timeout=2,
        options="-c statement_timeout=3000",
    )


def first_line(exc):
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


def log(message):
    sys.stdout.write(f"{ROLE}: {message}\n")
    sys.stdout.flush()
