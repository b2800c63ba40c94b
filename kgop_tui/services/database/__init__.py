"""Postgres: connections, client tools, the SQL splitter, the platform's schema and its
migration runner, Apache AGE graphs."""
