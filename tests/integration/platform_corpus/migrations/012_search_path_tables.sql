-- Migration: 012_search_path_tables
-- Description: sets the session's search_path before its transaction, as graph migrations
-- do; the unqualified table lands in kg_api. The setting must not leak into later files.

SET search_path = kg_api, public;

BEGIN;

CREATE TABLE IF NOT EXISTS search_settings (
    name VARCHAR(64) PRIMARY KEY,
    value TEXT NOT NULL
);

INSERT INTO search_settings (name, value) VALUES ('mode', 'hybrid')
ON CONFLICT (name) DO NOTHING;

INSERT INTO public.corpus_runs (version) VALUES (12);

INSERT INTO public.schema_migrations (version, name)
VALUES (12, 'search_path_tables')
ON CONFLICT (version) DO NOTHING;

COMMIT;
